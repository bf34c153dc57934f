// AVX-512 (F, BW) kernels for GGUF's K-quants Q2_K..Q6_K against BlockQ8K activations, run in
// place (rows as the file stores them). Compiled with avx512.cpp's flags and added to its table
// (add_avx512_kquant_kernels); each computes what ref_ggml.cpp computes: exact integer sums per
// super-block, then the scales.
//
// Each super-block's header is read with the AVX2 readers of kquant_avx2.h; its eight groups of 32
// values are read in pairs straight into 512-bit vectors (pair() below), so a token needs four
// vpmaddubsw + vpmaddwd pairs per super-block where the 256-bit kernel needs eight; the mins (or
// offsets) are one vpmaddwd of the activations' 16-element sums. Prefill: one row by 8 tokens,
// the super-block unpacked once for all of them; decode: four rows by one token.
#include <immintrin.h>

#include <algorithm>
#include <cstddef>

#include "kernels/kernel_table.h"
#include "kernels/x86/kquant_avx2.h"
#include "kernels/x86/q4k_tiles256.h"
#include "kernels/x86/x86.h"
#include "tensor/layout.h"

// GCC 12's AVX-512 intrinsics start their results from _mm512_undefined_*() (`__m512 __Y = __Y;`),
// which -Wmaybe-uninitialized reports at -O3 once they are inlined here.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace corelm {

