// BPE model of tokenizer.json (and of SentencePiece BPE and GGUF vocabularies, which are turned
// into the same vocab + ranked merges): characters, byte fallback or unk, then merges applied
// lowest rank first, leftmost first on ties, exactly as the `tokenizers` library does.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "tokenizer/components.h"
#include "tokenizer/flat_map.h"
#include "tokenizer/word_cache.h"

namespace corelm::tok {

struct BpeOptions {
  std::optional<std::string> unk_token;
  std::string continuing_subword_prefix;
  std::string end_of_word_suffix;
  bool fuse_unk = false;
  bool byte_fallback = false;
  bool ignore_merges = false;
};

class BpeModel : public Model {
 public:
  // `merges` are (left, right) token strings in rank order. Throws if a merge names a token
  // that is not in the vocabulary.
  BpeModel(const Vocab& vocab, const std::vector<std::pair<std::string, std::string>>& merges,
           BpeOptions options);
  void tokenize(std::string_view word, std::vector<int32_t>& out) const override;

 private:
  void tokenize_chunk(std::string_view word, std::vector<int32_t>& out) const;
  bool chunk_at_metaspace_ = false;
  mutable WordCache cache_;
  struct Merge {
    uint32_t rank;
    int32_t id;
  };
  static uint64_t key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  const Vocab& vocab_;
  BpeOptions options_;
  FlatMap<Merge> merges_;
  FlatMap<int32_t> char_ids_;  // code point -> id of the one-character token
  std::optional<int32_t> unk_id_;
  int32_t byte_ids_[256];  // id of "<0xXX>" or -1
};

}  // namespace corelm::tok
