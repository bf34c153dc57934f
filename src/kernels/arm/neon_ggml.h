// NEON kernels for GGUF's other block formats, run in place (Layout::kRows): the K-quants
// Q2_K..Q6_K against BlockQ8K activations, Q4_1, Q5_0, Q5_1 against BlockQ8A; and (included
// below) Q4_K in interleaved16 tiles. Included by arm/neon_common.h: internal linkage, one copy
// per ARM table built with that table's flags (sdot where __ARM_FEATURE_DOTPROD, widening
// multiplies otherwise). Each kernel computes what ref_ggml.cpp computes: the same exact integer
// sums per super-block (or block), then the same float expression, so results differ from the
// reference only by FMA contraction.
//
// K-quants: a super-block is unpacked into 16 vectors of 16 unsigned values (q[v] holds elements
// 16v..16v+15, 0..63) plus a header (the per-16 or per-32 scales as int32 lanes, the mins as
// int16, d and the min factor). The groups of 16 (32) values are exact integer dot products with
// the activations, accumulated as running sums that meet the differences of consecutive scales
// (mla by lane, k_isum) into an int32 sum. A type's offset (Q3_K's -4, Q6_K's -32) is a min of
// 4 (32) times the scale, folded back into the integer sum so that the float step equals the
// reference's; real mins (Q2_K, Q4_K, Q5_K) go through BlockQ8K::bsums. Prefill (n > 1) unpacks
// each super-block of a row once for a tile of 4 tokens (whose group sums meet the scale in one
// mla, k_isum_tokens); decode (n == 1) streams 4 rows at a time (four independent chains) against
// activations loaded once per super-block.
#pragma once

#include <arm_neon.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>

#include "kernels/kernel_table.h"
#include "tensor/quant_blocks.h"

