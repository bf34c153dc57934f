// The reference kernels of GGUF's other block formats (Q4_1, Q5_0, Q5_1, the K-quants): integer
// dot products exactly as the SIMD versions compute them (quant_ggml.h's decode_k_block is their
// specification for the K-quants). Installed into the reference table by ref.cpp.
#pragma once

#include "kernels/kernel_table.h"

namespace corelm {

void add_ggml_reference_kernels(KernelTable& table);

}  // namespace corelm
