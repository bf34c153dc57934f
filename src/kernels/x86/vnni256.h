// 256-bit VNNI kernels shared by the "avxvnni" and "avx512" tables (and, for the q8 rows, "avx2").
// Each including file is built with its own ISA flags and supplies `Dp`, a struct whose static
// `dp(acc, u8, s8)` is its vpdpbusd spelling (_mm256_dpbusd_avx_epi32, _mm256_dpbusd_epi32, or
// avx2's vpmaddubsw + vpmaddwd where the pair sums cannot saturate): acc[i] += sum of the four
// products of unsigned bytes of u8 and signed bytes of s8 in lane i. Everything here has internal
// linkage, so the two copies never meet at link time.
//
// q4 (interleaved8): the nibbles (0..15) are the unsigned operand, the BlockQ8A activations the
// signed one, and the +8 storage offset leaves as 8 * qsum per block, as in avx2.cpp; the integer
// dot products are exact, only the two scales and the float sums round.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/kernel_table.h"
#include "kernels/x86/avx2_helpers.h"
#include "tensor/layout.h"

namespace corelm {
namespace {
namespace vnni256 {

inline const BlockQ8A* act_row(const void* x, size_t x_stride, size_t t) {
  return reinterpret_cast<const BlockQ8A*>(static_cast<const uint8_t*>(x) + t * x_stride);
}

// The exact integer dot products of one interleaved block (8 rows) with one activation block,
// one row per lane, offset removed.
template <typename Dp>
inline __m256i q4_block_isum(const uint8_t* blk, const BlockQ8A& a, __m256i mask) {
  const int8_t* q = a.qs;
  __m256i s = _mm256_set1_epi32(-8 * a.qsum);
  for (int c = 0; c < 4; ++c) {
    const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 16 + 32 * c));
    s = Dp::dp(s, _mm256_and_si256(raw, mask), _mm256_set1_epi32(load_i32(q + 4 * c)));
    s = Dp::dp(s, _mm256_and_si256(_mm256_srli_epi16(raw, 4), mask),
               _mm256_set1_epi32(load_i32(q + 16 + 4 * c)));
  }
  return s;
}

// One token against one group of 8 rows (decode, bound by memory): two float accumulators on
// alternating blocks, the weights prefetched ahead as in avx2.cpp.
template <typename Dp>
inline void q4_gemv(const uint8_t* group, size_t nb, const BlockQ8A* x, float* y) {
  const __m256i mask = _mm256_set1_epi8(0x0F);
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  size_t b = 0;
  for (; b + 2 <= nb; b += 2) {
    const uint8_t* blk = group + b * kInterleavedBlockBytes;
    for (int p = 0; p < 5; ++p) prefetch_l1(reinterpret_cast<const char*>(blk) + 2048 + 64 * p);
    const __m256i i0 = q4_block_isum<Dp>(blk, x[b], mask);
    const __m256i i1 = q4_block_isum<Dp>(blk + kInterleavedBlockBytes, x[b + 1], mask);
    const __m256 d0 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk)));
    const __m256 d1 = _mm256_cvtph_ps(
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + kInterleavedBlockBytes)));
    acc0 = _mm256_fmadd_ps(_mm256_mul_ps(d0, _mm256_set1_ps(x[b].scale)), _mm256_cvtepi32_ps(i0),
                           acc0);
    acc1 = _mm256_fmadd_ps(_mm256_mul_ps(d1, _mm256_set1_ps(x[b + 1].scale)),
                           _mm256_cvtepi32_ps(i1), acc1);
  }
  for (; b < nb; ++b) {
    const uint8_t* blk = group + b * kInterleavedBlockBytes;
    const __m256i i0 = q4_block_isum<Dp>(blk, x[b], mask);
    const __m256 d0 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk)));
    acc0 = _mm256_fmadd_ps(_mm256_mul_ps(d0, _mm256_set1_ps(x[b].scale)), _mm256_cvtepi32_ps(i0),
                           acc0);
  }
  _mm256_storeu_ps(y, _mm256_add_ps(acc0, acc1));
}

