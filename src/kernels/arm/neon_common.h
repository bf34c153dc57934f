// The NEON kernels shared by the ARM tables. Included by one .cpp per table (arm/neon.cpp for
// baseline armv8-a, arm/dotprod.cpp for armv8.2-a+dotprod), each compiled with its own -march;
// the integer dot products below pick `sdot` when the including file's flags define
// __ARM_FEATURE_DOTPROD and a widening multiply (smull + pairwise adds) otherwise. Everything here
// has internal linkage, so each table gets its own copy built with its own flags (an inline
// function with external linkage could be merged across the two and run sdot on a CPU without it).
//
// Each kernel computes what its scalar counterpart in ref.cpp computes; tests/kernels compares
// them on awkward sizes. The q4 kernels multiply unsigned nibbles (0..15) by signed int8
// activations and remove the +8 storage offset with one integer per block (8 * qsum), so every
// block's integer dot product is exact before it meets the two scales.
#pragma once

#include <arm_neon.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/head_tiles.h"
#include "kernels/kernel_table.h"
#include "tensor/layout.h"
#include "tensor/quant.h"

namespace corelm {
namespace {  // NOLINT(google-build-namespaces): one copy per table, see above

// ---- integer dot products: sdot semantics (lane i += sum of the 4 products of bytes 4i..4i+3) --

inline int32x4_t dot4(int32x4_t acc, int8x16_t a, int8x16_t b) {
#if defined(__ARM_FEATURE_DOTPROD)
  return vdotq_s32(acc, a, b);
#else
  // Products of |a| <= 128 and |b| <= 127 (activations) fit int16, and so do sums of two.
  const int16x8_t lo = vmull_s8(vget_low_s8(a), vget_low_s8(b));
  const int16x8_t hi = vmull_high_s8(a, b);
  return vpadalq_s16(acc, vpaddq_s16(lo, hi));
#endif
}

// Lane c of `b` (4 bytes) broadcast against each 4-byte group of `a`.
template <int C>
inline int32x4_t dot4_lane(int32x4_t acc, int8x16_t a, int8x16_t b) {
#if defined(__ARM_FEATURE_DOTPROD)
  return vdotq_laneq_s32(acc, a, b, C);
#else
  return dot4(acc, a, vreinterpretq_s8_s32(vdupq_laneq_s32(vreinterpretq_s32_s8(b), C)));
#endif
}

inline int8x16_t low_nibbles(uint8x16_t raw) {
  return vreinterpretq_s8_u8(vandq_u8(raw, vdupq_n_u8(0x0F)));
}
inline int8x16_t high_nibbles(uint8x16_t raw) {
  return vreinterpretq_s8_u8(vshrq_n_u8(raw, 4));
}

inline float32x4_t load_half4(const void* p) {
  return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(static_cast<const uint16_t*>(p))));
}

inline float half(uint16_t h) {
  return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(h))), 0);
}

// exp(x) for a vector, Cephes' polynomial after range reduction by ln 2; exact 0 below -87.3
// (so masked -inf scores give probability 0) and accurate to about 2 ulp elsewhere.
inline float32x4_t exp4(float32x4_t x) {
  const float32x4_t hi = vdupq_n_f32(88.3762626647949f), lo = vdupq_n_f32(-87.3365447504f);
  const uint32x4_t underflow = vcltq_f32(x, lo);
  x = vminq_f32(vmaxq_f32(x, lo), hi);
  const float32x4_t fx = vrndnq_f32(vmulq_n_f32(x, 1.44269504088896341f));
  x = vfmsq_f32(x, fx, vdupq_n_f32(0.693359375f));
  x = vfmsq_f32(x, fx, vdupq_n_f32(-2.12194440e-4f));
  float32x4_t y = vdupq_n_f32(1.9875691500e-4f);
  y = vfmaq_f32(vdupq_n_f32(1.3981999507e-3f), y, x);
  y = vfmaq_f32(vdupq_n_f32(8.3334519073e-3f), y, x);
  y = vfmaq_f32(vdupq_n_f32(4.1665795894e-2f), y, x);
  y = vfmaq_f32(vdupq_n_f32(1.6666665459e-1f), y, x);
  y = vfmaq_f32(vdupq_n_f32(5.0000001201e-1f), y, x);
  y = vfmaq_f32(vaddq_f32(x, vdupq_n_f32(1.0f)), y, vmulq_f32(x, x));
  const int32x4_t e = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(fx), vdupq_n_s32(127)), 23);
  y = vmulq_f32(y, vreinterpretq_f32_s32(e));
  return vreinterpretq_f32_u32(vbicq_u32(vreinterpretq_u32_f32(y), underflow));
}

// ---- activation quantization --------------------------------------------------------------

