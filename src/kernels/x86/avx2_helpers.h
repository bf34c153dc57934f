// Small AVX2 helpers shared by the x86 kernel files built with AVX2 flags (avx2.cpp,
// avx2_ggml.cpp, and through vnni256.h avxvnni.cpp and avx512.cpp). Internal linkage: each file
// gets its own copy compiled with its own flags; include only from files whose flags include
// -mavx2 -mfma -mf16c.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

namespace corelm {
namespace {

// Decode reads each weight matrix once, so its kernels are bound by memory and fetch the weights
// ahead of use. How far ahead decides where to: a short way (about 2 KiB, one stream) into L1
// (prefetcht0), a whole tile group or row block on (several KiB, or four rows' streams) into L2
// only (prefetcht1), where the hardware's L1 prefetcher takes over. On Zen 4 the far fetches
// into L1 held its miss buffers: 1.1B Q4_K_M decode ran at 32-37 tok/s with them and 44 with
// L2; the near ones into L2 cost q4s32 a quarter of its speed (docs/performance.md).
inline __attribute__((always_inline)) void prefetch_l1(const void* p) {
  _mm_prefetch(static_cast<const char*>(p), _MM_HINT_T0);
}
inline __attribute__((always_inline)) void prefetch_l2(const void* p) {
  _mm_prefetch(static_cast<const char*>(p), _MM_HINT_T1);
}

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline float hmax(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline int32_t hsum_epi32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
  return _mm_cvtsi128_si32(s);
}

inline float half(uint16_t h) {
  return _cvtsh_ss(h);
}

inline int32_t load_i32(const void* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

}  // namespace
}  // namespace corelm