namespace {

using kquant::KHeader;

// ---- 512-bit readers ------------------------------------------------------------------------
//
// pair(blk, p) gives groups 2p and 2p + 1 of a super-block side by side (64 unsigned values in
// element order), read straight from the block: the 32 bytes that hold both groups are
// broadcast to the two halves and shifted by a different count in each (vpsrlvw), so the
// activations' 64 bytes for the pair are contiguous too. The sixteen per-16 scales sit in one
// vector; vpermw spreads scales 4p..4p+3 over the four 128-bit lanes of the pair (vpmaddubsw's
// 16-bit lanes for values 0-15, 16-31, 32-47, 48-63).

CORELM_INLINE __m512i halves16(int lo, int hi) {
  return _mm512_inserti64x4(_mm512_set1_epi16(static_cast<int16_t>(lo)),
                            _mm256_set1_epi16(static_cast<int16_t>(hi)), 1);
}
CORELM_INLINE __m512i bcast256(const uint8_t* p) {
  return _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}
// Bits [shift, shift + width) of every byte of a broadcast 32-byte field, shift by half.
CORELM_INLINE __m512i field(const uint8_t* p, int lo_shift, int hi_shift, int mask) {
  return _mm512_and_si512(_mm512_srlv_epi16(bcast256(p), halves16(lo_shift, hi_shift)),
                          _mm512_set1_epi8(static_cast<char>(mask)));
}

// The sixteen per-16 scales of a header as int16 lanes 0..15 (Q4_K / Q5_K keep one per 32).
template <typename K>
CORELM_INLINE __m512i scales16(const KHeader& h) {
  if constexpr (K::kScalePer32) {
    const __m128i sc = _mm256_castsi256_si128(h.scales);
    return _mm512_castsi256_si512(
        _mm256_set_m128i(_mm_unpackhi_epi16(sc, sc), _mm_unpacklo_epi16(sc, sc)));
  } else {
    return _mm512_castsi256_si512(h.scales);
  }
}
CORELM_INLINE __m512i pair_scales(__m512i s16, int p) {
  const __m512i idx = _mm512_inserti64x4(
      _mm512_castsi256_si512(_mm256_set_m128i(_mm_set1_epi16(static_cast<int16_t>(4 * p + 1)),
                                              _mm_set1_epi16(static_cast<int16_t>(4 * p)))),
      _mm256_set_m128i(_mm_set1_epi16(static_cast<int16_t>(4 * p + 3)),
                       _mm_set1_epi16(static_cast<int16_t>(4 * p + 2))),
      1);
  return _mm512_permutexvar_epi16(idx, s16);
}

struct Q4K512 {
  using K = kquant::Q4K;
  static CORELM_INLINE __m512i pair(const uint8_t* b, int p) {
    return field(b + offsetof(BlockQ4K, qs) + 32 * p, 0, 4, 0x0F);
  }
};
struct Q5K512 {
  using K = kquant::Q5K;
  static CORELM_INLINE __m512i pair(const uint8_t* b, int p) {
    const __m512i low = field(b + offsetof(BlockQ5K, qs) + 32 * p, 0, 4, 0x0F);
    const __m512i bit = field(b + offsetof(BlockQ5K, qh), 2 * p, 2 * p + 1, 1);
    return _mm512_or_si512(low, _mm512_slli_epi16(bit, 4));
  }
};
struct Q6K512 {
  using K = kquant::Q6K;
  static CORELM_INLINE __m512i pair(const uint8_t* b, int p) {
    const int n = p / 2, j = 2 * (p % 2);  // groups 4n + j, 4n + j + 1
    __m512i low = _mm512_loadu_si512(b + offsetof(BlockQ6K, ql) + 64 * n);
    if (j) low = _mm512_srli_epi16(low, 4);
    low = _mm512_and_si512(low, _mm512_set1_epi8(0x0F));
    const __m512i high = field(b + offsetof(BlockQ6K, qh) + 32 * n, 2 * j, 2 * j + 2, 3);
    return _mm512_or_si512(low, _mm512_slli_epi16(high, 4));
  }
};
struct Q2K512 {
  using K = kquant::Q2K;
  static CORELM_INLINE __m512i pair(const uint8_t* b, int p) {
    const int n = p / 2, j = 2 * (p % 2);
    return field(b + offsetof(BlockQ2K, qs) + 32 * n, 2 * j, 2 * j + 2, 3);
  }
};
struct Q3K512 {
  using K = kquant::Q3K;
  static CORELM_INLINE __m512i pair(const uint8_t* b, int p) {
    const int n = p / 2, j = 2 * (p % 2);
    const __m512i low = field(b + offsetof(BlockQ3K, qs) + 32 * n, 2 * j, 2 * j + 2, 3);
    const __m512i bit = field(b + offsetof(BlockQ3K, hmask), 2 * p, 2 * p + 1, 1);
    return _mm512_or_si512(low, _mm512_slli_epi16(bit, 2));
  }
};

// ---- the tile -------------------------------------------------------------------------------

// The row sums of a tile: c (16 lanes of scaled group sums) less m (8 lanes of scaled mins).
CORELM_INLINE __m256 row_total(__m512 c, __m256 m) {
  const __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(c), 1));
  return _mm256_sub_ps(_mm256_add_ps(_mm512_castps512_ps256(c), hi), m);
}