namespace corelm {
namespace {  // NOLINT(google-build-namespaces): one copy per table, see neon_common.h
namespace kq {

// The per-block steps must inline into the kernels' loops (GCC otherwise keeps some out of line,
// passing the unpacked vectors through memory).
#define CORELM_NEON_INLINE inline __attribute__((always_inline))

// f(std::integral_constant<int, 0>), ..., f(std::integral_constant<int, N - 1>): lane numbers and
// shift counts must be immediates.
template <typename F, int... I>
CORELM_NEON_INLINE void unroll_seq(F&& f, std::integer_sequence<int, I...>) {
  (f(std::integral_constant<int, I>{}), ...);
}
template <int N, typename F>
CORELM_NEON_INLINE void unroll(F&& f) {
  unroll_seq(f, std::make_integer_sequence<int, N>{});
}

inline uint16_t load_u16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

// Shifts by a compile-time count, left for S > 0 and right for S < 0.
template <int S>
CORELM_NEON_INLINE uint8x16_t shift_u8(uint8x16_t v) {
  if constexpr (S > 0)
    return vshlq_n_u8(v, S);
  else if constexpr (S < 0)
    return vshrq_n_u8(v, -S);
  else
    return v;
}

// ---- exact group dot products ---------------------------------------------------------------
//
// Weights here are unsigned, at most 63, activations |a| <= 127 (BlockQ8K's quantizer).

// c plus the exact dot of 16 (32) values: c's lanes gain partial sums, the lanes' total grows by
// the group's dot product.
#if defined(__ARM_FEATURE_DOTPROD)
CORELM_NEON_INLINE int32x4_t gdot16(int32x4_t c, int8x16_t q, int8x16_t a) {
  return dot4(c, q, a);
}
CORELM_NEON_INLINE int32x4_t gdot32(int32x4_t c, int8x16_t q0, int8x16_t a0, int8x16_t q1,
                                    int8x16_t a1) {
  return dot4(dot4(c, q0, a0), q1, a1);
}
#else
// Without sdot: 16-bit products, two per lane before widening (at most 2 * 63 * 127 = 16002).
CORELM_NEON_INLINE int32x4_t gdot16(int32x4_t c, int8x16_t q, int8x16_t a) {
  return vpadalq_s16(c, vmlal_high_s8(vmull_s8(vget_low_s8(q), vget_low_s8(a)), q, a));
}
// 32 values of at most 31 (Q4_K, Q5_K): four products per lane (at most 4 * 31 * 127 = 15748).
CORELM_NEON_INLINE int32x4_t gdot32(int32x4_t c, int8x16_t q0, int8x16_t a0, int8x16_t q1,
                                    int8x16_t a1) {
  int16x8_t p = vmlal_high_s8(vmull_s8(vget_low_s8(q0), vget_low_s8(a0)), q0, a0);
  p = vmlal_s8(p, vget_low_s8(q1), vget_low_s8(a1));
  return vpadalq_s16(c, vmlal_high_s8(p, q1, a1));
}
#endif

// ---- super-block readers ----------------------------------------------------------------------
//
// Per type: kBytes, kPer32 (scales per 32 values: Q4_K, Q5_K; else per 16), kFoldMin (the min is
// an offset times the scale, with d as its factor: Q3_K, Q6_K), header() and unpack().

struct KHead {
  int32x4_t sc[4];  // scale of group g in lane g % 4 of sc[g / 4] (8 groups of 32 or 16 of 16)
  int16x8_t mn[2];  // mins, likewise (kPer32: the 8 in mn[0])
  float d, dm;
};

// Q4_K / Q5_K: 8 six-bit scales and mins from 12 bytes (quant_ggml.cpp's k4_scale_min).
CORELM_NEON_INLINE void k4_header(const uint8_t* scales12, KHead& h) {
  uint32_t u[3];
  std::memcpy(u, scales12, 12);
  const uint32_t sc_lo = u[0] & 0x3f3f3f3f, mn_lo = u[1] & 0x3f3f3f3f;
  const uint32_t sc_hi = (u[2] & 0x0f0f0f0f) | (((u[0] >> 6) & 0x03030303) << 4);
  const uint32_t mn_hi = ((u[2] >> 4) & 0x0f0f0f0f) | (((u[1] >> 6) & 0x03030303) << 4);
  const int16x8_t sc =
      vreinterpretq_s16_u16(vmovl_u8(vcreate_u8(sc_lo | static_cast<uint64_t>(sc_hi) << 32)));
  h.sc[0] = vmovl_s16(vget_low_s16(sc));
  h.sc[1] = vmovl_high_s16(sc);
  h.mn[0] = vreinterpretq_s16_u16(vmovl_u8(vcreate_u8(mn_lo | static_cast<uint64_t>(mn_hi) << 32)));
}

// 16 signed scales (int16) into the header's int32 lanes.
CORELM_NEON_INLINE void widen_scales16(int16x8_t s0, int16x8_t s1, KHead& h) {
  h.sc[0] = vmovl_s16(vget_low_s16(s0));
  h.sc[1] = vmovl_high_s16(s0);
  h.sc[2] = vmovl_s16(vget_low_s16(s1));
  h.sc[3] = vmovl_high_s16(s1);
}

// Q3_K's and Q6_K's headers: 16 signed scales, the offset (-4 or -32 = -2^kShift) folded in
// through the scales times 2^kShift, and one d for both.
template <int kShift>
CORELM_NEON_INLINE void signed_scales_header(int8x16_t sc, float d, KHead& h) {
  const int16x8_t s0 = vmovl_s8(vget_low_s8(sc)), s1 = vmovl_high_s8(sc);
  widen_scales16(s0, s1, h);
  h.mn[0] = vshlq_n_s16(s0, kShift);
  h.mn[1] = vshlq_n_s16(s1, kShift);
  h.d = h.dm = d;
}

// Q4_K's and Q5_K's headers: the 6-bit scales and mins, d and dmin.
template <typename Block>
CORELM_NEON_INLINE void k4_block_header(const uint8_t* b, KHead& h) {
  k4_header(b + offsetof(Block, scales), h);
  h.d = half(load_u16(b + offsetof(Block, d)));
  h.dm = half(load_u16(b + offsetof(Block, dmin)));
}

struct Q4K {
  static constexpr size_t kBytes = sizeof(BlockQ4K);
  static constexpr bool kPer32 = true, kFoldMin = false;
  static CORELM_NEON_INLINE void header(const uint8_t* b, KHead& h) {
    k4_block_header<BlockQ4K>(b, h);
  }
  // Element 64p + 32hi + l: nibble hi of qs[32p + l]. Vector 4p + 2hi + s: bytes 32p + 16s.
  static CORELM_NEON_INLINE void unpack(const uint8_t* b, int8x16_t (&q)[16]) {
    const uint8_t* qs = b + offsetof(BlockQ4K, qs);
    for (int p = 0; p < 4; ++p) {
      const uint8x16_t r0 = vld1q_u8(qs + 32 * p), r1 = vld1q_u8(qs + 32 * p + 16);
      q[4 * p] = low_nibbles(r0);
      q[4 * p + 1] = low_nibbles(r1);
      q[4 * p + 2] = high_nibbles(r0);
      q[4 * p + 3] = high_nibbles(r1);
    }
  }
};

struct Q5K {
  static constexpr size_t kBytes = sizeof(BlockQ5K);
  static constexpr bool kPer32 = true, kFoldMin = false;
  static CORELM_NEON_INLINE void header(const uint8_t* b, KHead& h) {
    k4_block_header<BlockQ5K>(b, h);
  }
  // As Q4_K, plus bit g = 2p + hi of qh[l] as the value's bit 4.
  static CORELM_NEON_INLINE void unpack(const uint8_t* b, int8x16_t (&q)[16]) {
    const uint8_t* qs = b + offsetof(BlockQ5K, qs);
    const uint8x16_t qh[2] = {vld1q_u8(b + offsetof(BlockQ5K, qh)),
                              vld1q_u8(b + offsetof(BlockQ5K, qh) + 16)};
    const uint8x16_t bit4 = vdupq_n_u8(0x10);
    unroll<4>([&](auto P) __attribute__((always_inline)) {
      constexpr int p = decltype(P)::value;
      const uint8x16_t raw[2] = {vld1q_u8(qs + 32 * p), vld1q_u8(qs + 32 * p + 16)};
      for (int s = 0; s < 2; ++s) {
        // Bit 2p of qh to bit 4 for the low nibbles, bit 2p + 1 for the high ones.
        q[4 * p + s] = vreinterpretq_s8_u8(
            vbslq_u8(bit4, shift_u8<4 - 2 * p>(qh[s]), vandq_u8(raw[s], vdupq_n_u8(0x0F))));
        q[4 * p + 2 + s] =
            vreinterpretq_s8_u8(vbslq_u8(bit4, shift_u8<3 - 2 * p>(qh[s]), vshrq_n_u8(raw[s], 4)));
      }
    });
  }
};

// Q6_K: values stored +32 (0..63); the offset is a min of 32 * scale with factor d.
struct Q6K {
  static constexpr size_t kBytes = sizeof(BlockQ6K);
  static constexpr bool kPer32 = false, kFoldMin = true;
  static CORELM_NEON_INLINE void header(const uint8_t* b, KHead& h) {
    const int8x16_t s = vld1q_s8(reinterpret_cast<const int8_t*>(b + offsetof(BlockQ6K, scales)));
    signed_scales_header<5>(s, half(load_u16(b + offsetof(BlockQ6K, d))), h);
  }
  // Element 128n + 32j + l: nibble j / 2 of ql[64n + 32(j & 1) + l], bits 2j, 2j + 1 of
  // qh[32n + l] as bits 4, 5. Vector 8n + 2j + s: ql bytes 64n + 32(j & 1) + 16s, qh 32n + 16s.
  static CORELM_NEON_INLINE void unpack(const uint8_t* b, int8x16_t (&q)[16]) {
    const uint8x16_t m3f = vdupq_n_u8(0x3F), m30 = vdupq_n_u8(0x30);
    for (int n = 0; n < 2; ++n) {
      const uint8_t* ql = b + offsetof(BlockQ6K, ql) + 64 * n;
      const uint8_t* qh = b + offsetof(BlockQ6K, qh) + 32 * n;
      for (int s = 0; s < 2; ++s) {
        const uint8x16_t l0 = vld1q_u8(ql + 16 * s), l1 = vld1q_u8(ql + 32 + 16 * s);
        const uint8x16_t h = vld1q_u8(qh + 16 * s), h2 = vshrq_n_u8(h, 2);
        q[8 * n + s] = vreinterpretq_s8_u8(vandq_u8(vsliq_n_u8(l0, h, 4), m3f));
        q[8 * n + 2 + s] = vreinterpretq_s8_u8(vandq_u8(vsliq_n_u8(l1, h2, 4), m3f));
        q[8 * n + 4 + s] = vreinterpretq_s8_u8(vbslq_u8(m30, h, vshrq_n_u8(l0, 4)));
        q[8 * n + 6 + s] = vreinterpretq_s8_u8(vbslq_u8(m30, h2, vshrq_n_u8(l1, 4)));
      }
    }
  }
};

// Q2_K: values 0..3, per-16 scale (low nibble) and min (high nibble).
struct Q2K {
  static constexpr size_t kBytes = sizeof(BlockQ2K);
  static constexpr bool kPer32 = false, kFoldMin = false;
  static CORELM_NEON_INLINE void header(const uint8_t* b, KHead& h) {
    const uint8x16_t s = vld1q_u8(b + offsetof(BlockQ2K, scales));
    const uint8x16_t sc = vandq_u8(s, vdupq_n_u8(0x0F)), mn = vshrq_n_u8(s, 4);
    widen_scales16(vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(sc))),
                   vreinterpretq_s16_u16(vmovl_high_u8(sc)), h);
    h.mn[0] = vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(mn)));
    h.mn[1] = vreinterpretq_s16_u16(vmovl_high_u8(mn));
    h.d = half(load_u16(b + offsetof(BlockQ2K, d)));
    h.dm = half(load_u16(b + offsetof(BlockQ2K, dmin)));
  }
  // Element 128n + 32j + l: bits 2j, 2j + 1 of qs[32n + l]. Vector 8n + 2j + s: bytes 32n + 16s.
  static CORELM_NEON_INLINE void unpack(const uint8_t* b, int8x16_t (&q)[16]) {
    const uint8x16_t m3 = vdupq_n_u8(3);
    for (int n = 0; n < 2; ++n)
      for (int s = 0; s < 2; ++s) {
        const uint8x16_t raw = vld1q_u8(b + offsetof(BlockQ2K, qs) + 32 * n + 16 * s);
        q[8 * n + s] = vreinterpretq_s8_u8(vandq_u8(raw, m3));
        q[8 * n + 2 + s] = vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(raw, 2), m3));
        q[8 * n + 4 + s] = vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(raw, 4), m3));
        q[8 * n + 6 + s] = vreinterpretq_s8_u8(vshrq_n_u8(raw, 6));
      }
  }
};

