// LoRA functions run unmerged (y = W x + s * B (A x)) against the same adapters merged into the
// weights by NumPy (tests/tools/make_lora_fixtures.py: W + s * B @ A in float64), converted as
// plain models: the reference is independent of corelm's adapter code.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <thread>
#include <vector>

#include "base/memory_info.h"
#include "corelm/model.h"
#include "test_support.h"

namespace corelm {
namespace {

const std::vector<std::string> kAdapters = {"r4", "r16", "rslora", "fan_in_fan_out"};

std::shared_ptr<Model> merged_model(const std::string& name) {
  return test::stories_merged_model(name);
}

std::shared_ptr<Model> functions_model() {
  static std::shared_ptr<Model> m = Model::load(test::stories_functions_package());
  return m;
}

std::vector<int32_t> story(size_t n) {
  const auto& s = test::runc_greedy_story();
  return {s.begin(), s.begin() + static_cast<std::ptrdiff_t>(n)};
}

// Logits [ids.size(), vocab] of one sequence under `function`.
std::vector<float> logits(const std::shared_ptr<Model>& model, const std::vector<int32_t>& ids,
                          const std::string& function = "", float scale = 1.0f) {
  SessionOptions o;
  o.all_logits = true;
  o.kv_cache = KvCacheType::kF32;
  o.function = function;
  o.function_scale = scale;
  Session s(model, o);
  auto t = s.forward(ids, 1, static_cast<int>(ids.size()));
  return {t.span<float>().begin(), t.span<float>().end()};
}

float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  float d = 0.0f;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) d = std::max(d, std::fabs(a[i] - b[i]));
  return d;
}

std::vector<int32_t> greedy(Session& s, std::vector<int32_t> prompt, int steps) {
  std::vector<int32_t> out;
  Tensor l = s.forward(prompt, 1, static_cast<int>(prompt.size()));
  for (int i = 0; i < steps; ++i) {
    int32_t next = argmax(l.row(-1)).item<int32_t>();
    out.push_back(next);
    l = s.forward(std::span<const int32_t>(&next, 1), 1, 1);
  }
  return out;
}

TEST(Lora, EachFunctionGivesTheMergedModelsLogitsAndGreedyIds) {
  const auto ids = story(24);
  const auto base = logits(functions_model(), ids);
  for (const auto& name : kAdapters) {
    const auto got = logits(functions_model(), ids, name);
    const auto want = logits(merged_model(name), ids);
    EXPECT_LT(max_abs_diff(got, want), 1e-4f) << name;
    EXPECT_GT(max_abs_diff(got, base), 1e-2f) << name << " changes nothing";

    SessionOptions o;
    o.function = name;
    Session with_function(functions_model(), o);
    Session merged(merged_model(name), {});
    EXPECT_EQ(greedy(with_function, story(5), 40), greedy(merged, story(5), 40)) << name;
  }
}

TEST(Lora, TheBaseFunctionIsThePlainModel) {
  const auto ids = story(16);
  const auto plain = logits(test::stories_model("f32"), ids);
  EXPECT_EQ(logits(functions_model(), ids), plain);
  EXPECT_EQ(logits(functions_model(), ids, "main"), plain);
  EXPECT_EQ(logits(functions_model(), ids, "r16", 0.0f), plain);  // scale 0: adapters off
}

TEST(Lora, ModelInfoListsTheFunctions) {
  const auto& f = functions_model()->info().functions;
  ASSERT_EQ(f.size(), kAdapters.size());
  for (size_t i = 0; i < f.size(); ++i) EXPECT_EQ(f[i].name, kAdapters[i]);
  EXPECT_EQ(f[0].max_rank, 4u);
  EXPECT_EQ(f[0].adapters, 2u * 5u);  // q and v of 5 layers
  EXPECT_EQ(f[1].adapters, 7u * 5u);
  EXPECT_EQ(f[1].max_rank, 16u);
  EXPECT_GT(f[1].bytes, f[0].bytes);
}

TEST(Lora, SwitchingFunctionsForgetsTheCacheAndCopiesNothing) {
  SessionOptions o;
  o.all_logits = true;
  o.kv_cache = KvCacheType::kF32;
  Session s(functions_model(), o);
  const auto ids = story(12);
  s.forward(ids, 1, 12);
  EXPECT_EQ(s.past(), 12);
  s.set_function("r16");
  EXPECT_EQ(s.past(), 0);  // keys computed by the base model do not apply
  EXPECT_EQ(s.function(), "r16");
  s.set_function("r16");  // no change: the cache stays
  auto t = s.forward(ids, 1, 12);
  EXPECT_LT(max_abs_diff({t.span<float>().begin(), t.span<float>().end()},
                         logits(merged_model("r16"), ids)),
            1e-4f);
  EXPECT_EQ(s.past(), 12);

  // Switching back and forth many times: resident memory does not grow (adapters are used
  // where they are mapped). A first round through every function is not counted: it touches
  // each adapter's pages and runs code paths for the first time (under qemu, whose translated
  // code is part of the process's resident memory, that alone adds megabytes).
  auto switch_round = [&](int switches) {
    for (int i = 0; i < switches; ++i) {
      s.set_function(kAdapters[static_cast<size_t>(i) % kAdapters.size()]);
      s.forward(std::span<const int32_t>(ids.data(), 4), 1, 4);
    }
  };
  switch_round(static_cast<int>(2 * kAdapters.size()));
  const uint64_t before = current_rss_bytes();
  switch_round(200);
  const uint64_t after = current_rss_bytes();
  if (before > 0) {
    uint64_t adapters = 0;
    for (const auto& f : functions_model()->info().functions) adapters += f.bytes;
    EXPECT_LT(after, before + adapters + (uint64_t{1} << 20)) << before << " -> " << after;
  }
}

