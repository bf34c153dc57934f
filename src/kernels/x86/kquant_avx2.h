// The K-quant super-block readers and the per-group integer steps, in AVX2 (256-bit) form:
// shared by avx2_ggml.cpp and, for their headers and unpacking, the wider kernels of
// avx512_kquant.cpp. Internal linkage: each file gets its own copy compiled with its own flags;
// include only from files built with at least -mavx2 -mfma -mf16c.
//
// Each type says how to read a super-block: header() once (the scales, the per-16 mins or
// offsets, d and the min factor dm), then q(g) and scale(h, g) for the eight groups g of 32
// values: element 32 g + i is d * s[2g + i / 16] * q[g][i] - dm * mn[2g + i / 16], where the
// vector scale(h, g) holds s[2g] in its low eight 16-bit lanes and s[2g + 1] in the high eight
// (vpmaddubsw's lanes for values 0-15 and 16-31) and h.mins the sixteen mn. Element orders:
// quant_ggml.cpp's decode_k_block.
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/x86/avx2_helpers.h"
#include "tensor/quant_blocks.h"
#include "tensor/quant_ggml.h"

#define CORELM_INLINE inline __attribute__((always_inline))

namespace corelm {
namespace {
namespace kquant {

inline __m256i load256(const void* p) {
  return _mm256_loadu_si256(static_cast<const __m256i*>(p));
}

struct KHeader {
  __m256i scales;  // the type's scales, arranged for scale()
  __m256i mins;    // 16 x int16: mn[h]
  float d, dm;
};

// Sixteen 16-bit lanes from a pair (lo, hi) of control words: pshufb picks bytes of each lane.
CORELM_INLINE __m256i pick16(int lo_byte, int hi_byte) {
  return _mm256_set_m128i(_mm_set1_epi16(static_cast<int16_t>(hi_byte | ((hi_byte + 1) << 8))),
                          _mm_set1_epi16(static_cast<int16_t>(lo_byte | ((lo_byte + 1) << 8))));
}

// Q4_K / Q5_K: 8 six-bit scales and mins from 12 bytes, one per group of 32.
CORELM_INLINE void k4_scales_mins(const uint8_t* s12, KHeader& h) {
  uint32_t u[3];
  std::memcpy(u, s12, 12);
  const uint32_t sc_lo = u[0] & 0x3f3f3f3f, mn_lo = u[1] & 0x3f3f3f3f;
  const uint32_t sc_hi = (u[2] & 0x0f0f0f0f) | (((u[0] >> 6) & 0x03030303) << 4);
  const uint32_t mn_hi = ((u[2] >> 4) & 0x0f0f0f0f) | (((u[1] >> 6) & 0x03030303) << 4);
  const __m128i sc = _mm_cvtepu8_epi16(
      _mm_set_epi32(0, 0, static_cast<int32_t>(sc_hi), static_cast<int32_t>(sc_lo)));
  const __m128i mn = _mm_cvtepu8_epi16(
      _mm_set_epi32(0, 0, static_cast<int32_t>(mn_hi), static_cast<int32_t>(mn_lo)));
  h.scales = _mm256_broadcastsi128_si256(sc);
  h.mins = _mm256_set_m128i(_mm_unpackhi_epi16(mn, mn), _mm_unpacklo_epi16(mn, mn));
}

// The header of a Q4_K or Q5_K super-block (the same fields in both).
template <typename Block>
CORELM_INLINE KHeader k4_header(const uint8_t* b) {
  const auto& blk = *reinterpret_cast<const Block*>(b);
  KHeader h;
  k4_scales_mins(blk.scales, h);
  h.d = half(blk.d);
  h.dm = half(blk.dmin);
  return h;
}

struct Q4K {
  static constexpr bool kScalePer32 = true;  // header().scales: one per 32 values (else per 16)
  static constexpr size_t kBytes = sizeof(BlockQ4K);
  static CORELM_INLINE KHeader header(const uint8_t* b) { return k4_header<BlockQ4K>(b); }
  static CORELM_INLINE __m256i scale(const KHeader& h, int g) {
    return _mm256_shuffle_epi8(h.scales, pick16(2 * g, 2 * g));
  }
  static CORELM_INLINE __m256i q(const uint8_t* b, int g) {
    const __m256i raw = load256(b + offsetof(BlockQ4K, qs) + 32 * (g / 2));
    return _mm256_and_si256(g % 2 ? _mm256_srli_epi16(raw, 4) : raw, _mm256_set1_epi8(0x0F));
  }
};

struct Q5K {
  static constexpr bool kScalePer32 = true;  // header().scales: one per 32 values (else per 16)
  static constexpr size_t kBytes = sizeof(BlockQ5K);
  static CORELM_INLINE KHeader header(const uint8_t* b) { return k4_header<BlockQ5K>(b); }
  static CORELM_INLINE __m256i scale(const KHeader& h, int g) { return Q4K::scale(h, g); }
  static CORELM_INLINE __m256i q(const uint8_t* b, int g) {
    const __m256i raw = load256(b + offsetof(BlockQ5K, qs) + 32 * (g / 2));
    const __m256i low =
        _mm256_and_si256(g % 2 ? _mm256_srli_epi16(raw, 4) : raw, _mm256_set1_epi8(0x0F));
    const __m256i qh = load256(b + offsetof(BlockQ5K, qh));
    const __m256i bit = _mm256_and_si256(_mm256_srli_epi16(qh, g), _mm256_set1_epi8(1));
    return _mm256_or_si256(low, _mm256_slli_epi16(bit, 4));
  }
};

// Sixteen signed per-16 scales (int16) -> scale(g) by picking lanes 2g and 2g + 1.
CORELM_INLINE __m256i pick_scale16(__m256i s16, int g) {
  // Lanes 0-7 live in the low 128 bits, 8-15 in the high: broadcast the half holding 2g, 2g + 1.
  const __m256i half16 =
      g < 4 ? _mm256_permute2x128_si256(s16, s16, 0x00) : _mm256_permute2x128_si256(s16, s16, 0x11);
  const int lane = (2 * g) % 8;
  return _mm256_shuffle_epi8(half16, pick16(2 * lane, 2 * lane + 2));
}

// Q6_K: values stored +32; the offset is a min of 32 * scale with dm = d.
struct Q6K {
  static constexpr bool kScalePer32 = false;  // header().scales: one per 32 values (else per 16)
  static constexpr size_t kBytes = sizeof(BlockQ6K);
  static CORELM_INLINE KHeader header(const uint8_t* b) {
    const auto& blk = *reinterpret_cast<const BlockQ6K*>(b);
    KHeader h;
    h.scales = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.scales)));
    h.mins = _mm256_slli_epi16(h.scales, 5);
    h.d = h.dm = half(blk.d);
    return h;
  }
  static CORELM_INLINE __m256i scale(const KHeader& h, int g) { return pick_scale16(h.scales, g); }
  static CORELM_INLINE __m256i q(const uint8_t* b, int g) {
    const int n = g / 4, j = g % 4;
    const __m256i l = load256(b + offsetof(BlockQ6K, ql) + 64 * n + 32 * (j & 1));
    const __m256i low =
        _mm256_and_si256(j >= 2 ? _mm256_srli_epi16(l, 4) : l, _mm256_set1_epi8(0x0F));
    const __m256i qh = load256(b + offsetof(BlockQ6K, qh) + 32 * n);
    const __m256i high = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * j), _mm256_set1_epi8(3));
    return _mm256_or_si256(low, _mm256_slli_epi16(high, 4));
  }
};