// Q3_K: values 0..7 stored +4 (the high bit set: +0, clear: -4); the offset is a min of
// 4 * scale with factor d.
struct Q3K {
  static constexpr size_t kBytes = sizeof(BlockQ3K);
  static constexpr bool kPer32 = false, kFoldMin = true;
  // The 16 six-bit scales (quant_ggml.cpp's q3_k_scales): low 4 bits from byte j % 8 (low nibble
  // for j < 8, high for j >= 8), high 2 bits from byte 8 + j % 4, bits 2 * (j / 4); minus 32.
  static CORELM_NEON_INLINE void header(const uint8_t* b, KHead& h) {
    const uint8_t* s = b + offsetof(BlockQ3K, scales);
    const uint8x8_t s8 = vld1_u8(s);
    const uint8x16_t low = vcombine_u8(vand_u8(s8, vdup_n_u8(0x0F)), vshr_n_u8(s8, 4));
    uint32_t hw;
    std::memcpy(&hw, s + 8, 4);
    static constexpr int8_t kShift[16] = {0,  0,  0,  0,  -2, -2, -2, -2,
                                          -4, -4, -4, -4, -6, -6, -6, -6};
    const uint8x16_t high =
        vandq_u8(vshlq_u8(vreinterpretq_u8_u32(vdupq_n_u32(hw)), vld1q_s8(kShift)), vdupq_n_u8(3));
    const int8x16_t sc = vsubq_s8(vreinterpretq_s8_u8(vsliq_n_u8(low, high, 4)), vdupq_n_s8(32));
    signed_scales_header<2>(sc, half(load_u16(b + offsetof(BlockQ3K, d))), h);
  }
  // Element 128n + 32j + l: bits 2j, 2j + 1 of qs[32n + l], bit 4n + j of hmask[l] as bit 2.
  // Vector 8n + 2j + s: qs bytes 32n + 16s, hmask bytes 16s.
  static CORELM_NEON_INLINE void unpack(const uint8_t* b, int8x16_t (&q)[16]) {
    const uint8x16_t m3 = vdupq_n_u8(3), m4 = vdupq_n_u8(4);
    const uint8x16_t hm[2] = {vld1q_u8(b + offsetof(BlockQ3K, hmask)),
                              vld1q_u8(b + offsetof(BlockQ3K, hmask) + 16)};
    unroll<8>([&](auto NJ) __attribute__((always_inline)) {
      constexpr int n = decltype(NJ)::value / 4, j = decltype(NJ)::value % 4;
      for (int s = 0; s < 2; ++s) {
        const uint8x16_t raw = vld1q_u8(b + offsetof(BlockQ3K, qs) + 32 * n + 16 * s);
        const uint8x16_t low = j == 3 ? vshrq_n_u8(raw, 6) : vandq_u8(shift_u8<-2 * j>(raw), m3);
        q[8 * n + 2 * j + s] =
            vreinterpretq_s8_u8(vbslq_u8(m4, shift_u8<2 - (4 * n + j)>(hm[s]), low));
      }
    });
  }
};