// T tokens against one group of 8 rows. Per 32-byte chunk the two nibble vectors are unpacked
// once and every token's chain takes them; integer and float accumulators stay in registers
// (2T + 4 of them: T = 4 fits the 16 ymm registers of an AVX2 machine).
template <typename Dp, int T>
inline void q4_group_tile(const uint8_t* group, size_t nb, const BlockQ8A* const* x,
                          float* const* y) {
  const __m256i mask = _mm256_set1_epi8(0x0F);
  __m256 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm256_setzero_ps();
  for (size_t b = 0; b < nb; ++b) {
    const uint8_t* blk = group + b * kInterleavedBlockBytes;
    __m256i s[T];
    for (int t = 0; t < T; ++t) s[t] = _mm256_set1_epi32(-8 * x[t][b].qsum);
    for (int c = 0; c < 4; ++c) {
      const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 16 + 32 * c));
      const __m256i lo = _mm256_and_si256(raw, mask),
                    hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), mask);
      for (int t = 0; t < T; ++t) {
        const int8_t* q = x[t][b].qs;
        s[t] = Dp::dp(s[t], lo, _mm256_set1_epi32(load_i32(q + 4 * c)));
        s[t] = Dp::dp(s[t], hi, _mm256_set1_epi32(load_i32(q + 16 + 4 * c)));
      }
    }
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk)));
    for (int t = 0; t < T; ++t)
      acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(x[t][b].scale)),
                               _mm256_cvtepi32_ps(s[t]), acc[t]);
  }
  for (int t = 0; t < T; ++t) _mm256_storeu_ps(y[t], acc[t]);
}

// Tokens [t, t + T) against the group at `group` (rows r..r+8 of y): Kind::tile<T>.
template <typename Kind, int T>
inline void group_tile_tokens(const uint8_t* group, size_t nb, const void* x, size_t x_stride,
                              size_t t, float* y, size_t y_stride, size_t r) {
  const BlockQ8A* xs[T];
  float* ys[T];
  for (int i = 0; i < T; ++i) {
    xs[i] = act_row(x, x_stride, t + i);
    ys[i] = y + (t + i) * y_stride + r;
  }
  Kind::template tile<T>(group, nb, xs, ys);
}

// Tokens [t0, t1) against one group of 8 rows: tiles of 4, then 2, then Kind::one per token.
template <typename Kind>
inline void group_tokens(const uint8_t* group, size_t nb, const void* x, size_t x_stride, size_t t0,
                         size_t t1, float* y, size_t y_stride, size_t r) {
  size_t t = t0;
  for (; t + 4 <= t1; t += 4) group_tile_tokens<Kind, 4>(group, nb, x, x_stride, t, y, y_stride, r);
  for (; t + 2 <= t1; t += 2) group_tile_tokens<Kind, 2>(group, nb, x, x_stride, t, y, y_stride, r);
  for (; t < t1; ++t) Kind::one(group, nb, act_row(x, x_stride, t), y + t * y_stride + r);
}

template <typename Dp>
struct Q4Group {
  template <int T>
  static void tile(const uint8_t* group, size_t nb, const BlockQ8A* const* x, float* const* y) {
    q4_group_tile<Dp, T>(group, nb, x, y);
  }
  static void one(const uint8_t* group, size_t nb, const BlockQ8A* x, float* y) {
    q4_gemv<Dp>(group, nb, x, y);
  }
};

// q4 tokens [t0, t1) against the group at `group` (rows r..r+8 of y).
template <typename Dp>
inline void q4_group_tokens(const uint8_t* group, size_t nb, const void* x, size_t x_stride,
                            size_t t0, size_t t1, float* y, size_t y_stride, size_t r) {
  group_tokens<Q4Group<Dp>>(group, nb, x, x_stride, t0, t1, y, y_stride, r);
}

// Tokens per pass over a thread's row groups: their activations stay in L2 meanwhile.
inline size_t q4_token_chunk(size_t nb) {
  return std::max<size_t>(8, (256u << 10) / std::max<size_t>(nb * sizeof(BlockQ8A), 1) / 8 * 8);
}

// True for a Dp whose products can saturate a 16-bit pair sum (avx2's vpmaddubsw): it declares
// `static constexpr bool kPairSumsSaturate = true`.
template <typename Dp>
constexpr bool pair_sums_saturate() {
  if constexpr (requires { Dp::kPairSumsSaturate; })
    return Dp::kPairSumsSaturate;
  else
    return false;
}