void quantize_q8a(const float* x, BlockQ8A* out, size_t k) {
  for (size_t b = 0; b < k / kQuantBlock; ++b, x += kQuantBlock) {
    float32x4_t v[8];
    for (int i = 0; i < 8; ++i) v[i] = vld1q_f32(x + 4 * i);
    float32x4_t m = vabsq_f32(v[0]);
    for (int i = 1; i < 8; ++i) m = vmaxq_f32(m, vabsq_f32(v[i]));
    const float amax = vmaxvq_f32(m);
    const float s = amax / 127.0f;
    const float inv = s > 0.0f ? 127.0f / amax : 0.0f;
    // fcvtns rounds half to even, as the reference's nearbyint under the default rounding mode.
    int32x4_t q[8];
    int32x4_t sum = vdupq_n_s32(0);
    for (int i = 0; i < 8; ++i) {
      q[i] = vcvtnq_s32_f32(vmulq_n_f32(v[i], inv));
      sum = vaddq_s32(sum, q[i]);
    }
    for (int i = 0; i < 2; ++i) {
      const int16x8_t a = vcombine_s16(vqmovn_s32(q[4 * i]), vqmovn_s32(q[4 * i + 1]));
      const int16x8_t c = vcombine_s16(vqmovn_s32(q[4 * i + 2]), vqmovn_s32(q[4 * i + 3]));
      vst1q_s8(out[b].qs + 16 * i, vcombine_s8(vqmovn_s16(a), vqmovn_s16(c)));
    }
    out[b].qsum = vaddvq_s32(sum);
    out[b].scale = s;
  }
}

// ---- q4 in the interleaved8 layout ----------------------------------------------------------
//
// A block's 128 nibble bytes are 4 chunks of 32: chunk c holds, for each of the 8 rows, 4 bytes
// side by side (row r at bytes 4r..4r+3) whose low nibbles are weights 4c..4c+3 and high nibbles
// weights 16+4c..16+4c+3. Loaded as two 16-byte vectors (rows 0-3, rows 4-7), every 32-bit lane
// is one row: `sdot` against activation bytes 4c..4c+3 broadcast (by lane) adds that row's four
// products into its lane, so 16 sdots give the block's 8 row sums with no horizontal adds.

// The 16 unpacked weight vectors of one block: w[c][h] low nibbles, w[c][2 + h] high nibbles, for
// row halves h = 0 (rows 0-3) and 1 (rows 4-7).
struct Q4Block {
  int8x16_t w[4][4];
};

inline void unpack_q4_block(const uint8_t* blk, Q4Block& u) {
  for (int c = 0; c < 4; ++c)
    for (int h = 0; h < 2; ++h) {
      const uint8x16_t raw = vld1q_u8(blk + 16 + 32 * c + 16 * h);
      u.w[c][h] = low_nibbles(raw);
      u.w[c][2 + h] = high_nibbles(raw);
    }
}

#if !defined(__ARM_FEATURE_DOTPROD)
// Without sdot: 16-bit products, accumulated in 16 bits over the whole block (each lane sums 8
// products of a nibble <= 15 and an activation |q| <= 127: at most 15240) and widened once.
// acc[h][0] holds rows 4h, 4h+1 (4 lanes each), acc[h][1] rows 4h+2, 4h+3.
template <int C>
inline void q4_chunk_mlal(const Q4Block& u, int8x16_t a0, int8x16_t a1, int16x8_t (&acc)[2][2]) {
  const int8x16_t b0 = vreinterpretq_s8_s32(vdupq_laneq_s32(vreinterpretq_s32_s8(a0), C));
  const int8x16_t b1 = vreinterpretq_s8_s32(vdupq_laneq_s32(vreinterpretq_s32_s8(a1), C));
  for (int h = 0; h < 2; ++h) {
    acc[h][0] = vmlal_s8(acc[h][0], vget_low_s8(u.w[C][h]), vget_low_s8(b0));
    acc[h][1] = vmlal_high_s8(acc[h][1], u.w[C][h], b0);
    acc[h][0] = vmlal_s8(acc[h][0], vget_low_s8(u.w[C][2 + h]), vget_low_s8(b1));
    acc[h][1] = vmlal_high_s8(acc[h][1], u.w[C][2 + h], b1);
  }
}

