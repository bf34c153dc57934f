// AVX2 kernels for GGUF's other block formats, run in place: Q4_1, Q5_0, Q5_1 against BlockQ8A
// activations, the K-quants Q2_K..Q6_K against BlockQ8K. Compiled with avx2.cpp's flags and added
// to its table; each computes what ref_ggml.cpp computes (exact integer sums, then the scales).
//
// K-quants: a super-block is read as eight vectors of 32 unsigned values (0..63) plus a 16-bit
// scale per 16 values (unpacked once into L1 for a tile of tokens, or on the fly in registers for
// one token), multiplied by vpmaddubsw (unsigned weight x signed activation) and vpmaddwd by the
// scales into one int32 sum per super-block. A type's offset (Q3_K's -4, Q6_K's -32) or min
// (Q2_K, Q4_K, Q5_K) is one more vpmaddwd of the activations' 16-element sums (BlockQ8K::bsums).
#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "kernels/kernel_table.h"
#include "kernels/x86/avx2_helpers.h"
#include "kernels/x86/kquant_avx2.h"
#include "kernels/x86/q4k_tiles256.h"
#include "kernels/x86/x86.h"
#include "tensor/quant_ggml.h"

namespace corelm {

namespace {

using kquant::k_finish;
using kquant::k_group;
using kquant::KHeader;
using kquant::load256;
using kquant::Q2K;
using kquant::Q3K;
using kquant::Q4K;
using kquant::Q5K;
using kquant::Q6K;

// T tokens against one row: each super-block is unpacked once into L1, then every token of the
// tile streams past it.
template <typename K, int T>
CORELM_INLINE void k_row_tile(const uint8_t* wr, size_t nb, const BlockQ8K* const* a,
                              float* const* y) {
  __m256 c[T];
  for (int t = 0; t < T; ++t) c[t] = _mm256_setzero_ps();
  alignas(32) __m256i q[8], sc[8];
  for (size_t b = 0; b < nb; ++b) {
    const uint8_t* blk = wr + b * K::kBytes;
    const KHeader h = K::header(blk);
#pragma GCC unroll 8
    for (int g = 0; g < 8; ++g) q[g] = K::q(blk, g), sc[g] = K::scale(h, g);
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) {
      const BlockQ8K& at = a[t][b];
      __m256i isum = k_group(q[0], sc[0], at.qs);
#pragma GCC unroll 8
      for (int g = 1; g < 8; ++g)
        isum = _mm256_add_epi32(isum, k_group(q[g], sc[g], at.qs + 32 * g));
      c[t] = k_finish(isum, h, at, c[t]);
    }
  }
  for (int t = 0; t < T; ++t) *y[t] = hsum(c[t]);
}

// One token against one row (decode): the groups are unpacked on the fly, in registers.
template <typename K>
CORELM_INLINE float k_row_gemv(const uint8_t* wr, size_t nb, const BlockQ8K* a) {
  __m256 c = _mm256_setzero_ps();
  for (size_t b = 0; b < nb; ++b) {
    const uint8_t* blk = wr + b * K::kBytes;
    // The rows of a thread are contiguous: fetch about 2 KiB ahead, every line of the block.
    for (size_t line = 0; line < K::kBytes; line += 64)
      prefetch_l1(reinterpret_cast<const char*>(blk) + 2048 + line);
    const KHeader h = K::header(blk);
    __m256i i0 = k_group(K::q(blk, 0), K::scale(h, 0), a[b].qs);
    __m256i i1 = k_group(K::q(blk, 1), K::scale(h, 1), a[b].qs + 32);
#pragma GCC unroll 8
    for (int g = 2; g < 8; g += 2) {
      i0 = _mm256_add_epi32(i0, k_group(K::q(blk, g), K::scale(h, g), a[b].qs + 32 * g));
      i1 = _mm256_add_epi32(i1,
                            k_group(K::q(blk, g + 1), K::scale(h, g + 1), a[b].qs + 32 * g + 32));
    }
    c = k_finish(_mm256_add_epi32(i0, i1), h, a[b], c);
  }
  return hsum(c);
}

template <typename K>
void matmul_k(const uint8_t* w, size_t row_bytes, const void* x, size_t x_stride, size_t n,
              size_t k, float* y, size_t y_stride, size_t r0, size_t r1) {
  const size_t nb = k / kSuperBlock;
  auto act = [&](size_t t) {
    return reinterpret_cast<const BlockQ8K*>(static_cast<const uint8_t*>(x) + t * x_stride);
  };
  // Tokens in chunks whose activations stay in L2 while this thread's rows pass over them.
  const size_t chunk = std::max<size_t>(8, (256u << 10) / (nb * sizeof(BlockQ8K)) / 8 * 8);
  for (size_t t0 = 0; t0 < n; t0 += chunk) {
    const size_t t1 = std::min(n, t0 + chunk);
    for (size_t r = r0; r < r1; ++r) {
      const uint8_t* wr = w + r * row_bytes;
      size_t t = t0;
      for (; t + 8 <= t1; t += 8) {
        const BlockQ8K* as[8];
        float* ys[8];
        for (int i = 0; i < 8; ++i) as[i] = act(t + i), ys[i] = y + (t + i) * y_stride + r;
        k_row_tile<K, 8>(wr, nb, as, ys);
      }
      if (t + 4 <= t1) {
        const BlockQ8K* as[4] = {act(t), act(t + 1), act(t + 2), act(t + 3)};
        float* ys[4] = {y + t * y_stride + r, y + (t + 1) * y_stride + r,
                        y + (t + 2) * y_stride + r, y + (t + 3) * y_stride + r};
        k_row_tile<K, 4>(wr, nb, as, ys);
        t += 4;
      }
      for (; t < t1; ++t) y[t * y_stride + r] = k_row_gemv<K>(wr, nb, act(t));
    }
  }
}

// ---- Q4_1, Q5_0, Q5_1 against BlockQ8A -----------------------------------------------------

// The 32 fifth bits of a Q5 block as 0x10 or 0 per byte.
inline __m256i q5_high_bits(const uint8_t* qh) {
  uint32_t bits;
  std::memcpy(&bits, qh, 4);
  // Byte i takes the byte of `bits` holding bit i, then tests that bit.
  const __m256i spread =
      _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int32_t>(bits)),
                          _mm256_setr_epi64x(0x0000000000000000, 0x0101010101010101,
                                             0x0202020202020202, 0x0303030303030303));
  const __m256i bit = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201ull));
  const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
  return _mm256_and_si256(set, _mm256_set1_epi8(0x10));
}

