// The "i8mm" table: the dotprod table plus the int8 matrix-multiply extension (smmla), as on
// Neoverse V1/V2/N2 (Graviton 3/4), Cortex-A510/A710 and later, Apple M2 and later. Compiled with
// -march=armv8.2-a+dotprod+i8mm (CMakeLists.txt); called only after cpu_has_i8mm() said yes.
//
// smmla multiplies a 2x8 int8 tile by an 8x2 one into a 2x2 int32 tile: twice the products of an
// sdot per instruction, but only with two tokens to share each weight register. So the prefill
// tiles (n >= 2) of q4 interleaved8 use it; decode (one token) keeps the sdot kernel. The
// interleaved8 bytes need one register shuffle per block: chunk c holds 4 consecutive weights
// of each row side by side, so zipping the 32-bit lanes of chunks c and c+1 gives two rows of 8
// consecutive weights each, the 2x8 tile smmla wants. Everything else is the dotprod table.
#include "kernels/arm/arm.h"
#include "kernels/arm/neon_common.h"

#if !defined(__ARM_FEATURE_MATMUL_INT8) || !defined(__ARM_FEATURE_DOTPROD)
#error "arm/i8mm.cpp needs -march=armv8.2-a+dotprod+i8mm: see CMakeLists.txt"
#endif