inline void q4_block_isum(const Q4Block& u, const BlockQ8A& a, int32x4_t* lo, int32x4_t* hi) {
  const int8x16_t a0 = vld1q_s8(a.qs), a1 = vld1q_s8(a.qs + 16);
  int16x8_t acc[2][2];
  for (auto& half_rows : acc) half_rows[0] = half_rows[1] = vdupq_n_s16(0);
  q4_chunk_mlal<0>(u, a0, a1, acc);
  q4_chunk_mlal<1>(u, a0, a1, acc);
  q4_chunk_mlal<2>(u, a0, a1, acc);
  q4_chunk_mlal<3>(u, a0, a1, acc);
  // Pairwise sums (at most 30480, still int16), then pairs widened: one row per 32-bit lane.
  const int32x4_t offset = vdupq_n_s32(8 * a.qsum);
  *lo = vsubq_s32(vpaddlq_s16(vpaddq_s16(acc[0][0], acc[0][1])), offset);
  *hi = vsubq_s32(vpaddlq_s16(vpaddq_s16(acc[1][0], acc[1][1])), offset);
}
#else
// The 8 rows' exact integer sums (rows 0-3 in *lo, 4-7 in *hi), the storage offset removed.
inline void q4_block_isum(const Q4Block& u, const BlockQ8A& a, int32x4_t* lo, int32x4_t* hi) {
  const int8x16_t a0 = vld1q_s8(a.qs), a1 = vld1q_s8(a.qs + 16);
  const int32x4_t z = vdupq_n_s32(0);
  // Four independent chains: low / high nibbles of rows 0-3 and of rows 4-7.
  int32x4_t l0 = dot4_lane<0>(z, u.w[0][0], a0), h0 = dot4_lane<0>(z, u.w[0][2], a1);
  int32x4_t l1 = dot4_lane<0>(z, u.w[0][1], a0), h1 = dot4_lane<0>(z, u.w[0][3], a1);
  l0 = dot4_lane<1>(l0, u.w[1][0], a0), h0 = dot4_lane<1>(h0, u.w[1][2], a1);
  l1 = dot4_lane<1>(l1, u.w[1][1], a0), h1 = dot4_lane<1>(h1, u.w[1][3], a1);
  l0 = dot4_lane<2>(l0, u.w[2][0], a0), h0 = dot4_lane<2>(h0, u.w[2][2], a1);
  l1 = dot4_lane<2>(l1, u.w[2][1], a0), h1 = dot4_lane<2>(h1, u.w[2][3], a1);
  l0 = dot4_lane<3>(l0, u.w[3][0], a0), h0 = dot4_lane<3>(h0, u.w[3][2], a1);
  l1 = dot4_lane<3>(l1, u.w[3][1], a0), h1 = dot4_lane<3>(h1, u.w[3][3], a1);
  const int32x4_t offset = vdupq_n_s32(8 * a.qsum);
  *lo = vsubq_s32(vaddq_s32(l0, h0), offset);
  *hi = vsubq_s32(vaddq_s32(l1, h1), offset);
}
#endif

// T tokens against one group of 8 rows. Per block the 16 weight vectors are unpacked once, then
// each token's activations stream past them (prefill); T = 1 is the decode path.
template <int T>
inline void q4_interleaved_tile(const uint8_t* group, size_t nb, const BlockQ8A* const* x,
                                float* const* y) {
  float32x4_t acc[T][2];
  for (int t = 0; t < T; ++t) acc[t][0] = acc[t][1] = vdupq_n_f32(0.0f);
  Q4Block u;
  for (size_t b = 0; b < nb; ++b) {
    const uint8_t* blk = group + b * kInterleavedBlockBytes;
    __builtin_prefetch(blk + 1024);
    __builtin_prefetch(blk + 1024 + 64);
    __builtin_prefetch(blk + 1024 + 128);
    unpack_q4_block(blk, u);
    const float32x4_t d0 = load_half4(blk), d1 = load_half4(blk + 8);
    for (int t = 0; t < T; ++t) {
      const BlockQ8A& a = x[t][b];
      int32x4_t lo, hi;
      q4_block_isum(u, a, &lo, &hi);
      acc[t][0] = vfmaq_f32(acc[t][0], vmulq_n_f32(d0, a.scale), vcvtq_f32_s32(lo));
      acc[t][1] = vfmaq_f32(acc[t][1], vmulq_n_f32(d1, a.scale), vcvtq_f32_s32(hi));
    }
  }
  for (int t = 0; t < T; ++t) {
    vst1q_f32(y[t], acc[t][0]);
    vst1q_f32(y[t] + 4, acc[t][1]);
  }
}

// ---- q8 in the interleaved8 layout ----------------------------------------------------------
//
// A block's 256 value bytes are 8 chunks of 32: chunk c holds, for each of the 8 rows, weights
// 4c..4c+3 side by side (row r at bytes 4r..4r+3), so as for q4 each 32-bit lane of a 16-byte load
// is one row and `sdot` by element against activation bytes 4c..4c+3 adds that row's products
// into its lane: 16 sdots per block for 8 rows, no unpacking and no horizontal sums. Weights may
// be -128 (GGUF): signed by signed, and without sdot dot4's 16-bit pair sums stay in range.

struct Q8Block {
  int8x16_t w[8][2];  // [chunk][rows 0-3 / rows 4-7]
};

inline void load_q8_block(const uint8_t* blk, Q8Block& u) {
  for (int c = 0; c < 8; ++c)
    for (int h = 0; h < 2; ++h)
      u.w[c][h] = vld1q_s8(reinterpret_cast<const int8_t*>(blk) + 16 + 32 * c + 16 * h);
}

