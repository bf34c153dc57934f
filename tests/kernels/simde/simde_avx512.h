// The SIMDe shim for the emulated AVX-512 table (tests only; x86-64 with AVX2). Included first by
// the two wrappers in this folder, before the production file they compile, so that every
// _mm512_* / AVX-512VL intrinsic the kernels name resolves to SIMDe's portable version
// (SIMDE_ENABLE_NATIVE_ALIASES) and runs on AVX2 underneath (the wrappers are built with -mavx2
// -mfma -mf16c and no AVX-512 flag). AVX2, FMA and F16C intrinsics stay native.
//
// SIMDe 0.7.4 lacks a few intrinsics the kernels use, and spells one alias wrongly; the portable
// stand-ins below fill them in, each with the instruction's semantics (Intel's guide):
//   _mm512_madd_epi16        SIMDe's alias takes the masked form's four arguments: respelled
//   _mm512_cvtps_epi32       vcvtps2dq (current rounding mode)  two 256-bit halves, each through
//   _mm512_cvtepi32_ps       vcvtdq2ps (current rounding mode)  the _mm256_ intrinsic of the
//   _mm512_cvtph_ps          vcvtph2ps                          same instruction (SIMDe's
//   _mm512_cvtepu8_epi16     vpmovzxbw                          alias, or native where the
//   _mm512_cvtepu8_epi32     vpmovzxbd                          target has it, as here)
//   _mm512_cvtepi32_epi8     vpmovdb: each int32 truncated to its low byte
//   _mm512_reduce_add_epi32  the lanes' sum, wrapping modulo 2^32
//   _mm512_reduce_max_ps     the lanes' maximum, vmaxps's way (a > b ? a : b)
// A missing intrinsic that is not listed here does not compile: GCC's and clang's own AVX-512
// intrinsics need the AVX-512 target, which these files are not built for.
#pragma once

#if !defined(__x86_64__) || !defined(__AVX2__) || defined(__AVX512F__)
#error "simde_avx512.h: build the emulated AVX-512 table for x86-64 with -mavx2 and no -mavx512*"
#endif

#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/x86/avx512.h>
#include <simde/x86/f16c.h>

#include <cstdint>

namespace corelm::simde_shim {

// The low and high 256-bit halves of a 512-bit vector, and one made of two halves.
inline __m256 lo_ps(__m512 a) {
  return _mm512_castps512_ps256(a);
}
inline __m256 hi_ps(__m512 a) {
  return _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a), 1));
}
inline __m512 join_ps(__m256 lo, __m256 hi) {
  return _mm512_castpd_ps(
      _mm512_insertf64x4(_mm512_castpd256_pd512(_mm256_castps_pd(lo)), _mm256_castps_pd(hi), 1));
}
inline __m512i join_si(__m256i lo, __m256i hi) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

inline __m512i mm512_cvtps_epi32(__m512 a) {
  return join_si(_mm256_cvtps_epi32(lo_ps(a)), _mm256_cvtps_epi32(hi_ps(a)));
}

inline __m512 mm512_cvtepi32_ps(__m512i a) {
  return join_ps(_mm256_cvtepi32_ps(_mm512_castsi512_si256(a)),
                 _mm256_cvtepi32_ps(_mm512_extracti64x4_epi64(a, 1)));
}

inline __m512 mm512_cvtph_ps(__m256i a) {
  return join_ps(_mm256_cvtph_ps(_mm256_castsi256_si128(a)),
                 _mm256_cvtph_ps(_mm256_extracti128_si256(a, 1)));
}

inline __m512i mm512_cvtepu8_epi16(__m256i a) {
  return join_si(_mm256_cvtepu8_epi16(_mm256_castsi256_si128(a)),
                 _mm256_cvtepu8_epi16(_mm256_extracti128_si256(a, 1)));
}

inline __m512i mm512_cvtepu8_epi32(__m128i a) {
  return join_si(_mm256_cvtepu8_epi32(a), _mm256_cvtepu8_epi32(_mm_unpackhi_epi64(a, a)));
}

inline __m128i mm512_cvtepi32_epi8(__m512i a) {
  int32_t in[16];
  int8_t out[16];
  _mm512_storeu_si512(in, a);
  for (int i = 0; i < 16; ++i) out[i] = static_cast<int8_t>(static_cast<uint32_t>(in[i]) & 0xFF);
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(out));
}

inline int mm512_reduce_add_epi32(__m512i a) {
  uint32_t v[16];
  _mm512_storeu_si512(v, a);
  uint32_t sum = 0;
  for (uint32_t x : v) sum += x;
  return static_cast<int32_t>(sum);
}

inline float mm512_reduce_max_ps(__m512 a) {
  float v[16];
  _mm512_storeu_ps(v, a);
  float m = v[0];
  for (int i = 1; i < 16; ++i) m = m > v[i] ? m : v[i];
  return m;
}

}  // namespace corelm::simde_shim

// SIMDe's own aliases (where a later SIMDe has them) give way to these.
#undef _mm512_madd_epi16
#undef _mm512_cvtps_epi32
#undef _mm512_cvtepi32_ps
#undef _mm512_cvtph_ps
#undef _mm512_cvtepu8_epi16
#undef _mm512_cvtepu8_epi32
#undef _mm512_cvtepi32_epi8
#undef _mm512_reduce_add_epi32
#undef _mm512_reduce_max_ps
#define _mm512_madd_epi16(a, b) simde_mm512_madd_epi16(a, b)
#define _mm512_cvtps_epi32(a) ::corelm::simde_shim::mm512_cvtps_epi32(a)
#define _mm512_cvtepi32_ps(a) ::corelm::simde_shim::mm512_cvtepi32_ps(a)
#define _mm512_cvtph_ps(a) ::corelm::simde_shim::mm512_cvtph_ps(a)
#define _mm512_cvtepu8_epi16(a) ::corelm::simde_shim::mm512_cvtepu8_epi16(a)
#define _mm512_cvtepu8_epi32(a) ::corelm::simde_shim::mm512_cvtepu8_epi32(a)
#define _mm512_cvtepi32_epi8(a) ::corelm::simde_shim::mm512_cvtepi32_epi8(a)
#define _mm512_reduce_add_epi32(a) ::corelm::simde_shim::mm512_reduce_add_epi32(a)
#define _mm512_reduce_max_ps(a) ::corelm::simde_shim::mm512_reduce_max_ps(a)
