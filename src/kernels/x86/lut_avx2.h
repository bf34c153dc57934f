// lut4 matmuls in AVX2 against q8 activations (BlockQ8A). A group's table in its 14-bit integer
// form (tensor/lut.h, lut4_int_table) is split into two 16-byte tables, the low 7 bits (q & 127)
// and the high part plus 64 ((q >> 7) + 64, in [0, 127]), each broadcast to both 128-bit lanes.
// A chunk of 32 indices (16 bytes, tensor/layout.h's packing) broadcast to both lanes, the second
// lane shifted right by 4, gives the 32 indices in element order; vpshufb looks up both parts, and
// maddubs multiplies each (unsigned, <= 127) with the activations (|q8| <= 127: no saturation):
//   sum q * x = 128 * sum (high + 64) * x + sum low * x - 8192 * sum x,
// where sum x over a block is BlockQ8A::qsum, so the last term is one float per token.
// Internal linkage: include only from a file built with -mavx2 -mfma -mf16c (avx2.cpp).
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "kernels/x86/avx2_helpers.h"
#include "tensor/lut.h"
#include "tensor/quant_blocks.h"

namespace corelm {
namespace {
namespace lut_avx2 {

constexpr size_t kTableBytes = 32;  // 16 fp16 entries
constexpr size_t kChunkBytes = kLut4Chunk / 2;
constexpr size_t kTile = 4;  // tokens per pass over a row

struct Table {
  __m256i low, high;  // q & 127, (q >> 7) + 64 for the 16 entries, in both lanes
  Lut4IntTable ints;
};

inline void load_table(const uint8_t* group, Table& t) {
  t.ints = lut4_int_table(group);
  alignas(16) uint8_t low[16], high[16];
  for (size_t j = 0; j < 16; ++j) {
    low[j] = static_cast<uint8_t>(t.ints.q[j] & 127);
    high[j] = static_cast<uint8_t>((t.ints.q[j] >> 7) + 64);
  }
  t.low = _mm256_broadcastsi128_si256(_mm_load_si128(reinterpret_cast<const __m128i*>(low)));
  t.high = _mm256_broadcastsi128_si256(_mm_load_si128(reinterpret_cast<const __m128i*>(high)));
}

// The 32 indices of a full chunk, one per byte, in element order.
inline __attribute__((always_inline)) __m256i chunk_indices(const uint8_t* p) {
  const __m256i b =
      _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  return _mm256_and_si256(_mm256_blend_epi32(b, _mm256_srli_epi16(b, 4), 0xF0),
                          _mm256_set1_epi8(0x0F));
}

// sum (high + 64) * x * 128 + sum low * x over one block, in 8 int32 lanes.
inline __attribute__((always_inline)) __m256i block_dot(__m256i low, __m256i high,
                                                        const BlockQ8A& xb) {
  const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb.qs));
  const __m256i h = _mm256_madd_epi16(_mm256_maddubs_epi16(high, x), _mm256_set1_epi16(128));
  const __m256i l = _mm256_madd_epi16(_mm256_maddubs_epi16(low, x), _mm256_set1_epi16(1));
  return _mm256_add_epi32(h, l);
}

// One row against NT tokens: out[t] = sum over full chunks of scale_b * (block_dot) (without the
// -8192 * qsum term). One token keeps two accumulators (even and odd chunks).
template <size_t NT>
inline void row_dot(const Table& table, const uint8_t* row, const BlockQ8A* const* xt, size_t full,
                    float* out) {
  if constexpr (NT == 1) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    const BlockQ8A* x = xt[0];
    size_t b = 0;
    for (; b + 2 <= full; b += 2) {
      prefetch_l1(row + kChunkBytes * b + 2048);
      const __m256i i0 = chunk_indices(row + kChunkBytes * b);
      const __m256i i1 = chunk_indices(row + kChunkBytes * (b + 1));
      const __m256i d0 =
          block_dot(_mm256_shuffle_epi8(table.low, i0), _mm256_shuffle_epi8(table.high, i0), x[b]);
      const __m256i d1 = block_dot(_mm256_shuffle_epi8(table.low, i1),
                                   _mm256_shuffle_epi8(table.high, i1), x[b + 1]);
      a0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d0), _mm256_set1_ps(x[b].scale), a0);
      a1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d1), _mm256_set1_ps(x[b + 1].scale), a1);
    }
    if (b < full) {
      const __m256i i0 = chunk_indices(row + kChunkBytes * b);
      const __m256i d0 =
          block_dot(_mm256_shuffle_epi8(table.low, i0), _mm256_shuffle_epi8(table.high, i0), x[b]);
      a0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d0), _mm256_set1_ps(x[b].scale), a0);
    }
    out[0] = hsum(_mm256_add_ps(a0, a1));
  } else {
    __m256 acc[NT];
    for (size_t t = 0; t < NT; ++t) acc[t] = _mm256_setzero_ps();
    for (size_t b = 0; b < full; ++b) {
      const __m256i idx = chunk_indices(row + kChunkBytes * b);
      const __m256i low = _mm256_shuffle_epi8(table.low, idx);
      const __m256i high = _mm256_shuffle_epi8(table.high, idx);
      for (size_t t = 0; t < NT; ++t)
        acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(block_dot(low, high, xt[t][b])),
                                 _mm256_set1_ps(xt[t][b].scale), acc[t]);
    }
    for (size_t t = 0; t < NT; ++t) out[t] = hsum(acc[t]);
  }
}

