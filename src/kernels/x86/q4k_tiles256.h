// Q4_K in interleaved16 tiles (tensor/layout.h) on 256-bit registers, for the avx2 and avxvnni
// tables. Each including file is built with its own ISA flags and supplies `Dp`, as vnni256.h
// describes it: acc[i] += the four products of unsigned bytes of u8 and signed bytes of s8 in
// lane i (vpdpbusd, or vpmaddubsw + vpmaddwd where the pair sums cannot saturate: nibbles of at
// most 15 times int8 stay far below 2^15). Internal linkage: each file gets its own copy.
//
// A tile holds 16 rows; each half (rows 0-7, then 8-15) is the low or high 32 bytes of every
// 64-byte piece, so a half is an 8-row tile with one row per int32 lane: per group of 32 values,
// four loads give two nibble vectors each against broadcast groups of four activations; the
// group's sum meets the rows' scales (vpmulld) in an int32 accumulator, the mins meet the
// activations' 32-element sums in one vpmaddwd per pair of groups, and the floats come once per
// super-block.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "kernels/x86/avx2_helpers.h"
#include "tensor/layout.h"
#include "tensor/quant_blocks.h"

namespace corelm {
namespace {
namespace q4k256 {

// The activations' sums of groups 2j and 2j + 1 as the two int16 halves of int32 lane j.
inline __m128i group_sum_pairs(const BlockQ8K& a) {
  const __m256i s32 = _mm256_madd_epi16(
      _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.bsums)), _mm256_set1_epi16(1));
  return _mm_packs_epi32(_mm256_castsi256_si128(s32), _mm256_extracti128_si256(s32, 1));
}

// T tokens against half `h` (rows 8h..8h+7) of a group of 16 rows.
template <typename Dp, int T>
inline void half_tile(const uint8_t* group, size_t nb, int h, const BlockQ8K* const* a,
                      float* const* y) {
  const __m256i mask = _mm256_set1_epi8(0x0F);
  __m256 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm256_setzero_ps();
  for (size_t b = 0; b < nb; ++b) {
    const uint8_t* tile = group + b * kQ4KTileBytes;
    if (T == 1)
      for (int line = 0; line < 2; ++line)
        prefetch_l2(reinterpret_cast<const char*>(tile) + 4 * kQ4KTileBytes + 64 * line);
    __m256i isum[T];
    for (int t = 0; t < T; ++t) isum[t] = _mm256_setzero_si256();
    for (int g = 0; g < 8; ++g) {
      const uint8_t* v = tile + kQ4KTileValues + 256 * g + 32 * h;
      if (T == 1) prefetch_l2(reinterpret_cast<const char*>(v) + 4 * kQ4KTileBytes);
      __m256i s[T];
      for (int t = 0; t < T; ++t) s[t] = _mm256_setzero_si256();
      for (int c = 0; c < 4; ++c) {
        const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(v + 64 * c));
        const __m256i lo = _mm256_and_si256(raw, mask),
                      hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), mask);
        for (int t = 0; t < T; ++t) {
          const int8_t* q = a[t][b].qs + 32 * g + 4 * c;
          s[t] = Dp::dp(s[t], lo, _mm256_set1_epi32(load_i32(q)));
          s[t] = Dp::dp(s[t], hi, _mm256_set1_epi32(load_i32(q + 16)));
        }
      }
      const __m256i sc = _mm256_cvtepu8_epi32(_mm_loadl_epi64(
          reinterpret_cast<const __m128i*>(tile + kQ4KTileScales + 16 * g + 8 * h)));
      for (int t = 0; t < T; ++t) isum[t] = _mm256_add_epi32(isum[t], _mm256_mullo_epi32(s[t], sc));
    }
    const __m256 d =
        _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(tile + 16 * h)));
    const __m256 dm =
        _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(tile + 32 + 16 * h)));
    for (int t = 0; t < T; ++t) {
      const __m128i pairs = group_sum_pairs(a[t][b]);
      __m256i msum = _mm256_setzero_si256();
      for (int j = 0; j < 4; ++j) {
        const __m256i mn = _mm256_cvtepu8_epi16(_mm_loadu_si128(
            reinterpret_cast<const __m128i*>(tile + kQ4KTileMins + 32 * j + 16 * h)));
        const __m256i pair =
            _mm256_permutevar8x32_epi32(_mm256_castsi128_si256(pairs), _mm256_set1_epi32(j));
        msum = _mm256_add_epi32(msum, _mm256_madd_epi16(mn, pair));
      }
      const __m256 sa = _mm256_set1_ps(a[t][b].scale);
      acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(d, sa), _mm256_cvtepi32_ps(isum[t]), acc[t]);
      acc[t] = _mm256_fnmadd_ps(_mm256_mul_ps(dm, sa), _mm256_cvtepi32_ps(msum), acc[t]);
    }
  }
  for (int t = 0; t < T; ++t) _mm256_storeu_ps(y[t] + 8 * h, acc[t]);
}

template <typename Dp, int T>
inline void group_tokens(const uint8_t* group, size_t nb, const void* x, size_t x_stride, size_t t,
                         float* y, size_t y_stride, size_t r) {
  const BlockQ8K* as[T];
  float* ys[T];
  for (int i = 0; i < T; ++i) {
    as[i] = reinterpret_cast<const BlockQ8K*>(static_cast<const uint8_t*>(x) + (t + i) * x_stride);
    ys[i] = y + (t + i) * y_stride + r;
  }
  half_tile<Dp, T>(group, nb, 0, as, ys);
  half_tile<Dp, T>(group, nb, 1, as, ys);
}

// The matmul: rows [r0, r1) in groups of 16, tokens in tiles of 4 (then 2, then 1).
template <typename Dp>
void matmul_q4_k_tiles(const uint8_t* w, size_t, const void* x, size_t x_stride, size_t n, size_t k,
                       float* y, size_t y_stride, size_t r0, size_t r1) {
  const size_t nb = k / kSuperBlock, group_bytes = nb * kQ4KTileBytes;
  // Tokens in chunks whose activations stay in L2 while this thread's rows pass over them.
  const size_t chunk = std::max<size_t>(8, (256u << 10) / (nb * sizeof(BlockQ8K)) / 8 * 8);
  for (size_t t0 = 0; t0 < n; t0 += chunk) {
    const size_t t1 = std::min(n, t0 + chunk);
    for (size_t r = r0; r < r1; r += kInterleave16Rows) {
      const uint8_t* group = w + (r / kInterleave16Rows) * group_bytes;
      size_t t = t0;
      for (; t + 4 <= t1; t += 4) group_tokens<Dp, 4>(group, nb, x, x_stride, t, y, y_stride, r);
      for (; t + 2 <= t1; t += 2) group_tokens<Dp, 2>(group, nb, x, x_stride, t, y, y_stride, r);
      if (t < t1) group_tokens<Dp, 1>(group, nb, x, x_stride, t, y, y_stride, r);
    }
  }
}

}  // namespace q4k256
}  // namespace
}  // namespace corelm