// ---- the dot product of one unpacked super-block with one token -------------------------------

// The 16 activation vectors of a BlockQ8K (plain loads, which the compiler pairs: ld1 of four
// registers wants four consecutive ones and costs moves with GCC).
CORELM_NEON_INLINE void load_act(const BlockQ8K& a, int8x16_t (&av)[16]) {
  for (int i = 0; i < 16; ++i) av[i] = vld1q_s8(a.qs + 16 * i);
}

// sum_g sc[g] * S_g (S_g: the exact dot of group g) as sum_g (sc[g] - sc[g + 1]) * C_g over the
// running sums C_g = S_0 + ... + S_g (sc[G] = 0): the sdots accumulate into one register instead
// of a fresh zeroed one per group, and the header holds the scale differences (k_diff_scales).
// The int32 lanes may wrap in between; the total is exact as the sum it equals fits.
template <typename K>
CORELM_NEON_INLINE int32_t k_isum(const int8x16_t (&q)[16], const KHead& h,
                                  const int8x16_t (&a)[16]) {
  int32x4_t c = vdupq_n_s32(0);
  int32x4_t acc[2] = {vdupq_n_s32(0), vdupq_n_s32(0)};
  if constexpr (K::kPer32) {
    unroll<8>([&](auto G) __attribute__((always_inline)) {
      constexpr int g = decltype(G)::value;
      c = gdot32(c, q[2 * g], a[2 * g], q[2 * g + 1], a[2 * g + 1]);
      acc[g & 1] = vmlaq_laneq_s32(acc[g & 1], c, h.sc[g / 4], g % 4);
    });
  } else {
    unroll<16>([&](auto G) __attribute__((always_inline)) {
      constexpr int g = decltype(G)::value;
      c = gdot16(c, q[g], a[g]);
      acc[g & 1] = vmlaq_laneq_s32(acc[g & 1], c, h.sc[g / 4], g % 4);
    });
  }
  return vaddvq_s32(vaddq_s32(acc[0], acc[1]));
}