// Rows [r0, r1) against n tokens; G rows per group (layout lut_gG). Tokens in tiles of kTile, rows
// inside: a tile's activations stay in L1 while the rows stream. `row_dot(nt, table, row, xt,
// full, sum)` sums the full chunks; `narrow(table)` gives the table's Table for the tail.
template <size_t G, typename TableT, void (*Load)(const uint8_t*, TableT&), typename Narrow,
          typename RowDot>
inline void matmul_tiles(const uint8_t* w, size_t row_bytes, const void* x, size_t x_stride,
                         size_t n, size_t k, float* y, size_t y_stride, size_t r0, size_t r1,
                         Narrow narrow, RowDot row_dot) {
  const size_t full = k / kLut4Chunk, half = k % kLut4Chunk / 2;
  const auto* xb = static_cast<const uint8_t*>(x);
  TableT table{};
  for (size_t t0 = 0; t0 < n; t0 += kTile) {
    const size_t nt = std::min(kTile, n - t0);
    const BlockQ8A* xt[kTile];
    float offset[kTile] = {};  // 8192 * sum over full blocks of scale * qsum
    for (size_t t = 0; t < nt; ++t) {
      xt[t] = reinterpret_cast<const BlockQ8A*>(xb + (t0 + t) * x_stride);
      for (size_t b = 0; b < full; ++b)
        offset[t] += xt[t][b].scale * static_cast<float>(xt[t][b].qsum);
      offset[t] *= 8192.0f;
    }
    size_t group_index = static_cast<size_t>(-1);
    for (size_t r = r0; r < r1; ++r) {
      const uint8_t* group = w + r / G * (kTableBytes + G * row_bytes);
      if (r / G != group_index) Load(group, table), group_index = r / G;
      const uint8_t* row = group + kTableBytes + r % G * row_bytes;
      float sum[kTile];
      row_dot(nt, table, row, xt, full, sum);
      const Lut4IntTable& ints = narrow(table).ints;
      for (size_t t = 0; t < nt; ++t) {
        float s = sum[t] - offset[t];
        if (half != 0) {  // the last, shorter chunk: byte j holds elements j and j + half
          const uint8_t* bytes = row + kChunkBytes * full;
          const int8_t* qs = xt[t][full].qs;
          int isum = 0;
          for (size_t j = 0; j < half; ++j)
            isum += ints.q[bytes[j] & 0xF] * qs[j] + ints.q[bytes[j] >> 4] * qs[j + half];
          s += xt[t][full].scale * static_cast<float>(isum);
        }
        y[(t0 + t) * y_stride + r] = ints.scale * s;
      }
    }
  }
}

template <size_t G>
void matmul_lut4(const uint8_t* w, size_t row_bytes, const void* x, size_t x_stride, size_t n,
                 size_t k, float* y, size_t y_stride, size_t r0, size_t r1) {
  matmul_tiles<G, Table, load_table>(
      w, row_bytes, x, x_stride, n, k, y, y_stride, r0, r1,
      [](const Table& t) -> const Table& { return t; },
      [](size_t nt, const Table& t, const uint8_t* row, const BlockQ8A* const* xt, size_t full,
         float* sum) {
        switch (nt) {
          case 1:
            row_dot<1>(t, row, xt, full, sum);
            break;
          case 2:
            row_dot<2>(t, row, xt, full, sum);
            break;
          case 3:
            row_dot<3>(t, row, xt, full, sum);
            break;
          default:
            row_dot<4>(t, row, xt, full, sum);
            break;
        }
      });
}

}  // namespace lut_avx2
}  // namespace
}  // namespace corelm
