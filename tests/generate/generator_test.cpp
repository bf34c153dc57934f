// The generation loop: stop strings, lengths, EOS, callbacks, streaming, prefix reuse.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "corelm/error.h"
#include "corelm/generate.h"
#include "corelm/model.h"
#include "corelm/tokenizer.h"
#include "outside_refs.h"
#include "test_support.h"

namespace corelm {
namespace {

// What run.c printed after "Once upon a time" (greedy, f32), minus the prompt and its final
// newline.
std::string reference_continuation() {
  auto ref =
      nlohmann::json::parse(test::read_data("tiny-models/stories260K/reference_outputs.json"));
  std::string text = ref["greedy_with_prompt"]["text"].get<std::string>();
  return text.substr(std::string("Once upon a time").size());
}

struct Fixture {
  std::shared_ptr<Model> model = test::stories_model("f32");
  Session session{model, [] {
                    SessionOptions o;
                    o.kv_cache = KvCacheType::kF32;
                    return o;
                  }()};
  Generator gen{session, model->tokenizer()};
};

TEST(Generator, GreedyTextMatchesRunC) {
  Fixture f;
  GenerateOptions o;
  o.max_new_tokens = 40;
  std::string streamed;
  auto r = f.gen.generate(std::string_view("Once upon a time"), o, [&](std::string_view p) {
    streamed += p;
    return true;
  });
  EXPECT_EQ(r.ids.size(), 40u);
  EXPECT_EQ(streamed, r.text);
  auto ref = nlohmann::json::parse(
      test::read_data("tiny-models/stories260K/reference_outputs.json"))["greedy_with_prompt"];
  EXPECT_EQ(r.prompt_ids, ref["prompt_ids"].get<std::vector<int32_t>>());
  // ids_after_bos: the 4 prompt tokens, then run.c's 60 generated ones.
  auto after_bos = ref["ids_after_bos"].get<std::vector<int32_t>>();
  EXPECT_EQ(r.ids, std::vector<int32_t>(after_bos.begin() + 4, after_bos.begin() + 44));
  // The text of those ids, decoded here from tokenizer.json's vocabulary, begins run.c's text.
  const std::string expected = test::decode_with_vocab(
      nlohmann::json::parse(test::read_data("tiny-models/stories260K-hf/tokenizer.json")),
      std::vector<int>(after_bos.begin() + 4, after_bos.begin() + 44));
  EXPECT_EQ(r.text, expected);
  EXPECT_EQ(reference_continuation().substr(0, expected.size()), expected);
  EXPECT_EQ(r.stats.stop_reason, "length");
}

TEST(Generator, StopStringEndsTheTextBeforeIt) {
  Fixture f;
  GenerateOptions o;
  o.max_new_tokens = 100;
  o.stop_strings = {"little girl"};
  std::string streamed;
  auto r = f.gen.generate(std::string_view("Once upon a time"), o, [&](std::string_view p) {
    streamed += p;
    EXPECT_EQ(std::string(p).find("little"), std::string::npos) << "a stop string's start leaked";
    return true;
  });
  std::string ref = reference_continuation();
  EXPECT_EQ(r.text, ref.substr(0, ref.find("little girl")));
  EXPECT_EQ(streamed, r.text);
  EXPECT_EQ(r.stats.stop_reason, "stop_string");
}

TEST(Generator, MaxLengthCountsThePrompt) {
  Fixture f;
  GenerateOptions o;
  o.max_length = 20;
  auto r = f.gen.generate(std::string_view("Once upon a time"), o);  // 5 prompt tokens
  EXPECT_EQ(r.prompt_ids.size(), 5u);
  EXPECT_EQ(r.ids.size(), 15u);
}

TEST(Generator, StopsAtEosWithoutIncludingIt) {
  Fixture f;
  GenerateOptions o;
  o.max_new_tokens = 50;
  o.eos_ids = {383};  // "▁there", the second generated token (", there was ...")
  auto r = f.gen.generate(std::string_view("Once upon a time"), o);
  EXPECT_EQ(r.ids, (std::vector<int32_t>{432}));
  EXPECT_EQ(r.stats.stop_reason, "eos");
  EXPECT_EQ(r.text, ",");
  o.ignore_eos = true;
  o.max_new_tokens = 3;
  r = f.gen.generate(std::string_view("Once upon a time"), o);
  EXPECT_EQ(r.ids.size(), 3u);
}

TEST(Generator, CallbackCanStop) {
  Fixture f;
  GenerateOptions o;
  o.max_new_tokens = 50;
  int calls = 0;
  auto r = f.gen.generate(std::string_view("Once upon a time"), o,
                          [&](std::string_view) { return ++calls < 3; });
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(r.stats.stop_reason, "callback");
  EXPECT_LT(r.ids.size(), 50u);
}

TEST(Generator, PromptLongerThanTheContextIsAnError) {
  auto model = test::stories_model("q4s32");
  SessionOptions so;
  so.max_context = 8;
  Session s(model, so);
  Generator g(s, model->tokenizer());
  const std::string prompt = "Once upon a time there was a little girl named Lily";
  const size_t n = model->tokenizer().encode(prompt).size();
  ASSERT_GT(n, 8u);
  test::expect_error(
      [&] { g.generate(std::string_view(prompt), {}); }, ErrorCode::kOutOfRange,
      "[generate] the prompt is " + std::to_string(n) + " tokens but the context holds 8");
}

TEST(Generator, GenerationStopsWhenTheContextIsFull) {
  auto model = test::stories_model("q4s32");
  SessionOptions so;
  so.max_context = 16;
  Session s(model, so);
  Generator g(s, model->tokenizer());
  auto r = g.generate(std::string_view("Once upon a time"), {});
  EXPECT_EQ(r.stats.stop_reason, "context");
  EXPECT_EQ(r.prompt_ids.size() + r.ids.size(), 17u);  // 16 in the cache + the last sampled
}

TEST(Generator, ReusesTheCachedPrefixWithIdenticalResults) {
  Fixture f;
  GenerateOptions o;
  o.max_new_tokens = 10;
  auto first = f.gen.generate(std::string_view("Once upon a time"), o);
  std::vector<int32_t> longer = first.prompt_ids;
  longer.insert(longer.end(), first.ids.begin(), first.ids.end());
  longer.push_back(426);  // "."
  // run.c's greedy path has "." there too, so the continuation is run.c's next 10 ids.
  auto after_bos = nlohmann::json::parse(test::read_data(
      "tiny-models/stories260K/reference_outputs.json"))["greedy_with_prompt"]["ids_after_bos"]
                       .get<std::vector<int32_t>>();
  ASSERT_EQ(std::vector<int32_t>(longer.begin() + 1, longer.end()),
            std::vector<int32_t>(after_bos.begin(), after_bos.begin() + 15));
  auto second = f.gen.generate(longer, o);
  EXPECT_EQ(second.ids, std::vector<int32_t>(after_bos.begin() + 15, after_bos.begin() + 25));
  EXPECT_EQ(second.stats.reused_tokens, first.prompt_ids.size() + first.ids.size() - 1);

  Fixture fresh;
  auto again = fresh.gen.generate(longer, o);
  EXPECT_EQ(again.stats.reused_tokens, 0u);
  EXPECT_EQ(second.ids, again.ids);
}

}  // namespace
}  // namespace corelm
