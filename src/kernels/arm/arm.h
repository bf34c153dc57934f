// The ARM (aarch64) kernel tables and the CPU probes that guard them. Compiled into aarch64 builds
// only; the registry (kernels/isa.cpp) lists each table with its probe and never calls a table
// whose probe said no. Each table lives in its own file with its own compiler flags
// (CMakeLists.txt); the kernels themselves are shared (arm/neon_common.h).
#pragma once

#include "kernels/kernel_table.h"

namespace corelm {

// Advanced SIMD is part of every aarch64 CPU: always true (arm/cpu.cpp).
bool cpu_has_neon();
// The dot-product extension (armv8.2-a+dotprod: sdot/udot), from the kernel's HWCAP_ASIMDDP.
bool cpu_has_dotprod();
// dotprod plus the int8 matrix-multiply extension (smmla), from HWCAP2_I8MM.
bool cpu_has_i8mm();
// The baseline armv8-a NEON table (arm/neon.cpp).
const KernelTable& neon_kernels();
// The armv8.2-a+dotprod table (arm/dotprod.cpp). Call only when cpu_has_dotprod().
const KernelTable& dotprod_kernels();
// The armv8.2-a+dotprod+i8mm table (arm/i8mm.cpp). Call only when cpu_has_i8mm().
const KernelTable& i8mm_kernels();

}  // namespace corelm
