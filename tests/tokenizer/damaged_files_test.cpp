// A fuzzer's view of the tokenizer loaders, in a fixed-seed loop: the real files in the shared
// data, truncated, bit-flipped, or with a JSON value replaced by one of another type or removed.
// Each variant must load or fail with a corelm::Error (never another exception, a crash or a
// hang); what loads must encode and decode (ids out of range included). Also: encoding 1 MB of
// text of several kinds stays near-linear.
#include <gtest/gtest.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <random>

#include "base/utf8.h"
#include "corelm/error.h"
#include "corelm/tokenizer.h"
#include "test_support.h"

namespace corelm {
namespace {

using nlohmann::json;

struct Outcome {
  int loaded = 0, refused = 0;
};

// Loads `load()`'s tokenizer and, if it loads, encodes and decodes with it. Any exception other
// than corelm::Error fails the test.
template <typename Load>
void try_variant(Load&& load, Outcome& outcome, std::mt19937& rng, const std::string& what) {
  try {
    std::shared_ptr<Tokenizer> tok = load();
    ++outcome.loaded;
    for (const char* text :
         {"Hello world, it's 2024!", " \xE6\x97\xA5\xE6\x9C\xAC  x\n\t", "<s>[INST] a [/INST]</s>",
          "ab\xFF\xFE"
          "c"}) {
      auto ids = tok->encode(text);
      (void)tok->decode(ids);
      (void)tok->decode_raw(ids, false);
    }
    std::vector<int32_t> random_ids;
    std::uniform_int_distribution<int32_t> id(-5, tok->vocab_size() + 5);
    for (int i = 0; i < 32; ++i) random_ids.push_back(id(rng));
    (void)tok->decode(random_ids, false);
  } catch (const Error& e) {
    ++outcome.refused;
    EXPECT_EQ(std::string(e.what()).rfind("[tokenizer]", 0), 0u) << what << ": " << e.what();
    EXPECT_NE(e.code(), ErrorCode::kInternal) << what << ": " << e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << what << ": a foreign exception escaped: " << e.what();
  }
}

// Truncation or 1-8 flipped bits.
std::string damage_bytes(const std::string& original, std::mt19937& rng, std::string* what) {
  std::string s = original;
  if (rng() % 4 == 0) {
    const size_t keep = rng() % s.size();
    s.resize(keep);
    *what = fmt::format("truncated to {}", keep);
    return s;
  }
  *what = "bits flipped at";
  for (int n = 1 + static_cast<int>(rng() % 8); n > 0; --n) {
    const size_t at = rng() % s.size();
    s[at] = static_cast<char>(s[at] ^ (1 << (rng() % 8)));
    what->append(fmt::format(" {}", at));
  }
  return s;
}

// The JSON pointers of a document's nodes, leaving out all but a sample of the vocab and merges
// entries (tens of thousands of them, all alike).
void collect(const json& j, const std::string& at, std::vector<std::string>& out,
             std::mt19937& rng) {
  out.push_back(at);
  const bool bulk = at == "/model/vocab" || at == "/model/merges";
  if (j.is_object()) {
    for (const auto& [key, value] : j.items()) {
      if (bulk && rng() % 2000 != 0) continue;
      std::string child = at;
      child.push_back('/');
      for (char c : key) {  // JSON pointer escapes
        if (c == '~') {
          child.append("~0");
        } else if (c == '/') {
          child.append("~1");
        } else {
          child.push_back(c);
        }
      }
      collect(value, child, out, rng);
    }
  } else if (j.is_array()) {
    for (size_t i = 0; i < j.size(); ++i) {
      if (bulk && rng() % 2000 != 0) continue;
      std::string child = at;
      child.push_back('/');
      child.append(std::to_string(i));
      collect(j[i], child, out, rng);
    }
  }
}

json damage_tree(json j, const std::vector<std::string>& pointers, std::mt19937& rng,
                 std::string* what) {
  static const json kValues[] = {nullptr,
                                 true,
                                 3,
                                 -1,
                                 2000000000,
                                 1.5,
                                 "x",
                                 "",
                                 json::array(),
                                 json::object(),
                                 json::array({"a", 5}),
                                 json::object({{"content", 5}}),
                                 1e300};
  const std::string& at = pointers[rng() % pointers.size()];
  const json::json_pointer p(at);
  if (at.empty()) return kValues[rng() % std::size(kValues)];
  if (rng() % 5 == 0) {
    json& parent = j[p.parent_pointer()];
    if (parent.is_object()) {
      parent.erase(p.back());
      *what = "removed " + at;
      return j;
    }
  }
  const json& value = kValues[rng() % std::size(kValues)];
  j[p] = value;
  *what = at + " = " + value.dump();
  return j;
}

TEST(TokenizerDamagedFiles, TokenizerJsonLoadsOrFailsCleanly) {
  std::mt19937 rng(20261202);
  for (const char* file :
       {"tiny-models/stories260K-hf/tokenizer.json", "gpt2-tokenizer/tokenizer.json",
        "llama2-tokenizer/tokenizer.json", "mistral-7b-v0.1-hf/tokenizer.json"}) {
    SCOPED_TRACE(file);
    const std::string text = test::read_data(file);
    const json original = json::parse(text);
    std::vector<std::string> pointers;
    collect(original, "", pointers, rng);
    Outcome bytes, tree;
    const int rounds = std::string(file).find("stories") != std::string::npos ? 200 : 15;
    for (int i = 0; i < rounds; ++i) {
      std::string what;
      const std::string damaged = damage_bytes(text, rng, &what);
      try_variant([&] { return Tokenizer::from_hf_json(damaged, ""); }, bytes, rng, what);
      const std::string mutated = damage_tree(original, pointers, rng, &what).dump();
      try_variant([&] { return Tokenizer::from_hf_json(mutated, ""); }, tree, rng, what);
    }
    // Both kinds of damage are seen: some variants load, some are refused.
    EXPECT_GT(bytes.refused, 0);
    EXPECT_GT(tree.loaded, 0);
    EXPECT_GT(tree.refused, 0);
  }
}

TEST(TokenizerDamagedFiles, TokenizerConfigLoadsOrFailsCleanly) {
  std::mt19937 rng(7);
  const std::string tokenizer_json = test::read_data("tiny-models/stories260K-hf/tokenizer.json");
  for (const char* file :
       {"tiny-models/stories260K-hf/tokenizer_config.json",
        "mistral-7b-v0.1-hf/tokenizer_config.json", "llama2-tokenizer/tokenizer_config.json",
        "gpt2-tokenizer/tokenizer_config.json"}) {
    SCOPED_TRACE(file);
    const json original = json::parse(test::read_data(file));
    std::vector<std::string> pointers;
    collect(original, "", pointers, rng);
    Outcome tree;
    for (int i = 0; i < 100; ++i) {
      std::string what;
      const std::string mutated = damage_tree(original, pointers, rng, &what).dump();
      try_variant([&] { return Tokenizer::from_hf_json(tokenizer_json, mutated); }, tree, rng,
                  what);
    }
    EXPECT_GT(tree.loaded, 0);
    EXPECT_GT(tree.refused, 0);
  }
}

TEST(TokenizerDamagedFiles, SentencePieceModelLoadsOrFailsCleanly) {
  std::mt19937 rng(42);
  for (const char* file : {"llama2-tokenizer/tokenizer.model",
                           "mistral-spm-models/mistral_instruct_tokenizer_240323.model.v3"}) {
    SCOPED_TRACE(file);
    const std::string model = test::read_data(file);
    Outcome outcome;
    for (int i = 0; i < 100; ++i) {
      std::string what;
      const std::string damaged = damage_bytes(model, rng, &what);
      try_variant([&] { return Tokenizer::from_sentencepiece(damaged); }, outcome, rng, what);
    }
    EXPECT_GT(outcome.loaded, 0);
    EXPECT_GT(outcome.refused, 0);
  }
}

TEST(TokenizerDamagedFiles, OneMegabyteOfTextEncodesInSeconds) {
  const std::vector<std::pair<std::string, std::shared_ptr<Tokenizer>>> tokenizers = {
      {"gpt2", Tokenizer::from_hf_json(test::read_data("gpt2-tokenizer/tokenizer.json"), "")},
      {"mistral", Tokenizer::from_path(test::data_path("mistral-7b-v0.1-hf"))},
      {"llama2 .model",
       Tokenizer::from_sentencepiece(test::read_data("llama2-tokenizer/tokenizer.model"))}};
  const size_t mb = 1 << 20;
  std::string prose;
  const std::string botchan = test::read_data("text/botchan.txt");
  while (prose.size() < mb) prose += botchan;
  prose.resize(mb);
  prose = utf8::sanitize(prose);  // the cut may split a character
  for (size_t bom; (bom = prose.find("\xEF\xBB\xBF")) != std::string::npos;) prose.erase(bom, 3);
  std::string noise(mb, '\0');
  std::mt19937 rng(1);
  for (auto& c : noise) c = static_cast<char>(rng());
  std::string cjk;
  while (cjk.size() < mb) cjk += "\xE6\x97\xA5";
  const std::vector<std::pair<std::string, std::string>> texts = {
      {"prose", prose},
      {"one word", std::string(mb, 'a')},
      {"spaces", std::string(mb, ' ')},
      {"random bytes", noise},
      {"one CJK character", cjk},
      {"special tokens", [&] {
         std::string s;
         while (s.size() < mb) s += "<s></s>";
         return s;
       }()}};
  for (const auto& [name, tok] : tokenizers) {
    for (const auto& [kind, text] : texts) {
      const auto start = std::chrono::steady_clock::now();
      const auto ids = tok->encode(text);
      const std::string back = tok->decode(ids);
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      // A quadratic pass over 1 MB would take minutes; near-linear work takes well under a
      // second on a desktop core (the bound leaves room for sanitizers and a loaded machine).
      EXPECT_LT(seconds, 60.0) << name << ", " << kind;
      EXPECT_FALSE(ids.empty()) << name << ", " << kind;
      std::printf("%-14s %-18s %8zu ids  %.3f s\n", name.c_str(), kind.c_str(), ids.size(),
                  seconds);
      if (kind == "prose" && name != "llama2 .model") {
        EXPECT_EQ(back, text) << name;
      }
    }
  }
}

}  // namespace
}  // namespace corelm