// The header's scales replaced by their differences sc[g] - sc[g + 1] (k_isum).
template <typename K>
CORELM_NEON_INLINE void k_diff_scales(KHead& h) {
  constexpr int kVectors = K::kPer32 ? 2 : 4;
  for (int i = 0; i < kVectors; ++i) {
    const int32x4_t next = i + 1 < kVectors ? h.sc[i + 1] : vdupq_n_s32(0);
    h.sc[i] = vsubq_s32(h.sc[i], vextq_s32(h.sc[i], next, 1));
  }
}

// sum_g mn[g] * (activation sum of group g), through the per-16 bsums.
template <typename K>
CORELM_NEON_INLINE int32_t k_msum(const KHead& h, const BlockQ8K& a) {
  const int16x8_t b0 = vld1q_s16(a.bsums), b1 = vld1q_s16(a.bsums + 8);
  if constexpr (K::kPer32) {
    const int16x8_t b = vpaddq_s16(b0, b1);  // per 32: at most 32 * 127, fits
    return vaddvq_s32(
        vmlal_high_s16(vmull_s16(vget_low_s16(h.mn[0]), vget_low_s16(b)), h.mn[0], b));
  } else {
    int32x4_t p = vmull_s16(vget_low_s16(h.mn[0]), vget_low_s16(b0));
    p = vmlal_high_s16(p, h.mn[0], b0);
    p = vmlal_s16(p, vget_low_s16(h.mn[1]), vget_low_s16(b1));
    return vaddvq_s32(vmlal_high_s16(p, h.mn[1], b1));
  }
}

// The super-block's term, as ref_ggml.cpp's dot_k computes it from the same integers.
template <typename K>
CORELM_NEON_INLINE float k_finish(int32_t isum, int32_t msum, const KHead& h, float scale) {
  if constexpr (K::kFoldMin)
    return scale * (h.d * static_cast<float>(isum - msum));
  else
    return scale * (h.d * static_cast<float>(isum) - h.dm * static_cast<float>(msum));
}

