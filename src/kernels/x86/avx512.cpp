// AVX-512 kernels (F, BW, VL, DQ and VNNI). This file is compiled with -mavx512f -mavx512bw
// -mavx512vl -mavx512dq -mavx512vnni -mavx2 -mfma -mf16c (x86 builds only) and only called after
// cpu_has_avx512() said yes; the table starts from avx2's and replaces the integer matmuls and
// the activation quantizer. tests/kernels compares every kernel with ref.cpp.
//
// Prefill on q4 (interleaved8): two row groups side by side in one zmm register (rows r..r+16),
// eight tokens at a time. Per 32-byte chunk of a block the two groups' nibbles are unpacked once
// (low and high halves) and each token's chain multiplies them with vpdpbusd against a broadcast
// group of four activations: unsigned nibbles (0..15) times signed int8, summed in int32 lanes,
// one row per lane, so no horizontal sums. The +8 storage offset leaves as 8 * qsum per block
// (the chain starts from -8 * qsum); the exact block sums then meet the two scales in float.
// Decode (one token) is bound by memory and uses the 256-bit kernel of vnni256.h per group.
//
// q8 (interleaved8, made at load from Q8_0 / q8s32 rows): the same tile, the int8 weights made
// unsigned by a flip of their top bit (w + 128) and the offset removed with 128 * qsum.
#include <immintrin.h>

#include "kernels/kernel_table.h"
#include "kernels/x86/vnni256.h"
#include "kernels/x86/x86.h"

// GCC 12's AVX-512 intrinsics start their results from _mm512_undefined_*() (`__m512 __Y = __Y;`),
// which -Wmaybe-uninitialized (and, for the casts and broadcasts, -Wuninitialized) reports at -O3
// once they are inlined here.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

#include "kernels/x86/lut36_avx2.h"
#include "kernels/x86/lut_avx2.h"

namespace corelm {

namespace {

struct Dp512 {
  static __m256i dp(__m256i acc, __m256i u8, __m256i s8) {
    return _mm256_dpbusd_epi32(acc, u8, s8);
  }
};

using vnni256::act_row;

// ---- activation quantization ---------------------------------------------------------------

void quantize_q8a(const float* x, BlockQ8A* out, size_t k) {
  for (size_t b = 0; b < k / kQuantBlock; ++b, x += kQuantBlock) {
    const __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
    const float s = amax / 127.0f;
    const float inv = s > 0.0f ? 127.0f / amax : 0.0f;
    const __m512 mul = _mm512_set1_ps(inv);
    // cvtps rounds half to even under the default rounding mode, as the reference's nearbyint;
    // vpmovdb truncates to 8 bits as its static_cast<int8_t> does.
    const __m512i i0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, mul)),
                  i1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, mul));
    out[b].qsum = _mm512_reduce_add_epi32(_mm512_add_epi32(i0, i1));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out[b].qs), _mm512_cvtepi32_epi8(i0));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out[b].qs + 16), _mm512_cvtepi32_epi8(i1));
    out[b].scale = s;
  }
}

// ---- q4 in the interleaved8 layout ---------------------------------------------------------

// Two consecutive 32-byte pieces, one from each group, as one zmm (group g in the low half).
inline __m512i load_pair(const uint8_t* p0, const uint8_t* p1) {
  return _mm512_inserti64x4(
      _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p0))),
      _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p1)), 1);
}

