// AVX2 + FMA + F16C kernels. This file is compiled with -mavx2 -mfma -mf16c (x86 builds only) and
// only called after the CPU reported all three (x86/cpu.cpp, the registry in kernels/isa.cpp). Each
// kernel computes what its scalar counterpart in ref.cpp computes; tests/kernels compares them on
// awkward sizes.
//
// The q4 kernels multiply unsigned nibbles (0..15) by signed int8 activations with vpmaddubsw and
// remove the +8 storage offset with one integer per block (8 * sum of the activations), so every
// block's integer dot product is exact before it meets the two scales.
#include <immintrin.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/head_tiles.h"
#include "kernels/kernel_table.h"
#include "kernels/x86/avx2_helpers.h"
#include "kernels/x86/lut36_avx2.h"
#include "kernels/x86/lut_avx2.h"
#include "kernels/x86/vnni256.h"
#include "kernels/x86/x86.h"
#include "tensor/layout.h"
#include "tensor/quant.h"

namespace corelm {

namespace {

// exp(x) for a vector, Cephes' polynomial after range reduction by ln 2; exact 0 below -87.3
// (so masked -inf scores give probability 0) and accurate to about 2 ulp elsewhere.
inline __m256 exp256(__m256 x) {
  const __m256 hi = _mm256_set1_ps(88.3762626647949f), lo = _mm256_set1_ps(-87.3365447504f);
  const __m256 underflow = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
  x = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
  __m256 fx = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                              _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), x);
  __m256 y = _mm256_set1_ps(1.9875691500e-4f);
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507e-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073e-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894e-2f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459e-1f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201e-1f));
  y = _mm256_fmadd_ps(y, _mm256_mul_ps(x, x), _mm256_add_ps(x, _mm256_set1_ps(1.0f)));
  __m256i e =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(fx), _mm256_set1_epi32(127)), 23);
  y = _mm256_mul_ps(y, _mm256_castsi256_ps(e));
  return _mm256_andnot_ps(underflow, y);
}

// ---- activation quantization --------------------------------------------------------------

void quantize_q8a(const float* x, BlockQ8A* out, size_t k) {
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  for (size_t b = 0; b < k / kQuantBlock; ++b, x += kQuantBlock) {
    __m256 v0 = _mm256_loadu_ps(x), v1 = _mm256_loadu_ps(x + 8), v2 = _mm256_loadu_ps(x + 16),
           v3 = _mm256_loadu_ps(x + 24);
    __m256 m =
        _mm256_max_ps(_mm256_max_ps(_mm256_and_ps(v0, abs_mask), _mm256_and_ps(v1, abs_mask)),
                      _mm256_max_ps(_mm256_and_ps(v2, abs_mask), _mm256_and_ps(v3, abs_mask)));
    const float amax = hmax(m);
    const float s = amax / 127.0f;
    const float inv = s > 0.0f ? 127.0f / amax : 0.0f;
    const __m256 mul = _mm256_set1_ps(inv);
    // cvtps rounds half to even under the default rounding mode, as the reference's nearbyint.
    __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(v0, mul)),
            i1 = _mm256_cvtps_epi32(_mm256_mul_ps(v1, mul));
    __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(v2, mul)),
            i3 = _mm256_cvtps_epi32(_mm256_mul_ps(v3, mul));
    out[b].qsum = hsum_epi32(_mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3)));
    __m256i packed = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out[b].qs),
                        _mm256_permutevar8x32_epi32(packed, order));
    out[b].scale = s;
  }
}

// ---- q4 in the interleaved8 layout: 8 rows per vector, no horizontal sums ------------------

