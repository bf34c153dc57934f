// The x86 kernel tables and the CPU probes that guard them. Compiled into x86 builds only; the
// registry (kernels/isa.cpp) lists each table with its probe and never calls a table whose probe
// said no. Each table lives in its own file with its own compiler flags (CMakeLists.txt).
#pragma once

#include "kernels/kernel_table.h"

namespace corelm {

// True when the CPU and OS support AVX2, FMA and F16C (x86/cpu.cpp, built without SIMD flags).
bool cpu_has_avx2();
// The AVX2+FMA+F16C table (x86/avx2.cpp). Call only when cpu_has_avx2().
const KernelTable& avx2_kernels();
// Puts the AVX2 kernels of GGUF's other block formats into `table` (x86/avx2_ggml.cpp, built with
// avx2.cpp's flags): for the avx2 table and the tables that build on it.
void add_avx2_ggml_kernels(KernelTable& table);

}  // namespace corelm
