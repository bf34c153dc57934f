// GGUF's other block formats (quant_blocks.h): Q4_1, Q5_0, Q5_1 and the K-quants Q2_K..Q6_K
// (super-blocks of 256 weights). The row readers follow ggml's block definitions and float
// arithmetic (tested against llama.cpp's gguf-py); rows of the type registry (dtype.cpp) point at
// them. decode_k_block is the integer form the kernels compute with.
#pragma once

#include <cstddef>
#include <cstdint>

#include "tensor/dtype.h"
#include "tensor/quant_blocks.h"

namespace corelm {

void row_q2_k_to_float(const void* in, float* out, size_t n);
void row_q3_k_to_float(const void* in, float* out, size_t n);

void row_q4_1_to_float(const void* in, float* out, size_t n);
void row_q5_0_to_float(const void* in, float* out, size_t n);
void row_q5_1_to_float(const void* in, float* out, size_t n);
void row_q4_k_to_float(const void* in, float* out, size_t n);
void row_q5_k_to_float(const void* in, float* out, size_t n);
void row_q6_k_to_float(const void* in, float* out, size_t n);

// A K-quant super-block in integers: element i is d * sc[i / 16] * q[i] - dmin * mn[i / 16].
// Q2_K: q 0..3 with 4-bit sc and mn; Q3_K: q -4..3, sc -32..31, no mins; Q4_K / Q5_K: q 0..15 /
// 0..31, 6-bit sc and mn (each repeated for the two halves of its 32); Q6_K: q -32..31, int8 sc,
// no mins. The dot product with a BlockQ8K a is then exact in integers until
//   a.scale * (d * sum_h sc[h] * sum_{i in h} q[i] * a.qs[i] - dmin * sum_h mn[h] * a.bsums[h]).
struct DecodedKBlock {
  int8_t q[kSuperBlock];
  int16_t sc[16], mn[16];
  float d, dmin;
};
void decode_k_block(DType dtype, const uint8_t* block, DecodedKBlock* out);

// The 6-bit scale and min of sub-block j (0..7) of a Q4_K / Q5_K super-block.
void k4_scale_min(int j, const uint8_t* scales, uint8_t* sc, uint8_t* mn);
// The 16 scales of a Q3_K super-block, -32..31.
void q3_k_scales(const uint8_t* scales12, int8_t out[16]);

}  // namespace corelm
