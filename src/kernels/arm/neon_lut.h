// lut3, lut4 and lut6 matmuls on NEON against q8 activations (BlockQ8A), for every ARM table;
// built on neon_common.h's dot4_lane (sdot with +dotprod, widening multiplies without).
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
// lut3 and lut6 differ only in where a chunk's indices come from (their bit planes: chunk_indices)
// and in the lookup: lut3's 8 entries with the same one-register `tbl`, lut6's 64 with the
// four-register `tbl` (vqtbl4q_s8), both parts again valid int8.
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

constexpr size_t kSet = kLut4SetRows;
constexpr size_t kTile = 2;  // tokens per pass over a set

// The table's low (q & 127) and high (q >> 7) parts as int8, 16 entries per register (lut6: 4).
template <int Bits>
struct Table {
  static constexpr size_t kQuarters = Bits == 6 ? 4 : 1;
  int8x16_t low[kQuarters], high[kQuarters];
  LutIntTable ints;
};

template <int Bits>
inline void load_table(const uint8_t* group, Table<Bits>& t) {
  constexpr size_t kEntries = size_t{1} << Bits;
  t.ints = lut_int_table(group, kEntries);
  alignas(16) int8_t low[64] = {}, high[64] = {};
  for (size_t j = 0; j < kEntries; ++j) {
    low[j] = static_cast<int8_t>(t.ints.q[j] & 127);
    high[j] = static_cast<int8_t>(t.ints.q[j] >> 7);
  }
  for (size_t q = 0; q < Table<Bits>::kQuarters; ++q) {
    t.low[q] = vld1q_s8(low + 16 * q);
    t.high[q] = vld1q_s8(high + 16 * q);
  }
}

template <int S>
inline uint8x16_t shift_right(uint8x16_t v) {
  if constexpr (S == 0)
    return v;
  else
    return vshrq_n_u8(v, S);
}

// The indices of chunk C (columns 4C + m: i0, and 16 + 4C + m: i1) of a block's rows 4 * half ..
// 4 * half + 3, one row per 32-bit lane, from the bit planes of tensor/layout.h: lut4 the nibbles
// of the chunk's bytes; lut6 those and bits 4-5 from 2-bit plane C / 2 (shift 2 (2 (C % 2) + h));
// lut3 bits 0-1 from that 2-bit plane and bit 2 from the 1-bit plane (shift 2C + h).
template <int Bits, int C>
inline void chunk_indices(const uint8_t* blk, size_t half, uint8x16_t& i0, uint8x16_t& i1) {
  const uint8x16_t m3 = vdupq_n_u8(3);
  constexpr int kS0 = 2 * (2 * (C % 2)), kS1 = kS0 + 2;
  if constexpr (Bits == 3) {
    const uint8x16_t plane = vld1q_u8(blk + 32 * (C / 2) + 16 * half);
    const uint8x16_t bit2 = vld1q_u8(blk + 64 + 16 * half), m1 = vdupq_n_u8(1);
    i0 = vorrq_u8(vandq_u8(shift_right<kS0>(plane), m3),
                  vshlq_n_u8(vandq_u8(shift_right<2 * C>(bit2), m1), 2));
    i1 = vorrq_u8(vandq_u8(shift_right<kS1>(plane), m3),
                  vshlq_n_u8(vandq_u8(shift_right<2 * C + 1>(bit2), m1), 2));
  } else {
    const uint8x16_t v = vld1q_u8(blk + 32 * C + 16 * half);
    i0 = vandq_u8(v, vdupq_n_u8(0x0F));
    i1 = vshrq_n_u8(v, 4);
    if constexpr (Bits == 6) {
      const uint8x16_t plane = vld1q_u8(blk + 128 + 32 * (C / 2) + 16 * half);
      i0 = vorrq_u8(i0, vshlq_n_u8(vandq_u8(shift_right<kS0>(plane), m3), 4));
      i1 = vorrq_u8(i1, vshlq_n_u8(vandq_u8(shift_right<kS1>(plane), m3), 4));
    }
  }
}

