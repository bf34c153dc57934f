// SentencePiece: reads a tokenizer.model (the ModelProto protobuf, parsed here field by field)
// and provides SentencePiece's own BPE segmentation (highest-scoring adjacent merge first,
// leftmost on ties; byte fallback or <unk> for what remains unknown). The same model serves
// GGUF vocabularies of type "llama" (tokens + scores + token types).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/components.h"
#include "tokenizer/flat_map.h"
#include "tokenizer/word_cache.h"

namespace corelm::tok {

enum class PieceType : int {
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6
};

struct SpmPiece {
  std::string piece;
  float score = 0.0f;
  PieceType type = PieceType::kNormal;
};

struct SpmModelProto {
  std::vector<SpmPiece> pieces;
  int model_type = 2;  // 1 unigram, 2 bpe, 3 word, 4 char
  bool byte_fallback = false;
  int unk_id = 0, bos_id = 1, eos_id = 2, pad_id = -1;
  bool add_dummy_prefix = true;
  bool remove_extra_whitespaces = true;
  bool escape_whitespaces = true;
  std::string normalizer_name;
  std::string precompiled_charsmap;
};

// The byte a byte piece "<0xXX>" stands for (two hex digits, either case), or -1 when `piece`
// is anything else ("<0x-F>", "<0x 7>", "<0x+F>").
int byte_piece_value(std::string_view piece);

// Parses the protobuf bytes; throws Error (kCorrupt) on malformed input.
SpmModelProto parse_sentencepiece_model(std::string_view bytes);

// SentencePiece BPE over pieces with scores. `vocab` must hold every piece at its index.
class SpmBpeModel : public Model {
 public:
  SpmBpeModel(std::vector<SpmPiece> pieces, bool byte_fallback, int32_t unk_id);
  void tokenize(std::string_view word, std::vector<int32_t>& out) const override;

 private:
  void tokenize_chunk(std::string_view word, std::vector<int32_t>& out) const;
  bool chunk_at_metaspace_ = false;
  mutable WordCache cache_;
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  std::vector<SpmPiece> pieces_;
  std::unordered_map<std::string, int32_t, Hash, std::equal_to<>> ids_;  // usable pieces only
  struct Merge {
    int32_t id = -1;
    float score = 0.0f;
  };
  FlatMap<Merge> merges_;      // (left id, right id) -> the piece they concatenate to
  FlatMap<int32_t> char_ids_;  // code point -> id of that one-character piece
  bool byte_fallback_;
  int32_t unk_id_;
  int32_t byte_ids_[256];
};

// SentencePiece's whitespace handling: collapses runs of spaces and trims
// (remove_extra_whitespaces).
std::string spm_remove_extra_whitespaces(std::string_view text);

}  // namespace corelm::tok
