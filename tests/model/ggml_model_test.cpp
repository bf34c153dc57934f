// GGUF's run-in-place types through the whole forward pass: two small models whose matrices are
// K-quants (mixed as llama.cpp's Q4_K_M mixes them, and Q2_K, Q3_K, Q5_K too) or Q4_1 / Q5_0 /
// Q5_1 / Q8_0 / Q4_0, made with llama.cpp's gguf-py at build time, against their f32 twins (the
// same weights as gguf-py dequantizes them), under every kernel table this host runs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "corelm/model.h"
#include "kernels/isa.h"
#include "test_support.h"

namespace corelm {
namespace {

struct GreedyRun {
  std::vector<float> logits;  // the prompt's positions, then one per decoded token
  std::vector<int32_t> ids;
};

GreedyRun greedy(const std::string& path, const std::vector<int32_t>& prompt, size_t steps) {
  auto model = Model::load(path);
  SessionOptions o;
  o.kv_cache = KvCacheType::kF32;
  o.max_context = 64;
  o.all_logits = true;
  Session s(model, o);
  GreedyRun r;
  auto l = s.forward(prompt, 1, static_cast<int>(prompt.size())).span<float>();
  const size_t vocab = static_cast<size_t>(s.vocab_size());
  r.logits.assign(l.begin(), l.end());
  for (size_t i = 0; i < steps; ++i) {
    auto last = l.subspan(l.size() - vocab);
    const auto next =
        static_cast<int32_t>(std::max_element(last.begin(), last.end()) - last.begin());
    r.ids.push_back(next);
    l = s.forward(std::vector<int32_t>{next}, 1, 1).span<float>();
    r.logits.insert(r.logits.end(), l.begin(), l.end());
  }
  return r;
}

class GgmlModel : public ::testing::Test {
 protected:
  void TearDown() override { reset_active_kernels(); }
};

TEST_F(GgmlModel, KQuantsAndLegacyTypesMatchTheirF32TwinsUnderEveryTable) {
  // 13 prompt tokens: the kernels' 8- and 4-token tiles and a single token.
  const std::vector<int32_t> prompt{1, 403, 407, 261, 378, 296, 289, 270, 381, 285, 271, 300, 46};
  for (const std::string stem : {"kquants", "legacy"}) {
    set_active_kernels(reference_kernels());
    const GreedyRun twin = greedy(test::ggml_fixture(stem + "-f32.gguf"), prompt, 8);
    float scale = 0.0f;
    for (float v : twin.logits) scale = std::max(scale, std::fabs(v));
    for (const IsaEntry* isa : supported_isas()) {
      SCOPED_TRACE(stem + " under " + isa->name);
      set_active_kernels(isa->table());
      const GreedyRun got = greedy(test::ggml_fixture(stem + ".gguf"), prompt, 8);
      ASSERT_EQ(got.logits.size(), twin.logits.size());
      float max_err = 0.0f;
      for (size_t i = 0; i < got.logits.size(); ++i)
        max_err = std::max(max_err, std::fabs(got.logits[i] - twin.logits[i]));
      // The only difference is the int8 activations (the twin multiplies floats). Measured:
      // 0.6% of the largest logit (kquants), 1.4% (legacy: blocks of 32, larger weights).
      EXPECT_LT(max_err, 0.03f * scale) << "largest logit " << scale;
      EXPECT_EQ(got.ids, twin.ids);
    }
  }
}

}  // namespace
}  // namespace corelm