// Both parts of the weights of one index vector.
template <int Bits>
inline void lookup(const Table<Bits>& t, uint8x16_t idx, int8x16_t& wl, int8x16_t& wh) {
  if constexpr (Bits == 6) {
    const int8x16x4_t low = {{t.low[0], t.low[1], t.low[2], t.low[3]}};
    const int8x16x4_t high = {{t.high[0], t.high[1], t.high[2], t.high[3]}};
    wl = vqtbl4q_s8(low, idx);
    wh = vqtbl4q_s8(high, idx);
  } else {
    wl = vqtbl1q_s8(t.low[0], idx);
    wh = vqtbl1q_s8(t.high[0], idx);
  }
}

// Per token: the high and low parts' sums for rows 0-3 and 4-7.
struct Sums {
  int32x4_t high[2], low[2];
};

// Chunk C of a block (columns 4C..4C+3 and 16+4C..16+4C+3 of the set's 8 rows) into NT tokens'
// sums; a0/a1 are each token's activations 0..15 and 16..31.
template <int Bits, int C, size_t NT>
inline void chunk_dot(const Table<Bits>& table, const uint8_t* blk, const int8x16_t* a0,
                      const int8x16_t* a1, Sums* s) {
  for (size_t half = 0; half < 2; ++half) {
    uint8x16_t i0, i1;
    chunk_indices<Bits, C>(blk, half, i0, i1);
    int8x16_t wl0, wh0, wl1, wh1;
    lookup<Bits>(table, i0, wl0, wh0);
    lookup<Bits>(table, i1, wl1, wh1);
    for (size_t t = 0; t < NT; ++t) {
      s[t].high[half] = dot4_lane<C>(dot4_lane<C>(s[t].high[half], wh0, a0[t]), wh1, a1[t]);
      s[t].low[half] = dot4_lane<C>(dot4_lane<C>(s[t].low[half], wl0, a0[t]), wl1, a1[t]);
    }
  }
}

// A set of 8 rows against NT tokens over the full blocks: out[t][h] lane i = row 4h + i's sum over
// blocks of the block's scale times its exact integer dot product.
template <int Bits, size_t NT>
inline void set_dot(const Table<Bits>& table, const uint8_t* set, const BlockQ8A* const* xt,
                    size_t full, float32x4_t (*out)[2]) {
  float32x4_t acc[NT][2];
  for (size_t t = 0; t < NT; ++t) acc[t][0] = acc[t][1] = vdupq_n_f32(0.0f);
  for (size_t b = 0; b < full; ++b) {
    const uint8_t* blk = set + lut_block_bytes(Bits) * b;
    int8x16_t a0[NT], a1[NT];
    Sums s[NT];
    for (size_t t = 0; t < NT; ++t) {
      a0[t] = vld1q_s8(xt[t][b].qs);
      a1[t] = vld1q_s8(xt[t][b].qs + 16);
      s[t].high[0] = s[t].high[1] = s[t].low[0] = s[t].low[1] = vdupq_n_s32(0);
    }
    chunk_dot<Bits, 0, NT>(table, blk, a0, a1, s);
    chunk_dot<Bits, 1, NT>(table, blk, a0, a1, s);
    chunk_dot<Bits, 2, NT>(table, blk, a0, a1, s);
    chunk_dot<Bits, 3, NT>(table, blk, a0, a1, s);
    for (size_t t = 0; t < NT; ++t)
      for (size_t h = 0; h < 2; ++h) {
        const int32x4_t q = vaddq_s32(vshlq_n_s32(s[t].high[h], 7), s[t].low[h]);
        acc[t][h] = vfmaq_n_f32(acc[t][h], vcvtq_f32_s32(q), xt[t][b].scale);
      }
  }
  for (size_t t = 0; t < NT; ++t) out[t][0] = acc[t][0], out[t][1] = acc[t][1];
}

