// Q4_K in interleaved16 tiles (tensor/layout.h) for the ARM tables. Included by arm/neon_ggml.h
// (internal linkage, one copy per table built with its own flags).
//
// A tile holds 16 rows; bytes 16p..16p+15 of every 64-byte piece of values are rows 4p..4p+3
// (a "quad"), four consecutive values per row and 32-bit lane. So a quad's sum over a group of 32
// needs no unpacking into rows and no horizontal adds: per chunk c of a group, the low nibbles
// against activation bytes 4c..4c+3 (broadcast by lane) and the high nibbles against bytes
// 16 + 4c..16 + 4c + 3 add each row's products into its own lane (sdot by element; without
// dotprod, 16-bit multiply-accumulates widened once per group). The group's sums meet the rows'
// scales (one mla per quad), the mins meet the activations' group sums once per super-block,
// and the floats come once per super-block, per row as ref_ggml.cpp computes them. One call runs
// a half tile (rows 8h..8h+7, two quads) for T tokens, the unpacked values shared by the tokens.
#pragma once

#include <arm_neon.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "kernels/kernel_table.h"
#include "tensor/layout.h"
#include "tensor/quant_blocks.h"

namespace corelm {
namespace {  // NOLINT(google-build-namespaces): one copy per table, see neon_common.h
namespace q4kt {

// The exact sums of group g for quads 2h and 2h + 1 (rows in lanes) against T tokens' 32
// activations (alo: values 32g..32g+15, ahi: 32g+16..32g+31).
template <int T>
CORELM_NEON_INLINE void group_sums(const uint8_t* v, const int8x16_t* alo, const int8x16_t* ahi,
                                   int32x4_t (&s)[T][2]) {
#if defined(__ARM_FEATURE_DOTPROD)
  for (int t = 0; t < T; ++t) s[t][0] = s[t][1] = vdupq_n_s32(0);
  kq::unroll<4>([&](auto C) __attribute__((always_inline)) {
    constexpr int c = decltype(C)::value;
    const uint8x16_t r0 = vld1q_u8(v + 64 * c), r1 = vld1q_u8(v + 64 * c + 16);
    const int8x16_t l0 = low_nibbles(r0), h0 = high_nibbles(r0);
    const int8x16_t l1 = low_nibbles(r1), h1 = high_nibbles(r1);
    for (int t = 0; t < T; ++t) {
      s[t][0] = dot4_lane<c>(s[t][0], l0, alo[t]);
      s[t][1] = dot4_lane<c>(s[t][1], l1, alo[t]);
      s[t][0] = dot4_lane<c>(s[t][0], h0, ahi[t]);
      s[t][1] = dot4_lane<c>(s[t][1], h1, ahi[t]);
    }
  });
#else
  // 16-bit lanes (row, value m of the chunk): eight products of a nibble <= 15 and |a| <= 127
  // each, at most 15240; pairs of lanes added (30480, still int16), then widened to a row per lane.
  int16x8_t p[T][2][2];  // [token][quad][rows 0-1 / rows 2-3 of the quad]
  for (int t = 0; t < T; ++t)
    for (int q = 0; q < 2; ++q) p[t][q][0] = p[t][q][1] = vdupq_n_s16(0);
  kq::unroll<4>([&](auto C) __attribute__((always_inline)) {
    constexpr int c = decltype(C)::value;
    const uint8x16_t raw[2] = {vld1q_u8(v + 64 * c), vld1q_u8(v + 64 * c + 16)};
    for (int t = 0; t < T; ++t) {
      const int8x16_t bl = vreinterpretq_s8_s32(vdupq_laneq_s32(vreinterpretq_s32_s8(alo[t]), c));
      const int8x16_t bh = vreinterpretq_s8_s32(vdupq_laneq_s32(vreinterpretq_s32_s8(ahi[t]), c));
      for (int q = 0; q < 2; ++q) {
        const int8x16_t l = low_nibbles(raw[q]), h = high_nibbles(raw[q]);
        p[t][q][0] = vmlal_s8(p[t][q][0], vget_low_s8(l), vget_low_s8(bl));
        p[t][q][1] = vmlal_high_s8(p[t][q][1], l, bl);
        p[t][q][0] = vmlal_s8(p[t][q][0], vget_low_s8(h), vget_low_s8(bh));
        p[t][q][1] = vmlal_high_s8(p[t][q][1], h, bh);
      }
    }
  });
  for (int t = 0; t < T; ++t)
    for (int q = 0; q < 2; ++q) s[t][q] = vpaddlq_s16(vpaddq_s16(p[t][q][0], p[t][q][1]));
#endif
}

// T tokens against half h (rows 8h..8h+7) of a group of 16 rows.
template <int T>
inline void half_tile(const uint8_t* group, size_t nb, int h, const BlockQ8K* const* a,
                      float* const* y) {
  float32x4_t acc[T][2];
  for (int t = 0; t < T; ++t) acc[t][0] = acc[t][1] = vdupq_n_f32(0.0f);
  for (size_t b = 0; b < nb; ++b) {
    const uint8_t* tile = group + b * kQ4KTileBytes;
    int32x4_t isum[T][2];
    for (int t = 0; t < T; ++t) isum[t][0] = isum[t][1] = vdupq_n_s32(0);
    for (int g = 0; g < 8; ++g) {
      const uint8_t* v = tile + kQ4KTileValues + 256 * g + 32 * h;
      // Decode streams the tiles: fetch this half's piece of the group four tiles ahead.
      if (T == 1) __builtin_prefetch(v + 4 * kQ4KTileBytes);
      int8x16_t alo[T], ahi[T];
      for (int t = 0; t < T; ++t) {
        alo[t] = vld1q_s8(a[t][b].qs + 32 * g);
        ahi[t] = vld1q_s8(a[t][b].qs + 32 * g + 16);
      }
      int32x4_t s[T][2];
      group_sums<T>(v, alo, ahi, s);
      const uint16x8_t sc = vmovl_u8(vld1_u8(tile + kQ4KTileScales + 16 * g + 8 * h));
      const int32x4_t sc0 = vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(sc)));
      const int32x4_t sc1 = vreinterpretq_s32_u32(vmovl_high_u16(sc));
      for (int t = 0; t < T; ++t) {
        isum[t][0] = vmlaq_s32(isum[t][0], s[t][0], sc0);
        isum[t][1] = vmlaq_s32(isum[t][1], s[t][1], sc1);
      }
    }
    // The mins: byte 2r + e of piece j is row r's min of group 2j + e; lanes (r, e) after
    // widening, against the activations' (group 2j, group 2j + 1) sums, pairs added at the end.
    int16x8_t mn[4][2];
    for (int j = 0; j < 4; ++j) {
      const uint8x16_t m = vld1q_u8(tile + kQ4KTileMins + 32 * j + 16 * h);
      mn[j][0] = vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(m)));  // rows 0-3 of the half
      mn[j][1] = vreinterpretq_s16_u16(vmovl_high_u8(m));          // rows 4-7
    }
    const float32x4_t d0 = load_half4(tile + 16 * h), d1 = load_half4(tile + 16 * h + 8);
    const float32x4_t m0 = load_half4(tile + 32 + 16 * h), m1 = load_half4(tile + 32 + 16 * h + 8);
    for (int t = 0; t < T; ++t) {
      const BlockQ8K& at = a[t][b];
      // Lane j: the sums of groups 2j and 2j + 1 (at most 32 * 127 each) as two int16.
      const int32x4_t pairs =
          vreinterpretq_s32_s16(vpaddq_s16(vld1q_s16(at.bsums), vld1q_s16(at.bsums + 8)));
      int32x4_t pm[4] = {vdupq_n_s32(0), vdupq_n_s32(0), vdupq_n_s32(0), vdupq_n_s32(0)};
      kq::unroll<4>([&](auto J) __attribute__((always_inline)) {
        constexpr int j = decltype(J)::value;
        const int16x8_t pj = vreinterpretq_s16_s32(vdupq_laneq_s32(pairs, j));
        pm[0] = vmlal_s16(pm[0], vget_low_s16(mn[j][0]), vget_low_s16(pj));  // rows 0, 1
        pm[1] = vmlal_high_s16(pm[1], mn[j][0], pj);                         // rows 2, 3
        pm[2] = vmlal_s16(pm[2], vget_low_s16(mn[j][1]), vget_low_s16(pj));  // rows 4, 5
        pm[3] = vmlal_high_s16(pm[3], mn[j][1], pj);                         // rows 6, 7
      });
      const int32x4_t msum0 = vpaddq_s32(pm[0], pm[1]), msum1 = vpaddq_s32(pm[2], pm[3]);
      // a.scale * (d * isum - dmin * msum), per row as the reference.
      const float32x4_t x0 =
          vfmsq_f32(vmulq_f32(d0, vcvtq_f32_s32(isum[t][0])), m0, vcvtq_f32_s32(msum0));
      const float32x4_t x1 =
          vfmsq_f32(vmulq_f32(d1, vcvtq_f32_s32(isum[t][1])), m1, vcvtq_f32_s32(msum1));
      acc[t][0] = vfmaq_n_f32(acc[t][0], x0, at.scale);
      acc[t][1] = vfmaq_n_f32(acc[t][1], x1, at.scale);
    }
  }
  for (int t = 0; t < T; ++t) {
    vst1q_f32(y[t] + 8 * h, acc[t][0]);
    vst1q_f32(y[t] + 8 * h + 4, acc[t][1]);
  }
}

