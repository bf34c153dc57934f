// src/kernels/x86/avx512_kquant.cpp compiled against SIMDe (simde_avx512.h) with -mavx2 -mfma
// -mf16c only: the K-quant kernels of the emulated avx512 table (avx512_simde.cpp), under a name
// of their own.
#include "simde_avx512.h"  // first: before anything includes <immintrin.h>

#define add_avx512_kquant_kernels add_avx512_simde_kquant_kernels
#include "kernels/x86/avx512_kquant.cpp"
#undef add_avx512_kquant_kernels
