// Tokenizer: loading tokenizer.json + tokenizer_config.json and running the pipeline.
#include "corelm/tokenizer.h"
#include "base/boundary.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <limits>
#include <unordered_set>

#include "base/check.h"
#include "base/file_util.h"
#include "base/json_access.h"
#include "base/parse_number.h"
#include "base/utf8.h"
#include "tokenizer/bpe.h"
#include "tokenizer/regex.h"
#include "tokenizer/tokenizer_data.h"
#include "tokenizer/tokenizer_impl.h"

namespace corelm {

namespace {

using nlohmann::json;
constexpr const char* kComponent = "tokenizer";

json parse(std::string_view text, const char* what) {
  return parse_json(text, kComponent, what);
}

// tokenizer_config.json tokens are strings, {"content": ...} objects (AddedToken), or null (not
// set); anything else is an error naming the field. `what` names the value ("bos_token",
// "additional_special_tokens[2]").
std::string token_content(const json& j, const std::string& what, bool is_field) {
  if (j.is_null()) return {};
  if (j.is_string()) return j.get<std::string>();
  if (j.is_object())
    return JsonReader(kComponent, "tokenizer_config.json " + what).str(j, "content", {});
  JsonReader(kComponent, "tokenizer_config.json")
      .wrong_type(is_field ? fmt::format("field '{}'", what) : what,
                  "a string or an object with a 'content' string", j);
}

std::string config_token(const json& cfg, const char* key) {
  auto it = cfg.find(key);
  if (it == cfg.end()) return {};
  return token_content(*it, key, true);
}

bool is_llama_class(const std::string& cls) {
  return cls == "LlamaTokenizer" || cls == "LlamaTokenizerFast" || cls == "CodeLlamaTokenizer" ||
         cls == "CodeLlamaTokenizerFast" || cls == "GemmaTokenizer" || cls == "GemmaTokenizerFast";
}

std::unique_ptr<tok::Model> make_bpe(const json& m, tok::Vocab& vocab) {
  const JsonReader r(kComponent, "tokenizer.json model");
  const json& v = r.as_object(r.required(m, "vocab"), "field 'vocab'");
  // Ids are dense in every real vocabulary; a few unused ids are tolerated, a vocabulary whose
  // ids would size a table far beyond its entries (or repeat an id) is corrupt.
  const int64_t max_id =
      std::min<int64_t>(tok::kMaxTokenId, static_cast<int64_t>(v.size()) + tok::kUnusedIdSlack - 1);
  std::vector<const std::string*> seen;
  for (const auto& [token, id_json] : v.items()) {
    const auto id = static_cast<int32_t>(
        r.as_integer(id_json, fmt::format("vocab entry '{}'", token), 0, max_id));
    if (static_cast<size_t>(id) >= seen.size()) seen.resize(static_cast<size_t>(id) + 1);
    if (seen[static_cast<size_t>(id)])
      fail(ErrorCode::kCorrupt, kComponent,
           "tokenizer.json model: vocab id {} is given to both '{}' and '{}'", id,
           *seen[static_cast<size_t>(id)], token);
    seen[static_cast<size_t>(id)] = &token;
    vocab.add(token, id);
  }
  std::vector<std::pair<std::string, std::string>> merges;
  if (JsonReader::has(m, "merges")) {
    const json& all = r.as_array(m["merges"], "field 'merges'");
    merges.reserve(all.size());
    for (const auto& e : all) {
      if (e.is_string()) {
        // "left right". Tokens may themselves contain spaces (some Llama vocabularies have
        // them), so take the first split whose halves and concatenation are all tokens.
        // At most kMaxMergeSplits splits are tried (real merges have one to a few spaces), so a
        // merge of 200k spaces costs as much as a short one, not a copy per space.
        constexpr int kMaxMergeSplits = 16;
        const std::string s = e.get<std::string>();
        bool found = false, any_space = false;
        int tries = 0;
        for (size_t sp = s.find(' '); sp != std::string::npos && tries < kMaxMergeSplits;
             sp = s.find(' ', sp + 1), ++tries) {
          any_space = true;
          std::string a = s.substr(0, sp), b = s.substr(sp + 1);
          if (vocab.find(a) && vocab.find(b) && vocab.find(a + b)) {
            merges.emplace_back(std::move(a), std::move(b));
            found = true;
            break;
          }
        }
        if (!any_space) fail(ErrorCode::kCorrupt, kComponent, "malformed merge '{}'", s);
        if (!found && std::count(s.begin(), s.end(), ' ') == 1)
          fail(ErrorCode::kCorrupt, kComponent, "merge {} ('{}') uses a token not in the vocab",
               merges.size(), s);
        // Several spaces and no split that names real tokens: a merge that can never apply
        // (seen in converted Llama vocabularies with space tokens). Keep its rank slot.
        if (!found) merges.emplace_back(std::string(), std::string());
      } else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {
        merges.emplace_back(e[0].get<std::string>(), e[1].get<std::string>());
      } else {
        r.wrong_type(fmt::format("merges[{}]", merges.size()),
                     "a string \"left right\" or a pair of strings", e);
      }
    }
  }
  tok::BpeOptions o;
  if (JsonReader::has(m, "unk_token")) o.unk_token = r.str(m, "unk_token", std::string());
  o.continuing_subword_prefix = r.str(m, "continuing_subword_prefix", std::string());
  o.end_of_word_suffix = r.str(m, "end_of_word_suffix", std::string());
  o.fuse_unk = r.boolean(m, "fuse_unk", false);
  o.byte_fallback = r.boolean(m, "byte_fallback", false);
  o.ignore_merges = r.boolean(m, "ignore_merges", false);
  if (r.number(m, "dropout", 0.0) > 0.0)
    fail(ErrorCode::kUnsupported, kComponent, "BPE dropout is not supported (inference only)");
  return std::make_unique<tok::BpeModel>(vocab, merges, o);
}

}  // namespace

std::string chat_template_from_config(const json& cfg) {
  const JsonReader r(kComponent, "tokenizer_config.json");
  if (!JsonReader::has(cfg, "chat_template")) return {};
  const json& t = cfg["chat_template"];
  if (t.is_string()) return t.get<std::string>();
  if (!t.is_array())
    r.wrong_type("field 'chat_template'", "a string or a list of {name, template} objects", t);
  for (size_t i = 0; i < t.size(); ++i) {
    const std::string what = fmt::format("chat_template[{}]", i);
    const json& e = r.as_object(t[i], what);
    const JsonReader re(kComponent, "tokenizer_config.json " + what);
    if (re.required_str(e, "name") == "default") return re.required_str(e, "template");
  }
  return {};
}

namespace tok {

void Vocab::add(std::string token, int32_t id) {
  if (id < 0) return;
  if (id > kMaxTokenId)
    fail(ErrorCode::kCorrupt, kComponent, "token id {} is beyond the largest supported id {}", id,
         kMaxTokenId);
  if (static_cast<size_t>(id) >= id_to_token_.size())
    id_to_token_.resize(static_cast<size_t>(id) + 1);
  id_to_token_[static_cast<size_t>(id)] = token;
  token_to_id_.insert_or_assign(std::move(token), id);
}

std::optional<int32_t> Vocab::find(std::string_view token) const {
  auto it = token_to_id_.find(token);
  if (it == token_to_id_.end()) return std::nullopt;
  return it->second;
}

const std::string& Vocab::token(int32_t id) const {
  static const std::string empty;
  if (id < 0 || static_cast<size_t>(id) >= id_to_token_.size()) return empty;
  return id_to_token_[static_cast<size_t>(id)];
}

}  // namespace tok

void Tokenizer::Impl::build_matchers() {
  std::vector<const tok::AddedToken*> raw, norm;
  std::vector<std::string> raw_c, norm_c;
  for (const auto& t : added) {
    // Matching tries every text position against the added tokens, as deep as the text follows
    // one: the longest added token bounds the work per byte of text. Real ones are short
    // (special markers, runs of spaces), so a long one is refused rather than made slow.
    if (t.content.size() > tok::kMaxAddedTokenBytes)
      fail(ErrorCode::kUnsupported, kComponent,
           "added token {} is {} bytes long (corelm takes added tokens of up to {} bytes)", t.id,
           t.content.size(), tok::kMaxAddedTokenBytes);
    if (t.normalized && !t.special) {
      norm.push_back(&t);
      norm_c.push_back(normalizer ? normalizer->normalize(t.content) : t.content);
    } else if (t.normalized) {
      norm.push_back(&t);
      norm_c.push_back(normalizer ? normalizer->normalize(t.content) : t.content);
    } else {
      raw.push_back(&t);
      raw_c.push_back(t.content);
    }
  }
  raw_matcher.build(raw, raw_c);
  normalized_matcher.build(norm, norm_c);
}

std::vector<int32_t> Tokenizer::Impl::encode_plain(std::string_view input) const {
  std::string sanitized;
  if (!utf8::is_valid(input)) {
    sanitized = utf8::sanitize(input);
    input = sanitized;
  }
  std::vector<int32_t> ids;
  std::vector<tok::Piece> pieces;
  auto encode_text = [&](std::string_view text, size_t offset) {
    std::string normalized = normalizer ? normalizer->normalize(text) : std::string(text);
    auto run_model = [&](std::string_view part, size_t part_offset) {
      pieces.clear();
      pieces.push_back({std::string(part), part_offset});
      if (pre_tokenizer) pre_tokenizer->split(pieces);
      for (const auto& p : pieces) model->tokenize(p.text, ids);
    };
    if (normalized_matcher.empty()) {
      if (!normalized.empty()) run_model(normalized, offset);
      return;
    }
    for (const auto& s : normalized_matcher.split(normalized)) {
      if (s.id >= 0)
        ids.push_back(s.id);
      else
        run_model(std::string_view(normalized).substr(s.begin, s.end - s.begin), offset + s.begin);
    }
  };
  if (raw_matcher.empty()) {
    encode_text(input, 0);
  } else {
    for (const auto& s : raw_matcher.split(input)) {
      if (s.id >= 0)
        ids.push_back(s.id);
      else
        encode_text(input.substr(s.begin, s.end - s.begin), s.begin);
    }
  }
  return ids;
}

std::string Tokenizer::Impl::decode(std::span<const int32_t> ids, bool skip_special,
                                    bool raw) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids) {
    if (skip_special && special_ids.count(id)) continue;
    const std::string& t = vocab.token(id);
    if (t.empty() && (id < 0 || id >= vocab.size())) continue;
    tokens.push_back(t);
  }
  std::string text;
  if (decoder) {
    decoder->decode_chain(tokens, raw);
    for (const auto& t : tokens) text += t;
  } else {
    for (size_t i = 0; i < tokens.size(); ++i) text += (i ? " " : "") + tokens[i];
  }
  if (clean_up_spaces) {
    for (const char* p : {" .", " ?", " !", " ,"})
      text = tok::Pattern::literal(p).replace_all(text, p + 1);
    text = tok::Pattern::literal(" ' ").replace_all(text, "'");
    for (const char* p : {" n't", " 'm", " 's", " 've", " 're"})
      text = tok::Pattern::literal(p).replace_all(text, p + 1);
  }
  if (!raw && !utf8::is_valid(text)) text = utf8::sanitize(text);
  return text;
}

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::~Tokenizer() = default;