// Rows [r, r + R) against T tokens: c[i][t] holds the scaled group sums (16 lanes), m[i][t] the
// scaled mins (8 lanes). Prefill takes one row by 8 tokens (each super-block unpacked once for
// all of them); decode four rows by one token, fetching ahead, so four independent chains
// overlap and the four horizontal sums end in one vector.
template <typename Rd, int R, int T>
CORELM_INLINE void k_tile(const uint8_t* w, size_t row_bytes, size_t nb, const BlockQ8K* const* a,
                          float* const* y) {
  using K = typename Rd::K;
  __m512 c[R][T];
  __m256 m[R][T];
  for (int i = 0; i < R; ++i)
    for (int t = 0; t < T; ++t) c[i][t] = _mm512_setzero_ps(), m[i][t] = _mm256_setzero_ps();
  for (size_t b = 0; b < nb; ++b) {
#pragma GCC unroll 4
    for (int i = 0; i < R; ++i) {
      const uint8_t* blk = w + i * row_bytes + b * K::kBytes;
      // Decode: fetch the same block of the row R rows on (the next tile's) into L2, or 2 KiB
      // on into L1 for one row at a time (avx2_helpers.h, prefetch_l1 / prefetch_l2).
      if constexpr (T == 1) {
        for (size_t line = 0; line < K::kBytes; line += 64) {
          const char* at = reinterpret_cast<const char*>(blk) + line;
          if constexpr (R > 1)
            prefetch_l2(at + R * row_bytes);
          else
            prefetch_l1(at + 2048);
        }
      }
      const KHeader h = K::header(blk);
      const __m512i s16 = scales16<K>(h);
      __m512i q[4], sc[4];
#pragma GCC unroll 4
      for (int p = 0; p < 4; ++p) q[p] = Rd::pair(blk, p), sc[p] = pair_scales(s16, p);
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t) {
        const BlockQ8K& at = a[t][b];
        const int8_t* qs = at.qs;
        __m512i s0 = _mm512_madd_epi16(_mm512_maddubs_epi16(q[0], _mm512_loadu_si512(qs)), sc[0]);
        __m512i s1 =
            _mm512_madd_epi16(_mm512_maddubs_epi16(q[1], _mm512_loadu_si512(qs + 64)), sc[1]);
        s0 = _mm512_add_epi32(
            s0, _mm512_madd_epi16(_mm512_maddubs_epi16(q[2], _mm512_loadu_si512(qs + 128)), sc[2]));
        s1 = _mm512_add_epi32(
            s1, _mm512_madd_epi16(_mm512_maddubs_epi16(q[3], _mm512_loadu_si512(qs + 192)), sc[3]));
        const __m256i msum = _mm256_madd_epi16(kquant::load256(at.bsums), h.mins);
        c[i][t] = _mm512_fmadd_ps(_mm512_set1_ps(at.scale * h.d),
                                  _mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1)), c[i][t]);
        m[i][t] =
            _mm256_fmadd_ps(_mm256_set1_ps(at.scale * h.dm), _mm256_cvtepi32_ps(msum), m[i][t]);
      }
    }
  }
  if constexpr (R == 4) {
    for (int t = 0; t < T; ++t) {
      const __m256 h01 = _mm256_hadd_ps(row_total(c[0][t], m[0][t]), row_total(c[1][t], m[1][t]));
      const __m256 h23 = _mm256_hadd_ps(row_total(c[2][t], m[2][t]), row_total(c[3][t], m[3][t]));
      const __m256 h = _mm256_hadd_ps(h01, h23);  // lanes: rows 0-3 of each 128-bit half
      _mm_storeu_ps(y[t], _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1)));
    }
  } else {
    for (int i = 0; i < R; ++i)
      for (int t = 0; t < T; ++t) y[t][i] = hsum(row_total(c[i][t], m[i][t]));
  }
}

// Rows [r, r + R) against tokens [t, t + T).
template <typename Rd, int R, int T>
CORELM_INLINE void k_rows_tokens(const uint8_t* w, size_t row_bytes, size_t nb, const void* x,
                                 size_t x_stride, size_t t, float* y, size_t y_stride, size_t r) {
  const BlockQ8K* as[T];
  float* ys[T];
  for (int i = 0; i < T; ++i) {
    as[i] = reinterpret_cast<const BlockQ8K*>(static_cast<const uint8_t*>(x) + (t + i) * x_stride);
    ys[i] = y + (t + i) * y_stride + r;
  }
  k_tile<Rd, R, T>(w + r * row_bytes, row_bytes, nb, as, ys);
}

