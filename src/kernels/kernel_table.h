// KernelTable: the function pointers for every hot operation, one table per instruction set.
// ref.cpp holds the scalar reference (the spec, built everywhere); each architecture's folder
// (x86/, later arm/) the SIMD versions. kernels/isa.h lists the tables and picks one at start-up.
// Kernels never throw and never allocate; shapes are checked by the callers in src/tensor/ops.
#pragma once

#include <cstddef>
#include <cstdint>

#include "tensor/dtype.h"
#include "tensor/layout.h"
#include "tensor/quant_blocks.h"

namespace corelm {

// Matrix product against a weight matrix W [rows, k] stored row by row (`row_bytes` apart):
//   y[t * y_stride + r] = sum_i W[r, i] * x_t[i]   for t in [0, n), r in [r0, r1).
// `x` holds the n activation rows in the weight's activation format (see activation_format):
// f32 rows of k floats (x_stride bytes apart), BlockQ8A rows of k/32 blocks, or BlockQ8K rows of
// k/256 blocks (the K-quants).
using MatmulFn = void (*)(const uint8_t* w, size_t row_bytes, const void* x, size_t x_stride,
                          size_t n, size_t k, float* y, size_t y_stride, size_t r0, size_t r1);

enum class ActivationFormat { kF32, kQ8A, kQ8K };

struct KernelTable {
  const char* name;
  // Indexed by [DType][Layout]; nullptr where the table has no kernel for that pair. For
  // Layout::kInterleaved8 (q4s32 / q4_0) r0 and r1 are multiples of kInterleaveRows.
  MatmulFn matmul[kNumDTypes][kNumLayouts];
  // The activation format every matmul kernel of a weight dtype takes (all layouts alike).
  ActivationFormat activation[kNumDTypes];
  // True when this table's q8 kernels are faster on the interleaved8 layout than on rows: the
  // loader then repacks q8 row matrices (GGUF Q8_0, q8s32 packages) once. Every table runs both
  // layouts (the reference's kernel where it has none of its own).
  bool interleave_q8;
  // True when this table's Q4_K kernel is faster on the interleaved16 tiles than on the file's
  // rows: the loader then repacks Q4_K matrices whose rows divide by 16 (every table runs both).
  bool interleave_q4_k;

  void (*quantize_q8a)(const float* x, BlockQ8A* out, size_t k);
  void (*quantize_q8k)(const float* x, BlockQ8K* out, size_t k);  // k a multiple of 256
  // y = x / sqrt(mean(x^2) + eps) * w, over n elements (y may alias x).
  void (*rmsnorm)(const float* x, const float* w, float* y, size_t n, float eps);
  // gate[i] = silu(gate[i]) * up[i]
  void (*silu_mul)(float* gate, const float* up, size_t n);
  // y[i] += x[i]
  void (*add)(float* y, const float* x, size_t n);
  // In-place softmax over n elements; entries equal to -inf get probability 0.
  void (*softmax)(float* x, size_t n);
  // x[i] = exp(x[i] - shift) in place (0 where x[i] is -inf), for a finite shift >= max(x);
  // returns the sum of the results. The unnormalised softmax of attention's key blocks.
  float (*exp_sum)(float* x, size_t n, float shift);
  float (*dot_f32)(const float* a, const float* b, size_t n);
  float (*dot_f16)(const uint16_t* a, const float* b, size_t n);
  void (*axpy_f32)(float a, const float* x, float* y, size_t n);  // y += a * x
  void (*axpy_f16)(float a, const uint16_t* x, float* y, size_t n);
  float (*dot_i8)(const int8_t* a, const float* b, size_t n);  // sum a[i] * b[i]
  // Attention over one block of at most 64 keys and values already in f32, for the `heads` query
  // rows (head_dim floats each, consecutive) of one token that share a KV head:
  //   scores[h * s_ld + j] = dot(q_h, k_j) * scale + mask[j], -inf where mask[j] is -inf,
  // with the keys transposed: k_j[d] = kt[d * ld + j]; columns up to n rounded up to 16 must be
  // readable (ops pads them with zeros), mask only up to n.
  void (*attn_scores_block)(const float* q, size_t heads, const float* kt, size_t ld, size_t n,
                            size_t head_dim, float scale, const float* mask, float* scores,
                            size_t s_ld);
  //   out_h = out_h * rescale[h] + sum_j p[h * p_ld + j] * v_j, v_j = v[j * head_dim ..]
  void (*attn_accumulate_block)(const float* p, size_t p_ld, size_t heads, const float* v, size_t n,
                                size_t head_dim, const float* rescale, float* out);
  void (*axpy_i8)(float a, const int8_t* x, float* y, size_t n);  // y += a * x
  float (*sum_f32)(const float* x, size_t n);  // memory-bandwidth probe: a plain read of n floats
  void (*f32_to_f16)(const float* x, uint16_t* y, size_t n);
  void (*f16_to_f32)(const uint16_t* x, float* y, size_t n);
  void (*i8_to_f32)(const int8_t* x, float scale, float* y, size_t n);  // y = scale * x

  MatmulFn matmul_for(DType dtype, Layout layout) const {
    return matmul[static_cast<size_t>(dtype)][static_cast<size_t>(layout)];
  }
  ActivationFormat activation_for(DType dtype) const {
    return activation[static_cast<size_t>(dtype)];
  }
};

// The scalar reference table (every build, every CPU).
const KernelTable& reference_kernels();

}  // namespace corelm