// T tokens against the two groups at g0 and g1 (16 rows): T integer chains and T float
// accumulators, all in registers (2T + 5 of the 32 zmm registers).
template <int T>
inline void q4_pair_tile(const uint8_t* g0, const uint8_t* g1, size_t nb, const BlockQ8A* const* x,
                         float* const* y) {
  const __m512i mask = _mm512_set1_epi8(0x0F);
  __m512 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
  for (size_t b = 0; b < nb; ++b) {
    const uint8_t* b0 = g0 + b * kInterleavedBlockBytes;
    const uint8_t* b1 = g1 + b * kInterleavedBlockBytes;
    __m512i s[T];
    for (int t = 0; t < T; ++t) s[t] = _mm512_set1_epi32(-8 * x[t][b].qsum);
    for (int c = 0; c < 4; ++c) {
      const __m512i raw = load_pair(b0 + 16 + 32 * c, b1 + 16 + 32 * c);
      const __m512i lo = _mm512_and_si512(raw, mask),
                    hi = _mm512_and_si512(_mm512_srli_epi16(raw, 4), mask);
      for (int t = 0; t < T; ++t) {
        const int8_t* q = x[t][b].qs;
        s[t] = _mm512_dpbusd_epi32(s[t], lo, _mm512_set1_epi32(load_i32(q + 4 * c)));
        s[t] = _mm512_dpbusd_epi32(s[t], hi, _mm512_set1_epi32(load_i32(q + 16 + 4 * c)));
      }
    }
    const __m512 dw = _mm512_cvtph_ps(_mm256_inserti128_si256(
        _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b0))),
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(b1)), 1));
    for (int t = 0; t < T; ++t)
      acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(dw, _mm512_set1_ps(x[t][b].scale)),
                               _mm512_cvtepi32_ps(s[t]), acc[t]);
  }
  for (int t = 0; t < T; ++t) _mm512_storeu_ps(y[t], acc[t]);
}

// The same for q8 (interleaved8): each 32-byte piece is eight chunks of four int8 values per
// row, flipped to unsigned (w + 128) by one xor shared by the T tokens; the offset leaves as
// 128 * qsum per block. One token (T = 1, decode) splits its chain in two (even and odd pieces)
// and fetches the weights ahead.
template <int T>
inline void q8_pair_tile(const uint8_t* g0, const uint8_t* g1, size_t nb, const BlockQ8A* const* x,
                         float* const* y) {
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  constexpr int kChains = T == 1 ? 2 : 1;
  __m512 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
  for (size_t b = 0; b < nb; ++b) {
    const uint8_t* b0 = g0 + b * kInterleavedQ8BlockBytes;
    const uint8_t* b1 = g1 + b * kInterleavedQ8BlockBytes;
    if constexpr (T == 1) {
      for (int p = 0; p < 5; ++p) {
        prefetch_l1(reinterpret_cast<const char*>(b0) + 2048 + 64 * p);
        prefetch_l1(reinterpret_cast<const char*>(b1) + 2048 + 64 * p);
      }
    }
    __m512i s[T][kChains];
    for (int t = 0; t < T; ++t) {
      s[t][0] = _mm512_set1_epi32(-128 * x[t][b].qsum);
      if constexpr (kChains == 2) s[t][1] = _mm512_setzero_si512();
    }
    for (int c = 0; c < 8; ++c) {
      const __m512i wu = _mm512_xor_si512(load_pair(b0 + 16 + 32 * c, b1 + 16 + 32 * c), flip);
      for (int t = 0; t < T; ++t) {
        __m512i& chain = s[t][c % kChains];
        chain = _mm512_dpbusd_epi32(chain, wu, _mm512_set1_epi32(load_i32(x[t][b].qs + 4 * c)));
      }
    }
    const __m512 dw = _mm512_cvtph_ps(_mm256_inserti128_si256(
        _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b0))),
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(b1)), 1));
    for (int t = 0; t < T; ++t) {
      __m512i isum = s[t][0];
      if constexpr (kChains == 2) isum = _mm512_add_epi32(isum, s[t][1]);
      acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(dw, _mm512_set1_ps(x[t][b].scale)),
                               _mm512_cvtepi32_ps(isum), acc[t]);
    }
  }
  for (int t = 0; t < T; ++t) _mm512_storeu_ps(y[t], acc[t]);
}

constexpr int kTileTokens = 8;