template <typename K>
CORELM_NEON_INLINE float k_term(const int8x16_t (&q)[16], const KHead& h, const int8x16_t (&av)[16],
                                const BlockQ8K& a) {
  return k_finish<K>(k_isum<K>(q, h, av), k_msum<K>(h, a), h, a.scale);
}

// Without sdot the widening products' temporaries leave too few registers for the four tokens'
// running sums (the compiled tile spills and grows): the baseline table sums token by token.
#if defined(__ARM_FEATURE_DOTPROD)
inline constexpr bool kReduceTokens = true;
#else
inline constexpr bool kReduceTokens = false;
#endif

// k_isum for T = 2..4 tokens of one super-block at once: after each group the tokens' running
// sums are reduced by pairwise adds into one vector (token t's total in lane t; for T = 2 in lanes
// 2t and 2t + 1), so one mla by the group's scale serves all tokens.
template <typename K, int T>
CORELM_NEON_INLINE void k_isum_tokens(const int8x16_t (&q)[16], const KHead& h,
                                      const BlockQ8K* const* a, int32_t (&isum)[T]) {
  static_assert(T >= 2 && T <= 4, "k_isum_tokens: 2 to 4 tokens");
  int32x4_t c[4] = {vdupq_n_s32(0), vdupq_n_s32(0), vdupq_n_s32(0), vdupq_n_s32(0)};
  int32x4_t acc[2] = {vdupq_n_s32(0), vdupq_n_s32(0)};
  auto reduce = [&]() __attribute__((always_inline)) {
    if constexpr (T == 2)
      return vpaddq_s32(c[0], c[1]);
    else
      return vpaddq_s32(vpaddq_s32(c[0], c[1]), vpaddq_s32(c[2], c[3]));  // c[3] = 0 for T = 3
  };
  constexpr int kGroups = K::kPer32 ? 8 : 16;
  unroll<kGroups>([&](auto G) __attribute__((always_inline)) {
    constexpr int g = decltype(G)::value;
    for (int t = 0; t < T; ++t) {
      if constexpr (K::kPer32)
        c[t] = gdot32(c[t], q[2 * g], vld1q_s8(a[t]->qs + 32 * g), q[2 * g + 1],
                      vld1q_s8(a[t]->qs + 32 * g + 16));
      else
        c[t] = gdot16(c[t], q[g], vld1q_s8(a[t]->qs + 16 * g));
    }
    acc[g & 1] = vmlaq_laneq_s32(acc[g & 1], reduce(), h.sc[g / 4], g % 4);
  });
  int32_t lanes[4];
  vst1q_s32(lanes, vaddq_s32(acc[0], acc[1]));
  for (int t = 0; t < T; ++t) isum[t] = T == 2 ? lanes[2 * t] + lanes[2 * t + 1] : lanes[t];
}

template <typename K>
CORELM_NEON_INLINE void prefetch_block(const uint8_t* blk) {
  // About 1 KiB ahead in the row, every line of a block.
  for (size_t line = 0; line < K::kBytes; line += 64) __builtin_prefetch(blk + 1024 + line);
}

// T tokens against one row (prefill): each super-block unpacked once for the T tokens.
template <typename K, int T>
CORELM_NEON_INLINE void k_row_tokens(const uint8_t* wr, size_t nb, const BlockQ8K* const* a,
                                     float* y, size_t y_stride) {
  float acc[T] = {};
  for (size_t b = 0; b < nb; ++b) {
    const uint8_t* blk = wr + b * K::kBytes;
    prefetch_block<K>(blk);
    KHead h;
    K::header(blk, h);
    k_diff_scales<K>(h);
    int8x16_t q[16];
    K::unpack(blk, q);
    if constexpr (T == 1 || !kReduceTokens) {
      // Unrolled: the tokens' chains interleave and acc stays in registers.
      unroll<T>([&](auto I) __attribute__((always_inline)) {
        constexpr int t = decltype(I)::value;
        int8x16_t av[16];
        load_act(a[t][b], av);
        acc[t] += k_term<K>(q, h, av, a[t][b]);
      });
    } else {
      const BlockQ8K* at[T];
      for (int t = 0; t < T; ++t) at[t] = &a[t][b];
      int32_t isum[T];
      k_isum_tokens<K, T>(q, h, at, isum);
      for (int t = 0; t < T; ++t)
        acc[t] += k_finish<K>(isum[t], k_msum<K>(h, *at[t]), h, at[t]->scale);
    }
  }
  for (int t = 0; t < T; ++t) y[t * y_stride] = acc[t];
}

