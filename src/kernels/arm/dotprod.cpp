// The "dotprod" table: armv8.2-a with the dot-product extension (sdot), as on Cortex-A76 and later
// (Raspberry Pi 5), Neoverse N1/V1/V2 (Graviton 2/3/4) and Apple M1 and later. Compiled with
// -march=armv8.2-a+dotprod (CMakeLists.txt); called only after cpu_has_dotprod() said yes.
#include "kernels/arm/arm.h"
#include "kernels/arm/neon_common.h"

#if !defined(__ARM_FEATURE_DOTPROD)
#error "arm/dotprod.cpp needs -march=armv8.2-a+dotprod: see CMakeLists.txt"
#endif

namespace corelm {

const KernelTable& dotprod_kernels() {
  static const KernelTable table = make_neon_table("dotprod");
  return table;
}

}  // namespace corelm