// q8 (interleaved8): with vpdpbusd the int8 weights are flipped to unsigned (w + 128, one xor
// per load shared by the tile's tokens) against the signed activations, and the offset leaves as
// 128 * qsum per block: exact, as vpdpbusd's products of 255 by 127 cannot saturate. vpmaddubsw's
// pair sums could, so a saturating Dp takes |w| and gives each broadcast activation group w's
// signs (vpsignb) instead: products of at most 127 by 127.
template <typename Dp, int T>
inline void q8_group_tile(const uint8_t* group, size_t nb, const BlockQ8A* const* x,
                          float* const* y) {
  constexpr bool kSigned = pair_sums_saturate<Dp>();
  const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));
  __m256 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm256_setzero_ps();
  for (size_t b = 0; b < nb; ++b) {
    const uint8_t* blk = group + b * kInterleavedQ8BlockBytes;
    __m256i s[T];
    for (int t = 0; t < T; ++t)
      s[t] = kSigned ? _mm256_setzero_si256() : _mm256_set1_epi32(-128 * x[t][b].qsum);
    for (int c = 0; c < 8; ++c) {
      const __m256i wq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 16 + 32 * c));
      const __m256i wu = kSigned ? _mm256_sign_epi8(wq, wq) : _mm256_xor_si256(wq, flip);
      for (int t = 0; t < T; ++t) {
        const __m256i a4 = _mm256_set1_epi32(load_i32(x[t][b].qs + 4 * c));
        s[t] = Dp::dp(s[t], wu, kSigned ? _mm256_sign_epi8(a4, wq) : a4);
      }
    }
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk)));
    for (int t = 0; t < T; ++t)
      acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(x[t][b].scale)),
                               _mm256_cvtepi32_ps(s[t]), acc[t]);
  }
  for (int t = 0; t < T; ++t) _mm256_storeu_ps(y[t], acc[t]);
}

template <typename Dp>
struct Q8Group {
  template <int T>
  static void tile(const uint8_t* group, size_t nb, const BlockQ8A* const* x, float* const* y) {
    q8_group_tile<Dp, T>(group, nb, x, y);
  }
  static void one(const uint8_t* group, size_t nb, const BlockQ8A* x, float* y) {
    q8_group_tile<Dp, 1>(group, nb, &x, &y);
  }
};

// q8 tokens [t0, t1) against the group at `group` (rows r..r+8 of y).
template <typename Dp>
inline void q8_group_tokens(const uint8_t* group, size_t nb, const void* x, size_t x_stride,
                            size_t t0, size_t t1, float* y, size_t y_stride, size_t r) {
  group_tokens<Q8Group<Dp>>(group, nb, x, x_stride, t0, t1, y, y_stride, r);
}

// The q8 interleaved8 matmul on 256-bit registers (the avx2 and avxvnni tables).
template <typename Dp>
void matmul_q8_interleaved(const uint8_t* w, size_t row_bytes, const void* x, size_t x_stride,
                           size_t n, size_t k, float* y, size_t y_stride, size_t r0, size_t r1) {
  const size_t nb = k / kQuantBlock;
  const size_t group_bytes = kInterleaveRows * row_bytes;
  const size_t chunk = q4_token_chunk(nb);
  for (size_t t0 = 0; t0 < n; t0 += chunk) {
    const size_t t1 = std::min(n, t0 + chunk);
    for (size_t r = r0; r < r1; r += kInterleaveRows)
      q8_group_tokens<Dp>(w + (r / kInterleaveRows) * group_bytes, nb, x, x_stride, t0, t1, y,
                          y_stride, r);
  }
}

// q8 rows (q8s32 / GGUF Q8_0): |w| is the unsigned operand and the activations take w's sign
// (vpsignb), as in avx2.cpp. A tile of R rows by T tokens: each weight block is loaded and made
// unsigned once for the T tokens, each activation block loaded once for the R rows, and the R * T
// float accumulators are independent chains (one chain per output waits on fmadd's latency).
template <typename Dp, int R, int T>
inline void q8_row_tile(const BlockQ8* const* w, size_t nb, const BlockQ8A* const* a,
                        float* const* y) {
  __m256 acc[R][T];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
  for (size_t b = 0; b < nb; ++b) {
    __m256i wq[R], wabs[R];
    float dw[R];
    for (int r = 0; r < R; ++r) {
      wq[r] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[r][b].qs));
      wabs[r] = _mm256_sign_epi8(wq[r], wq[r]);
      dw[r] = _cvtsh_ss(w[r][b].scale);
    }
    for (int t = 0; t < T; ++t) {
      const __m256i aq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[t][b].qs));
      const float da = a[t][b].scale;
      for (int r = 0; r < R; ++r) {
        const __m256i isum = Dp::dp(_mm256_setzero_si256(), wabs[r], _mm256_sign_epi8(aq, wq[r]));
        acc[r][t] =
            _mm256_fmadd_ps(_mm256_set1_ps(dw[r] * da), _mm256_cvtepi32_ps(isum), acc[r][t]);
      }
    }
  }
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) y[t][r] = hsum(acc[r][t]);
}