namespace corelm {

namespace {

// One block's weights as 16 smmla tiles: a[p][g] holds rows 2p and 2p+1, each with the 8
// weights 8g..8g+7 (g = 0, 1: low nibbles, weights 0-15; g = 2, 3: high nibbles, 16-31).
struct Q4MmlaBlock {
  int8x16_t a[4][4];
};

inline void unpack_q4_mmla(const uint8_t* blk, Q4MmlaBlock& u) {
  for (int h = 0; h < 2; ++h)         // rows 4h..4h+3
    for (int cp = 0; cp < 2; ++cp) {  // chunks 2cp and 2cp+1: weights 8cp..8cp+7 (and +16)
      const uint8x16_t r0 = vld1q_u8(blk + 16 + 32 * (2 * cp) + 16 * h);
      const uint8x16_t r1 = vld1q_u8(blk + 16 + 32 * (2 * cp + 1) + 16 * h);
      const int32x4_t l0 = vreinterpretq_s32_s8(low_nibbles(r0)),
                      l1 = vreinterpretq_s32_s8(low_nibbles(r1));
      const int32x4_t h0 = vreinterpretq_s32_s8(high_nibbles(r0)),
                      h1 = vreinterpretq_s32_s8(high_nibbles(r1));
      // zip1: rows 4h, 4h+1; zip2: rows 4h+2, 4h+3 (each row's 4 + 4 bytes now adjacent).
      u.a[2 * h][cp] = vreinterpretq_s8_s32(vzip1q_s32(l0, l1));
      u.a[2 * h + 1][cp] = vreinterpretq_s8_s32(vzip2q_s32(l0, l1));
      u.a[2 * h][2 + cp] = vreinterpretq_s8_s32(vzip1q_s32(h0, h1));
      u.a[2 * h + 1][2 + cp] = vreinterpretq_s8_s32(vzip2q_s32(h0, h1));
    }
}

// P pairs of tokens against one group of 8 rows. acc[q][p] = [row 2p: token 2q, token 2q+1,
// row 2p+1: token 2q, token 2q+1].
template <int P>
inline void q4_mmla_tile(const uint8_t* group, size_t nb, const BlockQ8A* const* x,
                         float* const* y) {
  float32x4_t acc[P][4];
  for (int q = 0; q < P; ++q)
    for (int p = 0; p < 4; ++p) acc[q][p] = vdupq_n_f32(0.0f);
  Q4MmlaBlock u;
  for (size_t b = 0; b < nb; ++b) {
    const uint8_t* blk = group + b * kInterleavedBlockBytes;
    __builtin_prefetch(blk + 1024);
    __builtin_prefetch(blk + 1024 + 64);
    __builtin_prefetch(blk + 1024 + 128);
    unpack_q4_mmla(blk, u);
    const float32x4_t d0 = load_half4(blk), d1 = load_half4(blk + 8);
    // Per row pair p: [d_2p, d_2p, d_2p+1, d_2p+1].
    const float32x4_t dd[4] = {vzip1q_f32(d0, d0), vzip2q_f32(d0, d0), vzip1q_f32(d1, d1),
                               vzip2q_f32(d1, d1)};
    for (int q = 0; q < P; ++q) {
      const BlockQ8A& a0 = x[2 * q][b];
      const BlockQ8A& a1 = x[2 * q + 1][b];
      // bm[g]: the two tokens' activations 8g..8g+7, one 8-byte column each.
      const int64x2_t x0l = vreinterpretq_s64_s8(vld1q_s8(a0.qs)),
                      x0h = vreinterpretq_s64_s8(vld1q_s8(a0.qs + 16));
      const int64x2_t x1l = vreinterpretq_s64_s8(vld1q_s8(a1.qs)),
                      x1h = vreinterpretq_s64_s8(vld1q_s8(a1.qs + 16));
      const int8x16_t bm[4] = {
          vreinterpretq_s8_s64(vzip1q_s64(x0l, x1l)), vreinterpretq_s8_s64(vzip2q_s64(x0l, x1l)),
          vreinterpretq_s8_s64(vzip1q_s64(x0h, x1h)), vreinterpretq_s8_s64(vzip2q_s64(x0h, x1h))};
      const int32x4_t qsum = {a0.qsum, a1.qsum, a0.qsum, a1.qsum};
      const int32x4_t offset = vshlq_n_s32(qsum, 3);
      const float32x4_t sv = {a0.scale, a1.scale, a0.scale, a1.scale};
      for (int p = 0; p < 4; ++p) {
        int32x4_t s = vmmlaq_s32(vnegq_s32(offset), u.a[p][0], bm[0]);
        s = vmmlaq_s32(s, u.a[p][1], bm[1]);
        s = vmmlaq_s32(s, u.a[p][2], bm[2]);
        s = vmmlaq_s32(s, u.a[p][3], bm[3]);
        acc[q][p] = vfmaq_f32(acc[q][p], vmulq_f32(dd[p], sv), vcvtq_f32_s32(s));
      }
    }
  }
  for (int q = 0; q < P; ++q) {
    vst1q_f32(y[2 * q], vuzp1q_f32(acc[q][0], acc[q][1]));
    vst1q_f32(y[2 * q] + 4, vuzp1q_f32(acc[q][2], acc[q][3]));
    vst1q_f32(y[2 * q + 1], vuzp2q_f32(acc[q][0], acc[q][1]));
    vst1q_f32(y[2 * q + 1] + 4, vuzp2q_f32(acc[q][2], acc[q][3]));
  }
}

void matmul_q4_interleaved_i8mm(const uint8_t* w, size_t row_bytes, const void* x, size_t x_stride,
                                size_t n, size_t k, float* y, size_t y_stride, size_t r0,
                                size_t r1) {
  if (n == 1) return matmul_q4_interleaved(w, row_bytes, x, x_stride, n, k, y, y_stride, r0, r1);
  const size_t nb = k / kQuantBlock;
  const size_t group_bytes = kInterleaveRows * row_bytes;
  auto act = [&](size_t t) {
    return reinterpret_cast<const BlockQ8A*>(static_cast<const uint8_t*>(x) + t * x_stride);
  };
  // Tokens in chunks small enough for their activations to stay in L2 (as the sdot kernel).
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
        q4_mmla_tile<2>(group, nb, xs, ys);
      }
      for (; t + 2 <= t1; t += 2) {
        const BlockQ8A* xs[2] = {act(t), act(t + 1)};
        float* ys[2] = {y + t * y_stride + r, y + (t + 1) * y_stride + r};
        q4_mmla_tile<1>(group, nb, xs, ys);
      }
      for (; t < t1; ++t) {
        const BlockQ8A* xs[1] = {act(t)};
        float* ys[1] = {y + t * y_stride + r};
        q4_interleaved_tile<1>(group, nb, xs, ys);
      }
    }
  }
}

KernelTable make_i8mm() {
  KernelTable t = make_neon_table("i8mm");
  for (DType d : {DType::kQ4S32, DType::kQ4_0})
    t.matmul[static_cast<size_t>(d)][static_cast<size_t>(Layout::kInterleaved8)] =
        matmul_q4_interleaved_i8mm;
  return t;
}

}  // namespace

const KernelTable& i8mm_kernels() {
  static const KernelTable table = make_i8mm();
  return table;
}

}  // namespace corelm
