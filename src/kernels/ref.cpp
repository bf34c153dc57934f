// Scalar reference kernels: the specification every SIMD table is tested against. Written for
// clarity, not speed: plain loops, float accumulation in index order, integer dot products for
// quantized weights exactly as the SIMD versions compute them.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "base/half.h"
#include "kernels/kernel_table.h"
#include "kernels/ref_ggml.h"
#include "tensor/layout.h"
#include "tensor/lut.h"
#include "tensor/quant.h"

#include <cstring>

namespace corelm {

namespace {

void matmul_f32(const uint8_t* w, size_t row_bytes, const void* x, size_t x_stride, size_t n,
                size_t k, float* y, size_t y_stride, size_t r0, size_t r1) {
  for (size_t r = r0; r < r1; ++r) {
    const float* wr = reinterpret_cast<const float*>(w + r * row_bytes);
    for (size_t t = 0; t < n; ++t) {
      const float* xt =
          reinterpret_cast<const float*>(static_cast<const uint8_t*>(x) + t * x_stride);
      float acc = 0.0f;
      for (size_t i = 0; i < k; ++i) acc += wr[i] * xt[i];
      y[t * y_stride + r] = acc;
    }
  }
}

template <float (*kToFloat)(uint16_t)>
void matmul_half(const uint8_t* w, size_t row_bytes, const void* x, size_t x_stride, size_t n,
                 size_t k, float* y, size_t y_stride, size_t r0, size_t r1) {
  for (size_t r = r0; r < r1; ++r) {
    const uint16_t* wr = reinterpret_cast<const uint16_t*>(w + r * row_bytes);
    for (size_t t = 0; t < n; ++t) {
      const float* xt =
          reinterpret_cast<const float*>(static_cast<const uint8_t*>(x) + t * x_stride);
      float acc = 0.0f;
      for (size_t i = 0; i < k; ++i) acc += kToFloat(wr[i]) * xt[i];
      y[t * y_stride + r] = acc;
    }
  }
}

// One q4 block against one activation block: the exact integer dot product, then the scales.
inline float dot_block_q4(const BlockQ4& wb, const BlockQ8A& xb) {
  int isum = 0;
  for (int i = 0; i < kQuantBlock / 2; ++i) {
    isum += ((wb.qs[i] & 0xF) - 8) * xb.qs[i];
    isum += ((wb.qs[i] >> 4) - 8) * xb.qs[i + 16];
  }
  return fp16_to_float(wb.scale) * xb.scale * static_cast<float>(isum);
}

inline float dot_block_q8(const BlockQ8& wb, const BlockQ8A& xb) {
  int isum = 0;
  for (int i = 0; i < kQuantBlock; ++i) isum += wb.qs[i] * xb.qs[i];
  return fp16_to_float(wb.scale) * xb.scale * static_cast<float>(isum);
}

template <typename Block, float (*kDot)(const Block&, const BlockQ8A&)>
void matmul_quant(const uint8_t* w, size_t row_bytes, const void* x, size_t x_stride, size_t n,
                  size_t k, float* y, size_t y_stride, size_t r0, size_t r1) {
  size_t nb = k / kQuantBlock;
  for (size_t r = r0; r < r1; ++r) {
    const Block* wr = reinterpret_cast<const Block*>(w + r * row_bytes);
    for (size_t t = 0; t < n; ++t) {
      const BlockQ8A* xt =
          reinterpret_cast<const BlockQ8A*>(static_cast<const uint8_t*>(x) + t * x_stride);
      float acc = 0.0f;
      for (size_t b = 0; b < nb; ++b) acc += kDot(wr[b], xt[b]);
      y[t * y_stride + r] = acc;
    }
  }
}

// The interleaved8 layout (see tensor/layout.h): the same exact integer dot products, reading
// each weight from its place in the group.
void matmul_q4_interleaved(const uint8_t* w, size_t row_bytes, const void* x, size_t x_stride,
                           size_t n, size_t k, float* y, size_t y_stride, size_t r0, size_t r1) {
  const size_t nb = k / kQuantBlock;
  for (size_t r = r0; r < r1; ++r) {
    const uint8_t* group = w + (r / kInterleaveRows) * kInterleaveRows * row_bytes;
    const size_t lane = r % kInterleaveRows;
    for (size_t t = 0; t < n; ++t) {
      const BlockQ8A* xt =
          reinterpret_cast<const BlockQ8A*>(static_cast<const uint8_t*>(x) + t * x_stride);
      float acc = 0.0f;
      for (size_t b = 0; b < nb; ++b) {
        const uint8_t* blk = group + b * kInterleavedBlockBytes;
        uint16_t scale;
        std::memcpy(&scale, blk + 2 * lane, 2);
        const uint8_t* q = blk + 16;
        int isum = 0;
        for (size_t c = 0; c < 4; ++c)
          for (size_t m = 0; m < 4; ++m) {
            const uint8_t byte = q[32 * c + 4 * lane + m];
            isum += ((byte & 0xF) - 8) * xt[b].qs[4 * c + m];
            isum += ((byte >> 4) - 8) * xt[b].qs[16 + 4 * c + m];
          }
        acc += fp16_to_float(scale) * xt[b].scale * static_cast<float>(isum);
      }
      y[t * y_stride + r] = acc;
    }
  }
}

void matmul_q8_interleaved(const uint8_t* w, size_t row_bytes, const void* x, size_t x_stride,
                           size_t n, size_t k, float* y, size_t y_stride, size_t r0, size_t r1) {
  const size_t nb = k / kQuantBlock;
  for (size_t r = r0; r < r1; ++r) {
    const uint8_t* group = w + (r / kInterleaveRows) * kInterleaveRows * row_bytes;
    const size_t lane = r % kInterleaveRows;
    for (size_t t = 0; t < n; ++t) {
      const BlockQ8A* xt =
          reinterpret_cast<const BlockQ8A*>(static_cast<const uint8_t*>(x) + t * x_stride);
      float acc = 0.0f;
      for (size_t b = 0; b < nb; ++b) {
        const uint8_t* blk = group + b * kInterleavedQ8BlockBytes;
        uint16_t scale;
        std::memcpy(&scale, blk + 2 * lane, 2);
        const int8_t* q = reinterpret_cast<const int8_t*>(blk + 16);
        int isum = 0;
        for (size_t c = 0; c < 8; ++c)
          for (size_t m = 0; m < 4; ++m) isum += q[32 * c + 4 * lane + m] * xt[b].qs[4 * c + m];
        acc += fp16_to_float(scale) * xt[b].scale * static_cast<float>(isum);
      }
      y[t * y_stride + r] = acc;
    }
  }
}

// A palettized dtype of `Bits` bits per index (lut3, lut4, lut6) in groups of G rows
// (tensor/layout.h, lut_gG) against q8 activations (the last block of a row whose length 32 does
// not divide is padded with zeros): the group's table in its integer form (tensor/lut.h,
// lut_int_table), each block's exact integer dot product times the block's scale, summed in block
// order, times the table's scale.
template <int Bits, size_t G>
void matmul_lut(const uint8_t* w, size_t row_bytes, const void* x, size_t x_stride, size_t n,
                size_t k, float* y, size_t y_stride, size_t r0, size_t r1) {
  constexpr size_t kEntries = size_t{1} << Bits, kTableBytes = 2 * kEntries;
  const size_t nb = (k + kQuantBlock - 1) / kQuantBlock;
  std::vector<uint8_t> idx(k);
  for (size_t r = r0; r < r1; ++r) {
    const uint8_t* group = w + r / G * (kTableBytes + G * row_bytes);
    const uint8_t* set = group + kTableBytes + r % G / kLut4SetRows * kLut4SetRows * row_bytes;
    const LutIntTable table = lut_int_table(group, kEntries);
    for (size_t i = 0; i < k; ++i) idx[i] = lut_index(Bits, set, r % kLut4SetRows, k, i);
    for (size_t t = 0; t < n; ++t) {
      const BlockQ8A* xt =
          reinterpret_cast<const BlockQ8A*>(static_cast<const uint8_t*>(x) + t * x_stride);
      float acc = 0.0f;
      for (size_t b = 0; b < nb; ++b) {
        int isum = 0;
        for (size_t i = b * kQuantBlock; i < std::min(k, (b + 1) * kQuantBlock); ++i)
          isum += table.q[idx[i]] * xt[b].qs[i - b * kQuantBlock];
        acc += xt[b].scale * static_cast<float>(isum);
      }
      y[t * y_stride + r] = table.scale * acc;
    }
  }
}

void rmsnorm(const float* x, const float* w, float* y, size_t n, float eps) {
  float ss = 0.0f;
  for (size_t i = 0; i < n; ++i) ss += x[i] * x[i];
  float inv = 1.0f / std::sqrt(ss / static_cast<float>(n) + eps);
  for (size_t i = 0; i < n; ++i) y[i] = x[i] * inv * w[i];
}

void silu_mul(float* gate, const float* up, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    float g = gate[i];
    gate[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

void add(float* y, const float* x, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] += x[i];
}

void softmax(float* x, size_t n) {
  float m = -std::numeric_limits<float>::infinity();
  for (size_t i = 0; i < n; ++i) m = std::max(m, x[i]);
  if (m == -std::numeric_limits<float>::infinity()) {  // everything masked: all zeros
    std::fill(x, x + n, 0.0f);
    return;
  }
  float sum = 0.0f;
  for (size_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - m);
    sum += x[i];
  }
  float inv = 1.0f / sum;
  for (size_t i = 0; i < n; ++i) x[i] *= inv;
}

float exp_sum(float* x, size_t n, float shift) {
  float sum = 0.0f;
  for (size_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - shift);  // exp(-inf) = 0
    sum += x[i];
  }
  return sum;
}

float dot_f32(const float* a, const float* b, size_t n) {
  float acc = 0.0f;
  for (size_t i = 0; i < n; ++i) acc += a[i] * b[i];
  return acc;
}

float dot_f16(const uint16_t* a, const float* b, size_t n) {
  float acc = 0.0f;
  for (size_t i = 0; i < n; ++i) acc += fp16_to_float(a[i]) * b[i];
  return acc;
}

void axpy_f32(float a, const float* x, float* y, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] += a * x[i];
}

