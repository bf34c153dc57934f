// The avx512 kernel table compiled a second time against SIMDe (tests only, x86-64): the same
// source (src/kernels/x86/avx512.cpp and avx512_kquant.cpp), its AVX-512 intrinsics emulated on
// AVX2, so the kernel tests run those kernels on hosts without AVX-512. The ISA registry never
// lists it: dispatch cannot pick it; tests/kernels/isa_params.h adds it to the tables they
// compare with the reference when CMake built it (CORELM_TEST_AVX512_SIMDE).
#pragma once

#include "kernels/isa.h"

namespace corelm::test {

// {"avx512_simde", cpu_has_avx2, its table}: the table, named "avx512_simde", is built on first
// call; the probe is avx2's (the emulation runs on AVX2, FMA and F16C).
const IsaEntry& avx512_simde_entry();

}  // namespace corelm::test
