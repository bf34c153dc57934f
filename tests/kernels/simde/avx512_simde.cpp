// src/kernels/x86/avx512.cpp compiled against SIMDe (simde_avx512.h) with -mavx2 -mfma -mf16c
// only: the avx512 table's kernels, emulated, for the tests (avx512_simde.h). The production
// file's two external names are renamed here so that this copy never meets the real one; all
// else in it has internal linkage.
#include "simde_avx512.h"  // first: before anything includes <immintrin.h>

#define avx512_kernels avx512_simde_kernels_as_built
#define add_avx512_kquant_kernels add_avx512_simde_kquant_kernels  // avx512_kquant_simde.cpp
#include "kernels/x86/avx512.cpp"
#undef avx512_kernels
#undef add_avx512_kquant_kernels

#include "avx512_simde.h"

namespace corelm::test {

namespace {

const KernelTable& avx512_simde_kernels() {
  static const KernelTable table = [] {
    KernelTable t = avx512_simde_kernels_as_built();
    t.name = "avx512_simde";
    return t;
  }();
  return table;
}

}  // namespace

const IsaEntry& avx512_simde_entry() {
  static constexpr IsaEntry entry{"avx512_simde", cpu_has_avx2, avx512_simde_kernels};
  return entry;
}

}  // namespace corelm::test