// T tokens against one group of 8 rows. Per block: the 8 weight vectors are unpacked once, then
// each token's activations stream past them in one dependency chain. The per-token accumulators
// live in a small array (L1) rather than registers: the 8 weights, the chain and the constants
// already fill the 16 ymm registers.
template <int T>
inline void q4_interleaved_tile(const uint8_t* group, size_t nb, const BlockQ8A* const* x,
                                float* const* y) {
  const __m256i mask = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
  alignas(32) float acc[T][8] = {};
  for (size_t b = 0; b < nb; ++b) {
    const uint8_t* blk = group + b * kInterleavedBlockBytes;
    const __m256i r0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 16));
    const __m256i r1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 48));
    const __m256i r2 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 80));
    const __m256i r3 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 112));
    const __m256i v0 = _mm256_and_si256(r0, mask),
                  v4 = _mm256_and_si256(_mm256_srli_epi16(r0, 4), mask);
    const __m256i v1 = _mm256_and_si256(r1, mask),
                  v5 = _mm256_and_si256(_mm256_srli_epi16(r1, 4), mask);
    const __m256i v2 = _mm256_and_si256(r2, mask),
                  v6 = _mm256_and_si256(_mm256_srli_epi16(r2, 4), mask);
    const __m256i v3 = _mm256_and_si256(r3, mask),
                  v7 = _mm256_and_si256(_mm256_srli_epi16(r3, 4), mask);
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk)));
    for (int t = 0; t < T; ++t) {
      const BlockQ8A& a = x[t][b];
      const int8_t* q = a.qs;
      // Sums of 8 products of a nibble (<= 15) and an int8 (|q| <= 127) stay within int16.
      __m256i s = _mm256_maddubs_epi16(v0, _mm256_set1_epi32(load_i32(q)));
      s = _mm256_add_epi16(s, _mm256_maddubs_epi16(v1, _mm256_set1_epi32(load_i32(q + 4))));
      s = _mm256_add_epi16(s, _mm256_maddubs_epi16(v2, _mm256_set1_epi32(load_i32(q + 8))));
      s = _mm256_add_epi16(s, _mm256_maddubs_epi16(v3, _mm256_set1_epi32(load_i32(q + 12))));
      s = _mm256_add_epi16(s, _mm256_maddubs_epi16(v4, _mm256_set1_epi32(load_i32(q + 16))));
      s = _mm256_add_epi16(s, _mm256_maddubs_epi16(v5, _mm256_set1_epi32(load_i32(q + 20))));
      s = _mm256_add_epi16(s, _mm256_maddubs_epi16(v6, _mm256_set1_epi32(load_i32(q + 24))));
      s = _mm256_add_epi16(s, _mm256_maddubs_epi16(v7, _mm256_set1_epi32(load_i32(q + 28))));
      const __m256i isum = _mm256_sub_epi32(_mm256_madd_epi16(s, ones),
                                            _mm256_slli_epi32(_mm256_set1_epi32(a.qsum), 3));
      const __m256 scale = _mm256_mul_ps(dw, _mm256_set1_ps(a.scale));
      _mm256_store_ps(acc[t], _mm256_add_ps(_mm256_load_ps(acc[t]),
                                            _mm256_mul_ps(scale, _mm256_cvtepi32_ps(isum))));
    }
  }
  for (int t = 0; t < T; ++t) _mm256_storeu_ps(y[t], _mm256_load_ps(acc[t]));
}

// One token against one group of 8 rows (decode): accumulators in registers, two of them on
// alternating blocks so the adds do not wait on each other, and the weights prefetched ahead.
inline __m256i q4_block_isum(const uint8_t* blk, const BlockQ8A& a, __m256i mask, __m256i ones) {
  const int8_t* q = a.qs;
  __m256i s = _mm256_setzero_si256();
  for (int c = 0; c < 4; ++c) {
    const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 16 + 32 * c));
    const __m256i lo = _mm256_and_si256(raw, mask),
                  hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), mask);
    s = _mm256_add_epi16(s, _mm256_maddubs_epi16(lo, _mm256_set1_epi32(load_i32(q + 4 * c))));
    s = _mm256_add_epi16(s, _mm256_maddubs_epi16(hi, _mm256_set1_epi32(load_i32(q + 16 + 4 * c))));
  }
  return _mm256_sub_epi32(_mm256_madd_epi16(s, ones),
                          _mm256_slli_epi32(_mm256_set1_epi32(a.qsum), 3));
}