std::shared_ptr<Tokenizer> Tokenizer::from_hf_json(std::string_view tokenizer_json,
                                                   std::string_view tokenizer_config_json) {
  try {
    json j = parse(tokenizer_json, "tokenizer.json");
    json cfg = tokenizer_config_json.empty()
                   ? json::object()
                   : parse(tokenizer_config_json, "tokenizer_config.json");
    if (!j.is_object())
      fail(ErrorCode::kCorrupt, kComponent, "tokenizer.json must be an object, got {}",
           describe_json(j));
    if (!cfg.is_object())
      fail(ErrorCode::kCorrupt, kComponent, "tokenizer_config.json must be an object, got {}",
           describe_json(cfg));
    const JsonReader r(kComponent, "tokenizer.json");
    const JsonReader rc(kComponent, "tokenizer_config.json");
    auto impl = std::make_unique<Impl>();
    const json& m = r.as_object(r.required(j, "model"), "field 'model'");
    std::string type = JsonReader(kComponent, "tokenizer.json model").str(m, "type", std::string());
    if (type.empty() && m.contains("merges")) type = "BPE";
    if (type != "BPE") tok::unsupported_component("model", m);
    impl->model = make_bpe(m, impl->vocab);
    static const json kNull;
    auto stage = [&](const char* key) -> const json& {
      auto it = j.find(key);
      return it != j.end() ? *it : kNull;
    };
    impl->normalizer = tok::make_normalizer(stage("normalizer"));
    impl->pre_tokenizer = tok::make_pre_tokenizer(stage("pre_tokenizer"));
    impl->decoder = tok::make_decoder(stage("decoder"));

    // Added tokens may extend the model's ids, by as many as there are added tokens and a few
    // unused ids more; a larger id (2e9) is corrupt rather than a table to allocate.
    static const json kNone = json::object();
    const json& added = JsonReader::has(j, "added_tokens")
                            ? r.as_array(j["added_tokens"], "field 'added_tokens'")
                            : kNone;
    const json& added_decoder =
        JsonReader::has(cfg, "added_tokens_decoder")
            ? rc.as_object(cfg["added_tokens_decoder"], "field 'added_tokens_decoder'")
            : kNone;
    const int64_t max_added_id = std::min<int64_t>(
        tok::kMaxTokenId, static_cast<int64_t>(impl->vocab.size()) +
                              static_cast<int64_t>(added.size() + added_decoder.size()) +
                              tok::kUnusedIdSlack - 1);
    // `where` names the entry ("tokenizer.json added_tokens[3]").
    std::unordered_set<int32_t> added_ids;
    for (const auto& a : impl->added) added_ids.insert(a.id);
    auto add_token = [&](const json& t, const std::string& where, int64_t id64) {
      if (id64 > max_added_id)
        fail(ErrorCode::kCorrupt, kComponent,
             "{} has id {}, beyond the {} ids of the vocabulary and its added tokens", where, id64,
             max_added_id + 1);
      const auto id = static_cast<int32_t>(id64);
      const JsonReader rd(kComponent, where);
      tok::AddedToken a;
      a.id = id;
      a.content = rd.required_str(t, "content");
      a.special = rd.boolean(t, "special", false);
      a.normalized = rd.boolean(t, "normalized", !a.special);
      a.lstrip = rd.boolean(t, "lstrip", false);
      a.rstrip = rd.boolean(t, "rstrip", false);
      a.single_word = rd.boolean(t, "single_word", false);
      if (!added_ids.insert(id).second) return;  // a set: 150k added tokens took seconds
      impl->vocab.add(a.content, id);
      if (a.special) impl->special_ids.insert(id);
      impl->added.push_back(std::move(a));
    };
    for (size_t i = 0; i < added.size(); ++i) {
      const std::string what = fmt::format("added_tokens[{}]", i);
      const json& t = r.as_object(added[i], what);
      const std::string where = "tokenizer.json " + what;
      add_token(t, where,
                JsonReader(kComponent, where)
                    .required_integer(t, "id", 0, std::numeric_limits<int32_t>::max()));
    }
    for (const auto& [key, t] : added_decoder.items()) {
      const std::string what = fmt::format("added_tokens_decoder['{}']", key);
      auto id = parse_integer<uint32_t>(key);
      if (!id)
        fail(ErrorCode::kCorrupt, kComponent,
             "tokenizer_config.json: {} is not keyed by a token id (a decimal number)", what);
      rc.as_object(t, what);
      add_token(t, "tokenizer_config.json " + what, *id);
    }
    impl->build_matchers();

    auto lookup = [&](const std::string& s) -> int32_t {
      if (s.empty()) return -1;
      auto id = impl->vocab.find(s);
      return id ? *id : -1;
    };
    impl->bos_token = config_token(cfg, "bos_token");
    impl->eos_token = config_token(cfg, "eos_token");
    if (impl->bos_token.empty() && lookup("<s>") >= 0 && !cfg.contains("bos_token"))
      impl->bos_token = "<s>";
    if (impl->eos_token.empty() && lookup("</s>") >= 0 && !cfg.contains("eos_token"))
      impl->eos_token = "</s>";
    impl->bos_id = lookup(impl->bos_token);
    impl->eos_id = lookup(impl->eos_token);
    for (const char* key : {"bos_token", "eos_token", "unk_token", "pad_token"}) {
      int32_t id = lookup(config_token(cfg, key));
      if (id >= 0) impl->special_ids.insert(id);
    }
    if (JsonReader::has(cfg, "additional_special_tokens")) {
      const json& extra =
          rc.as_array(cfg["additional_special_tokens"], "field 'additional_special_tokens'");
      for (size_t i = 0; i < extra.size(); ++i) {
        const std::string what = fmt::format("additional_special_tokens[{}]", i);
        if (int32_t id = lookup(token_content(extra[i], what, false)); id >= 0)
          impl->special_ids.insert(id);
      }
    }
    impl->clean_up_spaces = rc.boolean(cfg, "clean_up_tokenization_spaces", false);
    impl->chat_template = chat_template_from_config(cfg);

    const std::string cls = rc.str(cfg, "tokenizer_class", std::string());
    // Read even where unused, so a wrong type is reported the same for every tokenizer class.
    const bool add_bos = rc.boolean(cfg, "add_bos_token", true);
    const bool add_eos = rc.boolean(cfg, "add_eos_token", false);
    if (is_llama_class(cls)) {
      // transformers' LlamaTokenizerFast rebuilds its post-processor from these two flags.
      impl->post_processor =
          tok::make_bos_eos_processor(add_bos ? impl->bos_id : -1, add_eos ? impl->eos_id : -1);
    } else {
      impl->post_processor = tok::make_post_processor(stage("post_processor"), impl->vocab);
    }
    if (impl->post_processor) {
      auto probe = impl->post_processor->process({});
      impl->adds_bos = !probe.empty() && probe[0] == impl->bos_id && impl->bos_id >= 0;
    }
    return TokenizerAccess::make(std::move(impl));
  } catch (...) {
    rethrow_as_error("tokenizer");
  }
}

