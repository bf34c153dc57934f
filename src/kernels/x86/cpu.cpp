// x86 CPU feature probes. Built with the project's default flags (no -mavx2 and the like), so
// they run on any x86-64 CPU before a SIMD table is touched.
#include "kernels/x86/x86.h"

namespace corelm {

bool cpu_has_avx2() {
  // libgcc's probe also checks that the OS saves the YMM registers (XGETBV).
  static const bool supported = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
           __builtin_cpu_supports("f16c");
  }();
  return supported;
}

}  // namespace corelm