inline void q4_interleaved_gemv(const uint8_t* group, size_t nb, const BlockQ8A* x, float* y) {
  const __m256i mask = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  size_t b = 0;
  for (; b + 2 <= nb; b += 2) {
    const uint8_t* blk = group + b * kInterleavedBlockBytes;
    prefetch_l1(reinterpret_cast<const char*>(blk) + 2048);
    prefetch_l1(reinterpret_cast<const char*>(blk) + 2048 + 64);
    prefetch_l1(reinterpret_cast<const char*>(blk) + 2048 + 128);
    prefetch_l1(reinterpret_cast<const char*>(blk) + 2048 + 192);
    prefetch_l1(reinterpret_cast<const char*>(blk) + 2048 + 256);
    const __m256i i0 = q4_block_isum(blk, x[b], mask, ones);
    const __m256i i1 = q4_block_isum(blk + kInterleavedBlockBytes, x[b + 1], mask, ones);
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
    const __m256i i0 = q4_block_isum(blk, x[b], mask, ones);
    const __m256 d0 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk)));
    acc0 = _mm256_fmadd_ps(_mm256_mul_ps(d0, _mm256_set1_ps(x[b].scale)), _mm256_cvtepi32_ps(i0),
                           acc0);
  }
  _mm256_storeu_ps(y, _mm256_add_ps(acc0, acc1));
}

void matmul_q4_interleaved(const uint8_t* w, size_t row_bytes, const void* x, size_t x_stride,
                           size_t n, size_t k, float* y, size_t y_stride, size_t r0, size_t r1) {
  const size_t nb = k / kQuantBlock;
  const size_t group_bytes = kInterleaveRows * row_bytes;
  auto act = [&](size_t t) {
    return reinterpret_cast<const BlockQ8A*>(static_cast<const uint8_t*>(x) + t * x_stride);
  };
  // Tokens in chunks small enough for their activations to stay in L2 while every row group of
  // this thread passes over them.
  const size_t chunk =
      std::max<size_t>(4, (256u << 10) / std::max<size_t>(nb * sizeof(BlockQ8A), 1) / 4 * 4);
  for (size_t t0 = 0; t0 < n; t0 += chunk) {
    const size_t t1 = std::min(n, t0 + chunk);
    for (size_t r = r0; r < r1; r += kInterleaveRows) {
      const uint8_t* group = w + (r / kInterleaveRows) * group_bytes;
      size_t t = t0;
      for (; t + 4 <= t1; t += 4) {
        const BlockQ8A* xs[4] = {act(t), act(t + 1), act(t + 2), act(t + 3)};
        float* ys[4] = {y + t * y_stride + r, y + (t + 1) * y_stride + r,
                        y + (t + 2) * y_stride + r, y + (t + 3) * y_stride + r};
        q4_interleaved_tile<4>(group, nb, xs, ys);
      }
      for (; t + 2 <= t1; t += 2) {
        const BlockQ8A* xs[2] = {act(t), act(t + 1)};
        float* ys[2] = {y + t * y_stride + r, y + (t + 1) * y_stride + r};
        q4_interleaved_tile<2>(group, nb, xs, ys);
      }
      for (; t < t1; ++t) q4_interleaved_gemv(group, nb, act(t), y + t * y_stride + r);
    }
  }
}

// ---- q4 and q8 rows (GGUF Q4_0 / Q8_0 in place, rows that cannot be interleaved) ------------

void matmul_q4_rows(const uint8_t* w, size_t row_bytes, const void* x, size_t x_stride, size_t n,
                    size_t k, float* y, size_t y_stride, size_t r0, size_t r1) {
  const size_t nb = k / kQuantBlock;
  const __m256i mask = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
  for (size_t r = r0; r < r1; ++r) {
    const BlockQ4* wr = reinterpret_cast<const BlockQ4*>(w + r * row_bytes);
    for (size_t t = 0; t < n; ++t) {
      const BlockQ8A* a =
          reinterpret_cast<const BlockQ8A*>(static_cast<const uint8_t*>(x) + t * x_stride);
      __m256 acc = _mm256_setzero_ps();
      for (size_t b = 0; b < nb; ++b) {
        __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(wr[b].qs));
        __m256i nib = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), mask);
        __m256i s16 = _mm256_maddubs_epi16(
            nib, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[b].qs)));
        __m256i isum = _mm256_madd_epi16(s16, ones);
        // The offset as one lane's worth: lanes sum to sum(n * q) - 8 * qsum.
        isum = _mm256_sub_epi32(isum, _mm256_setr_epi32(8 * a[b].qsum, 0, 0, 0, 0, 0, 0, 0));
        const float scale = half(wr[b].scale) * a[b].scale;
        acc = _mm256_fmadd_ps(_mm256_set1_ps(scale), _mm256_cvtepi32_ps(isum), acc);
      }
      y[t * y_stride + r] = hsum(acc);
    }
  }
}