// The 8 rows' exact integer sums (rows 0-3 in *lo, 4-7 in *hi); two chains per half.
inline void q8_block_isum(const Q8Block& u, const BlockQ8A& a, int32x4_t* lo, int32x4_t* hi) {
  const int8x16_t a0 = vld1q_s8(a.qs), a1 = vld1q_s8(a.qs + 16);
  const int32x4_t z = vdupq_n_s32(0);
  int32x4_t l0 = dot4_lane<0>(z, u.w[0][0], a0), l1 = dot4_lane<0>(z, u.w[4][0], a1);
  int32x4_t h0 = dot4_lane<0>(z, u.w[0][1], a0), h1 = dot4_lane<0>(z, u.w[4][1], a1);
  l0 = dot4_lane<1>(l0, u.w[1][0], a0), l1 = dot4_lane<1>(l1, u.w[5][0], a1);
  h0 = dot4_lane<1>(h0, u.w[1][1], a0), h1 = dot4_lane<1>(h1, u.w[5][1], a1);
  l0 = dot4_lane<2>(l0, u.w[2][0], a0), l1 = dot4_lane<2>(l1, u.w[6][0], a1);
  h0 = dot4_lane<2>(h0, u.w[2][1], a0), h1 = dot4_lane<2>(h1, u.w[6][1], a1);
  l0 = dot4_lane<3>(l0, u.w[3][0], a0), l1 = dot4_lane<3>(l1, u.w[7][0], a1);
  h0 = dot4_lane<3>(h0, u.w[3][1], a0), h1 = dot4_lane<3>(h1, u.w[7][1], a1);
  *lo = vaddq_s32(l0, l1);
  *hi = vaddq_s32(h0, h1);
}

// T tokens against one group of 8 rows: per block the 16 weight vectors are loaded once, then
// each token's activations stream past them; T = 1 is the decode path.
template <int T>
inline void q8_interleaved_tile(const uint8_t* group, size_t nb, const BlockQ8A* const* x,
                                float* const* y) {
  float32x4_t acc[T][2];
  for (int t = 0; t < T; ++t) acc[t][0] = acc[t][1] = vdupq_n_f32(0.0f);
  Q8Block u;
  for (size_t b = 0; b < nb; ++b) {
    const uint8_t* blk = group + b * kInterleavedQ8BlockBytes;
    for (int line = 0; line < 5; ++line) __builtin_prefetch(blk + 2048 + 64 * line);
    load_q8_block(blk, u);
    const float32x4_t d0 = load_half4(blk), d1 = load_half4(blk + 8);
    for (int t = 0; t < T; ++t) {
      const BlockQ8A& a = x[t][b];
      int32x4_t lo, hi;
      q8_block_isum(u, a, &lo, &hi);
      acc[t][0] = vfmaq_f32(acc[t][0], vmulq_n_f32(d0, a.scale), vcvtq_f32_s32(lo));
      acc[t][1] = vfmaq_f32(acc[t][1], vmulq_n_f32(d1, a.scale), vcvtq_f32_s32(hi));
    }
  }
  for (int t = 0; t < T; ++t) {
    vst1q_f32(y[t], acc[t][0]);
    vst1q_f32(y[t] + 4, acc[t][1]);
  }
}

struct Q4Tiles {
  template <int T>
  static void run(const uint8_t* group, size_t nb, const BlockQ8A* const* x, float* const* y) {
    q4_interleaved_tile<T>(group, nb, x, y);
  }
};
struct Q8Tiles {
  template <int T>
  static void run(const uint8_t* group, size_t nb, const BlockQ8A* const* x, float* const* y) {
    q8_interleaved_tile<T>(group, nb, x, y);
  }
};

// Rows [r0, r1) in groups of 8, tokens in tiles of 4, then 2, then 1 (each computes a token alike).
template <typename Tiles>
void matmul_interleaved8(const uint8_t* w, size_t row_bytes, const void* x, size_t x_stride,
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
        Tiles::template run<4>(group, nb, xs, ys);
      }
      for (; t + 2 <= t1; t += 2) {
        const BlockQ8A* xs[2] = {act(t), act(t + 1)};
        float* ys[2] = {y + t * y_stride + r, y + (t + 1) * y_stride + r};
        Tiles::template run<2>(group, nb, xs, ys);
      }
      for (; t < t1; ++t) {
        const BlockQ8A* xs[1] = {act(t)};
        float* ys[1] = {y + t * y_stride + r};
        Tiles::template run<1>(group, nb, xs, ys);
      }
    }
  }
}

void matmul_q4_interleaved(const uint8_t* w, size_t row_bytes, const void* x, size_t x_stride,
                           size_t n, size_t k, float* y, size_t y_stride, size_t r0, size_t r1) {
  matmul_interleaved8<Q4Tiles>(w, row_bytes, x, x_stride, n, k, y, y_stride, r0, r1);
}
void matmul_q8_interleaved(const uint8_t* w, size_t row_bytes, const void* x, size_t x_stride,
                           size_t n, size_t k, float* y, size_t y_stride, size_t r0, size_t r1) {
  matmul_interleaved8<Q8Tiles>(w, row_bytes, x, x_stride, n, k, y, y_stride, r0, r1);
}

// ---- q4 and q8 rows (GGUF Q4_0 / Q8_0 in place, rows that cannot be interleaved) ------------

