// lut4 matmuls with AVX-512 (BW, VL, DQ, VNNI): lut_avx2.h's method two blocks at a time. A zmm
// holds two chunks' indices, the 128-bit lanes [chunk b, chunk b >> 4, chunk b+1, chunk b+1 >> 4]
// (masked to 4 bits), so vpshufb looks up 64 weights' low and high parts at once; vpdpbusd
// multiplies them with the two blocks' activations, 128 * sum (high + 64) * x + sum low * x is one
// shift and a second vpdpbusd, and each block's half of the register meets its scale in float.
// Internal linkage: include only from avx512.cpp.
#pragma once

#include <immintrin.h>

#include "kernels/x86/lut_avx2.h"

namespace corelm {
namespace {
namespace lut_avx512 {

using lut_avx2::kChunkBytes;
using lut_avx2::kTableBytes;
using lut_avx2::kTile;

struct Table {
  __m512i low, high;
  lut_avx2::Table narrow;  // for a single last chunk and the tail
};

inline void load_table(const uint8_t* group, Table& t) {
  lut_avx2::load_table(group, t.narrow);
  t.low = _mm512_broadcast_i64x4(t.narrow.low);
  t.high = _mm512_broadcast_i64x4(t.narrow.high);
}

// The 64 indices of chunks b and b + 1 (p points at chunk b), in element order.
inline __attribute__((always_inline)) __m512i pair_indices(const uint8_t* p) {
  const __m256i a =
      _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  const __m256i b = _mm256_broadcastsi128_si256(
      _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + kChunkBytes)));
  const __m512i v = _mm512_inserti64x4(_mm512_castsi256_si512(a), b, 1);
  return _mm512_and_si512(_mm512_mask_blend_epi64(0xCC, v, _mm512_srli_epi16(v, 4)),
                          _mm512_set1_epi8(0x0F));
}

// The two blocks' activations and scales side by side.
inline __attribute__((always_inline)) __m512i pair_x(const BlockQ8A* x) {
  return _mm512_inserti64x4(
      _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[0].qs))),
      _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[1].qs)), 1);
}
inline __attribute__((always_inline)) __m512 pair_scale(const BlockQ8A* x) {
  return _mm512_insertf32x8(_mm512_set1_ps(x[0].scale), _mm256_set1_ps(x[1].scale), 1);
}

inline __attribute__((always_inline)) __m512 pair_dot(__m512i low, __m512i high, const BlockQ8A* x,
                                                      __m512 acc) {
  const __m512i xz = pair_x(x);
  const __m512i h = _mm512_slli_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), high, xz), 7);
  return _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_dpbusd_epi32(h, low, xz)), pair_scale(x), acc);
}

inline float hsum512(__m512 v) {
  return hsum(_mm256_add_ps(_mm512_castps512_ps256(v),
                            _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))));
}

// One row against NT tokens, as lut_avx2::row_dot.
template <size_t NT>
inline void row_dot(const Table& table, const uint8_t* row, const BlockQ8A* const* xt, size_t full,
                    float* out) {
  __m512 acc[NT];
  for (size_t t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
  size_t b = 0;
  for (; b + 2 <= full; b += 2) {
    if constexpr (NT == 1) prefetch_l1(row + kChunkBytes * b + 2048);
    const __m512i idx = pair_indices(row + kChunkBytes * b);
    const __m512i low = _mm512_shuffle_epi8(table.low, idx);
    const __m512i high = _mm512_shuffle_epi8(table.high, idx);
    for (size_t t = 0; t < NT; ++t) acc[t] = pair_dot(low, high, xt[t] + b, acc[t]);
  }
  for (size_t t = 0; t < NT; ++t) out[t] = hsum512(acc[t]);
  if (b < full) {  // an odd last chunk: the 256-bit step
    float last[NT];
    const BlockQ8A* xl[NT];
    for (size_t t = 0; t < NT; ++t) xl[t] = xt[t] + b;
    lut_avx2::row_dot<NT>(table.narrow, row + kChunkBytes * b, xl, 1, last);
    for (size_t t = 0; t < NT; ++t) out[t] += last[t];
  }
}

template <size_t G>
void matmul_lut4(const uint8_t* w, size_t row_bytes, const void* x, size_t x_stride, size_t n,
                 size_t k, float* y, size_t y_stride, size_t r0, size_t r1) {
  lut_avx2::matmul_tiles<G, Table, load_table>(
      w, row_bytes, x, x_stride, n, k, y, y_stride, r0, r1,
      [](const Table& t) -> const lut_avx2::Table& { return t.narrow; },
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

}  // namespace lut_avx512
}  // namespace
}  // namespace corelm
