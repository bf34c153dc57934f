// Tokenizer from a SentencePiece tokenizer.model: the same pipeline objects as tokenizer.json
// builds, with SentencePiece's BPE as the model. Control pieces ([INST], <s>, ...) are special
// added tokens, matched in text before the model runs, and the dummy prefix goes on the first
// piece of the input only (see generated_renders.json's convention and mistral-common).
#include <nlohmann/json.hpp>

#include "base/check.h"
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

class BosEos : public tok::PostProcessor {
 public:
  BosEos(int32_t bos, int32_t eos) : bos_(bos), eos_(eos) {}
  std::vector<int32_t> process(const std::vector<int32_t>& ids) const override {
    std::vector<int32_t> out;
    if (bos_ >= 0) out.push_back(bos_);
    out.insert(out.end(), ids.begin(), ids.end());
    if (eos_ >= 0) out.push_back(eos_);
    return out;
  }

 private:
  int32_t bos_, eos_;
};

}  // namespace

std::shared_ptr<Tokenizer> tokenizer_from_sentencepiece(std::string_view model_bytes,
                                                        std::string_view tokenizer_config_json) {
  tok::SpmModelProto proto = tok::parse_sentencepiece_model(model_bytes);
  if (proto.model_type != 2)
    fail(ErrorCode::kUnsupported, kComponent,
         "SentencePiece model type {} is not supported (corelm reads BPE models, type 2)", proto.model_type);
  json cfg = json::object();
  if (!tokenizer_config_json.empty()) {
    cfg = json::parse(tokenizer_config_json, nullptr, false);
    if (cfg.is_discarded() || !cfg.is_object())
      fail(ErrorCode::kCorrupt, kComponent, "tokenizer_config.json is not a JSON object");
  }
  auto impl = std::make_unique<Tokenizer::Impl>();
  for (size_t i = 0; i < proto.pieces.size(); ++i) {
    const auto& p = proto.pieces[i];
    impl->vocab.add(p.piece, static_cast<int32_t>(i));
    if (p.type == tok::PieceType::kControl || p.type == tok::PieceType::kUnknown ||
        p.type == tok::PieceType::kUserDefined) {
      tok::AddedToken a;
      a.id = static_cast<int32_t>(i);
      a.content = p.piece;
      a.special = p.type != tok::PieceType::kUserDefined;
      a.normalized = false;
      if (a.special) impl->special_ids.insert(a.id);
      impl->added.push_back(std::move(a));
    }
  }
  tok::PrecompiledCharsMap map;
  if (proto.normalizer_name != "identity" && !proto.precompiled_charsmap.empty())
    map = tok::PrecompiledCharsMap::from_bytes(proto.precompiled_charsmap);
  if (!map.empty() || proto.remove_extra_whitespaces)
    impl->normalizer = std::make_unique<SpmNormalizer>(std::move(map), proto.remove_extra_whitespaces);
  if (proto.escape_whitespaces || proto.add_dummy_prefix) {
    json meta = {{"type", "Metaspace"},
                 {"replacement", "\xE2\x96\x81"},
                 {"prepend_scheme", proto.add_dummy_prefix ? "first" : "never"},
                 {"split", false}};
    impl->pre_tokenizer = tok::make_pre_tokenizer(meta);
  }
  impl->model = std::make_unique<tok::SpmBpeModel>(proto.pieces, proto.byte_fallback, proto.unk_id);
  json decoder = {{"type", "Sequence"},
                  {"decoders",
                   {{{"type", "Replace"}, {"pattern", {{"String", "\xE2\x96\x81"}}}, {"content", " "}},
                    {{"type", "ByteFallback"}},
                    {{"type", "Fuse"}},
                    {{"type", "Strip"}, {"content", " "}, {"start", proto.add_dummy_prefix ? 1 : 0}, {"stop", 0}}}}};
  impl->decoder = tok::make_decoder(decoder);
  impl->build_matchers();

  auto piece = [&](int id) { return id >= 0 && static_cast<size_t>(id) < proto.pieces.size() ? proto.pieces[id].piece : std::string(); };
  impl->bos_id = proto.bos_id;
  impl->eos_id = proto.eos_id;
  impl->bos_token = piece(proto.bos_id);
  impl->eos_token = piece(proto.eos_id);
  bool add_bos = cfg.value("add_bos_token", true), add_eos = cfg.value("add_eos_token", false);
  impl->post_processor = std::make_unique<BosEos>(add_bos ? impl->bos_id : -1, add_eos ? impl->eos_id : -1);
  impl->adds_bos = add_bos && impl->bos_id >= 0;
  impl->chat_template = chat_template_from_config(cfg);
  return std::make_shared<Tokenizer>(std::move(impl));
}

}  // namespace corelm