// R consecutive rows against one token (decode): the activations loaded once per super-block,
// the rows' weights streamed and unpacked on the fly (R independent chains).
template <typename K, int R>
CORELM_NEON_INLINE void k_rows_token(const uint8_t* w, size_t row_bytes, size_t nb,
                                     const BlockQ8K* a, float* y) {
  float acc[R] = {};
  for (size_t b = 0; b < nb; ++b) {
    int8x16_t av[16];
    load_act(a[b], av);
    for (int r = 0; r < R; ++r) {
      const uint8_t* blk = w + r * row_bytes + b * K::kBytes;
      prefetch_block<K>(blk);
      KHead h;
      K::header(blk, h);
      k_diff_scales<K>(h);
      int8x16_t q[16];
      K::unpack(blk, q);
      acc[r] += k_term<K>(q, h, av, a[b]);
    }
  }
  for (int r = 0; r < R; ++r) y[r] = acc[r];
}

// Every path sums a (row, token) alike (the same per-super-block terms in the same order), so a
// token's result does not depend on the batch it came in.
template <typename K>
void matmul_k(const uint8_t* w, size_t row_bytes, const void* x, size_t x_stride, size_t n,
              size_t k, float* y, size_t y_stride, size_t r0, size_t r1) {
  const size_t nb = k / kSuperBlock;
  auto act = [&](size_t t) {
    return reinterpret_cast<const BlockQ8K*>(static_cast<const uint8_t*>(x) + t * x_stride);
  };
  if (n == 1) {
    const BlockQ8K* a = act(0);
    size_t r = r0;
    for (; r + 4 <= r1; r += 4) k_rows_token<K, 4>(w + r * row_bytes, row_bytes, nb, a, y + r);
    if (r + 2 <= r1) {
      k_rows_token<K, 2>(w + r * row_bytes, row_bytes, nb, a, y + r);
      r += 2;
    }
    if (r < r1) k_rows_token<K, 1>(w + r * row_bytes, row_bytes, nb, a, y + r);
    return;
  }
  // Tokens in chunks whose activations stay in L2 while this thread's rows pass over them.
  const size_t chunk =
      std::max<size_t>(4, (256u << 10) / std::max<size_t>(nb * sizeof(BlockQ8K), 1) / 4 * 4);
  for (size_t t0 = 0; t0 < n; t0 += chunk) {
    const size_t t1 = std::min(n, t0 + chunk);
    for (size_t r = r0; r < r1; ++r) {
      const uint8_t* wr = w + r * row_bytes;
      size_t t = t0;
      for (; t + 4 <= t1; t += 4) {
        const BlockQ8K* as[4] = {act(t), act(t + 1), act(t + 2), act(t + 3)};
        k_row_tokens<K, 4>(wr, nb, as, y + t * y_stride + r, y_stride);
      }
      const BlockQ8K* as[3] = {act(t), act(std::min(t + 1, t1 - 1)), act(std::min(t + 2, t1 - 1))};
      switch (t1 - t) {
        case 3:
          k_row_tokens<K, 3>(wr, nb, as, y + t * y_stride + r, y_stride);
          break;
        case 2:
          k_row_tokens<K, 2>(wr, nb, as, y + t * y_stride + r, y_stride);
          break;
        case 1:
          k_row_tokens<K, 1>(wr, nb, as, y + t * y_stride + r, y_stride);
          break;
        default:
          break;
      }
    }
  }
}

// ---- Q4_1, Q5_0, Q5_1 against BlockQ8A ----------------------------------------------------------

// The 32 fifth bits of a Q5 block, as all-ones bytes where set: elements 0-15 in *lo, 16-31 in
// *hi (byte i tests bit i % 8 of qh byte i / 8).
CORELM_NEON_INLINE void q5_bits(const uint8_t* qh, uint8x16_t* lo, uint8x16_t* hi) {
  uint32_t bits;
  std::memcpy(&bits, qh, 4);
  const uint8x16_t src = vreinterpretq_u8_u32(vdupq_n_u32(bits));
  static constexpr uint8_t kIdx[32] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                       2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3};
  const uint8x16_t bit = vreinterpretq_u8_u64(vdupq_n_u64(0x8040201008040201ull));
  *lo = vtstq_u8(vqtbl1q_u8(src, vld1q_u8(kIdx)), bit);
  *hi = vtstq_u8(vqtbl1q_u8(src, vld1q_u8(kIdx + 16)), bit);
}

