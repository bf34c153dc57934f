// The Llama/Mistral SentencePiece-style BPE from tokenizer.json: stories260K (against llama2.c's
// encoder) and Mistral v0.1 (against SentencePiece and the aknorw peer vectors).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "base/utf8.h"
#include "corelm/error.h"
#include "corelm/tokenizer.h"
#include "test_support.h"

namespace corelm {
namespace {

using nlohmann::json;

std::shared_ptr<Tokenizer> mistral_v1() {
  static auto t = Tokenizer::from_path(test::data_path("mistral-7b-v0.1-hf"));
  return t;
}

TEST(StoriesTokenizer, EncodesAndDecodesLikeRunC) {
  auto tok = Tokenizer::from_path(test::data_path("tiny-models/stories260K-hf"));
  auto ref = json::parse(test::read_data("tiny-models/stories260K/reference_outputs.json"));
  EXPECT_EQ(tok->encode("Once upon a time"),
            ref["greedy_with_prompt"]["prompt_ids"].get<std::vector<int32_t>>());
  auto ids = ref["greedy_from_bos"]["ids"].get<std::vector<int32_t>>();
  // run.c prints a newline after the last token; the ids do not contain it.
  std::string text = ref["greedy_from_bos"]["text"].get<std::string>();
  ASSERT_EQ(text.back(), '\n');
  text.pop_back();
  EXPECT_EQ(tok->decode(ids), text);
  EXPECT_EQ(tok->bos_id(), 1);
  EXPECT_EQ(tok->eos_id(), 2);
  EXPECT_TRUE(tok->adds_bos());
  // The story encodes back to the ids that produced it (BOS first).
  auto again = tok->encode(text);
  ASSERT_FALSE(again.empty());
  EXPECT_EQ(std::vector<int32_t>(again.begin() + 1, again.end()), ids);
}

TEST(MistralV1Tokenizer, AknorwPeerCases) {
  auto cases = json::parse(test::read_data("mistral-tokenizer-vectors/aknorw_bpe_cases.json"));
  for (const auto& c : cases) {
    auto text = c["text"].get<std::string>();
    EXPECT_EQ(mistral_v1()->encode(text), c["ids_with_bos"]["v1"].get<std::vector<int32_t>>())
        << c["title"];
  }
}

TEST(MistralV1Tokenizer, SentencePieceReferencePlainText) {
  auto ref = json::parse(test::read_data("mistral-tokenizer-vectors/generated_spm_reference.json"));
  size_t n = 0;
  for (const auto& e : ref["entries"]) {
    if (!e.contains("mistral_v1_ids")) continue;
    auto text = e["text"].get<std::string>();
    EXPECT_EQ(mistral_v1()->encode(text), e["mistral_v1_ids"].get<std::vector<int32_t>>())
        << e["id"];
    ++n;
  }
  EXPECT_GT(n, 20u);
}

TEST(MistralV1Tokenizer, DecodeRoundTripsPlainText) {
  for (const char* text :
       {"Hello world", "  leading spaces", "tabs\tand\nnewlines", "émoji 😀 ok", "日本語"}) {
    auto ids = mistral_v1()->encode(text);
    EXPECT_EQ(mistral_v1()->decode(ids), text);
  }
}

TEST(MistralV1Tokenizer, SpecialTokensInTextAreRecognised) {
  auto ids = mistral_v1()->encode("<s>Hi</s>", false);
  ASSERT_GE(ids.size(), 3u);
  EXPECT_EQ(ids.front(), 1);
  EXPECT_EQ(ids.back(), 2);
  EXPECT_EQ(mistral_v1()->decode(ids, true), "Hi");
}

TEST(StreamDecoder, NeverSplitsACharacterAndMatchesDecode) {
  auto tok = mistral_v1();
  const std::string text = "Grüße 😀 日本 ok\n  done";
  auto ids = tok->encode(text);
  StreamDecoder stream(*tok, std::span<const int32_t>(ids).subspan(0, 1));
  std::string out;
  for (size_t i = 1; i < ids.size(); ++i) {
    std::string piece = stream.push(ids[i]);
    EXPECT_TRUE(piece.empty() || corelm::utf8::is_valid(piece)) << "piece " << i;
    out += piece;
  }
  out += stream.flush();
  EXPECT_EQ(out, text);
}

TEST(Tokenizer, MalformedInputsAreClearErrors) {
  EXPECT_THROW(Tokenizer::from_hf_json("{", ""), Error);
  test::expect_error(
      [] { Tokenizer::from_hf_json(R"({"model": {"type": "Unigram", "vocab": []}})", ""); },
      ErrorCode::kUnsupported, "unsupported model type 'Unigram'");
  EXPECT_THROW(Tokenizer::from_path("/nonexistent/tokenizer.json"), Error);
}

}  // namespace
}  // namespace corelm
