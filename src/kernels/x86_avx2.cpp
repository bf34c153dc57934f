// AVX2 + FMA + F16C kernels. Compiled with -mavx2 -mfma -mf16c; only called after the CPU was
// checked. Filled in by the speed work; until then the build exposes no AVX2 table.
#include "kernels/kernel_table.h"

namespace corelm {

const KernelTable* avx2_kernels() { return nullptr; }

}  // namespace corelm