// kKind 0: Q4_1 (element d * q + m), 1: Q5_0 (d * (q - 16)), 2: Q5_1 (d * q + m).
template <int kKind>
void matmul_q8a_blocks(const uint8_t* w, size_t row_bytes, const void* x, size_t x_stride, size_t n,
                       size_t k, float* y, size_t y_stride, size_t r0, size_t r1) {
  using Block = std::conditional_t<kKind == 0, BlockQ4_1,
                                   std::conditional_t<kKind == 1, BlockQ5_0, BlockQ5_1>>;
  const size_t nb = k / kQuantBlock;
  for (size_t r = r0; r < r1; ++r) {
    const Block* wr = reinterpret_cast<const Block*>(w + r * row_bytes);
    for (size_t t = 0; t < n; ++t) {
      const BlockQ8A* a =
          reinterpret_cast<const BlockQ8A*>(static_cast<const uint8_t*>(x) + t * x_stride);
      float32x4_t acc = vdupq_n_f32(0.0f);
      float macc = 0.0f;  // the m terms through the activations' sums
      for (size_t b = 0; b < nb; ++b) {
        const uint8x16_t raw = vld1q_u8(wr[b].qs);
        int8x16_t lo = low_nibbles(raw), hi = high_nibbles(raw);
        if constexpr (kKind == 1) {
          // q - 16 = nibble | 0xF0 (as int8) where the fifth bit is clear.
          uint8x16_t bl, bh;
          q5_bits(wr[b].qh, &bl, &bh);
          const uint8x16_t f0 = vdupq_n_u8(0xF0);
          lo = vorrq_s8(lo, vreinterpretq_s8_u8(vbicq_u8(f0, bl)));
          hi = vorrq_s8(hi, vreinterpretq_s8_u8(vbicq_u8(f0, bh)));
        } else if constexpr (kKind == 2) {
          uint8x16_t bl, bh;
          q5_bits(wr[b].qh, &bl, &bh);
          const uint8x16_t b4 = vdupq_n_u8(0x10);
          lo = vorrq_s8(lo, vreinterpretq_s8_u8(vandq_u8(bl, b4)));
          hi = vorrq_s8(hi, vreinterpretq_s8_u8(vandq_u8(bh, b4)));
        }
        const int32x4_t s =
            dot4(dot4(vdupq_n_s32(0), lo, vld1q_s8(a[b].qs)), hi, vld1q_s8(a[b].qs + 16));
        acc = vfmaq_n_f32(acc, vcvtq_f32_s32(s), half(wr[b].d) * a[b].scale);
        if constexpr (kKind != 1)
          macc += half(wr[b].m) * a[b].scale * static_cast<float>(a[b].qsum);
      }
      y[t * y_stride + r] = vaddvq_f32(acc) + macc;
    }
  }
}

}  // namespace kq
}  // namespace
}  // namespace corelm

// Q4_K in the interleaved16 layout (built on kq::unroll and neon_common.h's primitives).
#include "kernels/arm/neon_q4k_tiles.h"

namespace corelm {
namespace {  // NOLINT(google-build-namespaces)

// The slots of make_neon_table this file fills. Q4_K matrices are repacked to interleaved16 at
// load: by instruction count its kernels do more multiply-adds per instruction than the rows
// ones (no per-row unpacking, headers or horizontal sums; see neon_q4k_tiles.h).
inline void add_neon_ggml_kernels(KernelTable& t) {
  auto set = [&](DType d, MatmulFn fn) {
    t.matmul[static_cast<size_t>(d)][static_cast<size_t>(Layout::kRows)] = fn;
  };
  set(DType::kQ4_1, kq::matmul_q8a_blocks<0>);
  set(DType::kQ5_0, kq::matmul_q8a_blocks<1>);
  set(DType::kQ5_1, kq::matmul_q8a_blocks<2>);
  set(DType::kQ2_K, kq::matmul_k<kq::Q2K>);
  set(DType::kQ3_K, kq::matmul_k<kq::Q3K>);
  set(DType::kQ4_K, kq::matmul_k<kq::Q4K>);
  set(DType::kQ5_K, kq::matmul_k<kq::Q5K>);
  set(DType::kQ6_K, kq::matmul_k<kq::Q6K>);
  t.matmul[static_cast<size_t>(DType::kQ4_K)][static_cast<size_t>(Layout::kInterleaved16)] =
      q4kt::matmul_q4_k_tiles;
  t.interleave_q4_k = true;
}

}  // namespace
}  // namespace corelm