void matmul_q4_rows(const uint8_t* w, size_t row_bytes, const void* x, size_t x_stride, size_t n,
                    size_t k, float* y, size_t y_stride, size_t r0, size_t r1) {
  const size_t nb = k / kQuantBlock;
  for (size_t r = r0; r < r1; ++r) {
    const BlockQ4* wr = reinterpret_cast<const BlockQ4*>(w + r * row_bytes);
    for (size_t t = 0; t < n; ++t) {
      const BlockQ8A* a =
          reinterpret_cast<const BlockQ8A*>(static_cast<const uint8_t*>(x) + t * x_stride);
      float32x4_t acc = vdupq_n_f32(0.0f);
      for (size_t b = 0; b < nb; ++b) {
        const uint8x16_t raw = vld1q_u8(wr[b].qs);
        int32x4_t s = dot4(vdupq_n_s32(0), low_nibbles(raw), vld1q_s8(a[b].qs));
        s = dot4(s, high_nibbles(raw), vld1q_s8(a[b].qs + 16));
        // The offset as one lane's worth: lanes sum to sum(n * q) - 8 * qsum.
        s = vsetq_lane_s32(vgetq_lane_s32(s, 0) - 8 * a[b].qsum, s, 0);
        acc = vfmaq_n_f32(acc, vcvtq_f32_s32(s), half(wr[b].scale) * a[b].scale);
      }
      y[t * y_stride + r] = vaddvq_f32(acc);
    }
  }
}

void matmul_q8_rows(const uint8_t* w, size_t row_bytes, const void* x, size_t x_stride, size_t n,
                    size_t k, float* y, size_t y_stride, size_t r0, size_t r1) {
  const size_t nb = k / kQuantBlock;
  for (size_t r = r0; r < r1; ++r) {
    const BlockQ8* wr = reinterpret_cast<const BlockQ8*>(w + r * row_bytes);
    for (size_t t = 0; t < n; ++t) {
      const BlockQ8A* a =
          reinterpret_cast<const BlockQ8A*>(static_cast<const uint8_t*>(x) + t * x_stride);
      float32x4_t acc = vdupq_n_f32(0.0f);
      for (size_t b = 0; b < nb; ++b) {
        int32x4_t s = dot4(vdupq_n_s32(0), vld1q_s8(wr[b].qs), vld1q_s8(a[b].qs));
        s = dot4(s, vld1q_s8(wr[b].qs + 16), vld1q_s8(a[b].qs + 16));
        acc = vfmaq_n_f32(acc, vcvtq_f32_s32(s), half(wr[b].scale) * a[b].scale);
      }
      y[t * y_stride + r] = vaddvq_f32(acc);
    }
  }
}

// ---- float weights -----------------------------------------------------------------------