// q8 rows: the tiled kernel of vnni256.h with the integer dot product spelled the AVX2 way.
struct DpAvx2 {
  static constexpr bool kPairSumsSaturate = true;  // unless one operand is |w| and the other signed
  static __m256i dp(__m256i acc, __m256i u8, __m256i s8) {
    return _mm256_add_epi32(acc,
                            _mm256_madd_epi16(_mm256_maddubs_epi16(u8, s8), _mm256_set1_epi16(1)));
  }
};

// ---- float weights -----------------------------------------------------------------------

template <typename Load>
void matmul_float_rows(const uint8_t* w, size_t row_bytes, const void* x, size_t x_stride, size_t n,
                       size_t k, float* y, size_t y_stride, size_t r0, size_t r1, Load load,
                       float (*scalar)(const uint8_t*, size_t)) {
  const size_t kv = k / 8 * 8;
  auto xrow = [&](size_t t) {
    return reinterpret_cast<const float*>(static_cast<const uint8_t*>(x) + t * x_stride);
  };
  size_t r = r0;
  // 4 rows x 2 tokens per step: each converted weight vector serves two tokens.
  for (; r + 4 <= r1; r += 4) {
    const uint8_t* wr[4] = {w + r * row_bytes, w + (r + 1) * row_bytes, w + (r + 2) * row_bytes,
                            w + (r + 3) * row_bytes};
    size_t t = 0;
    for (; t + 2 <= n; t += 2) {
      const float* x0 = xrow(t);
      const float* x1 = xrow(t + 1);
      __m256 a[8];
      for (auto& v : a) v = _mm256_setzero_ps();
      for (size_t i = 0; i < kv; i += 8) {
        const __m256 xa = _mm256_loadu_ps(x0 + i), xb = _mm256_loadu_ps(x1 + i);
        for (int j = 0; j < 4; ++j) {
          const __m256 wv = load(wr[j], i);
          a[j] = _mm256_fmadd_ps(wv, xa, a[j]);
          a[4 + j] = _mm256_fmadd_ps(wv, xb, a[4 + j]);
        }
      }
      for (int j = 0; j < 4; ++j) {
        float s0 = hsum(a[j]), s1 = hsum(a[4 + j]);
        for (size_t i = kv; i < k; ++i) {
          const float wi = scalar(wr[j], i);
          s0 += wi * x0[i];
          s1 += wi * x1[i];
        }
        y[t * y_stride + r + j] = s0;
        y[(t + 1) * y_stride + r + j] = s1;
      }
    }
    for (; t < n; ++t) {
      const float* x0 = xrow(t);
      __m256 a[8];
      for (auto& v : a) v = _mm256_setzero_ps();
      size_t i = 0;
      for (; i + 16 <= kv; i += 16) {  // two independent chains per row hide FMA latency
        const __m256 xa = _mm256_loadu_ps(x0 + i), xb = _mm256_loadu_ps(x0 + i + 8);
        for (int j = 0; j < 4; ++j) {
          a[j] = _mm256_fmadd_ps(load(wr[j], i), xa, a[j]);
          a[4 + j] = _mm256_fmadd_ps(load(wr[j], i + 8), xb, a[4 + j]);
        }
      }
      for (; i < kv; i += 8) {
        const __m256 xa = _mm256_loadu_ps(x0 + i);
        for (int j = 0; j < 4; ++j) a[j] = _mm256_fmadd_ps(load(wr[j], i), xa, a[j]);
      }
      for (int j = 0; j < 4; ++j) {
        float s = hsum(_mm256_add_ps(a[j], a[4 + j]));
        for (size_t ii = kv; ii < k; ++ii) s += scalar(wr[j], ii) * x0[ii];
        y[t * y_stride + r + j] = s;
      }
    }
  }
  for (; r < r1; ++r) {
    const uint8_t* wr = w + r * row_bytes;
    for (size_t t = 0; t < n; ++t) {
      const float* x0 = xrow(t);
      __m256 a = _mm256_setzero_ps();
      for (size_t i = 0; i < kv; i += 8)
        a = _mm256_fmadd_ps(load(wr, i), _mm256_loadu_ps(x0 + i), a);
      float s = hsum(a);
      for (size_t i = kv; i < k; ++i) s += scalar(wr, i) * x0[i];
      y[t * y_stride + r] = s;
    }
  }
}