void axpy_f16(float a, const uint16_t* x, float* y, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] += a * fp16_to_float(x[i]);
}

float dot_i8(const int8_t* a, const float* b, size_t n) {
  float acc = 0.0f;
  for (size_t i = 0; i < n; ++i) acc += static_cast<float>(a[i]) * b[i];
  return acc;
}

void axpy_i8(float a, const int8_t* x, float* y, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] += a * static_cast<float>(x[i]);
}

void attn_scores_block(const float* q, size_t heads, const float* kt, size_t ld, size_t n,
                       size_t head_dim, float scale, const float* mask, float* scores,
                       size_t s_ld) {
  for (size_t h = 0; h < heads; ++h)
    for (size_t j = 0; j < n; ++j) {
      float acc = 0.0f;
      for (size_t d = 0; d < head_dim; ++d) acc += q[h * head_dim + d] * kt[d * ld + j];
      scores[h * s_ld + j] =
          mask[j] == -std::numeric_limits<float>::infinity() ? mask[j] : acc * scale + mask[j];
    }
}

void attn_accumulate_block(const float* p, size_t p_ld, size_t heads, const float* v, size_t n,
                           size_t head_dim, const float* rescale, float* out) {
  for (size_t h = 0; h < heads; ++h) {
    float* o = out + h * head_dim;
    for (size_t d = 0; d < head_dim; ++d) o[d] *= rescale[h];
    for (size_t j = 0; j < n; ++j) axpy_f32(p[h * p_ld + j], v + j * head_dim, o, head_dim);
  }
}

