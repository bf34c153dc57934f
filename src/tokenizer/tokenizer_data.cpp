#include "tokenizer/tokenizer_data.h"

#include <cmath>
#include <limits>

#include "base/check.h"
#include "base/json_access.h"
#include "base/utf8.h"
#include "tokenizer/precompiled.h"
#include "tokenizer/sentencepiece.h"
#include "tokenizer/tokenizer_impl.h"

namespace corelm {

namespace {

using nlohmann::json;
constexpr const char* kComponent = "tokenizer";

class SpmNormalizer : public tok::Normalizer {
 public:
  SpmNormalizer(tok::PrecompiledCharsMap map, bool remove_extra_whitespaces)
      : map_(std::move(map)), remove_extra_whitespaces_(remove_extra_whitespaces) {}
  std::string normalize(std::string_view text) const override {
    std::string s = map_.empty() ? std::string(text) : map_.normalize(text);
    return remove_extra_whitespaces_ ? tok::spm_remove_extra_whitespaces(s) : s;
  }

 private:
  tok::PrecompiledCharsMap map_;
  bool remove_extra_whitespaces_;
};

constexpr const char* kLlama3Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

std::shared_ptr<Tokenizer> build_llama(const TokenizerData& d) {
  auto impl = std::make_unique<TokenizerImpl>();
  std::vector<tok::SpmPiece> pieces(d.tokens.size());
  bool has_bytes = false;
  for (size_t i = 0; i < d.tokens.size(); ++i) {
    pieces[i].piece = d.tokens[i];
    pieces[i].score = i < d.scores.size() ? d.scores[i] : 0.0f;
    pieces[i].type = static_cast<tok::PieceType>(i < d.token_types.size() ? d.token_types[i] : 1);
    has_bytes = has_bytes || pieces[i].type == tok::PieceType::kByte;
    impl->vocab.add(d.tokens[i], static_cast<int32_t>(i));
    if (pieces[i].type == tok::PieceType::kControl || pieces[i].type == tok::PieceType::kUnknown ||
        pieces[i].type == tok::PieceType::kUserDefined) {
      tok::AddedToken a;
      a.id = static_cast<int32_t>(i);
      a.content = d.tokens[i];
      a.special = pieces[i].type != tok::PieceType::kUserDefined;
      if (a.special) impl->special_ids.insert(a.id);
      impl->added.push_back(std::move(a));
    }
  }
  tok::PrecompiledCharsMap map;
  if (!d.precompiled_charsmap.empty())
    map = tok::PrecompiledCharsMap::from_bytes(d.precompiled_charsmap);
  if (!map.empty() || d.remove_extra_whitespaces)
    impl->normalizer = std::make_unique<SpmNormalizer>(std::move(map), d.remove_extra_whitespaces);
  impl->pre_tokenizer =
      tok::make_pre_tokenizer({{"type", "Metaspace"},
                               {"replacement", "\xE2\x96\x81"},
                               {"prepend_scheme", d.add_space_prefix ? "first" : "never"},
                               {"split", false}});
  impl->model = std::make_unique<tok::SpmBpeModel>(std::move(pieces), has_bytes,
                                                   d.unk_id >= 0 ? d.unk_id : 0);
  impl->decoder = tok::make_decoder(
      {{"type", "Sequence"},
       {"decoders",
        {{{"type", "Replace"}, {"pattern", {{"String", "\xE2\x96\x81"}}}, {"content", " "}},
         {{"type", "ByteFallback"}},
         {{"type", "Fuse"}},
         {{"type", "Strip"},
          {"content", " "},
          {"start", d.add_space_prefix ? 1 : 0},
          {"stop", 0}}}}});
  impl->build_matchers();
  auto token = [&](int32_t id) {
    return id >= 0 && static_cast<size_t>(id) < d.tokens.size() ? d.tokens[id] : std::string();
  };
  impl->bos_id = d.bos_id;
  impl->eos_id = d.eos_id;
  impl->bos_token = token(d.bos_id);
  impl->eos_token = token(d.eos_id);
  impl->post_processor =
      tok::make_bos_eos_processor(d.add_bos ? d.bos_id : -1, d.add_eos ? d.eos_id : -1);
  impl->adds_bos = d.add_bos && d.bos_id >= 0;
  impl->chat_template = d.chat_template;
  return TokenizerAccess::make(std::move(impl));
}

std::shared_ptr<Tokenizer> build_gpt2(const TokenizerData& d) {
  // Expressed as the tokenizer.json that describes the same pipeline.
  json j;
  json vocab = json::object();
  for (size_t i = 0; i < d.tokens.size(); ++i) vocab[d.tokens[i]] = i;
  j["model"] = {{"type", "BPE"}, {"vocab", vocab}, {"merges", d.merges}, {"byte_fallback", false}};
  if (d.pre == "gpt-2" || d.pre == "default" || d.pre.empty()) {
    j["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}};
  } else if (d.pre == "llama-bpe" || d.pre == "llama3") {
    j["pre_tokenizer"] = {
        {"type", "Sequence"},
        {"pretokenizers",
         {{{"type", "Split"},
           {"pattern", {{"Regex", kLlama3Pattern}}},
           {"behavior", "Isolated"},
           {"invert", false}},
          {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}}}};
  } else {
    fail(ErrorCode::kUnsupported, kComponent,
         "unsupported byte-level pre-tokenizer '{}' (corelm knows gpt-2 and llama-bpe)", d.pre);
  }
  j["decoder"] = {{"type", "ByteLevel"}};
  j["added_tokens"] = json::array();
  for (size_t i = 0; i < d.tokens.size() && i < d.token_types.size(); ++i)
    if (d.token_types[i] == 3 || d.token_types[i] == 4)
      j["added_tokens"].push_back({{"id", i},
                                   {"content", d.tokens[i]},
                                   {"special", d.token_types[i] == 3},
                                   {"normalized", false},
                                   {"lstrip", false},
                                   {"rstrip", false},
                                   {"single_word", false}});
  json special = json::object();
  json single = json::array();
  if (d.add_bos && d.bos_id >= 0) {
    single.push_back({{"SpecialToken", {{"id", d.tokens[d.bos_id]}, {"type_id", 0}}}});
    special[d.tokens[d.bos_id]] = {
        {"id", d.tokens[d.bos_id]}, {"ids", {d.bos_id}}, {"tokens", {d.tokens[d.bos_id]}}};
  }
  single.push_back({{"Sequence", {{"id", "A"}, {"type_id", 0}}}});
  if (d.add_eos && d.eos_id >= 0) {
    single.push_back({{"SpecialToken", {{"id", d.tokens[d.eos_id]}, {"type_id", 0}}}});
    special[d.tokens[d.eos_id]] = {
        {"id", d.tokens[d.eos_id]}, {"ids", {d.eos_id}}, {"tokens", {d.tokens[d.eos_id]}}};
  }
  j["post_processor"] = {
      {"type", "TemplateProcessing"}, {"single", single}, {"special_tokens", special}};
  json cfg = json::object();
  if (d.bos_id >= 0) cfg["bos_token"] = d.tokens[d.bos_id];
  if (d.eos_id >= 0) cfg["eos_token"] = d.tokens[d.eos_id];
  auto tokenizer = Tokenizer::from_hf_json(j.dump(), cfg.dump());
  // Set here rather than through the JSON: a template need not be UTF-8 to be stored.
  TokenizerAccess::impl(*tokenizer).chat_template = d.chat_template;
  return tokenizer;
}

}  // namespace

void TokenizerData::validate() const {
  if (model != "llama" && model != "gpt2")
    fail(ErrorCode::kUnsupported, kComponent,
         "unsupported tokenizer model '{}' (corelm reads llama and gpt2)", model);
  if (tokens.empty()) fail(ErrorCode::kCorrupt, kComponent, "the tokenizer has no tokens");
  if (!scores.empty() && scores.size() != tokens.size())
    fail(ErrorCode::kCorrupt, kComponent, "{} scores for {} tokens", scores.size(), tokens.size());
  if (!token_types.empty() && token_types.size() != tokens.size())
    fail(ErrorCode::kCorrupt, kComponent, "{} token types for {} tokens", token_types.size(),
         tokens.size());
  const auto n = static_cast<int32_t>(tokens.size());
  for (auto [name, id] :
       {std::pair{"bos", bos_id}, {"eos", eos_id}, {"unk", unk_id}, {"pad", pad_id}})
    if (id >= n)
      fail(ErrorCode::kCorrupt, kComponent, "{} token id {} is outside the {} tokens", name, id, n);
  if (tokens.size() > static_cast<size_t>(tok::kMaxTokenId))
    fail(ErrorCode::kCorrupt, kComponent, "{} tokens are more than the {} supported", tokens.size(),
         tok::kMaxTokenId);
  for (size_t i = 0; i < scores.size(); ++i)
    if (std::isnan(scores[i]))
      fail(ErrorCode::kCorrupt, kComponent, "the score of token {} is NaN", i);
  if (model == "gpt2") {  // byte-level tokens are always UTF-8 (they spell bytes as characters)
    for (size_t i = 0; i < tokens.size(); ++i)
      if (!utf8::is_valid(tokens[i]))
        fail(ErrorCode::kCorrupt, kComponent, "token {} of a gpt2 tokenizer is not UTF-8", i);
    for (size_t i = 0; i < merges.size(); ++i)
      if (!utf8::is_valid(merges[i]))
        fail(ErrorCode::kCorrupt, kComponent, "merge {} of a gpt2 tokenizer is not UTF-8", i);
  }
  if (model == "gpt2" && merges.empty())
    fail(ErrorCode::kCorrupt, kComponent, "a gpt2 tokenizer needs merges");
}

json TokenizerData::to_json() const {
  // A package stores the vocabulary as JSON text, which must be UTF-8. A SentencePiece piece that
  // is not never matches (input text is UTF-8) and runs from its own file, but cannot be stored.
  for (size_t i = 0; i < tokens.size(); ++i)
    if (!utf8::is_valid(tokens[i]))
      fail(ErrorCode::kCorrupt, kComponent,
           "token {} is not UTF-8 (byte {}): a package cannot store this vocabulary", i,
           utf8::first_invalid(tokens[i]));
  if (!utf8::is_valid(chat_template))
    fail(ErrorCode::kCorrupt, kComponent,
         "the chat template is not UTF-8 (byte {}): a package cannot store it",
         utf8::first_invalid(chat_template));
  json j = {{"model", model},
            {"tokens", tokens},
            {"scores", scores},
            {"token_types", token_types},
            {"merges", merges},
            {"bos_id", bos_id},
            {"eos_id", eos_id},
            {"unk_id", unk_id},
            {"pad_id", pad_id},
            {"add_bos", add_bos},
            {"add_eos", add_eos},
            {"add_space_prefix", add_space_prefix},
            {"remove_extra_whitespaces", remove_extra_whitespaces},
            {"pre", pre},
            {"chat_template", chat_template}};
  return j;
}

TokenizerData TokenizerData::from_json(const json& j) {
  const JsonReader r(kComponent, "tokenizer data");
  r.as_object(j, "the tokenizer data");
  TokenizerData d;
  d.model = r.required_str(j, "model");
  auto list = [&](const char* key, auto&& element) {
    if (!JsonReader::has(j, key)) return;
    const json& a = r.as_array(j[key], fmt::format("field '{}'", key));
    for (size_t i = 0; i < a.size(); ++i) element(a[i], fmt::format("{}[{}]", key, i));
  };
  if (!j.contains("tokens")) r.missing("tokens");
  list("tokens",
       [&](const json& v, const std::string& what) { d.tokens.push_back(r.as_str(v, what)); });
  list("scores", [&](const json& v, const std::string& what) {
    const double score = r.as_number(v, what);
    if (std::fabs(score) > std::numeric_limits<float>::max())  // the cast would be undefined
      r.wrong_type(what, "a number in float range", v);
    d.scores.push_back(static_cast<float>(score));
  });
  list("token_types", [&](const json& v, const std::string& what) {
    d.token_types.push_back(static_cast<int32_t>(r.as_integer(v, what, 0, 6)));
  });
  list("merges",
       [&](const json& v, const std::string& what) { d.merges.push_back(r.as_str(v, what)); });
  for (auto [key, id] : {std::pair{"bos_id", &d.bos_id},
                         {"eos_id", &d.eos_id},
                         {"unk_id", &d.unk_id},
                         {"pad_id", &d.pad_id}})
    *id = static_cast<int32_t>(r.integer(j, key, -1, -1, tok::kMaxTokenId));
  d.add_bos = r.boolean(j, "add_bos", true);
  d.add_eos = r.boolean(j, "add_eos", false);
  d.add_space_prefix = r.boolean(j, "add_space_prefix", true);
  d.remove_extra_whitespaces = r.boolean(j, "remove_extra_whitespaces", false);
  d.pre = r.str(j, "pre", "gpt-2");
  d.chat_template = r.str(j, "chat_template", std::string());
  return d;
}

std::shared_ptr<Tokenizer> tokenizer_from_data(const TokenizerData& d) {
  d.validate();
  return d.model == "llama" ? build_llama(d) : build_gpt2(d);
}

std::shared_ptr<Tokenizer> tokenizer_from_files(const TokenizerFiles& f, const std::string& where) {
  const std::string_view config = f.tokenizer_config ? *f.tokenizer_config : std::string_view();
  if (f.tokenizer_json) return Tokenizer::from_hf_json(*f.tokenizer_json, config);
  if (f.tokenizer_model) return Tokenizer::from_sentencepiece(*f.tokenizer_model, config);
  if (f.data) return tokenizer_from_data(*f.data);
  fail(ErrorCode::kNotFound, "tokenizer",
       "'{}' holds no tokenizer (tokenizer.json, tokenizer.model or tokenizer data)", where);
}

}  // namespace corelm
