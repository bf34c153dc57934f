// ARM (aarch64) CPU feature probes. Built with the project's default flags (plain armv8-a), so
// they run on any aarch64 CPU before a SIMD table is touched. Linux reports the features through
// the auxiliary vector (getauxval), which qemu-user emulates for the CPU it models.
#include "kernels/arm/arm.h"

#if defined(__linux__)
#include <sys/auxv.h>
#endif

namespace corelm {

bool cpu_has_neon() {
  return true;  // Advanced SIMD is mandatory in armv8-a (aarch64)
}

bool cpu_has_dotprod() {
#if defined(__linux__) && defined(AT_HWCAP)
  // HWCAP_ASIMDDP is bit 20 of AT_HWCAP (asm/hwcap.h); spelled out for older libc headers.
  static const bool supported = (getauxval(AT_HWCAP) & (1ul << 20)) != 0;
  return supported;
#elif defined(__APPLE__)
  return true;   // every Apple Silicon CPU (M1 and later) has the dot-product instructions
#else
  return false;
#endif
}

bool cpu_has_i8mm() {
#if defined(__linux__) && defined(AT_HWCAP2)
  // HWCAP2_I8MM is bit 13 of AT_HWCAP2.
  static const bool supported = cpu_has_dotprod() && (getauxval(AT_HWCAP2) & (1ul << 13)) != 0;
  return supported;
#else
  return false;  // not probed elsewhere (macOS would ask sysctl hw.optional.arm.FEAT_I8MM)
#endif
}

}  // namespace corelm