inline __m256 load_f32(const uint8_t* row, size_t i) {
  return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + i);
}
inline __m256 load_f16(const uint8_t* row, size_t i) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * i)));
}
inline __m256 load_bf16(const uint8_t* row, size_t i) {
  __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * i)));
  return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}
float scalar_f32(const uint8_t* row, size_t i) {
  return reinterpret_cast<const float*>(row)[i];
}
float scalar_f16(const uint8_t* row, size_t i) {
  uint16_t h;
  std::memcpy(&h, row + 2 * i, 2);
  return half(h);
}
float scalar_bf16(const uint8_t* row, size_t i) {
  uint16_t h;
  std::memcpy(&h, row + 2 * i, 2);
  uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

void matmul_f32(const uint8_t* w, size_t rb, const void* x, size_t xs, size_t n, size_t k, float* y,
                size_t ys, size_t r0, size_t r1) {
  matmul_float_rows(w, rb, x, xs, n, k, y, ys, r0, r1, load_f32, scalar_f32);
}
void matmul_f16(const uint8_t* w, size_t rb, const void* x, size_t xs, size_t n, size_t k, float* y,
                size_t ys, size_t r0, size_t r1) {
  matmul_float_rows(w, rb, x, xs, n, k, y, ys, r0, r1, load_f16, scalar_f16);
}
void matmul_bf16(const uint8_t* w, size_t rb, const void* x, size_t xs, size_t n, size_t k,
                 float* y, size_t ys, size_t r0, size_t r1) {
  matmul_float_rows(w, rb, x, xs, n, k, y, ys, r0, r1, load_bf16, scalar_bf16);
}

// ---- element-wise -------------------------------------------------------------------------

void rmsnorm(const float* x, const float* w, float* y, size_t n, float eps) {
  __m256 acc = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 v = _mm256_loadu_ps(x + i);
    acc = _mm256_fmadd_ps(v, v, acc);
  }
  float ss = hsum(acc);
  for (; i < n; ++i) ss += x[i] * x[i];
  const float inv = 1.0f / std::sqrt(ss / static_cast<float>(n) + eps);
  const __m256 vinv = _mm256_set1_ps(inv);
  for (i = 0; i + 8 <= n; i += 8)
    _mm256_storeu_ps(
        y + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), vinv), _mm256_loadu_ps(w + i)));
  for (; i < n; ++i) y[i] = x[i] * inv * w[i];
}

void silu_mul(float* gate, const float* up, size_t n) {
  size_t i = 0;
  const __m256 one = _mm256_set1_ps(1.0f);
  for (; i + 8 <= n; i += 8) {
    __m256 g = _mm256_loadu_ps(gate + i);
    __m256 s = _mm256_div_ps(g, _mm256_add_ps(one, exp256(_mm256_sub_ps(_mm256_setzero_ps(), g))));
    _mm256_storeu_ps(gate + i, _mm256_mul_ps(s, _mm256_loadu_ps(up + i)));
  }
  for (; i < n; ++i) gate[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

void add(float* y, const float* x, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(y + i), _mm256_loadu_ps(x + i)));
  for (; i < n; ++i) y[i] += x[i];
}