struct Q2K {
  static constexpr bool kScalePer32 = false;  // header().scales: one per 32 values (else per 16)
  static constexpr size_t kBytes = sizeof(BlockQ2K);
  static CORELM_INLINE KHeader header(const uint8_t* b) {
    const auto& blk = *reinterpret_cast<const BlockQ2K*>(b);
    KHeader h;
    const __m256i s =
        _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.scales)));
    h.scales = _mm256_and_si256(s, _mm256_set1_epi16(0xF));
    h.mins = _mm256_srli_epi16(s, 4);
    h.d = half(blk.d);
    h.dm = half(blk.dmin);
    return h;
  }
  static CORELM_INLINE __m256i scale(const KHeader& h, int g) { return pick_scale16(h.scales, g); }
  static CORELM_INLINE __m256i q(const uint8_t* b, int g) {
    const __m256i raw = load256(b + offsetof(BlockQ2K, qs) + 32 * (g / 4));
    return _mm256_and_si256(_mm256_srli_epi16(raw, 2 * (g % 4)), _mm256_set1_epi8(3));
  }
};

// Q3_K: values 0..7 stored +4 (high bit set: +0, clear: -4); the offset is a min of 4 * scale.
struct Q3K {
  static constexpr bool kScalePer32 = false;  // header().scales: one per 32 values (else per 16)
  static constexpr size_t kBytes = sizeof(BlockQ3K);
  static CORELM_INLINE KHeader header(const uint8_t* b) {
    const auto& blk = *reinterpret_cast<const BlockQ3K*>(b);
    KHeader h;
    alignas(16) int8_t s[16];
    q3_k_scales(blk.scales, s);
    h.scales = _mm256_cvtepi8_epi16(_mm_load_si128(reinterpret_cast<const __m128i*>(s)));
    h.mins = _mm256_slli_epi16(h.scales, 2);
    h.d = h.dm = half(blk.d);
    return h;
  }
  static CORELM_INLINE __m256i scale(const KHeader& h, int g) { return pick_scale16(h.scales, g); }
  static CORELM_INLINE __m256i q(const uint8_t* b, int g) {
    const __m256i raw = load256(b + offsetof(BlockQ3K, qs) + 32 * (g / 4));
    const __m256i low = _mm256_and_si256(_mm256_srli_epi16(raw, 2 * (g % 4)), _mm256_set1_epi8(3));
    const __m256i hm = load256(b + offsetof(BlockQ3K, hmask));
    const __m256i bit = _mm256_and_si256(_mm256_srli_epi16(hm, g), _mm256_set1_epi8(1));
    return _mm256_or_si256(low, _mm256_slli_epi16(bit, 2));
  }
};

// ---- the K-quant matmul ---------------------------------------------------------------------

// The integer sum of one group against the activations, by its scales: 8 x int32.
CORELM_INLINE __m256i k_group(__m256i q, __m256i scale, const int8_t* a) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(q, load256(a)), scale);
}

// Adds a super-block's contribution (isum by d, the mins by dm, both times the activation scale).
CORELM_INLINE __m256 k_finish(__m256i isum, const KHeader& h, const BlockQ8K& a, __m256 acc) {
  const __m256i msum = _mm256_madd_epi16(load256(a.bsums), h.mins);
  acc = _mm256_fmadd_ps(_mm256_set1_ps(a.scale * h.d), _mm256_cvtepi32_ps(isum), acc);
  return _mm256_fnmadd_ps(_mm256_set1_ps(a.scale * h.dm), _mm256_cvtepi32_ps(msum), acc);
}

}  // namespace kquant
}  // namespace
}  // namespace corelm
