// lut4 matmuls in 256-bit registers against q8 activations (BlockQ8A), for the avx2, avxvnni and
// avx512 tables (each passes its 4-product dot step, vpdpbusd or AVX2's maddubs + madd).
//
// A group's table in its 14-bit integer form (tensor/lut.h, lut4_int_table) is split into two
// 16-byte tables, the low 7 bits (q & 127) and the high part plus 64 ((q >> 7) + 64, in [0, 127]),
// each broadcast to both 128-bit lanes. A set of 8 rows stores each 32-column block as four
// 32-byte chunks whose byte 4r + m holds columns 4c + m (low nibble) and 16 + 4c + m (high) of row
// r (tensor/layout.h), so one load and two masks give the indices of 4 columns of all 8 rows,
// vpshufb turns them into both parts of the weights, and the dot step multiplies each with a
// broadcast group of 4 activations into one int32 lane per row: no horizontal sums. Unsigned
// parts (<= 127) times |q8| <= 127 never saturate maddubs' pair sums. Per block and row:
//   sum q * x = 128 * sum (high + 64) * x + sum low * x - 8192 * sum x,
// where sum x over a block is BlockQ8A::qsum, so the last term is one float per token.
// Internal linkage: include only from a file built with at least -mavx2 -mfma -mf16c.
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
constexpr size_t kSet = kLut4SetRows;
constexpr size_t kBlockBytes = kLut4Chunk / 2 * kSet;  // a 32-column block of a set: 128 bytes
constexpr size_t kTile = 4;                            // tokens per pass over a set

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

// A set of 8 rows against NT tokens over the full blocks: out[t] lane r = sum over blocks of the
// block's scale times (128 * high part + low part) for row r (the -8192 * qsum term left out).
template <size_t NT, typename Dp>
inline void set_dot(const Table& table, const uint8_t* set, const BlockQ8A* const* xt, size_t full,
                    __m256* out) {
  const __m256i mask = _mm256_set1_epi8(0x0F);
  __m256 acc[NT];
  for (size_t t = 0; t < NT; ++t) acc[t] = _mm256_setzero_ps();
  for (size_t b = 0; b < full; ++b) {
    const uint8_t* blk = set + kBlockBytes * b;
    if constexpr (NT == 1) prefetch_l1(blk + 2048);
    __m256i h0[NT], h1[NT], l0[NT], l1[NT];
    for (size_t t = 0; t < NT; ++t) h0[t] = h1[t] = l0[t] = l1[t] = _mm256_setzero_si256();
    for (size_t c = 0; c < 4; ++c) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 32 * c));
      const __m256i i0 = _mm256_and_si256(v, mask);
      const __m256i i1 = _mm256_and_si256(_mm256_srli_epi16(v, 4), mask);
      const __m256i wl0 = _mm256_shuffle_epi8(table.low, i0);
      const __m256i wh0 = _mm256_shuffle_epi8(table.high, i0);
      const __m256i wl1 = _mm256_shuffle_epi8(table.low, i1);
      const __m256i wh1 = _mm256_shuffle_epi8(table.high, i1);
      for (size_t t = 0; t < NT; ++t) {
        const __m256i x0 = _mm256_set1_epi32(load_i32(xt[t][b].qs + 4 * c));
        const __m256i x1 = _mm256_set1_epi32(load_i32(xt[t][b].qs + 16 + 4 * c));
        h0[t] = Dp::dp(h0[t], wh0, x0);
        l0[t] = Dp::dp(l0[t], wl0, x0);
        h1[t] = Dp::dp(h1[t], wh1, x1);
        l1[t] = Dp::dp(l1[t], wl1, x1);
      }
    }
    for (size_t t = 0; t < NT; ++t) {
      const __m256i s = _mm256_add_epi32(_mm256_slli_epi32(_mm256_add_epi32(h0[t], h1[t]), 7),
                                         _mm256_add_epi32(l0[t], l1[t]));
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(xt[t][b].scale), acc[t]);
    }
  }
  for (size_t t = 0; t < NT; ++t) out[t] = acc[t];
}

// Rows [r0, r1) against n tokens; G rows per group (layout lut_gG). Tokens in tiles of kTile,
// sets of 8 rows inside: a tile's activations stay in L1 while the weights stream.
template <size_t G, typename Dp>
void matmul_lut4(const uint8_t* w, size_t row_bytes, const void* x, size_t x_stride, size_t n,
                 size_t k, float* y, size_t y_stride, size_t r0, size_t r1) {
  const size_t full = k / kLut4Chunk, half = k % kLut4Chunk / 2;
  const auto* xb = static_cast<const uint8_t*>(x);
  Table table{};
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
    for (size_t s0 = r0 / kSet * kSet; s0 < r1; s0 += kSet) {
      const uint8_t* group = w + s0 / G * (kTableBytes + G * row_bytes);
      if (s0 / G != group_index) load_table(group, table), group_index = s0 / G;
      const uint8_t* set = group + kTableBytes + s0 % G * row_bytes;
      __m256 sums[kTile];
      switch (nt) {
        case 1:
          set_dot<1, Dp>(table, set, xt, full, sums);
          break;
        case 2:
          set_dot<2, Dp>(table, set, xt, full, sums);
          break;
        case 3:
          set_dot<3, Dp>(table, set, xt, full, sums);
          break;
        default:
          set_dot<4, Dp>(table, set, xt, full, sums);
          break;
      }
      alignas(32) float lanes[kTile][kSet];
      for (size_t t = 0; t < nt; ++t) _mm256_store_ps(lanes[t], sums[t]);
      for (size_t r = std::max(s0, r0); r < std::min(s0 + kSet, r1); ++r)
        for (size_t t = 0; t < nt; ++t) {
          float s = lanes[t][r - s0] - offset[t];
          if (half != 0) {  // the last, shorter block, row by row: byte j = elements j, j + half
            const int isum = lut4_tail_dot(table.ints, set + kBlockBytes * full + (r - s0) * half,
                                           half, xt[t][full].qs);
            s += xt[t][full].scale * static_cast<float>(isum);
          }
          y[(t0 + t) * y_stride + r] = table.ints.scale * s;
        }
    }
  }
}

}  // namespace lut_avx2
}  // namespace
}  // namespace corelm