void softmax(float* x, size_t n) {
  const float neg_inf = -std::numeric_limits<float>::infinity();
  size_t i = 0;
  __m256 vm = _mm256_set1_ps(neg_inf);
  for (; i + 8 <= n; i += 8) vm = _mm256_max_ps(vm, _mm256_loadu_ps(x + i));
  float m = hmax(vm);
  for (; i < n; ++i) m = std::max(m, x[i]);
  if (m == neg_inf) {
    std::memset(x, 0, n * sizeof(float));
    return;
  }
  const __m256 vmax = _mm256_set1_ps(m);
  __m256 vs = _mm256_setzero_ps();
  for (i = 0; i + 8 <= n; i += 8) {
    __m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(x + i), vmax));
    _mm256_storeu_ps(x + i, e);
    vs = _mm256_add_ps(vs, e);
  }
  float sum = hsum(vs);
  for (; i < n; ++i) {
    x[i] = std::exp(x[i] - m);
    sum += x[i];
  }
  const float inv = 1.0f / sum;
  const __m256 vinv = _mm256_set1_ps(inv);
  for (i = 0; i + 8 <= n; i += 8)
    _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), vinv));
  for (; i < n; ++i) x[i] *= inv;
}

float exp_sum(float* x, size_t n, float shift) {
  const __m256 vshift = _mm256_set1_ps(shift);
  __m256 vs = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(x + i), vshift));
    _mm256_storeu_ps(x + i, e);
    vs = _mm256_add_ps(vs, e);
  }
  float sum = hsum(vs);
  for (; i < n; ++i) {
    x[i] = std::exp(x[i] - shift);
    sum += x[i];
  }
  return sum;
}

float dot_f32(const float* a, const float* b, size_t n) {
  __m256 acc = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc);
  float s = hsum(acc);
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

float dot_f16(const uint16_t* a, const float* b, size_t n) {
  __m256 acc = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    acc = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a + i))),
                          _mm256_loadu_ps(b + i), acc);
  float s = hsum(acc);
  for (; i < n; ++i) s += half(a[i]) * b[i];
  return s;
}

float dot_i8(const int8_t* a, const float* b, size_t n) {
  __m256 acc = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 av = _mm256_cvtepi32_ps(
        _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(a + i))));
    acc = _mm256_fmadd_ps(av, _mm256_loadu_ps(b + i), acc);
  }
  float s = hsum(acc);
  for (; i < n; ++i) s += static_cast<float>(a[i]) * b[i];
  return s;
}

// ---- attention over a block of keys: H query rows (heads) at a time -----------------------

// Scores of H rows against keys [j, j + 16): per dimension d two loads of the transposed keys
// and H broadcasts of q feed 2H multiply-adds; no horizontal sums.
template <int H>
inline void scores_rows(const float* q, size_t head_dim, const float* kt, size_t ld, size_t n,
                        float scale, const float* mask, float* scores, size_t s_ld) {
  const __m256 vscale = _mm256_set1_ps(scale);
  for (size_t j = 0; j < n; j += 16) {
    __m256 acc[H][2];
    for (int h = 0; h < H; ++h) acc[h][0] = acc[h][1] = _mm256_setzero_ps();
    for (size_t d = 0; d < head_dim; ++d) {
      const __m256 k0 = _mm256_loadu_ps(kt + d * ld + j), k1 = _mm256_loadu_ps(kt + d * ld + j + 8);
      for (int h = 0; h < H; ++h) {
        const __m256 b = _mm256_broadcast_ss(q + h * head_dim + d);
        acc[h][0] = _mm256_fmadd_ps(b, k0, acc[h][0]);
        acc[h][1] = _mm256_fmadd_ps(b, k1, acc[h][1]);
      }
    }
    // score * scale + mask: a masked key (-inf) stays -inf, as the scores are finite.
    const size_t m = std::min<size_t>(16, n - j);
    for (int h = 0; h < H; ++h) {
      float* s = scores + h * s_ld + j;
      if (m == 16) {
        _mm256_storeu_ps(s, _mm256_fmadd_ps(acc[h][0], vscale, _mm256_loadu_ps(mask + j)));
        _mm256_storeu_ps(s + 8, _mm256_fmadd_ps(acc[h][1], vscale, _mm256_loadu_ps(mask + j + 8)));
      } else {
        alignas(32) float t[16];
        _mm256_store_ps(t, acc[h][0]);
        _mm256_store_ps(t + 8, acc[h][1]);
        for (size_t u = 0; u < m; ++u) s[u] = std::fma(t[u], scale, mask[j + u]);
      }
    }
  }
}

