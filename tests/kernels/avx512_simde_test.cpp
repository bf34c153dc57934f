// The avx512 table emulated through SIMDe (simde/, built where CMake found SIMDe): a test-only
// table that dispatch can never pick, and the avx512 table slot for slot. What its kernels
// compute is checked by the tests every table runs (simd_vs_reference_test.cpp,
// forward_isa_test.cpp: test::simd_isas() lists it).
#include <gtest/gtest.h>

#if defined(CORELM_TEST_AVX512_SIMDE)

#include <algorithm>

#include "isa_params.h"
#include "kernels/isa.h"
#include "kernels/x86/x86.h"
#include "simde/avx512_simde.h"
#include "test_support.h"

namespace corelm {
namespace {

TEST(Avx512Simde, IsNeverChosenByTheRegistry) {
  for (const IsaEntry& e : isa_registry()) EXPECT_STRNE(e.name, "avx512_simde");
  test::expect_error([] { select_kernels("avx512_simde"); }, ErrorCode::kInvalidArgument,
                     "unknown CORELM_ISA 'avx512_simde'", "kernels");
  test::ScopedIsaVariable unset(nullptr);
  EXPECT_STRNE(select_kernels("").name, "avx512_simde");
}

TEST(Avx512Simde, RunsWhereAvx2DoesAndIsAmongTheTestedTables) {
  const IsaEntry& e = test::avx512_simde_entry();
  EXPECT_STREQ(e.name, "avx512_simde");
  EXPECT_EQ(e.supported(), cpu_has_avx2());
  const auto tables = test::simd_isas();
  EXPECT_EQ(std::count(tables.begin(), tables.end(), &e), cpu_has_avx2() ? 1 : 0);
}

TEST(Avx512Simde, HasTheKernelsOfTheAvx512Table) {
  if (!cpu_has_avx2()) GTEST_SKIP() << "no AVX2";
  const KernelTable& t = test::avx512_simde_entry().table();
  EXPECT_STREQ(t.name, "avx512_simde");
  EXPECT_NE(&t, &avx2_kernels());
  // avx512's own quantizer, not avx2's (the table starts from avx2's and replaces it).
  EXPECT_NE(t.quantize_q8a, avx2_kernels().quantize_q8a);
  if (!cpu_has_avx512()) GTEST_SKIP() << "no AVX-512 here to compare the real table with";
  const KernelTable& real = avx512_kernels();
  EXPECT_EQ(t.interleave_q8, real.interleave_q8);
  EXPECT_EQ(t.interleave_q4_k, real.interleave_q4_k);
  for (size_t d = 0; d < kNumDTypes; ++d)
    for (size_t l = 0; l < kNumLayouts; ++l) {
      const MatmulFn a = t.matmul[d][l], b = real.matmul[d][l], avx2 = avx2_kernels().matmul[d][l];
      if (b == avx2) {  // avx2's kernel (or none) in both
        EXPECT_EQ(a, avx2) << d << " " << l;
      } else {  // avx512's own: the emulated table has its own copy
        EXPECT_NE(a, nullptr) << d << " " << l;
        EXPECT_NE(a, avx2) << d << " " << l;
        EXPECT_NE(a, b) << d << " " << l;
      }
    }
}

}  // namespace
}  // namespace corelm

#endif  // CORELM_TEST_AVX512_SIMDE