// The q4 and q8 flavours of the interleaved8 kernels.
struct Q4Kind {
  static constexpr bool kPairDecode = false;  // q4_gemv (two chains, prefetch) per group
  template <int T>
  static void pair(const uint8_t* g0, const uint8_t* g1, size_t nb, const BlockQ8A* const* x,
                   float* const* y) {
    q4_pair_tile<T>(g0, g1, nb, x, y);
  }
  // One token against one group of 8 rows.
  static void gemv(const uint8_t* group, size_t nb, const BlockQ8A* x, float* y) {
    vnni256::q4_gemv<Dp512>(group, nb, x, y);
  }
  static void group_tokens(const uint8_t* group, size_t nb, const void* x, size_t x_stride,
                           size_t t0, size_t t1, float* y, size_t y_stride, size_t r) {
    vnni256::q4_group_tokens<Dp512>(group, nb, x, x_stride, t0, t1, y, y_stride, r);
  }
};

struct Q8Kind {
  static constexpr bool kPairDecode = true;  // q8_pair_tile<1> (two chains, prefetch) per pair
  template <int T>
  static void pair(const uint8_t* g0, const uint8_t* g1, size_t nb, const BlockQ8A* const* x,
                   float* const* y) {
    q8_pair_tile<T>(g0, g1, nb, x, y);
  }
  static void gemv(const uint8_t* group, size_t nb, const BlockQ8A* x, float* y) {
    vnni256::Q8Group<Dp512>::one(group, nb, x, y);
  }
  static void group_tokens(const uint8_t* group, size_t nb, const void* x, size_t x_stride,
                           size_t t0, size_t t1, float* y, size_t y_stride, size_t r) {
    vnni256::q8_group_tokens<Dp512>(group, nb, x, x_stride, t0, t1, y, y_stride, r);
  }
};

// Tokens [t, t + T) against the group pair whose first row is r.
template <typename Kind, int T>
inline void pair_tokens(const uint8_t* g0, size_t group_bytes, size_t nb, const void* x,
                        size_t x_stride, size_t t, float* y, size_t y_stride, size_t r) {
  const BlockQ8A* xs[T];
  float* ys[T];
  for (int i = 0; i < T; ++i) {
    xs[i] = act_row(x, x_stride, t + i);
    ys[i] = y + (t + i) * y_stride + r;
  }
  Kind::template pair<T>(g0, g0 + group_bytes, nb, xs, ys);
}

template <typename Kind>
void pair_remainder(int count, const uint8_t* g0, size_t group_bytes, size_t nb, const void* x,
                    size_t x_stride, size_t t, float* y, size_t y_stride, size_t r) {
  switch (count) {
    case 7:
      return pair_tokens<Kind, 7>(g0, group_bytes, nb, x, x_stride, t, y, y_stride, r);
    case 6:
      return pair_tokens<Kind, 6>(g0, group_bytes, nb, x, x_stride, t, y, y_stride, r);
    case 5:
      return pair_tokens<Kind, 5>(g0, group_bytes, nb, x, x_stride, t, y, y_stride, r);
    case 4:
      return pair_tokens<Kind, 4>(g0, group_bytes, nb, x, x_stride, t, y, y_stride, r);
    case 3:
      return pair_tokens<Kind, 3>(g0, group_bytes, nb, x, x_stride, t, y, y_stride, r);
    case 2:
      return pair_tokens<Kind, 2>(g0, group_bytes, nb, x, x_stride, t, y, y_stride, r);
    default:
      for (size_t g = 0; g < 2; ++g)
        Kind::gemv(g0 + g * group_bytes, nb, act_row(x, x_stride, t),
                   y + t * y_stride + r + g * kInterleaveRows);
  }
}