void attn_scores_block(const float* q, size_t heads, const float* kt, size_t ld, size_t n,
                       size_t head_dim, float scale, const float* mask, float* scores,
                       size_t s_ld) {
  for_head_tiles(heads, [&](auto tile, size_t h) {
    scores_rows<decltype(tile)::value>(q + h * head_dim, head_dim, kt, ld, n, scale, mask,
                                       scores + h * s_ld, s_ld);
  });
}

// H output rows, 16 dimensions at a time: per key two loads of v and H broadcasts of p feed 2H
// multiply-adds.
template <int H>
inline void accumulate_rows(const float* p, size_t p_ld, const float* v, size_t n, size_t head_dim,
                            const float* rescale, float* out) {
  size_t d0 = 0;
  for (; d0 + 16 <= head_dim; d0 += 16) {
    __m256 acc[H][2];
    for (int h = 0; h < H; ++h) {
      const __m256 r = _mm256_set1_ps(rescale[h]);
      acc[h][0] = _mm256_mul_ps(_mm256_loadu_ps(out + h * head_dim + d0), r);
      acc[h][1] = _mm256_mul_ps(_mm256_loadu_ps(out + h * head_dim + d0 + 8), r);
    }
    for (size_t j = 0; j < n; ++j) {
      const __m256 v0 = _mm256_loadu_ps(v + j * head_dim + d0),
                   v1 = _mm256_loadu_ps(v + j * head_dim + d0 + 8);
      for (int h = 0; h < H; ++h) {
        const __m256 b = _mm256_broadcast_ss(p + h * p_ld + j);
        acc[h][0] = _mm256_fmadd_ps(b, v0, acc[h][0]);
        acc[h][1] = _mm256_fmadd_ps(b, v1, acc[h][1]);
      }
    }
    for (int h = 0; h < H; ++h) {
      _mm256_storeu_ps(out + h * head_dim + d0, acc[h][0]);
      _mm256_storeu_ps(out + h * head_dim + d0 + 8, acc[h][1]);
    }
  }
  for (size_t d = d0; d < head_dim; ++d)
    for (int h = 0; h < H; ++h) {
      float o = out[h * head_dim + d] * rescale[h];
      for (size_t j = 0; j < n; ++j) o = std::fma(p[h * p_ld + j], v[j * head_dim + d], o);
      out[h * head_dim + d] = o;
    }
}

void attn_accumulate_block(const float* p, size_t p_ld, size_t heads, const float* v, size_t n,
                           size_t head_dim, const float* rescale, float* out) {
  for_head_tiles(heads, [&](auto tile, size_t h) {
    accumulate_rows<decltype(tile)::value>(p + h * p_ld, p_ld, v, n, head_dim, rescale + h,
                                           out + h * head_dim);
  });
}

void axpy_f32(float a, const float* x, float* y, size_t n) {
  const __m256 va = _mm256_set1_ps(a);
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  for (; i < n; ++i) y[i] += a * x[i];
}

void axpy_f16(float a, const uint16_t* x, float* y, size_t n) {
  const __m256 va = _mm256_set1_ps(a);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 xv = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i)));
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, xv, _mm256_loadu_ps(y + i)));
  }
  for (; i < n; ++i) y[i] += a * half(x[i]);
}

void axpy_i8(float a, const int8_t* x, float* y, size_t n) {
  const __m256 va = _mm256_set1_ps(a);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 xv = _mm256_cvtepi32_ps(
        _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(x + i))));
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, xv, _mm256_loadu_ps(y + i)));
  }
  for (; i < n; ++i) y[i] += a * static_cast<float>(x[i]);
}

float sum_f32(const float* x, size_t n) {
  // Four independent accumulators: bound by memory, not by add latency.
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    a0 = _mm256_add_ps(a0, _mm256_loadu_ps(x + i));
    a1 = _mm256_add_ps(a1, _mm256_loadu_ps(x + i + 8));
    a2 = _mm256_add_ps(a2, _mm256_loadu_ps(x + i + 16));
    a3 = _mm256_add_ps(a3, _mm256_loadu_ps(x + i + 24));
  }
  float s = hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
  for (; i < n; ++i) s += x[i];
  return s;
}

void f32_to_f16(const float* x, uint16_t* y, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
  for (; i < n; ++i) y[i] = _cvtss_sh(x[i], _MM_FROUND_TO_NEAREST_INT);
}

