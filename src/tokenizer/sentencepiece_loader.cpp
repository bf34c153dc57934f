// Tokenizer from a SentencePiece tokenizer.model: its pieces become TokenizerData ("llama"
// model), so .model files, GGUF vocabularies and packages share one pipeline. Control pieces
// ([INST], <s>, ...) are special added tokens, matched in text before the model runs, and the
// dummy prefix goes on the first piece of the input only (mistral-common's convention).
#include <nlohmann/json.hpp>

#include "base/check.h"
#include "base/json_access.h"
#include "tokenizer/sentencepiece.h"
#include "tokenizer/tokenizer_data.h"
#include "tokenizer/tokenizer_impl.h"

namespace corelm {

std::shared_ptr<Tokenizer> tokenizer_from_sentencepiece(std::string_view model_bytes,
                                                        std::string_view tokenizer_config_json) {
  tok::SpmModelProto proto = tok::parse_sentencepiece_model(model_bytes);
  if (proto.model_type != 2)
    fail(ErrorCode::kUnsupported, "tokenizer",
         "SentencePiece model type {} is not supported (corelm reads BPE models, type 2)",
         proto.model_type);
  nlohmann::json cfg = nlohmann::json::object();
  if (!tokenizer_config_json.empty()) {
    cfg = parse_json(tokenizer_config_json, "tokenizer", "tokenizer_config.json");
    if (!cfg.is_object())
      fail(ErrorCode::kCorrupt, "tokenizer", "tokenizer_config.json is not a JSON object");
  }
  TokenizerData d;
  d.model = "llama";
  for (const auto& p : proto.pieces) {
    d.tokens.push_back(p.piece);
    d.scores.push_back(p.score);
    d.token_types.push_back(static_cast<int32_t>(p.type));
  }
  d.bos_id = proto.bos_id;
  d.eos_id = proto.eos_id;
  d.unk_id = proto.unk_id;
  d.pad_id = proto.pad_id;
  const JsonReader r("tokenizer", "tokenizer_config.json");
  d.add_bos = r.boolean(cfg, "add_bos_token", true);
  d.add_eos = r.boolean(cfg, "add_eos_token", false);
  d.add_space_prefix = proto.add_dummy_prefix;
  d.remove_extra_whitespaces = proto.remove_extra_whitespaces;
  if (proto.normalizer_name != "identity") d.precompiled_charsmap = proto.precompiled_charsmap;
  d.chat_template = chat_template_from_config(cfg);
  return tokenizer_from_data(d);
}

}  // namespace corelm
