// The baseline NEON table ("neon"): armv8-a Advanced SIMD only, which every aarch64 CPU has
// (Cortex-A53/A72: Raspberry Pi 3/4). Integer dot products by widening multiplies; the kernels
// are shared with the dotprod table (arm/neon_common.h), built here without +dotprod.
#include "kernels/arm/arm.h"
#include "kernels/arm/neon_common.h"

#if defined(__ARM_FEATURE_DOTPROD)
#error "arm/neon.cpp must be built for plain armv8-a (no +dotprod): see CMakeLists.txt"
#endif

namespace corelm {

const KernelTable& neon_kernels() {
  static const KernelTable table = make_neon_table("neon");
  return table;
}

}  // namespace corelm