inline float32x4_t load_f32(const uint8_t* row, size_t i) {
  return vld1q_f32(reinterpret_cast<const float*>(row) + i);
}
inline float32x4_t load_f16(const uint8_t* row, size_t i) {
  return load_half4(row + 2 * i);
}
inline float32x4_t load_bf16(const uint8_t* row, size_t i) {
  const uint16x4_t h = vld1_u16(reinterpret_cast<const uint16_t*>(row + 2 * i));
  return vreinterpretq_f32_u32(vshll_n_u16(h, 16));
}
float scalar_f32(const uint8_t* row, size_t i) {
  float f;
  std::memcpy(&f, row + 4 * i, 4);
  return f;
}
float scalar_f16(const uint8_t* row, size_t i) {
  uint16_t h;
  std::memcpy(&h, row + 2 * i, 2);
  return half(h);
}
float scalar_bf16(const uint8_t* row, size_t i) {
  uint16_t h;
  std::memcpy(&h, row + 2 * i, 2);
  const uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// 4 rows x 2 tokens per step (each converted weight vector serves two tokens), then 4 rows x 1
// token, then single rows. Every path sums a (row, token) alike (one 4-lane chain, lanes added,
// then the tail), so a token's result does not depend on the batch it came in (chunked prefill
// equals one-shot prefill).
template <typename Load>
void matmul_float_rows(const uint8_t* w, size_t row_bytes, const void* x, size_t x_stride, size_t n,
                       size_t k, float* y, size_t y_stride, size_t r0, size_t r1, Load load,
                       float (*scalar)(const uint8_t*, size_t)) {
  const size_t kv = k / 4 * 4;
  auto xrow = [&](size_t t) {
    return reinterpret_cast<const float*>(static_cast<const uint8_t*>(x) + t * x_stride);
  };
  size_t r = r0;
  for (; r + 4 <= r1; r += 4) {
    const uint8_t* wr[4] = {w + r * row_bytes, w + (r + 1) * row_bytes, w + (r + 2) * row_bytes,
                            w + (r + 3) * row_bytes};
    size_t t = 0;
    for (; t + 2 <= n; t += 2) {
      const float* x0 = xrow(t);
      const float* x1 = xrow(t + 1);
      float32x4_t a[8];
      for (auto& v : a) v = vdupq_n_f32(0.0f);
      for (size_t i = 0; i < kv; i += 4) {
        const float32x4_t xa = vld1q_f32(x0 + i), xb = vld1q_f32(x1 + i);
        for (int j = 0; j < 4; ++j) {
          const float32x4_t wv = load(wr[j], i);
          a[j] = vfmaq_f32(a[j], wv, xa);
          a[4 + j] = vfmaq_f32(a[4 + j], wv, xb);
        }
      }
      for (int j = 0; j < 4; ++j) {
        float s0 = vaddvq_f32(a[j]), s1 = vaddvq_f32(a[4 + j]);
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
      float32x4_t a[4];
      for (auto& v : a) v = vdupq_n_f32(0.0f);
      for (size_t i = 0; i < kv; i += 4) {
        const float32x4_t xa = vld1q_f32(x0 + i);
        for (int j = 0; j < 4; ++j) a[j] = vfmaq_f32(a[j], load(wr[j], i), xa);
      }
      for (int j = 0; j < 4; ++j) {
        float s = vaddvq_f32(a[j]);
        for (size_t ii = kv; ii < k; ++ii) s += scalar(wr[j], ii) * x0[ii];
        y[t * y_stride + r + j] = s;
      }
    }
  }
  for (; r < r1; ++r) {
    const uint8_t* wr = w + r * row_bytes;
    for (size_t t = 0; t < n; ++t) {
      const float* x0 = xrow(t);
      float32x4_t a = vdupq_n_f32(0.0f);
      for (size_t i = 0; i < kv; i += 4) a = vfmaq_f32(a, load(wr, i), vld1q_f32(x0 + i));
      float s = vaddvq_f32(a);
      for (size_t i = kv; i < k; ++i) s += scalar(wr, i) * x0[i];
      y[t * y_stride + r] = s;
    }
  }
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
  float32x4_t acc = vdupq_n_f32(0.0f);
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const float32x4_t v = vld1q_f32(x + i);
    acc = vfmaq_f32(acc, v, v);
  }
  float ss = vaddvq_f32(acc);
  for (; i < n; ++i) ss += x[i] * x[i];
  const float inv = 1.0f / std::sqrt(ss / static_cast<float>(n) + eps);
  for (i = 0; i + 4 <= n; i += 4)
    vst1q_f32(y + i, vmulq_f32(vmulq_n_f32(vld1q_f32(x + i), inv), vld1q_f32(w + i)));
  for (; i < n; ++i) y[i] = x[i] * inv * w[i];
}

// Element-wise and batch-invariant: the tail goes through the same vector code (padded), so an
// element's result does not depend on where the caller's chunk of the array ends.
inline float32x4_t silu_mul4(float32x4_t g, float32x4_t u) {
  const float32x4_t s = vdivq_f32(g, vaddq_f32(vdupq_n_f32(1.0f), exp4(vnegq_f32(g))));
  return vmulq_f32(s, u);
}

void silu_mul(float* gate, const float* up, size_t n) {
  size_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(gate + i, silu_mul4(vld1q_f32(gate + i), vld1q_f32(up + i)));
  if (i < n) {
    float g[4] = {}, u[4] = {};
    std::memcpy(g, gate + i, (n - i) * sizeof(float));
    std::memcpy(u, up + i, (n - i) * sizeof(float));
    vst1q_f32(g, silu_mul4(vld1q_f32(g), vld1q_f32(u)));
    std::memcpy(gate + i, g, (n - i) * sizeof(float));
  }
}

void add(float* y, const float* x, size_t n) {
  size_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vaddq_f32(vld1q_f32(y + i), vld1q_f32(x + i)));
  for (; i < n; ++i) y[i] += x[i];
}

void softmax(float* x, size_t n) {
  const float neg_inf = -std::numeric_limits<float>::infinity();
  size_t i = 0;
  float32x4_t vm = vdupq_n_f32(neg_inf);
  for (; i + 4 <= n; i += 4) vm = vmaxq_f32(vm, vld1q_f32(x + i));
  float m = vmaxvq_f32(vm);
  for (; i < n; ++i) m = std::max(m, x[i]);
  if (m == neg_inf) {
    std::memset(x, 0, n * sizeof(float));
    return;
  }
  // Element i's exp goes into lane i % 4 of the sum, the tail too (padded with -inf: exp 0), so
  // entries past the last visible key (-inf) change nothing: attention rows give the same
  // probabilities whatever number of masked keys the caller passes (batch invariance).
  const float32x4_t vmax = vdupq_n_f32(m);
  float32x4_t vs = vdupq_n_f32(0.0f);
  for (i = 0; i + 4 <= n; i += 4) {
    const float32x4_t e = exp4(vsubq_f32(vld1q_f32(x + i), vmax));
    vst1q_f32(x + i, e);
    vs = vaddq_f32(vs, e);
  }
  if (i < n) {
    float t[4] = {neg_inf, neg_inf, neg_inf, neg_inf};
    std::memcpy(t, x + i, (n - i) * sizeof(float));
    const float32x4_t e = exp4(vsubq_f32(vld1q_f32(t), vmax));
    vs = vaddq_f32(vs, e);
    vst1q_f32(t, e);
    std::memcpy(x + i, t, (n - i) * sizeof(float));
  }
  const float sum = vaddvq_f32(vs);
  const float inv = 1.0f / sum;
  for (i = 0; i + 4 <= n; i += 4) vst1q_f32(x + i, vmulq_n_f32(vld1q_f32(x + i), inv));
  for (; i < n; ++i) x[i] *= inv;
}

