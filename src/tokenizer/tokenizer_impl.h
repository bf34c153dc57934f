// Tokenizer::Impl: the assembled pipeline. Other loaders (SentencePiece .model, GGUF metadata)
// fill the same structure.
#pragma once

#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "corelm/tokenizer.h"
#include "tokenizer/added_tokens.h"
#include "tokenizer/components.h"

namespace corelm {

struct Tokenizer::Impl {
  tok::Vocab vocab;
  std::unique_ptr<tok::Normalizer> normalizer;
  std::unique_ptr<tok::PreTokenizer> pre_tokenizer;
  std::unique_ptr<tok::Model> model;
  std::unique_ptr<tok::PostProcessor> post_processor;
  std::unique_ptr<tok::Decoder> decoder;
  std::vector<tok::AddedToken> added;
  tok::AddedTokenMatcher raw_matcher, normalized_matcher;
  std::unordered_set<int32_t> special_ids;
  int32_t bos_id = -1, eos_id = -1;
  std::string bos_token, eos_token;
  bool clean_up_spaces = false;
  std::string chat_template;
  bool adds_bos = false;

  // Builds the added-token matchers (call after normalizer and `added` are set).
  void build_matchers();
  // Encodes without post-processing.
  std::vector<int32_t> encode_plain(std::string_view text) const;
  std::string decode(std::span<const int32_t> ids, bool skip_special, bool raw) const;
};

// The library's own access to a Tokenizer's pipeline (the public header keeps it private).
struct TokenizerAccess {
  using Impl = Tokenizer::Impl;
  static std::shared_ptr<Tokenizer> make(std::unique_ptr<Impl> impl) {
    return std::shared_ptr<Tokenizer>(new Tokenizer(std::move(impl)));
  }
  static Impl& impl(Tokenizer& t) { return *t.impl_; }
};
using TokenizerImpl = TokenizerAccess::Impl;

// tokenizer_config.json's chat_template: a string, or the "default" entry of a named list.
std::string chat_template_from_config(const nlohmann::json& config);

std::shared_ptr<Tokenizer> tokenizer_from_sentencepiece(std::string_view model_bytes,
                                                        std::string_view tokenizer_config_json);

}  // namespace corelm
