// Round trips, invalid input and unsupported components.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <sstream>

#include "base/utf8.h"
#include "corelm/error.h"
#include "corelm/tokenizer.h"
#include "test_support.h"

namespace corelm {
namespace {

using nlohmann::json;

std::vector<std::string> botchan_lines(size_t n) {
  std::istringstream in(test::read_data("text/botchan.txt"));
  std::vector<std::string> lines;
  std::string line;
  while (lines.size() < n && std::getline(in, line))
    if (!line.empty()) lines.push_back(line);
  return lines;
}

TEST(TokenizerRoundTrip, DecodeOfEncodeIsTheText) {
  // Byte-level BPE (GPT-2) and byte-fallback BPE without a normalizer (Mistral) reproduce any
  // text; the Llama-2 legacy normalizer also does for text not starting with a space.
  auto mistral = Tokenizer::from_path(test::data_path("mistral-7b-v0.1-hf"));
  auto gpt2 = Tokenizer::from_hf_json(test::read_data("gpt2-tokenizer/tokenizer.json"), "");
  auto v3 = Tokenizer::from_path(
      test::data_path("mistral-spm-models/mistral_instruct_tokenizer_240323.model.v3"));
  size_t n = 0;
  for (const auto& line : botchan_lines(400)) {
    std::string text = utf8::sanitize(line);
    if (text.rfind("\xEF\xBB\xBF", 0) == 0) text.erase(0, 3);  // the file's byte-order mark
    EXPECT_EQ(mistral->decode(mistral->encode(text)), text);
    EXPECT_EQ(gpt2->decode(gpt2->encode(text)), text);
    EXPECT_EQ(v3->decode(v3->encode(text)), text);
    ++n;
  }
  EXPECT_GT(n, 300u);
  for (const char* s : {"tabs\t\tand  spaces", "émoji 👩‍👩‍👧 and 日本語",
                        "code: if (x != 0) { y++; }", "\n\n"}) {
    EXPECT_EQ(gpt2->decode(gpt2->encode(s)), s);
    EXPECT_EQ(mistral->decode(mistral->encode(s)), s);
  }
}

TEST(TokenizerInput, InvalidUtf8IsReplacedAsPythonDoes) {
  // Documented behaviour: invalid bytes become U+FFFD (Python's bytes.decode(errors="replace")),
  // so the ids are those of the replaced string.
  auto tok = Tokenizer::from_path(test::data_path("mistral-7b-v0.1-hf"));
  EXPECT_EQ(tok->encode("ab\xFF"
                        "cd"),
            tok->encode("ab\xEF\xBF\xBD"
                        "cd"));
  EXPECT_EQ(tok->encode("\xE2\x82"), tok->encode("\xEF\xBF\xBD"));
  // Decoding byte tokens that do not form UTF-8 gives U+FFFD per byte, as tokenizers' ByteFallback.
  auto id = tok->token_to_id("<0xFF>");
  ASSERT_TRUE(id.has_value());
  EXPECT_EQ(tok->decode(std::vector<int32_t>{*id}), "\xEF\xBF\xBD");
  EXPECT_EQ(tok->decode_raw(std::vector<int32_t>{*id}), "\xFF");
}

std::string with(const std::string& stage, const json& component) {
  json j = json::parse(test::read_data("mistral-7b-v0.1-hf/tokenizer.json"));
  j[stage] = component;
  return j.dump();
}

void expect_unsupported(const std::string& tokenizer_json, const std::string& fragment) {
  test::expect_error([&] { Tokenizer::from_hf_json(tokenizer_json, ""); }, ErrorCode::kUnsupported,
                     fragment);
}

TEST(TokenizerInput, UnknownComponentTypesAreNamed) {
  expect_unsupported(with("normalizer", {{"type", "FancyNorm"}}),
                     "unsupported normalizer type 'FancyNorm'");
  expect_unsupported(with("pre_tokenizer", {{"type", "Wordy"}}),
                     "unsupported pre_tokenizer type 'Wordy'");
  expect_unsupported(with("decoder", {{"type", "Magic"}}), "unsupported decoder type 'Magic'");
  expect_unsupported(with("post_processor", {{"type", "Mystery"}}),
                     "unsupported post_processor type 'Mystery'");
  json j = json::parse(test::read_data("mistral-7b-v0.1-hf/tokenizer.json"));
  j["model"]["type"] = "WordPiece";
  expect_unsupported(j.dump(), "unsupported model type 'WordPiece'");
}

TEST(TokenizerInput, MalformedFilesAreCorruptErrors) {
  for (const std::string& bad :
       {std::string("{\"model\": 5}"), std::string("[1, 2]"),
        std::string("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": -4}}}"),
        std::string(
            "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a b\"]}}")}) {
    try {
      Tokenizer::from_hf_json(bad, "");
      ADD_FAILURE() << "accepted " << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kCorrupt) << e.what();
      EXPECT_EQ(std::string(e.what()).rfind("[tokenizer]", 0), 0u) << e.what();
    }
  }
  std::string truncated = test::read_data("mistral-spm-models/tokenizer.model.v1").substr(0, 1000);
  EXPECT_THROW(Tokenizer::from_sentencepiece(truncated), Error);
}

