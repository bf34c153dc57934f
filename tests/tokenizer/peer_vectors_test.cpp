// Tokenizer conformance against every peer vector set in ../shared/data (SOURCES.md): HF
// transformers baselines from swift-transformers, llama.cpp's tokenizer tests, SentencePiece
// references for Mistral. Each case is its own assertion; a failing case is a bug.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <sstream>

#include "corelm/tokenizer.h"
#include "test_support.h"

namespace corelm {
namespace {

using nlohmann::json;

std::shared_ptr<Tokenizer> llama2() {
  static auto t = Tokenizer::from_path(test::data_path("llama2-tokenizer"));
  return t;
}
std::shared_ptr<Tokenizer> gpt2() {
  static auto t = Tokenizer::from_path(test::data_path("gpt2-tokenizer"));
  return t;
}
// openai-community/gpt2 as transformers 4.57 loads it for the multilingual baselines: its hub
// tokenizer_config.json does not set clean_up_tokenization_spaces, and 4.57 defaults it to
// false (the gpt2-tokenizer folder here was saved by an older transformers, with true).
std::shared_ptr<Tokenizer> gpt2_no_cleanup() {
  static auto t =
      Tokenizer::from_hf_json(test::read_data("gpt2-tokenizer/tokenizer.json"),
                              R"({"tokenizer_class": "GPT2Tokenizer", "bos_token": "<|endoftext|>",
                                              "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>"})");
  return t;
}

TEST(SwiftTransformersVectors, TokenizerTests) {
  auto j = json::parse(test::read_data("swift-transformers-vectors/tokenizer_tests.json"));
  struct Set {
    const char* key;
    std::shared_ptr<Tokenizer> tok;
  };
  for (const Set& set :
       {Set{"coreml-projects/Llama-2-7b-chat-coreml", llama2()}, Set{"distilgpt2", gpt2()}}) {
    for (const auto& c : j[set.key]) {
      std::string input = c["input"].get<std::string>();
      auto ids = c["encoded"]["input_ids"].get<std::vector<int32_t>>();
      EXPECT_EQ(set.tok->encode(input), ids) << set.key << ": " << input;
      EXPECT_EQ(set.tok->decode(ids, false), c["decoded_with_special"].get<std::string>())
          << set.key << ": " << input;
      EXPECT_EQ(set.tok->decode(ids, true), c["decoded_without_special"].get<std::string>())
          << set.key << ": " << input;
    }
  }
}

TEST(SwiftTransformersVectors, LongFrenchParagraph) {
  auto l = json::parse(test::read_data("swift-transformers-vectors/llama_encoded.json"));
  auto ids = llama2()->encode(l["text"].get<std::string>());
  EXPECT_EQ(ids, l["token_ids"].get<std::vector<int32_t>>());
  std::vector<std::string> pieces;  // bpe_tokens leave out the BOS
  for (size_t i = 1; i < ids.size(); ++i) pieces.push_back(llama2()->id_to_token(ids[i]));
  EXPECT_EQ(pieces, l["bpe_tokens"].get<std::vector<std::string>>());
  EXPECT_EQ(llama2()->decode(ids, false), l["decoded_text"].get<std::string>());

  auto g = json::parse(test::read_data("swift-transformers-vectors/gpt2_encoded_tokens.json"));
  auto gids = gpt2()->encode(g["text"].get<std::string>());
  EXPECT_EQ(gids, g["token_ids"].get<std::vector<int32_t>>());
  EXPECT_EQ(gpt2()->decode(gids), g["decoded_text"].get<std::string>());
}

TEST(SwiftTransformersVectors, Multilingual) {
  auto inputs = json::parse(test::read_data("swift-transformers-vectors/multilingual/inputs.json"));
  std::map<std::string, std::string> text;
  for (const auto& i : inputs) text[i["id"].get<std::string>()] = i["text"].get<std::string>();
  struct Set {
    const char* file;
    std::shared_ptr<Tokenizer> tok;
  };
  size_t checked = 0;
  for (const Set& set :
       {Set{"swift-transformers-vectors/multilingual/tinyllama_multilingual.json", llama2()},
        Set{"swift-transformers-vectors/multilingual/gpt2_multilingual.json", gpt2_no_cleanup()}}) {
    auto j = json::parse(test::read_data(set.file));
    for (const auto& e : j["entries"]) {
      const std::string id = e["id"].get<std::string>();
      ASSERT_TRUE(text.count(id)) << id;
      auto ids = e["input_ids"].get<std::vector<int32_t>>();
      EXPECT_EQ(set.tok->encode(text[id]), ids) << set.file << " " << id;
      EXPECT_EQ(set.tok->decode(ids, false), e["decoded_with_special"].get<std::string>())
          << set.file << " " << id;
      EXPECT_EQ(set.tok->decode(ids, true), e["decoded_skip_special"].get<std::string>())
          << set.file << " " << id;
      ++checked;
    }
  }
  EXPECT_GT(checked, 50u);
}

TEST(LlamaCppVocabTests, LlamaSpmFromTokenizerJson) {
  test::expect_llamacpp_vocab_cases("ggml-vocab-llama-spm.gguf", *llama2());
}
TEST(LlamaCppVocabTests, Gpt2FromTokenizerJson) {
  test::expect_llamacpp_vocab_cases("ggml-vocab-gpt-2.gguf", *gpt2());
}

}  // namespace
}  // namespace corelm

