// Tokenizer: loading tokenizer.json + tokenizer_config.json and running the pipeline.
#include "corelm/tokenizer.h"
#include "base/boundary.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "base/check.h"
#include "base/file_util.h"
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
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    fail(ErrorCode::kCorrupt, kComponent, "{} is not valid JSON: {}", what, e.what());
  }
}

// tokenizer_config.json tokens are strings or {"content": ...} objects.
std::string token_content(const json& j) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_object() && j.contains("content") && j["content"].is_string())
    return j["content"].get<std::string>();
  return {};
}

bool is_llama_class(const std::string& cls) {
  return cls == "LlamaTokenizer" || cls == "LlamaTokenizerFast" || cls == "CodeLlamaTokenizer" ||
         cls == "CodeLlamaTokenizerFast" || cls == "GemmaTokenizer" || cls == "GemmaTokenizerFast";
}

std::unique_ptr<tok::Model> make_bpe(const json& m, tok::Vocab& vocab) {
  if (!m.contains("vocab") || !m["vocab"].is_object())
    fail(ErrorCode::kCorrupt, kComponent, "BPE model lacks a vocab object");
  for (const auto& [token, id] : m["vocab"].items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > (1 << 24))
      fail(ErrorCode::kCorrupt, kComponent, "vocab entry '{}' has invalid id {}", token, id.dump());
    vocab.add(token, id.get<int32_t>());
  }
  std::vector<std::pair<std::string, std::string>> merges;
  if (m.contains("merges") && m["merges"].is_array()) {
    merges.reserve(m["merges"].size());
    for (const auto& e : m["merges"]) {
      if (e.is_string()) {
        // "left right". Tokens may themselves contain spaces (some Llama vocabularies have
        // them), so take the first split whose halves and concatenation are all tokens.
        const std::string s = e.get<std::string>();
        bool found = false, any_space = false;
        for (size_t sp = s.find(' '); sp != std::string::npos; sp = s.find(' ', sp + 1)) {
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
        fail(ErrorCode::kCorrupt, kComponent, "malformed merge {}", e.dump());
      }
    }
  }
  tok::BpeOptions o;
  if (m.contains("unk_token") && m["unk_token"].is_string())
    o.unk_token = m["unk_token"].get<std::string>();
  auto str = [&](const char* k) {
    return m.contains(k) && m[k].is_string() ? m[k].get<std::string>() : std::string();
  };
  o.continuing_subword_prefix = str("continuing_subword_prefix");
  o.end_of_word_suffix = str("end_of_word_suffix");
  o.fuse_unk = m.value("fuse_unk", false);
  o.byte_fallback = m.value("byte_fallback", false);
  o.ignore_merges = m.value("ignore_merges", false);
  if (m.contains("dropout") && m["dropout"].is_number() && m["dropout"].get<double>() > 0.0)
    fail(ErrorCode::kUnsupported, kComponent, "BPE dropout is not supported (inference only)");
  return std::make_unique<tok::BpeModel>(vocab, merges, o);
}

}  // namespace

std::string chat_template_from_config(const json& cfg) {
  if (!cfg.is_object() || !cfg.contains("chat_template")) return {};
  const json& t = cfg["chat_template"];
  if (t.is_string()) return t.get<std::string>();
  if (t.is_array())
    for (const auto& e : t)
      if (e.is_object() && e.value("name", std::string()) == "default" && e.contains("template") &&
          e["template"].is_string())
        return e["template"].get<std::string>();
  return {};
}