float exp_sum(float* x, size_t n, float shift) {
  const float neg_inf = -std::numeric_limits<float>::infinity();
  const float32x4_t vshift = vdupq_n_f32(shift);
  float32x4_t vs = vdupq_n_f32(0.0f);
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const float32x4_t e = exp4(vsubq_f32(vld1q_f32(x + i), vshift));
    vst1q_f32(x + i, e);
    vs = vaddq_f32(vs, e);
  }
  if (i < n) {  // the tail in lanes too, padded with -inf (exp 0), as softmax does
    float t[4] = {neg_inf, neg_inf, neg_inf, neg_inf};
    std::memcpy(t, x + i, (n - i) * sizeof(float));
    const float32x4_t e = exp4(vsubq_f32(vld1q_f32(t), vshift));
    vs = vaddq_f32(vs, e);
    vst1q_f32(t, e);
    std::memcpy(x + i, t, (n - i) * sizeof(float));
  }
  return vaddvq_f32(vs);
}

// One 4-lane chain.
float dot_f32(const float* a, const float* b, size_t n) {
  float32x4_t acc = vdupq_n_f32(0.0f);
  size_t i = 0;
  for (; i + 4 <= n; i += 4) acc = vfmaq_f32(acc, vld1q_f32(a + i), vld1q_f32(b + i));
  float s = vaddvq_f32(acc);
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

float dot_f16(const uint16_t* a, const float* b, size_t n) {
  float32x4_t acc = vdupq_n_f32(0.0f);
  size_t i = 0;
  for (; i + 4 <= n; i += 4) acc = vfmaq_f32(acc, load_half4(a + i), vld1q_f32(b + i));
  float s = vaddvq_f32(acc);
  for (; i < n; ++i) s += half(a[i]) * b[i];
  return s;
}

// 8 int8 values as two float vectors.
inline void i8x8_to_f32(const int8_t* p, float32x4_t* lo, float32x4_t* hi) {
  const int16x8_t v = vmovl_s8(vld1_s8(p));
  *lo = vcvtq_f32_s32(vmovl_s16(vget_low_s16(v)));
  *hi = vcvtq_f32_s32(vmovl_high_s16(v));
}

float dot_i8(const int8_t* a, const float* b, size_t n) {
  float32x4_t acc = vdupq_n_f32(0.0f);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    float32x4_t lo, hi;
    i8x8_to_f32(a + i, &lo, &hi);
    acc = vfmaq_f32(acc, lo, vld1q_f32(b + i));
    acc = vfmaq_f32(acc, hi, vld1q_f32(b + i + 4));
  }
  float s = vaddvq_f32(acc);
  for (; i < n; ++i) s += static_cast<float>(a[i]) * b[i];
  return s;
}

// ---- attention over a block of keys: H query rows (heads) at a time -----------------------

// Scores of H rows against keys [j, j + 16): per dimension d four loads of the transposed keys
// feed 4H multiply-adds by q's element; no horizontal sums.
template <int H>
inline void scores_rows(const float* q, size_t head_dim, const float* kt, size_t ld, size_t n,
                        float scale, const float* mask, float* scores, size_t s_ld) {
  for (size_t j = 0; j < n; j += 16) {
    float32x4_t acc[H][4];
    for (int h = 0; h < H; ++h)
      for (int c = 0; c < 4; ++c) acc[h][c] = vdupq_n_f32(0.0f);
    for (size_t d = 0; d < head_dim; ++d) {
      const float* kd = kt + d * ld + j;
      const float32x4_t k[4] = {vld1q_f32(kd), vld1q_f32(kd + 4), vld1q_f32(kd + 8),
                                vld1q_f32(kd + 12)};
      for (int h = 0; h < H; ++h) {
        const float b = q[h * head_dim + d];
        for (int c = 0; c < 4; ++c) acc[h][c] = vfmaq_n_f32(acc[h][c], k[c], b);
      }
    }
    // score * scale + mask: a masked key (-inf) stays -inf, as the scores are finite.
    const size_t m = std::min<size_t>(16, n - j);
    for (int h = 0; h < H; ++h) {
      float t[16];
      for (int c = 0; c < 4; ++c) vst1q_f32(t + 4 * c, acc[h][c]);
      float* s = scores + h * s_ld + j;
      for (size_t u = 0; u < m; ++u) s[u] = std::fma(t[u], scale, mask[j + u]);
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

// H output rows, 16 dimensions at a time: per key four loads of v feed 4H multiply-adds.
template <int H>
inline void accumulate_rows(const float* p, size_t p_ld, const float* v, size_t n, size_t head_dim,
                            const float* rescale, float* out) {
  size_t d0 = 0;
  for (; d0 + 16 <= head_dim; d0 += 16) {
    float32x4_t acc[H][4];
    for (int h = 0; h < H; ++h)
      for (int c = 0; c < 4; ++c)
        acc[h][c] = vmulq_n_f32(vld1q_f32(out + h * head_dim + d0 + 4 * c), rescale[h]);
    for (size_t j = 0; j < n; ++j) {
      const float* vj = v + j * head_dim + d0;
      const float32x4_t vv[4] = {vld1q_f32(vj), vld1q_f32(vj + 4), vld1q_f32(vj + 8),
                                 vld1q_f32(vj + 12)};
      for (int h = 0; h < H; ++h) {
        const float b = p[h * p_ld + j];
        for (int c = 0; c < 4; ++c) acc[h][c] = vfmaq_n_f32(acc[h][c], vv[c], b);
      }
    }
    for (int h = 0; h < H; ++h)
      for (int c = 0; c < 4; ++c) vst1q_f32(out + h * head_dim + d0 + 4 * c, acc[h][c]);
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
  size_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), vld1q_f32(x + i), a));
  for (; i < n; ++i) y[i] += a * x[i];
}

void axpy_f16(float a, const uint16_t* x, float* y, size_t n) {
  size_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), load_half4(x + i), a));
  for (; i < n; ++i) y[i] += a * half(x[i]);
}