namespace corelm {
namespace {

std::shared_ptr<Tokenizer> spm(const std::string& name) {
  static std::map<std::string, std::shared_ptr<Tokenizer>> cache;
  auto& t = cache[name];
  if (!t) t = Tokenizer::from_path(test::data_path("mistral-spm-models/" + name));
  return t;
}

TEST(MistralSentencePiece, AknorwPeerCasesAllVersions) {
  auto cases = json::parse(test::read_data("mistral-tokenizer-vectors/aknorw_bpe_cases.json"));
  for (const auto& c : cases) {
    auto text = c["text"].get<std::string>();
    EXPECT_EQ(spm("tokenizer.model.v1")->encode(text),
              c["ids_with_bos"]["v1"].get<std::vector<int32_t>>())
        << c["title"];
    EXPECT_EQ(spm("mistral_instruct_tokenizer_240216.model.v2")->encode(text),
              c["ids_with_bos"]["v2"].get<std::vector<int32_t>>())
        << c["title"];
    EXPECT_EQ(spm("mistral_instruct_tokenizer_240323.model.v3")->encode(text),
              c["ids_with_bos"]["v3"].get<std::vector<int32_t>>())
        << c["title"];
  }
}

TEST(MistralSentencePiece, GeneratedReferenceV1AndV3) {
  auto ref = json::parse(test::read_data("mistral-tokenizer-vectors/generated_spm_reference.json"));
  size_t n = 0;
  for (const auto& e : ref["entries"]) {
    auto text = e["text"].get<std::string>();
    if (e.contains("mistral_v1_ids")) {
      auto ids = e["mistral_v1_ids"].get<std::vector<int32_t>>();
      EXPECT_EQ(spm("tokenizer.model.v1")->encode(text), ids) << e["id"];
      EXPECT_EQ(spm("tokenizer.model.v1")->decode(ids), text) << e["id"];
    }
    if (e.contains("mistral_v3_ids")) {
      EXPECT_EQ(spm("mistral_instruct_tokenizer_240323.model.v3")->encode(text),
                e["mistral_v3_ids"].get<std::vector<int32_t>>())
          << e["id"];
      EXPECT_EQ(spm("mistral_instruct_tokenizer_240216.model.v2")->encode(text),
                e["mistral_v3_ids"].get<std::vector<int32_t>>())
          << e["id"];
    }
    ++n;
  }
  EXPECT_GT(n, 20u);
}

TEST(MistralSentencePiece, ModelAndTokenizerJsonAgreeForV1) {
  auto json_tok = Tokenizer::from_path(test::data_path("mistral-7b-v0.1-hf/tokenizer.json"));
  auto model_tok = Tokenizer::from_path(test::data_path("mistral-7b-v0.1-hf/tokenizer.model"));
  std::string text = test::read_data("text/botchan.txt").substr(0, 20000);
  EXPECT_EQ(model_tok->encode(text), json_tok->encode(text));
  EXPECT_EQ(model_tok->vocab_size(), 32000);
  EXPECT_EQ(spm("mistral_instruct_tokenizer_240323.model.v3")->token_to_id("[INST]"), 3);
  EXPECT_TRUE(spm("mistral_instruct_tokenizer_240323.model.v3")->is_special(3));
}

}  // namespace
}  // namespace corelm
