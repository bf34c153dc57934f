// Sampler processors against hand-computed values, the seeded draw, and llama2.c's documented
// top-p sample reproduced token for token.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <limits>

#include "corelm/error.h"
#include "corelm/generate.h"
#include "corelm/model.h"
#include "corelm/tokenizer.h"
#include "sample/logit_processors.h"
#include "test_support.h"

namespace corelm {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

std::vector<float> logs(std::initializer_list<float> probs) {
  std::vector<float> v;
  for (float p : probs) v.push_back(std::log(p));
  return v;
}

TEST(Rng, IsXorshift64StarAsInRunC) {
  // Values of run.c's random_u32 / random_f32 for state 133742, computed by hand from its
  // definition (state ^= state >> 12; ^= << 25; ^= >> 27; (state * 0x2545F4914F6CDD1D) >> 32).
  Rng r(133742);
  EXPECT_EQ(r.next_u32(), 3033531262u);
  EXPECT_EQ(r.next_u32(), 2674377904u);
  Rng f(133742);
  EXPECT_FLOAT_EQ(f.next_float(), 0.7062990069389343f);
}

TEST(Sampler, RepetitionPenaltyDividesPositivesAndMultipliesNegatives) {
  std::vector<float> l{2, -2, 1};
  std::vector<int32_t> history{0, 1, 1};
  sampling::apply_repetition_penalty(l, history, 2.0f);
  EXPECT_EQ(l, (std::vector<float>{1, -4, 1}));
}

TEST(Sampler, PresenceAndFrequencyPenalties) {
  std::vector<float> l{1, 1, 1};
  std::vector<int32_t> generated{2, 2, 0};
  sampling::apply_presence_frequency(l, generated, 0.5f, 0.25f);
  EXPECT_FLOAT_EQ(l[0], 1 - 0.5f - 0.25f);
  EXPECT_FLOAT_EQ(l[1], 1);
  EXPECT_FLOAT_EQ(l[2], 1 - 0.5f - 0.5f);
}

TEST(Sampler, TemperatureScales) {
  std::vector<float> l{1, 2};
  sampling::apply_temperature(l, 0.5f);
  EXPECT_EQ(l, (std::vector<float>{2, 4}));
}

TEST(Sampler, TopKKeepsTiesAtTheKthValue) {
  std::vector<float> l{1, 3, 2, 3};
  sampling::apply_top_k(l, 2);
  EXPECT_EQ(l, (std::vector<float>{kNegInf, 3, kNegInf, 3}));
  std::vector<float> m{1, 3, 2, 0};
  sampling::apply_top_k(m, 3);
  EXPECT_EQ(m, (std::vector<float>{1, 3, 2, kNegInf}));
}

TEST(Sampler, TopPKeepsTheSmallestSetAboveP) {
  auto l = logs({0.05f, 0.5f, 0.15f, 0.3f});
  sampling::apply_top_p(l, 0.7f);  // 0.5 + 0.3 = 0.8 > 0.7
  EXPECT_EQ(l[0], kNegInf);
  EXPECT_NE(l[1], kNegInf);
  EXPECT_EQ(l[2], kNegInf);
  EXPECT_NE(l[3], kNegInf);
  auto m = logs({0.05f, 0.5f, 0.15f, 0.3f});
  sampling::apply_top_p(m, 0.9f);  // needs 0.5 + 0.3 + 0.15
  EXPECT_EQ(m[0], kNegInf);
  EXPECT_NE(m[2], kNegInf);
}

TEST(Sampler, MinPDropsBelowAFractionOfTheTop) {
  auto l = logs({0.5f, 0.3f, 0.15f, 0.05f});
  sampling::apply_min_p(l, 0.4f);  // threshold 0.2
  EXPECT_NE(l[0], kNegInf);
  EXPECT_NE(l[1], kNegInf);
  EXPECT_EQ(l[2], kNegInf);
  EXPECT_EQ(l[3], kNegInf);
}

TEST(Sampler, DrawWalksTokensByProbability) {
  auto l = logs({0.2f, 0.5f, 0.3f});  // order by probability: 1 (0.5), 2 (0.3), 0 (0.2)
  EXPECT_EQ(sampling::draw(l, 0.1f), 1);
  EXPECT_EQ(sampling::draw(l, 0.49f), 1);
  EXPECT_EQ(sampling::draw(l, 0.7f), 2);
  EXPECT_EQ(sampling::draw(l, 0.9f), 0);
  std::vector<float> masked{kNegInf, 0.0f, kNegInf};
  EXPECT_EQ(sampling::draw(masked, 0.99f), 1);
}

TEST(Sampler, EmpiricalDistributionMatches) {
  SamplingOptions o;
  o.temperature = 1.0f;
  o.seed = 7;
  Sampler s(o);
  std::vector<int> counts(3);
  const int n = 30000;
  for (int i = 0; i < n; ++i) {
    auto l = logs({0.2f, 0.5f, 0.3f});
    counts[s.sample(l, {})]++;
  }
  EXPECT_NEAR(counts[0] / double(n), 0.2, 0.015);
  EXPECT_NEAR(counts[1] / double(n), 0.5, 0.015);
  EXPECT_NEAR(counts[2] / double(n), 0.3, 0.015);
}

TEST(Sampler, GreedyIsArgmaxAfterPenalties) {
  Sampler s({});
  std::vector<float> l{3, 2, 1};
  std::vector<int32_t> ctx{0};
  EXPECT_EQ(s.sample(l, ctx), 0);
  SamplingOptions o;
  o.repetition_penalty = 2.0f;  // 3 -> 1.5 < 2
  Sampler p(o);
  std::vector<float> m{3, 2, 1};
  EXPECT_EQ(p.sample(m, ctx), 1);
}

TEST(Sampler, RejectsBadOptions) {
  SamplingOptions o;
  o.top_p = 0.0f;
  EXPECT_THROW(Sampler{o}, Error);
  o = {};
  o.temperature = -1;
  EXPECT_THROW(Sampler{o}, Error);
}

TEST(Sampler, ReproducesLlama2cTopPSample) {
  // run.c -t 1.0 -p 0.9 -s 133742 on stories260K: its documented sample, token for token.
  auto ref =
      nlohmann::json::parse(test::read_data("tiny-models/stories260K/reference_outputs.json"));
  const auto& r = ref["sampled_t1_p09_seed133742"];
  auto expected = r["ids"].get<std::vector<int32_t>>();
  auto model = test::stories_model("f32");
  SessionOptions so;
  so.kv_cache = KvCacheType::kF32;
  Session session(model, so);
  Generator g(session, model->tokenizer());
  GenerateOptions go;
  go.sampling.temperature = 1.0f;
  go.sampling.top_p = 0.9f;
  go.sampling.seed = 133742;
  go.max_new_tokens = static_cast<int>(expected.size());
  go.ignore_eos = true;
  auto result = g.generate(std::vector<int32_t>{1}, go);
  EXPECT_EQ(result.ids, expected);
  std::string text = r["text"].get<std::string>();
  if (!text.empty() && text.back() == '\n') text.pop_back();  // run.c's final newline
  EXPECT_EQ(result.text, text);
}

TEST(Sampler, SameSeedSameOutput) {
  auto model = test::stories_model("q4s32");
  GenerateOptions go;
  go.sampling.temperature = 0.9f;
  go.sampling.top_k = 40;
  go.sampling.seed = 1234;
  go.max_new_tokens = 60;
  auto run = [&] {
    Session s(model, {});
    Generator g(s, model->tokenizer());
    return g.generate(std::string_view("Once upon a time"), go).ids;
  };
  auto a = run(), b = run();
  EXPECT_EQ(a, b);
  go.sampling.seed = 4321;
  EXPECT_NE(run(), a);
}

}  // namespace
}  // namespace corelm