void axpy_i8(float a, const int8_t* x, float* y, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    float32x4_t lo, hi;
    i8x8_to_f32(x + i, &lo, &hi);
    vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), lo, a));
    vst1q_f32(y + i + 4, vfmaq_n_f32(vld1q_f32(y + i + 4), hi, a));
  }
  for (; i < n; ++i) y[i] += a * static_cast<float>(x[i]);
}

float sum_f32(const float* x, size_t n) {
  // Four independent accumulators: bound by memory, not by add latency.
  float32x4_t a0 = vdupq_n_f32(0.0f), a1 = a0, a2 = a0, a3 = a0;
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    a0 = vaddq_f32(a0, vld1q_f32(x + i));
    a1 = vaddq_f32(a1, vld1q_f32(x + i + 4));
    a2 = vaddq_f32(a2, vld1q_f32(x + i + 8));
    a3 = vaddq_f32(a3, vld1q_f32(x + i + 12));
  }
  float s = vaddvq_f32(vaddq_f32(vaddq_f32(a0, a1), vaddq_f32(a2, a3)));
  for (; i < n; ++i) s += x[i];
  return s;
}

void f32_to_f16(const float* x, uint16_t* y, size_t n) {
  // fcvtn rounds to nearest even (the default FPCR mode), as float_to_fp16.
  size_t i = 0;
  for (; i + 4 <= n; i += 4) vst1_u16(y + i, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(x + i))));
  for (; i < n; ++i) y[i] = vget_lane_u16(vreinterpret_u16_f16(vcvt_f16_f32(vdupq_n_f32(x[i]))), 0);
}

void f16_to_f32(const uint16_t* x, float* y, size_t n) {
  size_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(y + i, load_half4(x + i));
  for (; i < n; ++i) y[i] = half(x[i]);
}

void i8_to_f32(const int8_t* x, float scale, float* y, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    float32x4_t lo, hi;
    i8x8_to_f32(x + i, &lo, &hi);
    vst1q_f32(y + i, vmulq_n_f32(lo, scale));
    vst1q_f32(y + i + 4, vmulq_n_f32(hi, scale));
  }
  for (; i < n; ++i) y[i] = scale * static_cast<float>(x[i]);
}

}  // namespace
}  // namespace corelm

// GGUF's other block formats (Q4_1, Q5_0, Q5_1, the K-quants), built on the primitives above.
#include "kernels/arm/neon_ggml.h"
// lut4 (palettized weights through their 14-bit integer tables).
#include "kernels/arm/neon_lut.h"

namespace corelm {
namespace {  // NOLINT(google-build-namespaces)

// The table: the reference with every slot above (and neon_ggml.h's, neon_lut.h's) replaced.
KernelTable make_neon_table(const char* name) {
  KernelTable t = reference_kernels();
  t.name = name;
  auto set = [&](DType d, Layout l, MatmulFn fn) {
    t.matmul[static_cast<size_t>(d)][static_cast<size_t>(l)] = fn;
  };
  set(DType::kF32, Layout::kRows, matmul_f32);
  set(DType::kF16, Layout::kRows, matmul_f16);
  set(DType::kBF16, Layout::kRows, matmul_bf16);
  set(DType::kQ4S32, Layout::kRows, matmul_q4_rows);
  set(DType::kQ4_0, Layout::kRows, matmul_q4_rows);
  set(DType::kQ8S32, Layout::kRows, matmul_q8_rows);
  set(DType::kQ8_0, Layout::kRows, matmul_q8_rows);
  set(DType::kQ4S32, Layout::kInterleaved8, matmul_q4_interleaved);
  set(DType::kQ4_0, Layout::kInterleaved8, matmul_q4_interleaved);
  set(DType::kQ8S32, Layout::kInterleaved8, matmul_q8_interleaved);
  set(DType::kQ8_0, Layout::kInterleaved8, matmul_q8_interleaved);
  // The interleaved8 q8 kernel does about twice the multiply-adds per instruction of the rows one
  // (16 sdot per 8-row block, no per-row scale conversions or horizontal sums): repack q8 rows.
  t.interleave_q8 = true;
  add_neon_ggml_kernels(t);
  add_neon_lut_kernels(t);
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
}  // namespace corelm