namespace tok {

void Vocab::add(std::string token, int32_t id) {
  if (id < 0) return;
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
    if (!j.is_object() || !j.contains("model") || !j["model"].is_object())
      fail(ErrorCode::kCorrupt, kComponent, "tokenizer.json lacks a 'model' object");
    if (!cfg.is_object())
      fail(ErrorCode::kCorrupt, kComponent, "tokenizer_config.json is not an object");
    auto impl = std::make_unique<Impl>();
    try {
      const json& m = j["model"];
      std::string type = m.value("type", std::string());
      if (type.empty() && m.contains("merges")) type = "BPE";
      if (type != "BPE") tok::unsupported_component("model", m);
      impl->model = make_bpe(m, impl->vocab);
      impl->normalizer = tok::make_normalizer(j.value("normalizer", json()));
      impl->pre_tokenizer = tok::make_pre_tokenizer(j.value("pre_tokenizer", json()));
      impl->decoder = tok::make_decoder(j.value("decoder", json()));

      auto add_token = [&](const json& t, int32_t id) {
        tok::AddedToken a;
        a.id = id;
        a.content = t.at("content").get<std::string>();
        a.special = t.value("special", false);
        a.normalized = t.value("normalized", !a.special);
        a.lstrip = t.value("lstrip", false);
        a.rstrip = t.value("rstrip", false);
        a.single_word = t.value("single_word", false);
        for (auto& existing : impl->added)
          if (existing.id == id) return;
        impl->vocab.add(a.content, id);
        if (a.special) impl->special_ids.insert(id);
        impl->added.push_back(std::move(a));
      };
      if (j.contains("added_tokens") && j["added_tokens"].is_array())
        for (const auto& t : j["added_tokens"]) add_token(t, t.at("id").get<int32_t>());
      if (cfg.contains("added_tokens_decoder") && cfg["added_tokens_decoder"].is_object())
        for (const auto& [id, t] : cfg["added_tokens_decoder"].items()) add_token(t, std::stoi(id));
    } catch (const json::exception& e) {
      fail(ErrorCode::kCorrupt, kComponent, "malformed tokenizer.json: {}", e.what());
    }
    impl->build_matchers();

    auto lookup = [&](const std::string& s) -> int32_t {
      if (s.empty()) return -1;
      auto id = impl->vocab.find(s);
      return id ? *id : -1;
    };
    impl->bos_token = token_content(cfg.value("bos_token", json()));
    impl->eos_token = token_content(cfg.value("eos_token", json()));
    if (impl->bos_token.empty() && lookup("<s>") >= 0 && !cfg.contains("bos_token"))
      impl->bos_token = "<s>";
    if (impl->eos_token.empty() && lookup("</s>") >= 0 && !cfg.contains("eos_token"))
      impl->eos_token = "</s>";
    impl->bos_id = lookup(impl->bos_token);
    impl->eos_id = lookup(impl->eos_token);
    for (const char* key : {"bos_token", "eos_token", "unk_token", "pad_token"}) {
      int32_t id = lookup(token_content(cfg.value(key, json())));
      if (id >= 0) impl->special_ids.insert(id);
    }
    if (cfg.contains("additional_special_tokens") && cfg["additional_special_tokens"].is_array())
      for (const auto& t : cfg["additional_special_tokens"])
        if (int32_t id = lookup(token_content(t)); id >= 0) impl->special_ids.insert(id);
    impl->clean_up_spaces = cfg.value("clean_up_tokenization_spaces", false);
    impl->chat_template = chat_template_from_config(cfg);

    const std::string cls = cfg.value("tokenizer_class", std::string());
    if (is_llama_class(cls)) {
      // transformers' LlamaTokenizerFast rebuilds its post-processor from these two flags.
      bool add_bos = cfg.value("add_bos_token", true), add_eos = cfg.value("add_eos_token", false);
      impl->post_processor =
          tok::make_bos_eos_processor(add_bos ? impl->bos_id : -1, add_eos ? impl->eos_id : -1);
    } else {
      impl->post_processor =
          tok::make_post_processor(j.value("post_processor", json()), impl->vocab);
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
  std::vector<int32_t> ids = impl_->encode_plain(text);
  if (add_special_tokens && impl_->post_processor) return impl_->post_processor->process(ids);
  return ids;
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
  return impl_->decode(ids, skip_special_tokens, false);
}

std::string Tokenizer::decode_raw(std::span<const int32_t> ids, bool skip_special_tokens) const {
  return impl_->decode(ids, skip_special_tokens, true);
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
