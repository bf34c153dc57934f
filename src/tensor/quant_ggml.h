// Readers of the GGUF types corelm only converts from (never runs): Q4_1, Q5_0, Q5_1 and the
// K-quants Q4_K, Q5_K, Q6_K (super-blocks of 256 weights). They follow ggml's block definitions
// and are tested on hand-built blocks. Rows of the type registry (dtype.cpp) point at them.
#pragma once

#include <cstddef>

namespace corelm {

void row_q4_1_to_float(const void* in, float* out, size_t n);
void row_q5_0_to_float(const void* in, float* out, size_t n);
void row_q5_1_to_float(const void* in, float* out, size_t n);
void row_q4_k_to_float(const void* in, float* out, size_t n);
void row_q5_k_to_float(const void* in, float* out, size_t n);
void row_q6_k_to_float(const void* in, float* out, size_t n);

}  // namespace corelm
