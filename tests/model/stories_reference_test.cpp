// The forward pass against llama2.c's own outputs for stories260K (reference_outputs.json,
// produced by run.c): greedy ids and float32 logits.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>

#include "corelm/generate.h"
#include "corelm/model.h"
#include "corelm/tokenizer.h"
#include "test_support.h"

namespace corelm {
namespace {

using nlohmann::json;

const json& reference() {
  static const json j =
      json::parse(test::read_data("tiny-models/stories260K/reference_outputs.json"));
  return j;
}

// Greedy continuation of `prompt` for `steps` tokens, one decode call per token.
std::vector<int32_t> greedy(Session& s, std::vector<int32_t> prompt, int steps) {
  s.reset();
  auto logits = s.forward(prompt, 1, static_cast<int>(prompt.size())).span<float>();
  std::vector<int32_t> out;
  for (int i = 0; i < steps; ++i) {
    int32_t next =
        static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    out.push_back(next);
    if (i + 1 < steps) logits = s.forward(std::vector<int32_t>{next}, 1, 1).span<float>();
  }
  return out;
}

TEST(StoriesReference, F32ReproducesEveryGreedyIdFromBos) {
  auto model = test::stories_model("f32");
  SessionOptions o;
  o.kv_cache = KvCacheType::kF32;
  o.max_context = 512;
  Session s(model, o);
  auto expected = reference()["greedy_from_bos"]["ids"].get<std::vector<int32_t>>();
  ASSERT_EQ(expected.size(), 256u);
  EXPECT_EQ(greedy(s, {1}, 256), expected);
}

TEST(StoriesReference, F32ReproducesGreedyIdsWithPrompt) {
  auto model = test::stories_model("f32");
  SessionOptions o;
  o.kv_cache = KvCacheType::kF32;
  Session s(model, o);
  const auto& r = reference()["greedy_with_prompt"];
  auto prompt = r["prompt_ids"].get<std::vector<int32_t>>();
  EXPECT_EQ(model->tokenizer().encode(r["prompt"].get<std::string>()), prompt);
  auto after_bos = r["ids_after_bos"].get<std::vector<int32_t>>();
  // ids_after_bos = the 4 prompt tokens, then what run.c generated.
  std::vector<int32_t> expected(after_bos.begin() + 4, after_bos.end());
  EXPECT_EQ(greedy(s, prompt, static_cast<int>(expected.size())), expected);
}

TEST(StoriesReference, F32LogitsMatchRunCWithin1e4) {
  auto model = test::stories_model("f32");
  SessionOptions o;
  o.kv_cache = KvCacheType::kF32;
  o.all_logits = true;
  Session s(model, o);
  const auto& r = reference()["logits"];
  auto ids = r["input_ids"].get<std::vector<int32_t>>();
  auto values = r["values"].get<std::vector<std::vector<float>>>();
  auto logits = s.forward(ids, 1, static_cast<int>(ids.size())).span<float>();
  ASSERT_EQ(logits.size(), ids.size() * 512);
  float max_err = 0.0f;
  for (size_t i = 0; i < ids.size(); ++i)
    for (size_t v = 0; v < 512; ++v)
      max_err = std::max(max_err, std::fabs(logits[i * 512 + v] - values[i][v]));
  EXPECT_LT(max_err, 1e-4f);
}

}  // namespace
}  // namespace corelm