void i8_to_f32(const int8_t* x, float scale, float* y, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] = scale * static_cast<float>(x[i]);
}

float sum_f32(const float* x, size_t n) {
  float acc = 0.0f;
  for (size_t i = 0; i < n; ++i) acc += x[i];
  return acc;
}

void f32_to_f16(const float* x, uint16_t* y, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] = float_to_fp16(x[i]);
}

void f16_to_f32(const uint16_t* x, float* y, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] = fp16_to_float(x[i]);
}

KernelTable make_reference() {
  KernelTable t{};
  t.name = "ref";
  auto set = [&](DType d, Layout l, MatmulFn fn, ActivationFormat a) {
    t.matmul[static_cast<size_t>(d)][static_cast<size_t>(l)] = fn;
    t.activation[static_cast<size_t>(d)] = a;
  };
  const auto f32 = ActivationFormat::kF32, q8a = ActivationFormat::kQ8A;
  set(DType::kF32, Layout::kRows, matmul_f32, f32);
  set(DType::kF16, Layout::kRows, matmul_half<fp16_to_float>, f32);
  set(DType::kBF16, Layout::kRows, matmul_half<bf16_to_float>, f32);
  set(DType::kQ4S32, Layout::kRows, matmul_quant<BlockQ4, dot_block_q4>, q8a);
  set(DType::kQ4_0, Layout::kRows, matmul_quant<BlockQ4, dot_block_q4>, q8a);
  set(DType::kQ8S32, Layout::kRows, matmul_quant<BlockQ8, dot_block_q8>, q8a);
  set(DType::kQ8_0, Layout::kRows, matmul_quant<BlockQ8, dot_block_q8>, q8a);
  set(DType::kQ4S32, Layout::kInterleaved8, matmul_q4_interleaved, q8a);
  set(DType::kQ4_0, Layout::kInterleaved8, matmul_q4_interleaved, q8a);
  set(DType::kQ8S32, Layout::kInterleaved8, matmul_q8_interleaved, q8a);
  set(DType::kQ8_0, Layout::kInterleaved8, matmul_q8_interleaved, q8a);
  set(DType::kLut4, Layout::kLutG8, matmul_lut<4, 8>, q8a);
  set(DType::kLut4, Layout::kLutG16, matmul_lut<4, 16>, q8a);
  set(DType::kLut4, Layout::kLutG32, matmul_lut<4, 32>, q8a);
  set(DType::kLut3, Layout::kLutG8, matmul_lut<3, 8>, q8a);
  set(DType::kLut3, Layout::kLutG16, matmul_lut<3, 16>, q8a);
  set(DType::kLut3, Layout::kLutG32, matmul_lut<3, 32>, q8a);
  set(DType::kLut6, Layout::kLutG8, matmul_lut<6, 8>, q8a);
  set(DType::kLut6, Layout::kLutG16, matmul_lut<6, 16>, q8a);
  set(DType::kLut6, Layout::kLutG32, matmul_lut<6, 32>, q8a);
  add_ggml_reference_kernels(t);
  t.quantize_q8a = quantize_row_q8a;
  t.quantize_q8k = quantize_row_q8k;
  t.rmsnorm = rmsnorm;
  t.silu_mul = silu_mul;
  t.add = add;
  t.softmax = softmax;
  t.exp_sum = exp_sum;
  t.dot_f32 = dot_f32;
  t.dot_f16 = dot_f16;
  t.axpy_f32 = axpy_f32;
  t.axpy_f16 = axpy_f16;
  t.dot_i8 = dot_i8;
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

const KernelTable& reference_kernels() {
  static const KernelTable table = make_reference();
  return table;
}

}  // namespace corelm