template <int T>
inline void group_tokens(const uint8_t* group, size_t nb, const void* x, size_t x_stride, size_t t,
                         float* y, size_t y_stride, size_t r) {
  const BlockQ8K* as[T];
  float* ys[T];
  for (int i = 0; i < T; ++i) {
    as[i] = reinterpret_cast<const BlockQ8K*>(static_cast<const uint8_t*>(x) + (t + i) * x_stride);
    ys[i] = y + (t + i) * y_stride + r;
  }
  half_tile<T>(group, nb, 0, as, ys);
  half_tile<T>(group, nb, 1, as, ys);
}

// Rows [r0, r1) in groups of 16 (r0, r1 multiples of 16), tokens in tiles of 4, then 2, then 1:
// every tile computes a token alike, so results do not depend on the batch.
void matmul_q4_k_tiles(const uint8_t* w, size_t, const void* x, size_t x_stride, size_t n, size_t k,
                       float* y, size_t y_stride, size_t r0, size_t r1) {
  const size_t nb = k / kSuperBlock, group_bytes = nb * kQ4KTileBytes;
  // Tokens in chunks whose activations stay in L2 while this thread's rows pass over them.
  const size_t chunk =
      std::max<size_t>(4, (256u << 10) / std::max<size_t>(nb * sizeof(BlockQ8K), 1) / 4 * 4);
  for (size_t t0 = 0; t0 < n; t0 += chunk) {
    const size_t t1 = std::min(n, t0 + chunk);
    for (size_t r = r0; r < r1; r += kInterleave16Rows) {
      const uint8_t* group = w + (r / kInterleave16Rows) * group_bytes;
      size_t t = t0;
      for (; t + 4 <= t1; t += 4) group_tokens<4>(group, nb, x, x_stride, t, y, y_stride, r);
      for (; t + 2 <= t1; t += 2) group_tokens<2>(group, nb, x, x_stride, t, y, y_stride, r);
      if (t < t1) group_tokens<1>(group, nb, x, x_stride, t, y, y_stride, r);
    }
  }
}

}  // namespace q4kt
}  // namespace
}  // namespace corelm