TEST(Lora, TwoSessionsWithDifferentFunctionsRunAtOnce) {
  const auto ids = story(20);
  std::vector<float> a, b;
  std::thread ta([&] {
    for (int i = 0; i < 5; ++i) a = logits(functions_model(), ids, "r4");
  });
  std::thread tb([&] {
    for (int i = 0; i < 5; ++i) b = logits(functions_model(), ids, "rslora");
  });
  ta.join();
  tb.join();
  EXPECT_LT(max_abs_diff(a, logits(merged_model("r4"), ids)), 1e-4f);
  EXPECT_LT(max_abs_diff(b, logits(merged_model("rslora"), ids)), 1e-4f);
}

TEST(Lora, OneBatchedForwardMixesFunctionsPerSequence) {
  // Four slots at different positions in one forward call, two neighbours sharing a function
  // (their rows run as one block): each sequence's logits are those it has alone.
  const auto ids = story(30);
  SessionOptions o;
  o.max_batch = 4;
  o.kv_cache = KvCacheType::kF32;
  Session s(functions_model(), o);
  const std::vector<std::string> functions = {"r4", "r4", "", "r16"};
  for (int slot = 0; slot < 4; ++slot) s.set_function(slot, functions[static_cast<size_t>(slot)]);
  // Different prefixes first (slot k holds k + 3 tokens), then one more token each, together.
  for (int slot = 0; slot < 4; ++slot) {
    std::vector<int32_t> prefix(ids.begin(), ids.begin() + slot + 3);
    SequenceInput in{slot, prefix};
    s.forward(std::span<const SequenceInput>(&in, 1));
  }
  std::vector<std::vector<int32_t>> next(4);
  std::vector<SequenceInput> batch;
  for (int slot = 0; slot < 4; ++slot) {
    next[static_cast<size_t>(slot)] = {ids[static_cast<size_t>(slot) + 3],
                                       ids[static_cast<size_t>(slot) + 4]};
    batch.push_back({slot, next[static_cast<size_t>(slot)]});
  }
  Tensor mixed = s.forward(batch);  // [4, vocab]: the last token of each
  for (int slot = 0; slot < 4; ++slot) {
    std::vector<int32_t> alone(ids.begin(), ids.begin() + slot + 5);
    const auto& fn = functions[static_cast<size_t>(slot)];
    auto solo =
        fn.empty() ? logits(test::stories_model("f32"), alone) : logits(merged_model(fn), alone);
    std::vector<float> last(solo.end() - 512, solo.end());
    Tensor row = mixed.row(slot);
    EXPECT_LT(max_abs_diff({row.span<float>().begin(), row.span<float>().end()}, last), 1e-4f)
        << "slot " << slot << " function '" << fn << "'";
  }
}

TEST(Lora, BadFunctionUseIsAClearError) {
  Session s(functions_model(), {});
  test::expect_error([&] { s.set_function("nope"); }, ErrorCode::kNotFound,
                     "no function 'nope' (it has: main, r4, r16, rslora, fan_in_fan_out)", "model");
  test::expect_error([&] { s.set_function("r4", NAN); }, ErrorCode::kInvalidArgument, "not finite",
                     "model");
  SessionOptions o;
  o.function = "missing";
  test::expect_error([&] { Session bad(functions_model(), o); }, ErrorCode::kNotFound,
                     "no function 'missing'", "model");
  SessionOptions two;
  two.max_batch = 2;
  Session s2(functions_model(), two);
  s2.set_function(0, "r4");
  const auto ids = story(4);
  SequenceInput in{0, ids};
  s2.forward(std::span<const SequenceInput>(&in, 1));
  test::expect_error([&] { s2.copy_prefix(0, 1, 2); }, ErrorCode::kInvalidArgument,
                     "run different functions", "model");
  // A model without functions knows only the base.
  Session plain(test::stories_model("f32"), {});
  test::expect_error([&] { plain.set_function("r4"); }, ErrorCode::kNotFound, "(it has: main)",
                     "model");
}

}  // namespace
}  // namespace corelm