// The 32 four-bit values of a block as bytes (element i < 16 low nibbles, then high).
inline __m256i nibbles(const uint8_t* qs) {
  const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), _mm256_set1_epi8(0x0F));
}

// kKind 0: Q4_1 (d, m); 1: Q5_0 (d, offset 16); 2: Q5_1 (d, m).
template <int kKind>
void matmul_q8a_blocks(const uint8_t* w, size_t row_bytes, const void* x, size_t x_stride, size_t n,
                       size_t k, float* y, size_t y_stride, size_t r0, size_t r1) {
  constexpr size_t kBytes = kKind == 0   ? sizeof(BlockQ4_1)
                            : kKind == 1 ? sizeof(BlockQ5_0)
                                         : sizeof(BlockQ5_1);
  const size_t nb = k / 32;
  const __m256i ones = _mm256_set1_epi16(1);
  for (size_t r = r0; r < r1; ++r) {
    const uint8_t* wr = w + r * row_bytes;
    for (size_t t = 0; t < n; ++t) {
      const auto* a =
          reinterpret_cast<const BlockQ8A*>(static_cast<const uint8_t*>(x) + t * x_stride);
      __m256 acc = _mm256_setzero_ps();
      float offset = 0.0f;  // the d * (-16) or m terms, through the activations' sums
      for (size_t b = 0; b < nb; ++b) {
        const uint8_t* blk = wr + b * kBytes;
        __m256i q;
        float d, m;
        if constexpr (kKind == 0) {
          const auto& bb = *reinterpret_cast<const BlockQ4_1*>(blk);
          q = nibbles(bb.qs);
          d = half(bb.d), m = half(bb.m);
        } else if constexpr (kKind == 1) {
          const auto& bb = *reinterpret_cast<const BlockQ5_0*>(blk);
          q = _mm256_or_si256(nibbles(bb.qs), q5_high_bits(bb.qh));
          d = half(bb.d), m = -16.0f * d;
        } else {
          const auto& bb = *reinterpret_cast<const BlockQ5_1*>(blk);
          q = _mm256_or_si256(nibbles(bb.qs), q5_high_bits(bb.qh));
          d = half(bb.d), m = half(bb.m);
        }
        const __m256i isum = _mm256_madd_epi16(_mm256_maddubs_epi16(q, load256(a[b].qs)), ones);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(a[b].scale * d), _mm256_cvtepi32_ps(isum), acc);
        offset += a[b].scale * m * static_cast<float>(a[b].qsum);
      }
      y[t * y_stride + r] = hsum(acc) + offset;
    }
  }
}

