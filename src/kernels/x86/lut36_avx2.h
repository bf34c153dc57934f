// lut3 and lut6 matmuls in 256-bit registers against q8 activations (BlockQ8A), for the avx2,
// avxvnni and avx512 tables (each passes its 4-product dot step, as lut_avx2.h's lut4 kernel).
//
// The same scheme as lut4's (lut_avx2.h): the group's table in its 14-bit integer form
// (tensor/lut.h, lut_int_table) split into a low 7-bit part and a high part plus 64, looked up
// with vpshufb; sets of 8 rows whose 32-byte loads hold 4 columns of all 8 rows, so the dot step
// with a broadcast group of 4 activations leaves one int32 sum per row in each lane. What differs
// is how a block's 8 index vectors (chunk k = 0..3, half h = 0..1: byte 4r + m holds column
// 16h + 4k + m of row r) come out of the bit planes (tensor/layout.h):
//   lut3: bits 0-1 from the 2-bit plane chunk k / 2 (shift 2 (2 (k % 2) + h)), bit 2 from the
//     1-bit plane (shift 2k + h): an index 0..7 for one vpshufb on each 8-entry part.
//   lut6: bits 0-3 as lut4's nibbles, bits 4-5 from the 2-bit plane: an index 0..63 looked up in
//     four 16-entry quarters, quarter q with vpshufb on (index ^ 16q) + 0x70, whose bit 7 (a
//     zero result) is set unless the index's bits 4-5 equal q; the four results ORed.
// The last, shorter block (cols % 32 columns) is summed row by row in scalar code.
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
namespace lut36_avx2 {

constexpr size_t kSet = kLut4SetRows;
constexpr size_t kTile = 4;  // tokens per pass over a set

template <int Bits>
struct Table {
  static constexpr size_t kQuarters = Bits == 6 ? 4 : 1;
  __m256i low[kQuarters], high[kQuarters];  // q & 127, (q >> 7) + 64 per 16 entries, both lanes
  LutIntTable ints;
};

template <int Bits>
inline void load_table(const uint8_t* group, Table<Bits>& t) {
  constexpr size_t kEntries = size_t{1} << Bits;
  t.ints = lut_int_table(group, kEntries);
  for (size_t q = 0; q < Table<Bits>::kQuarters; ++q) {
    alignas(16) uint8_t low[16] = {}, high[16] = {};
    for (size_t j = 0; j < std::min<size_t>(16, kEntries); ++j) {
      low[j] = static_cast<uint8_t>(t.ints.q[16 * q + j] & 127);
      high[j] = static_cast<uint8_t>((t.ints.q[16 * q + j] >> 7) + 64);
    }
    t.low[q] = _mm256_broadcastsi128_si256(_mm_load_si128(reinterpret_cast<const __m128i*>(low)));
    t.high[q] = _mm256_broadcastsi128_si256(_mm_load_si128(reinterpret_cast<const __m128i*>(high)));
  }
}

inline __m256i load256(const uint8_t* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}

// The 8 index vectors of a full block, idx[2k + h].
template <int Bits>
inline void block_indices(const uint8_t* blk, __m256i idx[8]) {
  const __m256i m3 = _mm256_set1_epi8(3);
  if constexpr (Bits == 3) {
    const __m256i m1 = _mm256_set1_epi8(1);
    const __m256i bit2 = load256(blk + 64);
    for (int k = 0; k < 4; ++k) {
      const __m256i plane = load256(blk + 32 * (k / 2));
      for (int h = 0; h < 2; ++h) {
        const int i = 2 * (k % 2) + h;
        const __m256i lo = _mm256_and_si256(_mm256_srl_epi16(plane, _mm_cvtsi32_si128(2 * i)), m3);
        const __m256i hi =
            _mm256_and_si256(_mm256_srl_epi16(bit2, _mm_cvtsi32_si128(2 * k + h)), m1);
        idx[2 * k + h] = _mm256_or_si256(lo, _mm256_slli_epi16(hi, 2));
      }
    }
  } else {
    const __m256i m15 = _mm256_set1_epi8(0x0F);
    for (int k = 0; k < 4; ++k) {
      const __m256i v = load256(blk + 32 * k);
      const __m256i plane = load256(blk + 128 + 32 * (k / 2));
      const __m256i nib[2] = {_mm256_and_si256(v, m15),
                              _mm256_and_si256(_mm256_srli_epi16(v, 4), m15)};
      for (int h = 0; h < 2; ++h) {
        const int i = 2 * (k % 2) + h;
        const __m256i hi = _mm256_and_si256(_mm256_srl_epi16(plane, _mm_cvtsi32_si128(2 * i)), m3);
        idx[2 * k + h] = _mm256_or_si256(nib[h], _mm256_slli_epi16(hi, 4));
      }
    }
  }
}

// Both parts of the weights of one index vector.
template <int Bits>
inline void lookup(const Table<Bits>& t, __m256i idx, __m256i& wl, __m256i& wh) {
  if constexpr (Bits == 3) {
    wl = _mm256_shuffle_epi8(t.low[0], idx);
    wh = _mm256_shuffle_epi8(t.high[0], idx);
  } else {
    wl = wh = _mm256_setzero_si256();
    for (int q = 0; q < 4; ++q) {
      const __m256i s =
          _mm256_add_epi8(_mm256_xor_si256(idx, _mm256_set1_epi8(static_cast<char>(16 * q))),
                          _mm256_set1_epi8(0x70));
      wl = _mm256_or_si256(wl, _mm256_shuffle_epi8(t.low[q], s));
      wh = _mm256_or_si256(wh, _mm256_shuffle_epi8(t.high[q], s));
    }
  }
}

// A set of 8 rows against NT tokens over the full blocks: out[t] lane r = sum over blocks of the
// block's scale times (128 * high part + low part) for row r (the -8192 * qsum term left out).
template <int Bits, size_t NT, typename Dp>
inline void set_dot(const Table<Bits>& table, const uint8_t* set, const BlockQ8A* const* xt,
                    size_t full, __m256* out) {
  __m256 acc[NT];
  for (size_t t = 0; t < NT; ++t) acc[t] = _mm256_setzero_ps();
  for (size_t b = 0; b < full; ++b) {
    const uint8_t* blk = set + lut_block_bytes(Bits) * b;
    if constexpr (NT == 1) prefetch_l1(blk + 2048);
    __m256i idx[8];
    block_indices<Bits>(blk, idx);
    __m256i hs[NT], ls[NT];
    for (size_t t = 0; t < NT; ++t) hs[t] = ls[t] = _mm256_setzero_si256();
    for (int k = 0; k < 4; ++k)
      for (int h = 0; h < 2; ++h) {
        __m256i wl, wh;
        lookup<Bits>(table, idx[2 * k + h], wl, wh);
        for (size_t t = 0; t < NT; ++t) {
          const __m256i x = _mm256_set1_epi32(load_i32(xt[t][b].qs + 16 * h + 4 * k));
          hs[t] = Dp::dp(hs[t], wh, x);
          ls[t] = Dp::dp(ls[t], wl, x);
        }
      }
    for (size_t t = 0; t < NT; ++t) {
      const __m256i s = _mm256_add_epi32(_mm256_slli_epi32(hs[t], 7), ls[t]);
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(xt[t][b].scale), acc[t]);
    }
  }
  for (size_t t = 0; t < NT; ++t) out[t] = acc[t];
}

