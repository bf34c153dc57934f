// Bad tokenizer files get a [tokenizer] error that names the field (issue 10): wrong JSON types in
// every part of tokenizer.json, tokenizer_config.json and tokenizer data, token ids that would
// size a table, token-id keys that are not numbers, malformed byte pieces and SentencePiece
// protobufs, and the empty charsmap trie.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>

#include "corelm/error.h"
#include "corelm/tokenizer.h"
#include "test_support.h"
#include "tokenizer/precompiled.h"
#include "tokenizer/sentencepiece.h"
#include "tokenizer/tokenizer_data.h"

namespace corelm {
namespace {

using nlohmann::json;

// A small real tokenizer (stories260K's Llama tokenizer, 512 tokens) to damage one field at a time.
const json& stories_json() {
  static const json j = json::parse(test::read_data("tiny-models/stories260K-hf/tokenizer.json"));
  return j;
}
const json& stories_config() {
  static const json j =
      json::parse(test::read_data("tiny-models/stories260K-hf/tokenizer_config.json"));
  return j;
}

json with(json j, const std::string& pointer, json value) {
  j[json::json_pointer(pointer)] = std::move(value);
  return j;
}

void expect_corrupt(const std::function<void()>& f, const std::string& fragment) {
  SCOPED_TRACE(fragment);
  test::expect_error(f, ErrorCode::kCorrupt, fragment, "tokenizer");
}

struct Case {
  const char* pointer;
  json value;
  const char* fragment;
};

TEST(TokenizerBadInput, WrongTypesInTokenizerJsonNameTheField) {
  const std::vector<Case> cases = {
      {"/model", 5, "tokenizer.json: field 'model' must be an object, got the number 5"},
      {"/model/type", 5, "tokenizer.json model: field 'type' must be a string, got the number 5"},
      {"/model/vocab", 5, "tokenizer.json model: field 'vocab' must be an object"},
      {"/model/vocab/<s>", "x", "vocab entry '<s>' must be an integer in [0, "},
      {"/model/vocab/<s>", 1.5, "vocab entry '<s>' must be an integer"},
      {"/model/merges", json::object(), "field 'merges' must be an array, got an object"},
      {"/model/merges/0", 5, "merges[0] must be a string \"left right\" or a pair of strings"},
      {"/model/merges/0", json::array({"a", 5}), "merges[0] must be a string"},
      {"/model/unk_token", 5, "tokenizer.json model: field 'unk_token' must be a string"},
      {"/model/continuing_subword_prefix", true, "field 'continuing_subword_prefix' must be a"},
      {"/model/fuse_unk", "yes", "field 'fuse_unk' must be true or false, got a string"},
      {"/model/byte_fallback", 1, "field 'byte_fallback' must be true or false, got the number 1"},
      {"/model/ignore_merges", json::array(), "field 'ignore_merges' must be true or false"},
      {"/model/dropout", "x", "field 'dropout' must be a number"},
      {"/added_tokens", json::object(), "tokenizer.json: field 'added_tokens' must be an array"},
      {"/added_tokens/1", 5, "added_tokens[1] must be an object, got the number 5"},
      {"/added_tokens/0/id", "z",
       "tokenizer.json added_tokens[0]: field 'id' must be an integer in [0, 2147483647], got a "
       "string"},
      {"/added_tokens/0/content", 5,
       "tokenizer.json added_tokens[0]: field 'content' must be a string, got the number 5"},
      {"/added_tokens/0/special", "yes", "field 'special' must be true or false"},
      {"/added_tokens/0/normalized", 0, "field 'normalized' must be true or false"},
      {"/added_tokens/0/lstrip", "no", "field 'lstrip' must be true or false"},
      {"/added_tokens/0/rstrip", 1, "field 'rstrip' must be true or false"},
      {"/added_tokens/0/single_word", 1, "field 'single_word' must be true or false"},
      {"/normalizer", 5, "tokenizer.json normalizer: the normalizer must be an object"},
      {"/normalizer/type", 7, "tokenizer.json normalizer: field 'type' must be a string"},
      {"/normalizer/normalizers", json::object(), "field 'normalizers' must be an array"},
      {"/normalizer/normalizers/0", "Prepend", "the normalizer must be an object"},
      {"/normalizer/normalizers/0/prepend", 5,
       "tokenizer.json normalizer: field 'prepend' must be a string"},
      {"/normalizer/normalizers/1/pattern", 5, "field 'pattern' must be a string, {\"String\""},
      {"/normalizer/normalizers/1/pattern/String", 5, "pattern field 'String' must be a string"},
      {"/normalizer/normalizers/1/content", json::array(), "field 'content' must be a string"},
      {"/normalizer/normalizers/1/content", nullptr, "field 'content' must be set, got null"},
      {"/normalizer",
       {{"type", "BertNormalizer"}, {"lowercase", "yes"}},
       "field 'lowercase' must be true or false"},
      {"/normalizer",
       {{"type", "BertNormalizer"}, {"strip_accents", 1}},
       "field 'strip_accents' must be true or false"},
      {"/normalizer", {{"type", "Strip"}, {"strip_left", 1}}, "field 'strip_left' must be true"},
      {"/normalizer",
       {{"type", "Precompiled"}, {"precompiled_charsmap", 5}},
       "field 'precompiled_charsmap' must be a string"},
      {"/pre_tokenizer", "Metaspace", "tokenizer.json pre_tokenizer: the pre_tokenizer must be"},
      {"/pre_tokenizer",
       {{"type", "Metaspace"}, {"split", "no"}},
       "tokenizer.json pre_tokenizer: field 'split' must be true or false"},
      {"/pre_tokenizer",
       {{"type", "Metaspace"}, {"prepend_scheme", 5}},
       "field 'prepend_scheme' must be a string"},
      {"/pre_tokenizer",
       {{"type", "Metaspace"}, {"replacement", 5}},
       "field 'replacement' must be a string"},
      {"/pre_tokenizer",
       {{"type", "ByteLevel"}, {"add_prefix_space", "no"}},
       "field 'add_prefix_space' must be true or false"},
      {"/pre_tokenizer",
       {{"type", "ByteLevel"}, {"use_regex", 0}},
       "field 'use_regex' must be true or false"},
      {"/pre_tokenizer",
       {{"type", "Split"}, {"pattern", {{"Regex", 5}}}},
       "pattern field 'Regex' must be a string"},
      {"/pre_tokenizer",
       {{"type", "Split"}, {"pattern", {{"String", "x"}}}, {"behavior", 5}},
       "field 'behavior' must be a string"},
      {"/pre_tokenizer",
       {{"type", "Split"}, {"pattern", {{"String", "x"}}}, {"invert", "x"}},
       "field 'invert' must be true or false"},
      {"/pre_tokenizer", {{"type", "Split"}}, "tokenizer.json pre_tokenizer: field 'pattern' is "},
      {"/pre_tokenizer",
       {{"type", "Sequence"}, {"pretokenizers", json::object()}},
       "field 'pretokenizers' must be an array"},
      {"/pre_tokenizer",
       {{"type", "Digits"}, {"individual_digits", "x"}},
       "field 'individual_digits' must be true or false"},
      {"/pre_tokenizer",
       {{"type", "Punctuation"}, {"behavior", json::array()}},
       "field 'behavior' must be a string"},
      {"/decoder", json::array(), "tokenizer.json decoder: the decoder must be an object"},
      {"/decoder/decoders", 5, "tokenizer.json decoder: field 'decoders' must be an array"},
      {"/decoder/decoders/0/content", 5,
       "tokenizer.json decoder: field 'content' must be a string"},
      {"/decoder/decoders/3/start", "1", "field 'start' must be an integer in [0, 1048576]"},
      {"/decoder/decoders/3/stop", 2e9, "field 'stop' must be an integer in [0, 1048576]"},
      {"/decoder/decoders/3/start", -1, "field 'start' must be an integer in [0, 1048576]"},
      {"/decoder",
       {{"type", "Metaspace"}, {"add_prefix_space", "x"}},
       "field 'add_prefix_space' must be true or false"},
      {"/decoder", {{"type", "WordPiece"}, {"prefix", 5}}, "field 'prefix' must be a string"},
      {"/decoder", {{"type", "WordPiece"}, {"cleanup", 5}}, "field 'cleanup' must be true"},
      {"/post_processor", 5, "tokenizer.json post_processor: the post_processor must be"},
      {"/post_processor/single", 5, "tokenizer.json post_processor: field 'single' must be an"},
      {"/post_processor/single/0", 5, "single[0] must be an object"},
      {"/post_processor/single/0/SpecialToken", 5, "single[0].SpecialToken must be an object"},
      {"/post_processor/single/0/SpecialToken/id", 1, "field 'id' must be a string"},
      {"/post_processor/special_tokens", 5, "field 'special_tokens' must be an object"},
      {"/post_processor/special_tokens/<s>", 5, "special_tokens['<s>'] must be an object"},
      {"/post_processor/special_tokens/<s>/ids", "1", "special_tokens['<s>'].ids must be an"},
      {"/post_processor/special_tokens/<s>/ids/0", -1, "special_tokens['<s>'].ids[0] must be an"},
      {"/post_processor",
       {{"type", "BertProcessing"}, {"cls", {"[CLS]", "x"}}, {"sep", {"[SEP]", 2}}},
       "cls[1] must be an integer"},
      {"/post_processor",
       {{"type", "RobertaProcessing"}, {"cls", {"[CLS]", 1}}, {"sep", 2}},
       "field 'sep' must be an array"},
      {"/post_processor",
       {{"type", "Sequence"}, {"processors", "x"}},
       "field 'processors' must be an array"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.pointer);
    const std::string text = with(stories_json(), c.pointer, c.value).dump();
    expect_corrupt([&] { Tokenizer::from_hf_json(text, ""); }, c.fragment);
  }
}

TEST(TokenizerBadInput, AComponentWithoutATypeIsNamedNotPrinted) {
  // The message once quoted the node's JSON, whose printing recurses: a million nested arrays
  // overflowed the stack. The parser now refuses that depth; below it, the node is still named,
  // not printed.
  auto with_nested = [](size_t depth) {
    json base = stories_json();
    base.erase("pre_tokenizer");
    std::string text = base.dump();
    const std::string nested = std::string(depth, '[') + std::string(depth, ']');
    text.insert(text.size() - 1, ",\"pre_tokenizer\": {\"x\": " + nested + "}");
    EXPECT_TRUE(json::accept(text));  // the document itself is fine (nlohmann parses iteratively)
    return text;
  };
  test::expect_error([&] { Tokenizer::from_hf_json(with_nested(1000000), ""); },
                     ErrorCode::kCorrupt, "nests arrays or objects more than 128 deep",
                     "tokenizer");
  try {
    Tokenizer::from_hf_json(with_nested(100), "");
    ADD_FAILURE() << "a pre_tokenizer without a type was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnsupported);
    EXPECT_STREQ(e.what(), "[tokenizer] unsupported pre_tokenizer: it has no 'type'");
  }
}

TEST(TokenizerBadInput, SequencesNestBoundedly) {
  // Each nested Sequence was one more recursive call: 200000 of them overflowed the stack.
  const struct {
    const char* stage;
    const char* list;
    const char* leaf;
  } stages[] = {{"normalizer", "normalizers", R"({"type": "Lowercase"})"},
                {"pre_tokenizer", "pretokenizers", R"({"type": "Whitespace"})"},
                {"decoder", "decoders", R"({"type": "Fuse"})"},
                {"post_processor", "processors", R"({"type": "ByteLevel"})"}};
  for (const auto& s : stages) {
    SCOPED_TRACE(s.stage);
    auto nested = [&](size_t depth) {
      json base = stories_json();
      base.erase(s.stage);
      std::string text = base.dump();
      std::string node;
      for (size_t i = 0; i < depth; ++i)
        node += std::string(R"({"type": "Sequence", ")") + s.list + "\": [";
      node += s.leaf;
      for (size_t i = 0; i < depth; ++i) node += "]}";
      text.insert(text.size() - 1, ",\"" + std::string(s.stage) + "\": " + node);
      return text;
    };
    // 200000 levels stop at the JSON parser's depth bound; 20 (40 JSON levels) at the stage's own.
    test::expect_error([&] { Tokenizer::from_hf_json(nested(200000), ""); }, ErrorCode::kCorrupt,
                       "tokenizer.json nests arrays or objects more than 128 deep", "tokenizer");
    test::expect_error([&] { Tokenizer::from_hf_json(nested(20), ""); }, ErrorCode::kUnsupported,
                       "the " + std::string(s.stage) + " nests Sequences more than 16 deep",
                       "tokenizer");
    EXPECT_NO_THROW(Tokenizer::from_hf_json(nested(3), ""));
  }
}

TEST(TokenizerBadInput, WrongTypesInTokenizerConfigNameTheField) {
  const std::vector<Case> cases = {
      {"/add_bos_token", 3,
       "[tokenizer] tokenizer_config.json: field 'add_bos_token' must be true or false, got the "
       "number 3"},
      {"/add_eos_token", "no", "tokenizer_config.json: field 'add_eos_token' must be true or"},
      {"/chat_template", 5, "field 'chat_template' must be a string or a list of {name, template}"},
      {"/chat_template", json::array({5}), "chat_template[0] must be an object"},
      {"/chat_template", json::array({{{"name", "default"}, {"template", 5}}}),
       "tokenizer_config.json chat_template[0]: field 'template' must be a string"},
      {"/chat_template", json::array({{{"name", 5}}}), "field 'name' must be a string"},
      {"/chat_template", json::array({{{"name", "default"}}}),
       "tokenizer_config.json chat_template[0]: field 'template' is missing"},
      {"/added_tokens_decoder", json::array(), "field 'added_tokens_decoder' must be an object"},
      {"/added_tokens_decoder/0", 5, "added_tokens_decoder['0'] must be an object"},
      {"/added_tokens_decoder/0/content", 5,
       "tokenizer_config.json added_tokens_decoder['0']: field 'content' must be a"},
      {"/added_tokens_decoder/0/special", "x", "field 'special' must be true or false"},
      {"/bos_token", 5, "field 'bos_token' must be a string or an object with a 'content' string"},
      {"/eos_token",
       {{"content", 5}},
       "tokenizer_config.json eos_token: field 'content' must be a string"},
      {"/unk_token", true, "field 'unk_token' must be a string or an object"},
      {"/pad_token", json::array(), "field 'pad_token' must be a string or an object"},
      {"/additional_special_tokens", "x", "field 'additional_special_tokens' must be an array"},
      {"/additional_special_tokens", json::array({5}),
       "additional_special_tokens[0] must be a string or an object"},
      {"/clean_up_tokenization_spaces", "x", "field 'clean_up_tokenization_spaces' must be true"},
      {"/tokenizer_class", 5, "field 'tokenizer_class' must be a string"},
  };
  const std::string tokenizer_json = stories_json().dump();
  for (const auto& c : cases) {
    SCOPED_TRACE(c.pointer);
    const std::string config = with(stories_config(), c.pointer, c.value).dump();
    expect_corrupt([&] { Tokenizer::from_hf_json(tokenizer_json, config); }, c.fragment);
  }
  expect_corrupt([&] { Tokenizer::from_hf_json(tokenizer_json, "[1]"); },
                 "tokenizer_config.json must be an object, got an array");
  // Null is Hugging Face's "not set": accepted wherever a value is optional.
  json nulls = stories_config();
  for (const char* key : {"add_bos_token", "add_eos_token", "chat_template", "bos_token",
                          "pad_token", "added_tokens_decoder", "tokenizer_class"})
    nulls[key] = nullptr;
  EXPECT_NO_THROW(Tokenizer::from_hf_json(tokenizer_json, nulls.dump()));
}

TEST(TokenizerBadInput, WrongTypesInASentencePieceConfig) {
  const std::string model = test::read_data("llama2-tokenizer/tokenizer.model");
  expect_corrupt([&] { Tokenizer::from_sentencepiece(model, R"({"add_bos_token": 3})"); },
                 "tokenizer_config.json: field 'add_bos_token' must be true or false, got the "
                 "number 3");
  expect_corrupt([&] { Tokenizer::from_sentencepiece(model, R"({"add_eos_token": "x"})"); },
                 "field 'add_eos_token' must be true or false");
  expect_corrupt([&] { Tokenizer::from_sentencepiece(model, R"({"chat_template": {}})"); },
                 "field 'chat_template' must be a string or a list");
}

TokenizerData small_data() {
  TokenizerData d;
  d.model = "llama";
  d.tokens = {"<unk>",
              "<s>",
              "</s>",
              "\xE2\x96\x81",
              "a",
              "b",
              "\xE2\x96\x81"
              "a",
              "ab"};
  d.scores = {0, 0, 0, -1, -2, -3, -0.5f, -0.25f};
  d.token_types = {2, 3, 3, 1, 1, 1, 1, 1};
  d.bos_id = 1;
  d.eos_id = 2;
  d.unk_id = 0;
  return d;
}

TEST(TokenizerBadInput, WrongTypesInTokenizerDataNameTheField) {
  const json good = small_data().to_json();
  ASSERT_NO_THROW(tokenizer_from_data(TokenizerData::from_json(good)));
  const std::vector<Case> cases = {
      {"/model", 5, "tokenizer data: field 'model' must be a string"},
      {"/tokens", "x", "tokenizer data: field 'tokens' must be an array"},
      {"/tokens/2", 5, "tokens[2] must be a string, got the number 5"},
      {"/scores/1", "x", "scores[1] must be a number"},
      {"/scores/1", 1e300, "scores[1] must be a number in float range, got the number 1e+300"},
      {"/token_types/1", 9, "token_types[1] must be an integer in [0, 6]"},
      {"/merges", json::array({5}), "merges[0] must be a string"},
      {"/bos_id", "x", "field 'bos_id' must be an integer"},
      {"/eos_id", 2e9, "field 'eos_id' must be an integer in [-1, 16777215]"},
      {"/unk_id", -2, "field 'unk_id' must be an integer in [-1, 16777215]"},
      {"/add_bos", 1, "field 'add_bos' must be true or false"},
      {"/add_space_prefix", "x", "field 'add_space_prefix' must be true or false"},
      {"/pre", 5, "field 'pre' must be a string"},
      {"/chat_template", 5, "field 'chat_template' must be a string"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.pointer);
    const json bad = with(good, c.pointer, c.value);
    expect_corrupt([&] { TokenizerData::from_json(bad); }, c.fragment);
  }
  json no_tokens = good;
  no_tokens.erase("tokens");
  expect_corrupt([&] { TokenizerData::from_json(no_tokens); }, "field 'tokens' is missing");
}

TEST(TokenizerBadInput, TokenIdsAreBounded) {
  // An added-token id of 2e9 would resize the id table to 2e9 strings (bad_alloc).
  expect_corrupt(
      [&] {
        Tokenizer::from_hf_json(with(stories_json(), "/added_tokens/0/id", 2000000000).dump(), "");
      },
      "tokenizer.json added_tokens[0] has id 2000000000, beyond the 66051 ids");
  expect_corrupt(
      [&] {
        json cfg = stories_config();
        cfg["added_tokens_decoder"]["2000000000"] = {{"content", "<big>"}};
        Tokenizer::from_hf_json(stories_json().dump(), cfg.dump());
      },
      "tokenizer_config.json added_tokens_decoder['2000000000'] has id 2000000000");
  expect_corrupt(
      [&] { Tokenizer::from_hf_json(with(stories_json(), "/added_tokens/0/id", -1).dump(), ""); },
      "added_tokens[0]: field 'id' must be an integer in [0, 2147483647], got the number -1");
  expect_corrupt(
      [&] {
        Tokenizer::from_hf_json(with(stories_json(), "/model/vocab/a", 2000000000).dump(), "");
      },
      "vocab entry 'a' must be an integer in [0, 66047]");  // 512 entries + 65536 unused ids
  // Within the slack, an id past the others is accepted and the ids between decode to nothing.
  auto tok = Tokenizer::from_hf_json(with(stories_json(), "/added_tokens/2/id", 600).dump(), "");
  EXPECT_EQ(tok->vocab_size(), 601);
  EXPECT_EQ(tok->token_to_id("</s>"), 600);
  EXPECT_EQ(tok->decode(std::vector<int32_t>{550, 599, -3, 1 << 30}), "");
  // Two tokens with one id: the file is corrupt.
  expect_corrupt(
      [&] { Tokenizer::from_hf_json(with(stories_json(), "/model/vocab/a", 1).dump(), ""); },
      "tokenizer.json model: vocab id 1 is given to both");
}

TEST(TokenizerBadInput, AddedTokenKeysMustBeIds) {
  // std::stoi took " 7", "+7" and "7abc" and threw std::invalid_argument on "abc".
  for (const char* key : {"abc", " 7", "+7", "7abc", "99999999999", "-1", ""}) {
    SCOPED_TRACE(key);
    json cfg = stories_config();
    cfg["added_tokens_decoder"][key] = {{"content", "<x>"}};
    expect_corrupt([&] { Tokenizer::from_hf_json(stories_json().dump(), cfg.dump()); },
                   "added_tokens_decoder['" + std::string(key) +
                       "'] is not keyed by a token id (a decimal number)");
  }
  json cfg = stories_config();
  cfg["added_tokens_decoder"]["512"] = {{"content", "<extra>"}, {"special", true}};
  auto tok = Tokenizer::from_hf_json(stories_json().dump(), cfg.dump());
  EXPECT_EQ(tok->token_to_id("<extra>"), 512);
  EXPECT_TRUE(tok->is_special(512));
}

// --- SentencePiece .model files, written field by field (protobuf wire format) ---

std::string varint(uint64_t v) {
  std::string s;
  while (v >= 0x80) {
    s.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  s.push_back(static_cast<char>(v));
  return s;
}
std::string field(int number, const std::string& bytes) {  // length-delimited
  return varint(static_cast<uint64_t>(number) << 3 | 2) + varint(bytes.size()) + bytes;
}
std::string field_varint(int number, uint64_t v) {
  return varint(static_cast<uint64_t>(number) << 3) + varint(v);
}
std::string piece(const std::string& text, float score, int type) {
  std::string s = field(1, text);
  s += varint(2 << 3 | 5);
  char f[4];
  std::memcpy(f, &score, 4);
  s.append(f, 4);
  return s + field_varint(3, static_cast<uint64_t>(type));
}
// <unk> <s> </s> ▁ a b, then `extra`; a BPE model with byte fallback.
std::string spm_model(const std::string& extra) {
  std::string m = field(1, piece("<unk>", 0, 2)) + field(1, piece("<s>", 0, 3)) +
                  field(1, piece("</s>", 0, 3)) + field(1, piece("\xE2\x96\x81", -1, 1)) +
                  field(1, piece("a", -2, 1)) + field(1, piece("b", -3, 1)) + extra;
  return m + field(2, field_varint(3, 2) + field_varint(35, 1));
}

TEST(TokenizerBadInput, BytePiecesAreExactlyTwoHexDigits) {
  // std::stoi read "<0x-F>" as -15 (a write before the byte table), took "<0x 7>" and "<0x+F>",
  // and threw std::invalid_argument on "<0x#F>". SentencePiece refuses such BYTE pieces.
  for (const char* bad : {"<0x-F>", "<0x 7>", "<0x+F>", "<0x#F>", "<0xG0>", "<0x1>", "<0x100>"}) {
    SCOPED_TRACE(bad);
    const std::string model = spm_model(field(1, piece(bad, 0, 6)));
    expect_corrupt([&] { Tokenizer::from_sentencepiece(model); },
                   "SentencePiece piece 6 has type BYTE but is not a byte piece <0xXX>");
  }
  EXPECT_EQ(tok::byte_piece_value("<0x0A>"), 10);
  EXPECT_EQ(tok::byte_piece_value("<0xff>"), 255);
  EXPECT_EQ(tok::byte_piece_value("<0x-F>"), -1);
  EXPECT_EQ(tok::byte_piece_value("<0x+F>"), -1);
  EXPECT_EQ(tok::byte_piece_value("<0x 7>"), -1);
  // Valid byte pieces (either case) carry the bytes of characters that are not pieces: "c" is
  // 0x63, "\n" is 0x0A; ids 6 and 7 by their place in the file.
  const std::string model =
      spm_model(field(1, piece("<0x63>", 0, 6)) + field(1, piece("<0x0a>", 0, 6)));
  auto tok = Tokenizer::from_sentencepiece(model);
  EXPECT_EQ(tok->encode("ac\n", false), (std::vector<int32_t>{3, 4, 6, 7}));
  // A piece that looks like a byte but has type NORMAL is ordinary text.
  auto plain = Tokenizer::from_sentencepiece(spm_model(field(1, piece("<0x-F>", -9, 1))));
  EXPECT_EQ(plain->token_to_id("<0x-F>"), 6);
}

TEST(TokenizerBadInput, MalformedSentencePieceProtobufs) {
  expect_corrupt([&] { Tokenizer::from_sentencepiece(std::string(11, '\xFF')); },
                 "SentencePiece model has a malformed varint");
  expect_corrupt([&] { Tokenizer::from_sentencepiece(std::string("\x0A\x64\x0A\x01", 4)); },
                 "SentencePiece model field runs past the end");
  expect_corrupt([&] { Tokenizer::from_sentencepiece(std::string("\x0A", 1)); },
                 "SentencePiece model is truncated (varint)");
  expect_corrupt([&] { Tokenizer::from_sentencepiece(std::string("\x0B", 1)); },
                 "unknown wire type 3");
  expect_corrupt([&] { Tokenizer::from_sentencepiece(""); }, "SentencePiece model has no pieces");
  // A bos_id beyond int32 used to wrap around to a small id silently.
  expect_corrupt(
      [&] { Tokenizer::from_sentencepiece(spm_model(field(2, field_varint(41, 1ull << 40)))); },
      "SentencePiece model has bos_id 1099511627776");
  expect_corrupt([&] { Tokenizer::from_sentencepiece(spm_model(field(2, field_varint(42, 99)))); },
                 "eos token id 99 is outside the 6 tokens");
  // Scores order the merges; NaN has no order.
  expect_corrupt(
      [&] {
        Tokenizer::from_sentencepiece(
            spm_model(field(1, piece("ab", std::numeric_limits<float>::quiet_NaN(), 1))));
      },
      "the score of token 6 is NaN");
  // Pieces that are not UTF-8 never match (input text is UTF-8 once sanitised) but load.
  auto tok = Tokenizer::from_sentencepiece(spm_model(field(1, piece("a\xFF", -1, 1))));
  EXPECT_EQ(tok->encode("ab", false), (std::vector<int32_t>{3, 4, 5}));
}

TEST(TokenizerBadInput, AHugePieceLoadsInSeconds) {
  // Every split of every piece is looked up as a possible merge: quadratic in a piece's length.
  // A 4 MB piece took hours; pieces that long are not merge results (SentencePiece's trainer
  // makes none longer than 512 characters).
  const auto start = std::chrono::steady_clock::now();
  const std::string huge(1 << 22, 'a');
  auto tok = Tokenizer::from_sentencepiece(
      spm_model(field(1, piece(huge, 0, 1)) + field(1, piece("ab", -0.5f, 1))));
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 30);
  EXPECT_EQ(tok->encode("abb", false), (std::vector<int32_t>{3, 7, 5}));  // ▁ ab b
}

TEST(TokenizerBadInput, AddedTokensAreOfBoundedLength) {
  // Matching an added token of n bytes may follow the text n bytes deep at every position: a
  // 1 MB token over 1 MB of text was 10^12 steps.
  const std::string long_token(1 << 20, 'a');
  test::expect_error(
      [&] {
        Tokenizer::from_hf_json(with(stories_json(), "/added_tokens/0/content", long_token).dump(),
                                "");
      },
      ErrorCode::kUnsupported,
      "added token 0 is 1048576 bytes long (corelm takes added tokens of up to 1024 bytes)",
      "tokenizer");
  test::expect_error(
      [&] { Tokenizer::from_sentencepiece(spm_model(field(1, piece(long_token, 0, 3)))); },
      ErrorCode::kUnsupported, "added token 6 is 1048576 bytes long", "tokenizer");
  const std::string ok_token(1024, 'a');
  auto tok =
      Tokenizer::from_hf_json(with(stories_json(), "/added_tokens/0/content", ok_token).dump(), "");
  EXPECT_EQ(tok->encode(ok_token, false), (std::vector<int32_t>{0}));
}

TEST(TokenizerBadInput, GptTokenizerDataMustBeUtf8) {
  TokenizerData d;
  d.model = "gpt2";
  d.tokens = {"a", "b", "ab", "\xFF"};
  d.merges = {"a b"};
  expect_corrupt([&] { tokenizer_from_data(d); }, "token 3 of a gpt2 tokenizer is not UTF-8");
  d.tokens[3] = "c";
  d.merges.push_back("c\xC3");
  expect_corrupt([&] { tokenizer_from_data(d); }, "merge 1 of a gpt2 tokenizer is not UTF-8");
  d.merges.pop_back();
  d.chat_template = "{{ x }}\xFF";  // stored as bytes, not through JSON
  EXPECT_EQ(tokenizer_from_data(d)->chat_template(), d.chat_template);
}

TEST(TokenizerBadInput, CatastrophicRegexIsAnErrorNotAHang) {
  // Nested quantifiers backtrack exponentially; PCRE2's match limit stops them, and that is an
  // error rather than a silently shorter list of matches.
  const json pre = {{"type", "Split"},
                    {"pattern", {{"Regex", "(a|aa)+$"}}},
                    {"behavior", "Isolated"},
                    {"invert", false}};
  auto tok = Tokenizer::from_hf_json(with(stories_json(), "/pre_tokenizer", pre).dump(), "");
  const auto start = std::chrono::steady_clock::now();
  test::expect_error([&] { tok->encode(std::string(5000, 'a') + "b"); },
                     ErrorCode::kResourceExhausted, "a pre-tokenizer regex gave up at byte 0",
                     "tokenizer");
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 30);
  EXPECT_FALSE(tok->encode("aaa").empty());
}

TEST(TokenizerBadInput, EmptyCharsmapTrie) {
  // A charsmap whose trie is empty (size 0) followed by normalized text: no trie, no
  // replacements. Before the fix it called memcpy(nullptr, ..., 0), undefined behaviour that
  // UndefinedBehaviorSanitizer reports (make test-sanitize).
  const std::string bytes("\0\0\0\0abc\0", 8);
  auto map = tok::PrecompiledCharsMap::from_bytes(bytes);
  EXPECT_TRUE(map.empty());
  EXPECT_EQ(map.normalize("x\xC2\xA0y"), "x\xC2\xA0y");
  expect_corrupt([&] { tok::PrecompiledCharsMap::from_bytes(std::string("\x08\0\0\0ab", 6)); },
                 "precompiled charsmap declares a 8-byte trie in 6 bytes");
}

}  // namespace
}  // namespace corelm
