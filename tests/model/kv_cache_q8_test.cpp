// The int8 KV cache (one scale per head and slot) against the f16 one, on stories260K with f32
// weights: logit error and greedy agreement, measured and held at that level plus a margin.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>

#include "corelm/model.h"
#include "test_support.h"

namespace corelm {
namespace {

struct Result {
  std::vector<float> logits;  // teacher-forced along run.c's greedy path
  std::vector<int32_t> greedy;
};

Result run(KvCacheType kv) {
  auto ref =
      nlohmann::json::parse(test::read_data("tiny-models/stories260K/reference_outputs.json"));
  auto ids = ref["greedy_from_bos"]["ids"].get<std::vector<int32_t>>();
  std::vector<int32_t> path{1};
  path.insert(path.end(), ids.begin(), ids.end() - 1);
  auto model = test::stories_model("f32");
  Result r;
  SessionOptions o;
  o.kv_cache = kv;
  o.all_logits = true;
  Session forced(model, o);
  for (size_t pos = 0; pos < path.size(); pos += 64) {
    auto l = forced.forward(std::span<const int32_t>(path).subspan(pos, 64), 1, 64).span<float>();
    r.logits.insert(r.logits.end(), l.begin(), l.end());
  }
  o.all_logits = false;
  Session s(model, o);
  auto l = s.forward(std::vector<int32_t>{1}, 1, 1).span<float>();
  for (int i = 0; i < 256; ++i) {
    int32_t next = static_cast<int32_t>(std::max_element(l.begin(), l.end()) - l.begin());
    r.greedy.push_back(next);
    l = s.forward(std::vector<int32_t>{next}, 1, 1).span<float>();
  }
  return r;
}

TEST(KvCacheQ8, CloseToF16) {
  Result f16 = run(KvCacheType::kF16), q8 = run(KvCacheType::kQ8);
  float max_err = 0.0f;
  double sum = 0.0;
  size_t agree = 0;
  for (size_t p = 0; p < 256; ++p) {
    const float* a = &f16.logits[p * 512];
    const float* b = &q8.logits[p * 512];
    agree += std::max_element(a, a + 512) - a == std::max_element(b, b + 512) - b;
    for (int v = 0; v < 512; ++v) {
      max_err = std::max(max_err, std::fabs(a[v] - b[v]));
      sum += std::fabs(a[v] - b[v]);
    }
  }
  size_t prefix = 0;
  while (prefix < 256 && f16.greedy[prefix] == q8.greedy[prefix]) ++prefix;
  std::printf(
      "q8 vs f16 KV cache on stories260K: top-1 agreement %zu/256, max |logit error| %.4f, mean "
      "%.5f, "
      "greedy equal for %zu tokens\n",
      agree, max_err, sum / (256.0 * 512), prefix);
  // Measured: 253/256 top-1, max 1.10, mean 0.095, greedy equal for 118 tokens. stories260K's
  // heads have 8 dimensions, the hardest case for one int8 scale per head vector (a 4096-wide
  // model's heads have 128); docs/performance.md has the 1.1B figures.
  EXPECT_GE(agree, 245u);
  EXPECT_LT(max_err, 2.0f);
  EXPECT_LT(sum / (256.0 * 512), 0.15);
  EXPECT_GE(prefix, 96u);
}

TEST(KvCacheQ8, HalvesTheCache) {
  auto model = test::stories_model("q4s32");
  SessionOptions o;
  o.max_context = 256;
  o.kv_cache = KvCacheType::kF16;
  Session f16(model, o);
  o.kv_cache = KvCacheType::kQ8;
  Session q8(model, o);
  // int8 values plus one f32 scale per (layer, head, slot) for K and for V.
  EXPECT_EQ(q8.kv_cache_bytes(), f16.kv_cache_bytes() / 2 + 2u * 5 * 4 * 256 * 4);
}

}  // namespace
}  // namespace corelm