// Rows [r0, r1) against n tokens; G rows per group (layout lut_gG), Bits = 3, 4 or 6. Tokens in
// tiles of kTile, sets of 8 rows inside; the last, shorter block (k % 32 columns) row by row.
template <int Bits, size_t G>
void matmul_lut(const uint8_t* w, size_t row_bytes, const void* x, size_t x_stride, size_t n,
                size_t k, float* y, size_t y_stride, size_t r0, size_t r1) {
  constexpr size_t kTableBytes = size_t{2} << Bits;
  const size_t full = k / kLut4Chunk, tail = k % kLut4Chunk;
  const auto* xb = static_cast<const uint8_t*>(x);
  Table<Bits> table{};
  for (size_t t0 = 0; t0 < n; t0 += kTile) {
    const size_t nt = std::min(kTile, n - t0);
    const BlockQ8A* xt[kTile];
    for (size_t t = 0; t < nt; ++t)
      xt[t] = reinterpret_cast<const BlockQ8A*>(xb + (t0 + t) * x_stride);
    size_t group_index = static_cast<size_t>(-1);
    for (size_t s0 = r0 / kSet * kSet; s0 < r1; s0 += kSet) {
      const uint8_t* group = w + s0 / G * (kTableBytes + G * row_bytes);
      if (s0 / G != group_index) load_table<Bits>(group, table), group_index = s0 / G;
      const uint8_t* set = group + kTableBytes + s0 % G * row_bytes;
      float32x4_t sums[kTile][2];
      if (nt == 2)
        set_dot<Bits, 2>(table, set, xt, full, sums);
      else
        set_dot<Bits, 1>(table, set, xt, full, sums);
      alignas(16) float lanes[kTile][kSet];
      for (size_t t = 0; t < nt; ++t) {
        vst1q_f32(lanes[t], sums[t][0]);
        vst1q_f32(lanes[t] + 4, sums[t][1]);
      }
      for (size_t r = std::max(s0, r0); r < std::min(s0 + kSet, r1); ++r) {
        int16_t q[kLut4Chunk] = {};  // lut3 / lut6: the tail's weights of row r
        if (Bits != 4 && tail != 0) lut_tail_weights(Bits, table.ints, set, r - s0, k, q);
        for (size_t t = 0; t < nt; ++t) {
          float s = lanes[t][r - s0];
          if (tail != 0) {
            const int8_t* qs = xt[t][full].qs;
            int isum = 0;
            if constexpr (Bits == 4)  // row by row: byte j holds elements j and j + tail / 2
              isum =
                  lut4_tail_dot(table.ints, set + lut_block_bytes(4) * full + (r - s0) * (tail / 2),
                                tail / 2, qs);
            else
              isum = lut_tail_dot(q, tail, qs);
            s += xt[t][full].scale * static_cast<float>(isum);
          }
          y[(t0 + t) * y_stride + r] = table.ints.scale * s;
        }
      }
    }
  }
}

}  // namespace lut_neon

void add_neon_lut_kernels(KernelTable& t) {
  auto set = [&](DType d, Layout l, MatmulFn fn) {
    t.matmul[static_cast<size_t>(d)][static_cast<size_t>(l)] = fn;
  };
  set(DType::kLut4, Layout::kLutG8, lut_neon::matmul_lut<4, 8>);
  set(DType::kLut4, Layout::kLutG16, lut_neon::matmul_lut<4, 16>);
  set(DType::kLut4, Layout::kLutG32, lut_neon::matmul_lut<4, 32>);
  set(DType::kLut3, Layout::kLutG8, lut_neon::matmul_lut<3, 8>);
  set(DType::kLut3, Layout::kLutG16, lut_neon::matmul_lut<3, 16>);
  set(DType::kLut3, Layout::kLutG32, lut_neon::matmul_lut<3, 32>);
  set(DType::kLut6, Layout::kLutG8, lut_neon::matmul_lut<6, 8>);
  set(DType::kLut6, Layout::kLutG16, lut_neon::matmul_lut<6, 16>);
  set(DType::kLut6, Layout::kLutG32, lut_neon::matmul_lut<6, 32>);
}

}  // namespace
}  // namespace corelm