// Rows [r0, r1) against n tokens; G rows per group (layout lut_gG), `Bits` = 3 or 6.
template <int Bits, size_t G, typename Dp>
void matmul_lut(const uint8_t* w, size_t row_bytes, const void* x, size_t x_stride, size_t n,
                size_t k, float* y, size_t y_stride, size_t r0, size_t r1) {
  constexpr size_t kTableBytes = size_t{2} << Bits;
  const size_t full = k / kLut4Chunk, tail = k % kLut4Chunk;
  const auto* xb = static_cast<const uint8_t*>(x);
  Table<Bits> table{};
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
      if (s0 / G != group_index) load_table<Bits>(group, table), group_index = s0 / G;
      const uint8_t* set = group + kTableBytes + s0 % G * row_bytes;
      __m256 sums[kTile];
      switch (nt) {
        case 1:
          set_dot<Bits, 1, Dp>(table, set, xt, full, sums);
          break;
        case 2:
          set_dot<Bits, 2, Dp>(table, set, xt, full, sums);
          break;
        case 3:
          set_dot<Bits, 3, Dp>(table, set, xt, full, sums);
          break;
        default:
          set_dot<Bits, 4, Dp>(table, set, xt, full, sums);
          break;
      }
      alignas(32) float lanes[kTile][kSet];
      for (size_t t = 0; t < nt; ++t) _mm256_store_ps(lanes[t], sums[t]);
      for (size_t r = std::max(s0, r0); r < std::min(s0 + kSet, r1); ++r) {
        int16_t q[kLut4Chunk];  // the tail's weights of row r (tensor/layout.h's tail map)
        if (tail != 0) lut_tail_weights(Bits, table.ints, set, r - s0, k, q);
        for (size_t t = 0; t < nt; ++t) {
          float s = lanes[t][r - s0] - offset[t];
          if (tail != 0)
            s += xt[t][full].scale * static_cast<float>(lut_tail_dot(q, tail, xt[t][full].qs));
          y[(t0 + t) * y_stride + r] = table.ints.scale * s;
        }
      }
    }
  }
}

}  // namespace lut36_avx2
}  // namespace
}  // namespace corelm
