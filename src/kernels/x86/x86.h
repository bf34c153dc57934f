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
// True when cpu_has_avx2() and the CPU has AVX-VNNI (VEX vpdpbusd: CPUID leaf 7 subleaf 1, EAX
// bit 4).
bool cpu_has_avxvnni();
// The AVX-VNNI table (x86/avxvnni.cpp): avx2's with vpdpbusd integer dot products.
const KernelTable& avxvnni_kernels();
// True when cpu_has_avx2() and the CPU and OS support AVX-512 F, BW, VL, DQ and VNNI (the OS
// saving the ZMM state: libgcc's probe checks XGETBV).
bool cpu_has_avx512();
// The AVX-512 VNNI table (x86/avx512.cpp). Call only when cpu_has_avx512().
const KernelTable& avx512_kernels();
// Puts the AVX-512 prefill kernels of the K-quants into `table` (x86/avx512_kquant.cpp, built with
// avx512.cpp's flags): for the avx512 table.
void add_avx512_kquant_kernels(KernelTable& table);

}  // namespace corelm