// ---- BlockQ8K activations ------------------------------------------------------------------

void quantize_q8k(const float* x, BlockQ8K* out, size_t k) {
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  for (size_t b = 0; b < k / kSuperBlock; ++b, x += kSuperBlock) {
    __m256 m = _mm256_setzero_ps();
    for (int i = 0; i < kSuperBlock; i += 8)
      m = _mm256_max_ps(m, _mm256_and_ps(_mm256_loadu_ps(x + i), abs_mask));
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    const float amax = _mm_cvtss_f32(s);
    const __m256 mul = _mm256_set1_ps(amax > 0.0f ? 127.0f / amax : 0.0f);
    for (int i = 0; i < kSuperBlock; i += 32) {
      // cvtps rounds half to even under the default rounding mode, as the reference's nearbyint.
      const __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + i), mul));
      const __m256i i1 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + i + 8), mul));
      const __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + i + 16), mul));
      const __m256i i3 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + i + 24), mul));
      out[b].bsums[i / 16] = static_cast<int16_t>(hsum_epi32(_mm256_add_epi32(i0, i1)));
      out[b].bsums[i / 16 + 1] = static_cast<int16_t>(hsum_epi32(_mm256_add_epi32(i2, i3)));
      const __m256i packed =
          _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out[b].qs + i),
                          _mm256_permutevar8x32_epi32(packed, order));
    }
    out[b].scale = amax / 127.0f;
  }
}

// vpdpbusd spelled the AVX2 way (nibbles by int8: the pair sums cannot saturate).
struct DpMaddubs {
  static __m256i dp(__m256i acc, __m256i u8, __m256i s8) {
    return _mm256_add_epi32(acc,
                            _mm256_madd_epi16(_mm256_maddubs_epi16(u8, s8), _mm256_set1_epi16(1)));
  }
};

}  // namespace

void add_avx2_ggml_kernels(KernelTable& t) {
  auto set = [&](DType d, MatmulFn fn) {
    t.matmul[static_cast<size_t>(d)][static_cast<size_t>(Layout::kRows)] = fn;
  };
  set(DType::kQ4_1, matmul_q8a_blocks<0>);
  set(DType::kQ5_0, matmul_q8a_blocks<1>);
  set(DType::kQ5_1, matmul_q8a_blocks<2>);
  set(DType::kQ2_K, matmul_k<Q2K>);
  set(DType::kQ3_K, matmul_k<Q3K>);
  set(DType::kQ4_K, matmul_k<Q4K>);
  set(DType::kQ5_K, matmul_k<Q5K>);
  set(DType::kQ6_K, matmul_k<Q6K>);
  t.matmul[static_cast<size_t>(DType::kQ4_K)][static_cast<size_t>(Layout::kInterleaved16)] =
      q4k256::matmul_q4_k_tiles<DpMaddubs>;
  t.interleave_q4_k = true;
  t.quantize_q8k = quantize_q8k;
}

}  // namespace corelm