void i8_to_f32(const int8_t* x, float scale, float* y, size_t n) {
  const __m256 s = _mm256_set1_ps(scale);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 v = _mm256_cvtepi32_ps(
        _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(x + i))));
    _mm256_storeu_ps(y + i, _mm256_mul_ps(s, v));
  }
  for (; i < n; ++i) y[i] = scale * static_cast<float>(x[i]);
}

void f16_to_f32(const uint16_t* x, float* y, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(y + i,
                     _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i))));
  for (; i < n; ++i) y[i] = half(x[i]);
}

KernelTable make_avx2() {
  KernelTable t = reference_kernels();  // start from the spec, replace what is vectorized
  t.name = "avx2";
  auto set = [&](DType d, Layout l, MatmulFn fn) {
    t.matmul[static_cast<size_t>(d)][static_cast<size_t>(l)] = fn;
  };
  set(DType::kF32, Layout::kRows, matmul_f32);
  set(DType::kF16, Layout::kRows, matmul_f16);
  set(DType::kBF16, Layout::kRows, matmul_bf16);
  set(DType::kQ4S32, Layout::kRows, matmul_q4_rows);
  set(DType::kQ4_0, Layout::kRows, matmul_q4_rows);
  set(DType::kQ8S32, Layout::kRows, vnni256::matmul_q8_rows<DpAvx2>);
  set(DType::kQ8_0, Layout::kRows, vnni256::matmul_q8_rows<DpAvx2>);
  set(DType::kQ4S32, Layout::kInterleaved8, matmul_q4_interleaved);
  set(DType::kQ4_0, Layout::kInterleaved8, matmul_q4_interleaved);
  set(DType::kQ8S32, Layout::kInterleaved8, vnni256::matmul_q8_interleaved<DpAvx2>);
  set(DType::kQ8_0, Layout::kInterleaved8, vnni256::matmul_q8_interleaved<DpAvx2>);
  set(DType::kLut4, Layout::kLutG8, lut_avx2::matmul_lut4<8, DpAvx2>);
  set(DType::kLut4, Layout::kLutG16, lut_avx2::matmul_lut4<16, DpAvx2>);
  set(DType::kLut4, Layout::kLutG32, lut_avx2::matmul_lut4<32, DpAvx2>);
  set(DType::kLut3, Layout::kLutG8, lut36_avx2::matmul_lut<3, 8, DpAvx2>);
  set(DType::kLut3, Layout::kLutG16, lut36_avx2::matmul_lut<3, 16, DpAvx2>);
  set(DType::kLut3, Layout::kLutG32, lut36_avx2::matmul_lut<3, 32, DpAvx2>);
  set(DType::kLut6, Layout::kLutG8, lut36_avx2::matmul_lut<6, 8, DpAvx2>);
  set(DType::kLut6, Layout::kLutG16, lut36_avx2::matmul_lut<6, 16, DpAvx2>);
  set(DType::kLut6, Layout::kLutG32, lut36_avx2::matmul_lut<6, 32, DpAvx2>);
  t.interleave_q8 = true;
  add_avx2_ggml_kernels(t);  // Q4_1, Q5_0, Q5_1 and the K-quants (avx2_ggml.cpp)
  t.quantize_q8a = quantize_q8a;
  t.rmsnorm = rmsnorm;
  t.silu_mul = silu_mul;
  t.add = add;
  t.softmax = softmax;
  t.exp_sum = exp_sum;
  t.dot_f32 = dot_f32;
  t.dot_f16 = dot_f16;
  t.dot_i8 = dot_i8;
  t.axpy_f32 = axpy_f32;
  t.axpy_f16 = axpy_f16;
  t.axpy_i8 = axpy_i8;
  t.sum_f32 = sum_f32;
  t.i8_to_f32 = i8_to_f32;
  t.attn_scores_block = attn_scores_block;
  t.attn_accumulate_block = attn_accumulate_block;
  t.f32_to_f16 = f32_to_f16;
  t.f16_to_f32 = f16_to_f32;
  return t;
}

}  // namespace

const KernelTable& avx2_kernels() {
  static const KernelTable table = make_avx2();
  return table;
}

}  // namespace corelm
