// Scalar reference quantization: the specification of every block format. Rounding is
// round-half-to-even (numpy.round), as coremltools' linear_symmetric quantizer does.
#pragma once

#include <cstddef>
#include <cstdint>

#include "tensor/dtype.h"
#include "tensor/quant_blocks.h"

namespace corelm {

// q4s32: coremltools' linear_symmetric int4 per_block on fp16 weights, bit for bit: the values
// cast to fp16 (the identity for an fp16 source), scale = fp16(max|w| / 7), q =
// round_half_even(fp16(w / scale)) clamped to [-7, 7]; corelm's rule where coremltools overflows
// (max|w| >= 32768, values beyond fp16) and for zero scales: docs/package-format.md, "q4s32 block".
void quantize_row_q4s32(const float* x, BlockQ4* out, size_t n);
// q8s32: the same with 127.
void quantize_row_q8s32(const float* x, BlockQ8* out, size_t n);
// The same with an importance per element (>= 0; an importance matrix's mean x_j^2 of each
// input column), minimising sum imp_i (w_i - s q_i)^2 per block over a fixed set of fp16 scales:
// fp16(max|w| / D_k), D_k = float32(qmax * (56 + k)) / 56 for k = 0, -4..-1, 1..16 in that order
// (k = 0 is coremltools' scale; q4s32: D = 6.5 .. 9), each with coremltools' rounding; the first
// of least error wins, so ties (and all-zero importance) give quantize_row_q4s32's bytes.
// docs/quantization.md, "Importance matrix".
void quantize_row_q4s32_weighted(const float* x, const float* importance, BlockQ4* out, size_t n);
void quantize_row_q8s32_weighted(const float* x, const float* importance, BlockQ8* out, size_t n);
// Whether `dtype` has a weighted quantizer (q4s32, q8s32); quantize_row_weighted falls back to
// quantize_row (no importance) for the others.
bool has_weighted_quantizer(DType dtype);
void quantize_row_weighted(DType dtype, const float* x, const float* importance, void* out,
                           size_t n);
// Block readers: q4s32 and Q4_0 share BlockQ4, q8s32 and Q8_0 share BlockQ8.
void dequantize_row_q4(const BlockQ4* in, float* y, size_t n);
void dequantize_row_q8(const BlockQ8* in, float* y, size_t n);

// Activation quantization for integer dot products: scale = max|x| / 127 (float), q rounded
// half to even.
void quantize_row_q8a(const float* x, BlockQ8A* out, size_t n);
// Any n: ceil(n / 32) blocks, the last one (when 32 does not divide n) quantized from the remaining
// elements padded with zeros (lut4 matrices take rows of any even length), each full block by
// `quantize` (a kernel table's quantize_q8a).
inline size_t q8a_blocks(size_t n) {
  return (n + kQuantBlock - 1) / kQuantBlock;
}
void quantize_row_q8a_padded(const float* x, BlockQ8A* out, size_t n,
                             void (*quantize)(const float*, BlockQ8A*, size_t) = quantize_row_q8a);
// The same per 256 elements (the K-quant kernels' activations), with the sums of each 16 qs.
// `n` is a multiple of 256.
void quantize_row_q8k(const float* x, BlockQ8K* out, size_t n);

// The registry's row converters (dtype.cpp), `n` elements each. q4s32 and Q4_0 read alike, as
// do q8s32 and Q8_0; Q8_0 is written as q8s32 is.
void row_f32_to_float(const void* in, float* out, size_t n);
void row_f16_to_float(const void* in, float* out, size_t n);
void row_bf16_to_float(const void* in, float* out, size_t n);
void row_q8_to_float(const void* in, float* out, size_t n);
void row_q4_to_float(const void* in, float* out, size_t n);
void row_float_to_f32(const float* in, void* out, size_t n);
void row_float_to_f16(const float* in, void* out, size_t n);
void row_float_to_bf16(const float* in, void* out, size_t n);
void row_float_to_q8s32(const float* in, void* out, size_t n);
void row_float_to_q4s32(const float* in, void* out, size_t n);
// llama.cpp's Q4_0 rule (the value of largest magnitude maps to -8), to make GGUF-like inputs.
void row_float_to_q4_0(const float* in, void* out, size_t n);

// Converts one row of `dtype` to float. `n` elements.
void dequantize_row(DType dtype, const void* in, float* y, size_t n);
// Converts one float row into `dtype` (a DType with a from_float: not the run-only GGUF types).
// `out` must hold dtype_row_bytes(dtype, n). For kQ4_0 this is llama.cpp's Q4_0 rule (the value of
// largest magnitude maps to -8), used to make GGUF-like test inputs.
void quantize_row(DType dtype, const float* x, void* out, size_t n);

}  // namespace corelm
