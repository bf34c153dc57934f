// lut4 matmuls on NEON against q8 activations (BlockQ8A), for every ARM table; built on
// neon_common.h's dot4_lane (sdot with +dotprod, widening multiplies without).
//
// A group's table in its 14-bit integer form (tensor/lut.h, lut4_int_table) is split into two
// signed 16-byte tables, the low 7 bits (q & 127, in [0, 127]) and the high part (q >> 7, in
// [-64, 63]): both are valid int8, so unlike x86 (unsigned-by-signed dot products) no offset is
// removed afterwards. A set of 8 rows stores each 32-column block as four 32-byte chunks whose
// byte 4r + m holds columns 4c + m (low nibble) and 16 + 4c + m (high) of row r (tensor/layout.h):
// a chunk's first 16 bytes are rows 0-3, one row per 32-bit lane, the last 16 rows 4-7. `tbl`
// turns each nibble register into both parts of the weights, and `sdot` by lane c of the block's
// activations (columns 4c..4c+3, or 16 + 4c.. for the high nibbles) adds 4 products per row lane:
// no horizontal sums. Per block and row, sum q * x = 128 * sum high * x + sum low * x exactly.
// Included by neon_common.h only (internal linkage, one copy per table).
#pragma once

#include <arm_neon.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "kernels/kernel_table.h"
#include "tensor/lut.h"
#include "tensor/quant_blocks.h"