template <typename R>
void matmul_k(const uint8_t* w, size_t row_bytes, const void* x, size_t x_stride, size_t n,
              size_t k, float* y, size_t y_stride, size_t r0, size_t r1) {
  const size_t nb = k / kSuperBlock;
  if (n == 1) {  // decode: bound by memory
    size_t r = r0;
    for (; r + 4 <= r1; r += 4)
      k_rows_tokens<R, 4, 1>(w, row_bytes, nb, x, x_stride, 0, y, y_stride, r);
    for (; r < r1; ++r) k_rows_tokens<R, 1, 1>(w, row_bytes, nb, x, x_stride, 0, y, y_stride, r);
    return;
  }
  // Tokens in chunks whose activations stay in L2 while this thread's rows pass over them.
  const size_t chunk = std::max<size_t>(8, (256u << 10) / (nb * sizeof(BlockQ8K)) / 8 * 8);
  for (size_t t0 = 0; t0 < n; t0 += chunk) {
    const size_t t1 = std::min(n, t0 + chunk);
    for (size_t r = r0; r < r1; ++r) {
      size_t t = t0;
      for (; t + 8 <= t1; t += 8)
        k_rows_tokens<R, 1, 8>(w, row_bytes, nb, x, x_stride, t, y, y_stride, r);
      if (t + 4 <= t1) {
        k_rows_tokens<R, 1, 4>(w, row_bytes, nb, x, x_stride, t, y, y_stride, r);
        t += 4;
      }
      if (t + 2 <= t1) {
        k_rows_tokens<R, 1, 2>(w, row_bytes, nb, x, x_stride, t, y, y_stride, r);
        t += 2;
      }
      if (t < t1) k_rows_tokens<R, 1, 1>(w, row_bytes, nb, x, x_stride, t, y, y_stride, r);
    }
  }
}

// ---- Q4_K in interleaved16 tiles (tensor/layout.h) ---------------------------------------
//
// Sixteen rows in the sixteen int32 lanes: per group of 32 values, four 64-byte chunks give two
// nibble vectors each, multiplied by vpdpbusd against a broadcast group of four activations (one
// row per lane, no horizontal sums); the group's sum then meets the rows' scales (vpmulld by the
// unpacked bytes) in an int32 accumulator, and the mins meet the activations' 32-element sums in
// one vpdpwssd per pair of groups. The floats come once per super-block: d and dmin of the 16
// rows times the activation scale.

using q4k256::group_sum_pairs;

template <int T>
CORELM_INLINE void q4_k_tile(const uint8_t* group, size_t nb, const BlockQ8K* const* a,
                             float* const* y) {
  constexpr int kChains = T == 1 ? 4 : T >= 6 ? 1 : 2;  // independent vpdpbusd chains per token
  const __m512i mask = _mm512_set1_epi8(0x0F);
  __m512 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
  for (size_t b = 0; b < nb; ++b) {
    const uint8_t* tile = group + b * kQ4KTileBytes;
    if constexpr (T == 1)
      for (size_t line = 0; line < kQ4KTileBytes; line += 64)
        prefetch_l2(reinterpret_cast<const char*>(tile) + 4 * kQ4KTileBytes + line);
    __m512i isum[T];
    for (int t = 0; t < T; ++t) isum[t] = _mm512_setzero_si512();
#pragma GCC unroll 8
    for (int g = 0; g < 8; ++g) {
      const uint8_t* v = tile + kQ4KTileValues + 256 * g;
      __m512i s[T][kChains];
      for (int t = 0; t < T; ++t)
        for (int ch = 0; ch < kChains; ++ch) s[t][ch] = _mm512_setzero_si512();
#pragma GCC unroll 4
      for (int c = 0; c < 4; ++c) {
        const __m512i raw = _mm512_loadu_si512(v + 64 * c);
        const __m512i lo = _mm512_and_si512(raw, mask),
                      hi = _mm512_and_si512(_mm512_srli_epi16(raw, 4), mask);
        for (int t = 0; t < T; ++t) {
          const int8_t* q = a[t][b].qs + 32 * g + 4 * c;
          __m512i& s0 = s[t][(2 * c) % kChains];
          __m512i& s1 = s[t][(2 * c + 1) % kChains];
          s0 = _mm512_dpbusd_epi32(s0, lo, _mm512_set1_epi32(load_i32(q)));
          s1 = _mm512_dpbusd_epi32(s1, hi, _mm512_set1_epi32(load_i32(q + 16)));
        }
      }
      const __m512i sc = _mm512_cvtepu8_epi32(
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(tile + kQ4KTileScales + 16 * g)));
      for (int t = 0; t < T; ++t) {
        __m512i sum = s[t][0];
        for (int ch = 1; ch < kChains; ++ch) sum = _mm512_add_epi32(sum, s[t][ch]);
        isum[t] = _mm512_add_epi32(isum[t], _mm512_mullo_epi32(sum, sc));
      }
    }
    __m512i mn[4];
    for (int j = 0; j < 4; ++j)
      mn[j] = _mm512_cvtepu8_epi16(
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(tile + kQ4KTileMins + 32 * j)));
    const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(tile)));
    const __m512 dm =
        _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(tile + 32)));
    for (int t = 0; t < T; ++t) {
      const __m512i pairs = _mm512_castsi128_si512(group_sum_pairs(a[t][b]));
      __m512i msum = _mm512_setzero_si512();
      for (int j = 0; j < 4; ++j)
        msum =
            _mm512_dpwssd_epi32(msum, mn[j], _mm512_permutexvar_epi32(_mm512_set1_epi32(j), pairs));
      const __m512 sa = _mm512_set1_ps(a[t][b].scale);
      acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(d, sa), _mm512_cvtepi32_ps(isum[t]), acc[t]);
      acc[t] = _mm512_fnmadd_ps(_mm512_mul_ps(dm, sa), _mm512_cvtepi32_ps(msum), acc[t]);
    }
  }
  for (int t = 0; t < T; ++t) _mm512_storeu_ps(y[t], acc[t]);
}

