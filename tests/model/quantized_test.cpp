// Quantized packages against the float reference: f16 and q8s32 keep llama2.c's greedy ids;
// q4s32's agreement and logit error are measured and held to the measured level plus a margin.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>

#include "corelm/model.h"
#include "test_support.h"

namespace corelm {
namespace {

std::vector<int32_t> reference_ids() {
  auto j = nlohmann::json::parse(test::read_data("tiny-models/stories260K/reference_outputs.json"));
  return j["greedy_from_bos"]["ids"].get<std::vector<int32_t>>();
}

std::vector<int32_t> greedy(const std::string& quant, int steps) {
  Session s(test::stories_model(quant), {});
  std::vector<int32_t> ids{1}, out;
  auto l = s.forward(ids, 1, 1);
  for (int i = 0; i < steps; ++i) {
    int32_t next = static_cast<int32_t>(std::max_element(l.begin(), l.end()) - l.begin());
    out.push_back(next);
    l = s.forward(std::vector<int32_t>{next}, 1, 1);
  }
  return out;
}

// Teacher-forced along the reference path: logits of every position.
std::vector<float> forced_logits(const std::string& quant, const std::vector<int32_t>& path) {
  SessionOptions o;
  o.all_logits = true;
  o.kv_cache = quant == "f32" ? KvCacheType::kF32 : KvCacheType::kF16;
  Session s(test::stories_model(quant), o);
  std::vector<float> all;
  for (size_t pos = 0; pos < path.size(); pos += 128) {
    size_t n = std::min<size_t>(128, path.size() - pos);
    auto l = s.forward(std::span<const int32_t>(path).subspan(pos, n), 1, static_cast<int>(n));
    all.insert(all.end(), l.begin(), l.end());
  }
  return all;
}

TEST(Quantized, F16AndQ8KeepTheGreedyIdsFor64Tokens) {
  auto ref = reference_ids();
  std::vector<int32_t> first64(ref.begin(), ref.begin() + 64);
  EXPECT_EQ(greedy("f16", 64), first64);
  EXPECT_EQ(greedy("q8s32", 64), first64);
}

TEST(Quantized, Q4S32AgreementAndLogitErrorStayAtTheMeasuredLevel) {
  auto ref = reference_ids();
  std::vector<int32_t> path{1};
  path.insert(path.end(), ref.begin(), ref.end() - 1);  // 256 positions
  auto f = forced_logits("f32", path), q = forced_logits("q4s32", path);
  size_t agree = 0;
  float max_err = 0.0f;
  double sum_err = 0.0;
  for (size_t p = 0; p < path.size(); ++p) {
    const float* a = &f[p * 512];
    const float* b = &q[p * 512];
    agree += std::max_element(a, a + 512) - a == std::max_element(b, b + 512) - b;
    for (int v = 0; v < 512; ++v) {
      max_err = std::max(max_err, std::fabs(a[v] - b[v]));
      sum_err += std::fabs(a[v] - b[v]);
    }
  }
  double agreement = static_cast<double>(agree) / static_cast<double>(path.size());
  double mean_err = sum_err / static_cast<double>(f.size());
  auto run = greedy("q4s32", 256);
  size_t prefix = 0;
  while (prefix < run.size() && run[prefix] == ref[prefix]) ++prefix;
  std::printf(
      "q4s32 on stories260K: top-1 agreement %.4f over %zu positions, max |logit error| %.4f, "
      "mean %.5f, greedy prefix equal for %zu of 256 tokens\n",
      agreement, path.size(), max_err, mean_err, prefix);
  RecordProperty("top1_agreement", std::to_string(agreement));
  RecordProperty("max_logit_error", std::to_string(max_err));
  // Measured: agreement 0.922, max error 5.16, mean 0.790. An independent NumPy forward pass
  // with the same q4s32 weights and float activations gives 0.922 / 5.30 / 0.790: the error is
  // 4-bit weights on a 64-wide model, not the kernels. Bounds: the measured level plus a margin.
  EXPECT_GE(agreement, 0.90);
  EXPECT_LT(max_err, 6.0f);
  EXPECT_LT(mean_err, 0.85);
}

}  // namespace
}  // namespace corelm
