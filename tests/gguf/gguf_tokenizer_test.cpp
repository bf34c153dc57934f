// Tokenizers read from GGUF metadata: llama.cpp's vocab test cases, and equality with the
// tokenizer.json of the same vocabulary.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <sstream>

#include "corelm/tokenizer.h"
#include "test_support.h"

namespace corelm {
namespace {

TEST(GgufTokenizer, LlamaCppVocabTests) {
  for (const std::string name : {"ggml-vocab-llama-spm.gguf", "ggml-vocab-gpt-2.gguf"}) {
    auto tok = Tokenizer::from_path(test::data_path("llamacpp-vocab-tests/" + name));
    test::expect_llamacpp_vocab_cases(name, *tok);
  }
}

TEST(GgufTokenizer, EqualsTokenizerJsonOnSwiftLlama2Vectors) {
  auto from_gguf =
      Tokenizer::from_path(test::data_path("llamacpp-vocab-tests/ggml-vocab-llama-spm.gguf"));
  auto from_json = Tokenizer::from_path(test::data_path("llama2-tokenizer"));
  auto j =
      nlohmann::json::parse(test::read_data("swift-transformers-vectors/tokenizer_tests.json"));
  size_t n = 0;
  for (const auto& c : j["coreml-projects/Llama-2-7b-chat-coreml"]) {
    std::string input = c["input"].get<std::string>();
    auto ids = c["encoded"]["input_ids"].get<std::vector<int32_t>>();
    EXPECT_EQ(from_gguf->encode(input), ids) << input;
    EXPECT_EQ(from_gguf->encode(input), from_json->encode(input)) << input;
    EXPECT_EQ(from_gguf->decode(ids, true), c["decoded_without_special"].get<std::string>())
        << input;
    ++n;
  }
  auto inputs =
      nlohmann::json::parse(test::read_data("swift-transformers-vectors/multilingual/inputs.json"));
  for (const auto& i : inputs) {
    std::string text = i["text"].get<std::string>();
    EXPECT_EQ(from_gguf->encode(text), from_json->encode(text)) << i["id"];
    ++n;
  }
  EXPECT_GT(n, 40u);
  EXPECT_EQ(from_gguf->bos_id(), 1);
  EXPECT_EQ(from_gguf->eos_id(), 2);
}

}  // namespace
}  // namespace corelm
