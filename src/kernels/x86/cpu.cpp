// x86 CPU feature probes. Built with the project's default flags (no -mavx2 and the like), so
// they run on any x86-64 CPU before a SIMD table is touched.
#include <cpuid.h>

#include "kernels/x86/x86.h"

namespace corelm {

bool cpu_has_avx2() {
  // libgcc's probe also checks that the OS saves the YMM registers (XGETBV).
  static const bool supported = [] {
    __builtin_cpu_init();
    // F16C through CPUID leaf 1 (ECX bit 29): clang's __builtin_cpu_supports has no "f16c".
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    const bool f16c = __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_F16C) != 0;
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && f16c;
  }();
  return supported;
}

bool cpu_has_avxvnni() {
  static const bool supported = [] {
    if (!cpu_has_avx2()) return false;  // also: the OS saves the YMM registers
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (__get_cpuid_max(0, nullptr) < 7) return false;
    __cpuid_count(7, 1, eax, ebx, ecx, edx);
    return (eax & (1u << 4)) != 0;  // AVX-VNNI
  }();
  return supported;
}

bool cpu_has_avx512() {
  // libgcc sets the AVX-512 features only when XGETBV says the OS saves the opmask and ZMM state.
  static const bool supported = [] {
    if (!cpu_has_avx2()) return false;
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vnni");
  }();
  return supported;
}

}  // namespace corelm
