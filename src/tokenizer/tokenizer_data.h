// TokenizerData: a tokenizer as plain data (vocabulary, scores, piece types, merges, special
// ids, flags), the form GGUF metadata and SentencePiece models carry. tokenizer_from_data builds
// the same Tokenizer pipeline objects tokenizer.json does. Packages converted from GGUF store it
// as the blob "tokenizer_data.json".
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "corelm/tokenizer.h"

namespace corelm {

struct TokenizerData {
  std::string model;  // "llama": SentencePiece BPE over scores; "gpt2": byte-level BPE over merges
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t>
      token_types;  // 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte
  std::vector<std::string> merges;  // "left right", rank order (gpt2)
  int32_t bos_id = -1, eos_id = -1, unk_id = -1, pad_id = -1;
  bool add_bos = true, add_eos = false;
  bool add_space_prefix = true;           // llama: SentencePiece's dummy prefix
  bool remove_extra_whitespaces = false;  // llama: SentencePiece normalizer option
  std::string precompiled_charsmap;       // llama: SentencePiece normalizer (raw bytes)
  std::string pre = "gpt-2";              // gpt2: pre-tokenizer flavour ("gpt-2", "llama-bpe")
  std::string chat_template;

  nlohmann::json to_json() const;
  static TokenizerData from_json(const nlohmann::json& j);
  // Checks sizes and ids; throws Error (kCorrupt) naming the problem.
  void validate() const;
};

std::shared_ptr<Tokenizer> tokenizer_from_data(const TokenizerData& data);

// The files a tokenizer is built from, as a model source (package, GGUF, folder) holds them.
// The first present of tokenizer.json, tokenizer.model (SentencePiece) and `data` is used.
struct TokenizerFiles {
  std::optional<std::string> tokenizer_json;
  std::optional<std::string> tokenizer_model;
  std::optional<std::string> tokenizer_config;  // tokenizer_config.json
  std::optional<TokenizerData> data;            // GGUF metadata, or tokenizer_data.json
  bool empty() const { return !tokenizer_json && !tokenizer_model && !data; }
};

// Throws Error (kNotFound, "tokenizer") naming `where` when the files hold no tokenizer.
std::shared_ptr<Tokenizer> tokenizer_from_files(const TokenizerFiles& files,
                                                const std::string& where);

}  // namespace corelm