constexpr int kQ4KTileTokens = 8;

template <int T>
CORELM_INLINE void q4_k_group_tokens(const uint8_t* group, size_t nb, const void* x,
                                     size_t x_stride, size_t t, float* y, size_t y_stride,
                                     size_t r) {
  const BlockQ8K* as[T];
  float* ys[T];
  for (int i = 0; i < T; ++i) {
    as[i] = reinterpret_cast<const BlockQ8K*>(static_cast<const uint8_t*>(x) + (t + i) * x_stride);
    ys[i] = y + (t + i) * y_stride + r;
  }
  q4_k_tile<T>(group, nb, as, ys);
}

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
      for (; t + kQ4KTileTokens <= t1; t += kQ4KTileTokens)
        q4_k_group_tokens<kQ4KTileTokens>(group, nb, x, x_stride, t, y, y_stride, r);
      switch (t1 - t) {
        case 7:
          q4_k_group_tokens<7>(group, nb, x, x_stride, t, y, y_stride, r);
          break;
        case 6:
          q4_k_group_tokens<6>(group, nb, x, x_stride, t, y, y_stride, r);
          break;
        case 5:
          q4_k_group_tokens<5>(group, nb, x, x_stride, t, y, y_stride, r);
          break;
        case 4:
          q4_k_group_tokens<4>(group, nb, x, x_stride, t, y, y_stride, r);
          break;
        case 3:
          q4_k_group_tokens<3>(group, nb, x, x_stride, t, y, y_stride, r);
          break;
        case 2:
          q4_k_group_tokens<2>(group, nb, x, x_stride, t, y, y_stride, r);
          break;
        case 1:
          q4_k_group_tokens<1>(group, nb, x, x_stride, t, y, y_stride, r);
          break;
        default:
          break;
      }
    }
  }
}

}  // namespace

void add_avx512_kquant_kernels(KernelTable& t) {
  auto set = [&](DType d, MatmulFn fn) {
    t.matmul[static_cast<size_t>(d)][static_cast<size_t>(Layout::kRows)] = fn;
  };
  set(DType::kQ2_K, matmul_k<Q2K512>);
  set(DType::kQ3_K, matmul_k<Q3K512>);
  set(DType::kQ4_K, matmul_k<Q4K512>);
  set(DType::kQ5_K, matmul_k<Q5K512>);
  set(DType::kQ6_K, matmul_k<Q6K512>);
  t.matmul[static_cast<size_t>(DType::kQ4_K)][static_cast<size_t>(Layout::kInterleaved16)] =
      matmul_q4_k_tiles;
  t.interleave_q4_k = true;
}

}  // namespace corelm