std::shared_ptr<Tokenizer> Tokenizer::from_sentencepiece(std::string_view model_bytes,
                                                         std::string_view tokenizer_config_json) {
  try {
    return tokenizer_from_sentencepiece(model_bytes, tokenizer_config_json);
  } catch (...) {
    rethrow_as_error("tokenizer");
  }
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  try {
    std::vector<int32_t> ids = impl_->encode_plain(text);
    if (add_special_tokens && impl_->post_processor) return impl_->post_processor->process(ids);
    return ids;
  } catch (...) {
    rethrow_as_error("tokenizer");
  }
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
  try {
    return impl_->decode(ids, skip_special_tokens, false);
  } catch (...) {
    rethrow_as_error("tokenizer");
  }
}

std::string Tokenizer::decode_raw(std::span<const int32_t> ids, bool skip_special_tokens) const {
  try {
    return impl_->decode(ids, skip_special_tokens, true);
  } catch (...) {
    rethrow_as_error("tokenizer");
  }
}

int Tokenizer::vocab_size() const {
  return impl_->vocab.size();
}
std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  return impl_->vocab.find(token);
}
std::string Tokenizer::id_to_token(int32_t id) const {
  return impl_->vocab.token(id);
}
bool Tokenizer::is_special(int32_t id) const {
  return impl_->special_ids.count(id) > 0;
}
int32_t Tokenizer::bos_id() const {
  return impl_->bos_id;
}
int32_t Tokenizer::eos_id() const {
  return impl_->eos_id;
}
std::string Tokenizer::bos_token() const {
  return impl_->bos_token;
}
std::string Tokenizer::eos_token() const {
  return impl_->eos_token;
}
bool Tokenizer::adds_bos() const {
  return impl_->adds_bos;
}
const std::string& Tokenizer::chat_template() const {
  return impl_->chat_template;
}

}  // namespace corelm
