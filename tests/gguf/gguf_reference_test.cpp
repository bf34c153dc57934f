// GGUF files run as they are, against llama.cpp's own outputs for them.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>

#include "corelm/convert.h"
#include "corelm/model.h"
#include "corelm/tokenizer.h"
#include "model/model_impl.h"
#include "test_support.h"

namespace corelm {
namespace {

using nlohmann::json;

std::vector<int32_t> greedy(Session& s, const std::vector<int32_t>& prompt, size_t steps,
                            std::vector<float>* logits_out, size_t logit_positions) {
  s.reset();
  std::vector<int32_t> ids;
  auto l = s.forward(prompt, 1, static_cast<int>(prompt.size())).span<float>();
  const size_t vocab = static_cast<size_t>(s.vocab_size());
  // With all_logits, the prompt's positions come first.
  if (logits_out) logits_out->assign(l.begin(), l.end());
  for (size_t i = 0; i < steps; ++i) {
    std::span<const float> last = l.subspan(l.size() - vocab);
    int32_t next = static_cast<int32_t>(std::max_element(last.begin(), last.end()) - last.begin());
    ids.push_back(next);
    if (i + 1 == steps) break;
    l = s.forward(std::vector<int32_t>{next}, 1, 1).span<float>();
    if (logits_out && logits_out->size() < logit_positions * vocab)
      logits_out->insert(logits_out->end(), l.begin(), l.end());
  }
  return ids;
}

void check_reference(const std::string& gguf, const std::string& reference, float tolerance) {
  auto ref = json::parse(test::read_data(reference));
  auto model = Model::load(test::data_path(gguf));
  SessionOptions o;
  o.kv_cache = KvCacheType::kF32;
  o.max_context = 512;  // as llama.cpp's n_ctx (stories260K.gguf says 128: a converter quirk)
  o.all_logits = true;
  Session s(model, o);
  for (const auto& run : ref["runs"]) {
    const std::string prompt = run["prompt"].get<std::string>();
    auto prompt_ids = run["prompt_ids"].get<std::vector<int32_t>>();
    EXPECT_EQ(model->tokenizer().encode(prompt), prompt_ids) << gguf << ": '" << prompt << "'";
    auto expected = run["greedy_ids"].get<std::vector<int32_t>>();
    std::vector<float> logits;
    const size_t positions = run.contains("logits") ? run["logits"].size() : 0;
    EXPECT_EQ(greedy(s, prompt_ids, expected.size(), &logits, positions), expected)
        << gguf << ": '" << prompt << "'";
    if (positions == 0) continue;
    const size_t vocab = static_cast<size_t>(model->config().vocab_size);
    // logits[i] follow the first i+1 tokens of prompt + greedy ids; ours start at the prompt's
    // first.
    float max_err = 0.0f;
    for (size_t i = 0; i < positions; ++i) {
      auto row = run["logits"][i].get<std::vector<float>>();
      ASSERT_EQ(row.size(), vocab);
      ASSERT_GE(logits.size(), (i + 1) * vocab);
      for (size_t v = 0; v < vocab; ++v)
        max_err = std::max(max_err, std::fabs(logits[i * vocab + v] - row[v]));
    }
    EXPECT_LT(max_err, tolerance) << gguf << ": '" << prompt << "'";
  }
}

TEST(GgufReference, Stories260KMatchesLlamaCpp) {
  // Values are printed with 6 significant digits; llama.cpp itself agrees with run.c to 5.5e-5.
  check_reference("tiny-models/stories260K-gguf/stories260K.gguf",
                  "tiny-models/stories260K-gguf/llamacpp_reference.json", 1e-4f);
}

TEST(GgufReference, Llama2TinyRandomF16MatchesLlamaCpp) {
  check_reference("tiny-models/llama-2-tiny-random/llama-2-tiny-random.gguf",
                  "tiny-models/llama-2-tiny-random/llamacpp_reference.json", 1e-4f);
}

TEST(GgufReference, ConvertedPackageGivesTheSameIds) {
  for (const std::string quant : {"f32", "f16"}) {
    ConvertOptions co;
    co.source = test::data_path("tiny-models/stories260K-gguf/stories260K.gguf");
    co.output = test::temp_dir() + "/from-gguf-" + quant + ".clm";
    co.quant = quant;
    ConvertReport r = convert_model(co);
    EXPECT_EQ(r.source_format, "gguf");
    if (quant == "f32") {
      EXPECT_EQ(r.relative_rms_error, 0.0);
    }
    SessionOptions o;
    o.kv_cache = KvCacheType::kF32;
    o.max_context = 512;
    Session direct(Model::load(co.source), o), converted(Model::load(co.output), o);
    // The converted rows were put back in HF order; the GGUF's run with interleaved rotary pairs.
    EXPECT_FALSE(model_weights(converted.model()).rope_interleaved);
    EXPECT_TRUE(model_weights(direct.model()).rope_interleaved);
    EXPECT_EQ(greedy(converted, {1}, 200, nullptr, 0), greedy(direct, {1}, 200, nullptr, 0))
        << quant;
  }
}

}  // namespace
}  // namespace corelm
