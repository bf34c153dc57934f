// lut4 matmuls in AVX2 against f32 activations (the reference's activation format): per group of
// G rows the 16 fp16 table entries become two vectors of 8 floats, and each 8-byte chunk of a row
// (16 indices, tensor/layout.h's packing) decodes into 16 weights with four vpermps and two
// blends, no index shuffle: vpmovzxbd puts byte j in lane j, whose low nibble is the index of
// element j (vpermps reads its low 3 bits, bit 3 picks the half) and whose next nibble that of
// element j + 8. The weights of a row are decoded once per tile of up to 4 tokens.
// Internal linkage: include only from a file built with -mavx2 -mfma -mf16c (avx2.cpp).
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/x86/avx2_helpers.h"

namespace corelm {
namespace {
namespace lut_avx2 {

constexpr size_t kTableBytes = 32;  // 16 fp16 entries

struct Table {
  __m256 lo, hi;      // entries 0..7, 8..15
  float entries[16];  // for the row tail
};

inline Table load_table(const uint8_t* group) {
  Table t;
  t.lo = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(group)));
  t.hi = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(group + 16)));
  _mm256_storeu_ps(t.entries, t.lo);
  _mm256_storeu_ps(t.entries + 8, t.hi);
  return t;
}

// The weights of 8 lanes whose bits 0..3 hold an index (bits 4.. ignored by the shift).
inline __attribute__((always_inline)) __m256 lookup(const Table& t, __m256i v) {
  const __m256 lo = _mm256_permutevar8x32_ps(t.lo, v), hi = _mm256_permutevar8x32_ps(t.hi, v);
  return _mm256_blendv_ps(lo, hi, _mm256_castsi256_ps(_mm256_slli_epi32(v, 28)));
}

// Rows [r0, r1) against n tokens; G rows per group (layout lut_gG).
template <size_t G>
void matmul_lut4(const uint8_t* w, size_t row_bytes, const void* x, size_t x_stride, size_t n,
                 size_t k, float* y, size_t y_stride, size_t r0, size_t r1) {
  constexpr size_t kTile = 4;
  const size_t full = k / 16, tail = k % 16, half = tail / 2;
  const auto* xb = static_cast<const uint8_t*>(x);
  size_t group_index = static_cast<size_t>(-1);
  Table table{};
  for (size_t r = r0; r < r1; ++r) {
    const uint8_t* group = w + r / G * (kTableBytes + G * row_bytes);
    if (r / G != group_index) table = load_table(group), group_index = r / G;
    const uint8_t* row = group + kTableBytes + r % G * row_bytes;
    for (size_t t0 = 0; t0 < n; t0 += kTile) {
      const size_t nt = std::min(kTile, n - t0);
      const float* xt[kTile];
      for (size_t t = 0; t < kTile; ++t)
        xt[t] = reinterpret_cast<const float*>(xb + (t0 + std::min(t, nt - 1)) * x_stride);
      __m256 acc0[kTile], acc1[kTile];
      for (size_t t = 0; t < kTile; ++t) acc0[t] = acc1[t] = _mm256_setzero_ps();
      for (size_t c = 0; c < full; ++c) {
        const __m256i v =
            _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(row + 8 * c)));
        const __m256 w0 = lookup(table, v), w1 = lookup(table, _mm256_srli_epi32(v, 4));
        for (size_t t = 0; t < nt; ++t) {
          acc0[t] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(xt[t] + 16 * c), acc0[t]);
          acc1[t] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(xt[t] + 16 * c + 8), acc1[t]);
        }
      }
      for (size_t t = 0; t < nt; ++t) {
        float sum = hsum(_mm256_add_ps(acc0[t], acc1[t]));
        const uint8_t* bytes = row + 8 * full;  // the last chunk: byte j = elements j, j + half
        const float* xs = xt[t] + 16 * full;
        for (size_t j = 0; j < half; ++j)
          sum +=
              table.entries[bytes[j] & 0xF] * xs[j] + table.entries[bytes[j] >> 4] * xs[j + half];
        y[(t0 + t) * y_stride + r] = sum;
      }
    }
  }
}

}  // namespace lut_avx2
}  // namespace
}  // namespace corelm