template <typename Kind>
void matmul_interleaved(const uint8_t* w, size_t row_bytes, const void* x, size_t x_stride,
                        size_t n, size_t k, float* y, size_t y_stride, size_t r0, size_t r1) {
  const size_t nb = k / kQuantBlock;
  const size_t group_bytes = kInterleaveRows * row_bytes;
  auto group = [&](size_t r) { return w + (r / kInterleaveRows) * group_bytes; };
  if (n == 1) {  // decode: one pass over the weights, bound by memory
    size_t r = r0;
    if constexpr (Kind::kPairDecode)
      for (; r + 2 * kInterleaveRows <= r1; r += 2 * kInterleaveRows)
        pair_tokens<Kind, 1>(group(r), group_bytes, nb, x, x_stride, 0, y, y_stride, r);
    for (; r < r1; r += kInterleaveRows) Kind::gemv(group(r), nb, act_row(x, x_stride, 0), y + r);
    return;
  }
  const size_t chunk = vnni256::q4_token_chunk(nb);
  for (size_t t0 = 0; t0 < n; t0 += chunk) {
    const size_t t1 = std::min(n, t0 + chunk);
    size_t r = r0;
    for (; r + 2 * kInterleaveRows <= r1; r += 2 * kInterleaveRows) {
      size_t t = t0;
      for (; t + kTileTokens <= t1; t += kTileTokens)
        pair_tokens<Kind, kTileTokens>(group(r), group_bytes, nb, x, x_stride, t, y, y_stride, r);
      if (t < t1)
        pair_remainder<Kind>(static_cast<int>(t1 - t), group(r), group_bytes, nb, x, x_stride, t, y,
                             y_stride, r);
    }
    if (r < r1)  // an odd group at the end of the range: 256-bit tiles
      Kind::group_tokens(group(r), nb, x, x_stride, t0, t1, y, y_stride, r);
  }
}

KernelTable make_avx512() {
  KernelTable t = avx2_kernels();  // avx2's kernels, the integer ones replaced
  t.name = "avx512";
  auto set = [&](DType d, Layout l, MatmulFn fn) {
    t.matmul[static_cast<size_t>(d)][static_cast<size_t>(l)] = fn;
  };
  set(DType::kQ4S32, Layout::kRows, vnni256::matmul_q4_rows<Dp512>);
  set(DType::kQ4_0, Layout::kRows, vnni256::matmul_q4_rows<Dp512>);
  set(DType::kQ8S32, Layout::kRows, vnni256::matmul_q8_rows<Dp512>);
  set(DType::kQ8_0, Layout::kRows, vnni256::matmul_q8_rows<Dp512>);
  set(DType::kQ4S32, Layout::kInterleaved8, matmul_interleaved<Q4Kind>);
  set(DType::kQ4_0, Layout::kInterleaved8, matmul_interleaved<Q4Kind>);
  set(DType::kQ8S32, Layout::kInterleaved8, matmul_interleaved<Q8Kind>);
  set(DType::kQ8_0, Layout::kInterleaved8, matmul_interleaved<Q8Kind>);
  set(DType::kLut4, Layout::kLutG8, lut_avx2::matmul_lut4<8, Dp512>);
  set(DType::kLut4, Layout::kLutG16, lut_avx2::matmul_lut4<16, Dp512>);
  set(DType::kLut4, Layout::kLutG32, lut_avx2::matmul_lut4<32, Dp512>);
  set(DType::kLut3, Layout::kLutG8, lut36_avx2::matmul_lut<3, 8, Dp512>);
  set(DType::kLut3, Layout::kLutG16, lut36_avx2::matmul_lut<3, 16, Dp512>);
  set(DType::kLut3, Layout::kLutG32, lut36_avx2::matmul_lut<3, 32, Dp512>);
  set(DType::kLut6, Layout::kLutG8, lut36_avx2::matmul_lut<6, 8, Dp512>);
  set(DType::kLut6, Layout::kLutG16, lut36_avx2::matmul_lut<6, 16, Dp512>);
  set(DType::kLut6, Layout::kLutG32, lut36_avx2::matmul_lut<6, 32, Dp512>);
  t.interleave_q8 = true;
  add_avx512_kquant_kernels(t);  // Q2_K..Q6_K (avx512_kquant.cpp)
  t.quantize_q8a = quantize_q8a;
  return t;
}

}  // namespace

const KernelTable& avx512_kernels() {
  static const KernelTable table = make_avx512();
  return table;
}

}  // namespace corelm