TEST(TokenizerComponents, NormalizersAndPreTokenizers) {
  auto make = [](const json& normalizer, const json& pre) {
    json j = {{"model",
               {{"type", "BPE"},
                {"vocab", json::object()},
                {"merges", json::array()},
                {"byte_fallback", false}}},
              {"normalizer", normalizer},
              {"pre_tokenizer", pre}};
    for (int c = 32; c < 127; ++c) j["model"]["vocab"][std::string(1, static_cast<char>(c))] = c;
    j["model"]["vocab"]["\xC3\xA9"] = 200;  // é
    j["model"]["vocab"]["e"] = 101;
    j["model"]["vocab"]["\xCC\x81"] = 201;  // combining acute
    return Tokenizer::from_hf_json(j.dump(), "");
  };
  auto ids = [](const Tokenizer& t, const std::string& s) { return t.encode(s, false); };
  // NFD splits é into e + U+0301; NFC composes it back.
  EXPECT_EQ(ids(*make({{"type", "NFD"}}, nullptr), "\xC3\xA9"), (std::vector<int32_t>{101, 201}));
  EXPECT_EQ(ids(*make({{"type", "NFC"}}, nullptr), "e\xCC\x81"), (std::vector<int32_t>{200}));
  EXPECT_EQ(ids(*make({{"type", "Lowercase"}}, nullptr), "AB"), (std::vector<int32_t>{'a', 'b'}));
  EXPECT_EQ(
      ids(*make({{"type", "Strip"}, {"strip_left", true}, {"strip_right", true}}, nullptr), "  x "),
      (std::vector<int32_t>{'x'}));
  // Digits with individual_digits isolates each digit; Punctuation isolates punctuation.
  EXPECT_EQ(ids(*make(nullptr, {{"type", "Digits"}, {"individual_digits", true}}), "a12"),
            (std::vector<int32_t>{'a', '1', '2'}));
  EXPECT_EQ(ids(*make(nullptr, {{"type", "WhitespaceSplit"}}), "a  b"),
            (std::vector<int32_t>{'a', 'b'}));
  EXPECT_EQ(ids(*make(nullptr, {{"type", "Whitespace"}}), "hi, yo"),
            (std::vector<int32_t>{'h', 'i', ',', 'y', 'o'}));
  EXPECT_EQ(ids(*make(nullptr, {{"type", "Split"},
                                {"pattern", {{"Regex", "\\d+"}}},
                                {"behavior", "Removed"},
                                {"invert", false}}),
                "a12b"),
            (std::vector<int32_t>{'a', 'b'}));
}

}  // namespace
}  // namespace corelm

namespace corelm {
namespace {

TEST(AddedTokens, StripAndSingleWordSemantics) {
  json j = json::parse(test::read_data("mistral-7b-v0.1-hf/tokenizer.json"));
  j["added_tokens"].push_back({{"id", 32000},
                               {"content", "<mask>"},
                               {"special", true},
                               {"normalized", false},
                               {"lstrip", true},
                               {"rstrip", true},
                               {"single_word", false}});
  j["added_tokens"].push_back({{"id", 32001},
                               {"content", "cat"},
                               {"special", false},
                               {"normalized", false},
                               {"lstrip", false},
                               {"rstrip", false},
                               {"single_word", true}});
  auto tok = Tokenizer::from_hf_json(j.dump(), "");
  auto plain = Tokenizer::from_path(test::data_path("mistral-7b-v0.1-hf"));
  // lstrip/rstrip swallow the spaces around the token.
  auto ids = tok->encode("Hi  <mask>  there", false);
  auto expected = plain->encode("Hi", false);
  expected.push_back(32000);
  ASSERT_GE(ids.size(), 2u);
  EXPECT_EQ(ids[expected.size() - 1], 32000);
  EXPECT_EQ(std::vector<int32_t>(ids.begin(), ids.begin() + static_cast<long>(expected.size())),
            expected);
  // single_word: "cat" alone is the added token, inside "concatenate" it is not.
  auto alone = tok->encode("a cat sat", false);
  EXPECT_NE(std::find(alone.begin(), alone.end(), 32001), alone.end());
  auto inside = tok->encode("concatenate", false);
  EXPECT_EQ(std::find(inside.begin(), inside.end(), 32001), inside.end());
  EXPECT_EQ(inside, plain->encode("concatenate", false));
  // Special tokens are skipped when decoding with skip_special_tokens.
  EXPECT_EQ(tok->decode(tok->encode("a<mask>b"), true),
            plain->decode(plain->encode("a"), true) + "b");
}

TEST(TokenizerConfig, AddBosAndEosFlags) {
  const std::string tj = test::read_data("mistral-7b-v0.1-hf/tokenizer.json");
  auto both = Tokenizer::from_hf_json(
      tj, R"({"tokenizer_class": "LlamaTokenizer", "add_bos_token": true, "add_eos_token": true,
                                             "bos_token": "<s>", "eos_token": "</s>"})");
  auto ids = both->encode("hi");
  EXPECT_EQ(ids.front(), 1);
  EXPECT_EQ(ids.back(), 2);
  auto none = Tokenizer::from_hf_json(
      tj, R"({"tokenizer_class": "LlamaTokenizer", "add_bos_token": false, "bos_token": "<s>"})");
  EXPECT_NE(none->encode("hi").front(), 1);
  EXPECT_FALSE(none->adds_bos());
}

}  // namespace
}  // namespace corelm