namespace corelm {
namespace {  // NOLINT(google-build-namespaces): one copy per table, see neon_common.h
namespace lut_neon {

constexpr size_t kTableBytes = 32;  // 16 fp16 entries
constexpr size_t kSet = kLut4SetRows;
constexpr size_t kBlockBytes = kLut4Chunk / 2 * kSet;  // a 32-column block of a set: 128 bytes
constexpr size_t kTile = 2;                            // tokens per pass over a set

struct Table {
  int8x16_t low, high;  // q & 127, q >> 7 for the 16 entries
  Lut4IntTable ints;
};

inline void load_table(const uint8_t* group, Table& t) {
  t.ints = lut4_int_table(group);
  alignas(16) int8_t low[16], high[16];
  for (size_t j = 0; j < 16; ++j) {
    low[j] = static_cast<int8_t>(t.ints.q[j] & 127);
    high[j] = static_cast<int8_t>(t.ints.q[j] >> 7);
  }
  t.low = vld1q_s8(low);
  t.high = vld1q_s8(high);
}

// Per token: the high and low parts' sums for rows 0-3 and 4-7.
struct Sums {
  int32x4_t high[2], low[2];
};

// Chunk C of a block (columns 4C..4C+3 and 16+4C..16+4C+3 of the set's 8 rows) into NT tokens'
// sums; a0/a1 are each token's activations 0..15 and 16..31.
template <int C, size_t NT>
inline void chunk_dot(const Table& table, const uint8_t* chunk, const int8x16_t* a0,
                      const int8x16_t* a1, Sums* s) {
  for (size_t half = 0; half < 2; ++half) {
    const uint8x16_t v = vld1q_u8(chunk + 16 * half);
    const uint8x16_t i0 = vandq_u8(v, vdupq_n_u8(0x0F)), i1 = vshrq_n_u8(v, 4);
    const int8x16_t wl0 = vqtbl1q_s8(table.low, i0), wh0 = vqtbl1q_s8(table.high, i0);
    const int8x16_t wl1 = vqtbl1q_s8(table.low, i1), wh1 = vqtbl1q_s8(table.high, i1);
    for (size_t t = 0; t < NT; ++t) {
      s[t].high[half] = dot4_lane<C>(dot4_lane<C>(s[t].high[half], wh0, a0[t]), wh1, a1[t]);
      s[t].low[half] = dot4_lane<C>(dot4_lane<C>(s[t].low[half], wl0, a0[t]), wl1, a1[t]);
    }
  }
}

// A set of 8 rows against NT tokens over the full blocks: out[t][h] lane i = row 4h + i's sum over
// blocks of the block's scale times its exact integer dot product.
template <size_t NT>
inline void set_dot(const Table& table, const uint8_t* set, const BlockQ8A* const* xt, size_t full,
                    float32x4_t (*out)[2]) {
  float32x4_t acc[NT][2];
  for (size_t t = 0; t < NT; ++t) acc[t][0] = acc[t][1] = vdupq_n_f32(0.0f);
  for (size_t b = 0; b < full; ++b) {
    const uint8_t* blk = set + kBlockBytes * b;
    int8x16_t a0[NT], a1[NT];
    Sums s[NT];
    for (size_t t = 0; t < NT; ++t) {
      a0[t] = vld1q_s8(xt[t][b].qs);
      a1[t] = vld1q_s8(xt[t][b].qs + 16);
      s[t].high[0] = s[t].high[1] = s[t].low[0] = s[t].low[1] = vdupq_n_s32(0);
    }
    chunk_dot<0, NT>(table, blk, a0, a1, s);
    chunk_dot<1, NT>(table, blk + 32, a0, a1, s);
    chunk_dot<2, NT>(table, blk + 64, a0, a1, s);
    chunk_dot<3, NT>(table, blk + 96, a0, a1, s);
    for (size_t t = 0; t < NT; ++t)
      for (size_t h = 0; h < 2; ++h) {
        const int32x4_t q = vaddq_s32(vshlq_n_s32(s[t].high[h], 7), s[t].low[h]);
        acc[t][h] = vfmaq_n_f32(acc[t][h], vcvtq_f32_s32(q), xt[t][b].scale);
      }
  }
  for (size_t t = 0; t < NT; ++t) out[t][0] = acc[t][0], out[t][1] = acc[t][1];
}

// Rows [r0, r1) against n tokens; G rows per group (layout lut_gG). Tokens in tiles of kTile,
// sets of 8 rows inside.
template <size_t G>
void matmul_lut4(const uint8_t* w, size_t row_bytes, const void* x, size_t x_stride, size_t n,
                 size_t k, float* y, size_t y_stride, size_t r0, size_t r1) {
  const size_t full = k / kLut4Chunk, half = k % kLut4Chunk / 2;
  const auto* xb = static_cast<const uint8_t*>(x);
  Table table{};
  for (size_t t0 = 0; t0 < n; t0 += kTile) {
    const size_t nt = std::min(kTile, n - t0);
    const BlockQ8A* xt[kTile];
    for (size_t t = 0; t < nt; ++t)
      xt[t] = reinterpret_cast<const BlockQ8A*>(xb + (t0 + t) * x_stride);
    size_t group_index = static_cast<size_t>(-1);
    for (size_t s0 = r0 / kSet * kSet; s0 < r1; s0 += kSet) {
      const uint8_t* group = w + s0 / G * (kTableBytes + G * row_bytes);
      if (s0 / G != group_index) load_table(group, table), group_index = s0 / G;
      const uint8_t* set = group + kTableBytes + s0 % G * row_bytes;
      float32x4_t sums[kTile][2];
      if (nt == 2)
        set_dot<2>(table, set, xt, full, sums);
      else
        set_dot<1>(table, set, xt, full, sums);
      alignas(16) float lanes[kTile][kSet];
      for (size_t t = 0; t < nt; ++t) {
        vst1q_f32(lanes[t], sums[t][0]);
        vst1q_f32(lanes[t] + 4, sums[t][1]);
      }
      for (size_t r = std::max(s0, r0); r < std::min(s0 + kSet, r1); ++r)
        for (size_t t = 0; t < nt; ++t) {
          float s = lanes[t][r - s0];
          if (half != 0) {  // the last, shorter block, row by row: byte j = elements j, j + half
            const int isum = lut4_tail_dot(table.ints, set + kBlockBytes * full + (r - s0) * half,
                                           half, xt[t][full].qs);
            s += xt[t][full].scale * static_cast<float>(isum);
          }
          y[(t0 + t) * y_stride + r] = table.ints.scale * s;
        }
    }
  }
}

}  // namespace lut_neon

void add_neon_lut_kernels(KernelTable& t) {
  auto set = [&](DType d, Layout l, MatmulFn fn) {
    t.matmul[static_cast<size_t>(d)][static_cast<size_t>(l)] = fn;
  };
  set(DType::kLut4, Layout::kLutG8, lut_neon::matmul_lut4<8>);
  set(DType::kLut4, Layout::kLutG16, lut_neon::matmul_lut4<16>);
  set(DType::kLut4, Layout::kLutG32, lut_neon::matmul_lut4<32>);
}

}  // namespace
}  // namespace corelm
