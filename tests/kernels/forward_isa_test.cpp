// The whole forward pass under the scalar reference and under the SIMD table: the same greedy
// ids on stories260K, and q4s32 logits within the tolerance the spine set for quantization.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>

#include "corelm/model.h"
#include "kernels/kernel_table.h"
#include "test_support.h"

namespace corelm {
namespace {

struct GreedyRun {
  std::vector<int32_t> ids;
  std::vector<float> logits;  // first 16 positions
};

GreedyRun greedy(const std::string& quant, int steps) {
  SessionOptions o;
  o.all_logits = true;
  Session s(test::stories_model(quant), o);
  GreedyRun r;
  std::vector<int32_t> cur{1};
  for (int i = 0; i < steps; ++i) {
    auto l = s.forward(cur, 1, 1);
    if (i < 16) r.logits.insert(r.logits.end(), l.begin(), l.end());
    cur[0] = static_cast<int32_t>(std::max_element(l.begin(), l.end()) - l.begin());
    r.ids.push_back(cur[0]);
  }
  return r;
}

TEST(ForwardIsa, SameGreedyIdsUnderRefAndSimd) {
  if (avx2_kernels() == nullptr) GTEST_SKIP() << "no SIMD table on this CPU";
  for (const std::string quant : {"f32", "f16", "q8s32", "q4s32"}) {
    set_active_kernels(reference_kernels());
    GreedyRun ref = greedy(quant, 128);
    set_active_kernels(*avx2_kernels());
    GreedyRun simd = greedy(quant, 128);
    // Measured: f32, f16 and q4s32 agree for all 128 tokens; q8s32 for 114 (a near tie then goes
    // the other way: its SIMD kernel sums a block in a different order). Held to 96.
    size_t same = 0;
    while (same < ref.ids.size() && simd.ids[same] == ref.ids[same]) ++same;
    EXPECT_GE(same, quant == "q8s32" ? 96u : 128u) << quant;
    float max_err = 0.0f;
    for (size_t i = 0; i < ref.logits.size(); ++i)
      max_err = std::max(max_err, std::fabs(simd.logits[i] - ref.logits[i]));
    // Float summation order is the only difference: far below q4s32's own error (~5).
    EXPECT_LT(max_err, 1e-3f) << quant;
  }
}

TEST(ForwardIsa, CorelmIsaEnvironmentVariableIsHonoured) {
  // The table in use is the one CORELM_ISA names (tests run with it unset: the best one).
  const char* forced = std::getenv("CORELM_ISA");
  if (forced == nullptr) {
    EXPECT_STREQ(active_kernels().name, avx2_kernels() ? "avx2" : "ref");
  }
}

}  // namespace
}  // namespace corelm