// Rows [r, r + R) against tokens [t, t + T).
template <typename Dp, int R, int T>
inline void q8_rows_tokens(const uint8_t* w, size_t row_bytes, const void* x, size_t x_stride,
                           size_t nb, size_t t, float* y, size_t y_stride, size_t r) {
  const BlockQ8* ws[R];
  const BlockQ8A* as[T];
  float* ys[T];
  for (int i = 0; i < R; ++i) ws[i] = reinterpret_cast<const BlockQ8*>(w + (r + i) * row_bytes);
  for (int i = 0; i < T; ++i) {
    as[i] = act_row(x, x_stride, t + i);
    ys[i] = y + (t + i) * y_stride + r;
  }
  q8_row_tile<Dp, R, T>(ws, nb, as, ys);
}

// Tiles of 2 rows by 4 tokens (8 chains, 12 of the 16 ymm registers), then the edges.
template <typename Dp>
void matmul_q8_rows(const uint8_t* w, size_t row_bytes, const void* x, size_t x_stride, size_t n,
                    size_t k, float* y, size_t y_stride, size_t r0, size_t r1) {
  const size_t nb = k / kQuantBlock;
  // Tokens in chunks whose activations stay in L2 while the rows pass over them.
  const size_t chunk =
      std::max<size_t>(4, (256u << 10) / std::max<size_t>(nb * sizeof(BlockQ8A), 1) / 4 * 4);
  for (size_t t0 = 0; t0 < n; t0 += chunk) {
    const size_t t1 = std::min(n, t0 + chunk);
    size_t r = r0;
    for (; r + 2 <= r1; r += 2) {
      size_t t = t0;
      for (; t + 4 <= t1; t += 4)
        q8_rows_tokens<Dp, 2, 4>(w, row_bytes, x, x_stride, nb, t, y, y_stride, r);
      for (; t + 2 <= t1; t += 2)
        q8_rows_tokens<Dp, 2, 2>(w, row_bytes, x, x_stride, nb, t, y, y_stride, r);
      if (t < t1) q8_rows_tokens<Dp, 2, 1>(w, row_bytes, x, x_stride, nb, t, y, y_stride, r);
    }
    if (r < r1) {
      size_t t = t0;
      for (; t + 4 <= t1; t += 4)
        q8_rows_tokens<Dp, 1, 4>(w, row_bytes, x, x_stride, nb, t, y, y_stride, r);
      for (; t < t1; ++t)
        q8_rows_tokens<Dp, 1, 1>(w, row_bytes, x, x_stride, nb, t, y, y_stride, r);
    }
  }
}

// q4 rows (Q4_0 / q4s32 matrices that could not be interleaved): the 32 nibbles of a block side
// by side in one vector against the 32 activations; the offset leaves through one lane.
template <typename Dp>
void matmul_q4_rows(const uint8_t* w, size_t row_bytes, const void* x, size_t x_stride, size_t n,
                    size_t k, float* y, size_t y_stride, size_t r0, size_t r1) {
  const size_t nb = k / kQuantBlock;
  const __m256i mask = _mm256_set1_epi8(0x0F);
  for (size_t r = r0; r < r1; ++r) {
    const BlockQ4* wr = reinterpret_cast<const BlockQ4*>(w + r * row_bytes);
    for (size_t t = 0; t < n; ++t) {
      const BlockQ8A* a = act_row(x, x_stride, t);
      __m256 acc = _mm256_setzero_ps();
      for (size_t b = 0; b < nb; ++b) {
        const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(wr[b].qs));
        const __m256i nib = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), mask);
        const __m256i isum = Dp::dp(_mm256_setr_epi32(-8 * a[b].qsum, 0, 0, 0, 0, 0, 0, 0), nib,
                                    _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[b].qs)));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(wr[b].scale) * a[b].scale),
                              _mm256_cvtepi32_ps(isum), acc);
      }
      y[t * y_stride + r] = hsum(acc);
    }
  }
}

}  // namespace vnni256
}  // namespace
}  // namespace corelm
