#include "tokenizer/sentencepiece.h"

#include <cstring>
#include <limits>
#include <queue>

#include "base/check.h"
#include "base/parse_number.h"
#include "base/utf8.h"

namespace corelm::tok {

namespace {

constexpr const char* kComponent = "tokenizer";

// A minimal protobuf wire-format reader: varints, fixed32/64 and length-delimited fields.
class Wire {
 public:
  explicit Wire(std::string_view b) : b_(b) {}
  bool done() const { return pos_ >= b_.size(); }
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= b_.size())
        fail(ErrorCode::kCorrupt, kComponent, "SentencePiece model is truncated (varint)");
      auto c = static_cast<uint8_t>(b_[pos_++]);
      v |= static_cast<uint64_t>(c & 0x7F) << shift;
      if (!(c & 0x80)) return v;
    }
    fail(ErrorCode::kCorrupt, kComponent, "SentencePiece model has a malformed varint");
  }
  std::string_view bytes() {
    uint64_t n = varint();
    if (n > b_.size() - pos_)
      fail(ErrorCode::kCorrupt, kComponent, "SentencePiece model field runs past the end");
    std::string_view s = b_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  uint32_t fixed32() {
    if (b_.size() - pos_ < 4)
      fail(ErrorCode::kCorrupt, kComponent, "SentencePiece model is truncated (fixed32)");
    uint32_t v;
    std::memcpy(&v, b_.data() + pos_, 4);
    pos_ += 4;
    return v;
  }
  void skip(int wire_type) {
    switch (wire_type) {
      case 0:
        varint();
        break;
      case 1:
        if (b_.size() - pos_ < 8) fail(ErrorCode::kCorrupt, kComponent, "truncated fixed64");
        pos_ += 8;
        break;
      case 2:
        bytes();
        break;
      case 5:
        fixed32();
        break;
      default:
        fail(ErrorCode::kCorrupt, kComponent, "SentencePiece model has unknown wire type {}",
             wire_type);
    }
  }

 private:
  std::string_view b_;
  size_t pos_ = 0;
};

SpmPiece parse_piece(std::string_view b) {
  SpmPiece p;
  Wire w(b);
  while (!w.done()) {
    uint64_t key = w.varint();
    int field = static_cast<int>(key >> 3), type = static_cast<int>(key & 7);
    if (field == 1 && type == 2)
      p.piece = std::string(w.bytes());
    else if (field == 2 && type == 5) {
      uint32_t u = w.fixed32();
      std::memcpy(&p.score, &u, 4);
    } else if (field == 3 && type == 0)
      p.type = static_cast<PieceType>(w.varint());
    else
      w.skip(type);
  }
  return p;
}

}  // namespace

int byte_piece_value(std::string_view piece) {
  if (piece.size() != 6 || piece.substr(0, 3) != "<0x" || piece[5] != '>') return -1;
  auto value = parse_integer<uint8_t>(piece.substr(3, 2), 16);
  return value ? *value : -1;
}

SpmModelProto parse_sentencepiece_model(std::string_view bytes) {
  SpmModelProto m;
  Wire w(bytes);
  while (!w.done()) {
    uint64_t key = w.varint();
    int field = static_cast<int>(key >> 3), type = static_cast<int>(key & 7);
    if (field == 1 && type == 2) {
      m.pieces.push_back(parse_piece(w.bytes()));
    } else if (field == 2 && type == 2) {  // TrainerSpec
      Wire t(w.bytes());
      while (!t.done()) {
        uint64_t k = t.varint();
        int f = static_cast<int>(k >> 3), ty = static_cast<int>(k & 7);
        if (ty != 0) {
          t.skip(ty);
          continue;
        }
        // int32 fields: a negative value is its 64-bit two's complement on the wire.
        const auto v = static_cast<int64_t>(t.varint());
        auto int32_field = [&](const char* name) {
          if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max())
            fail(ErrorCode::kCorrupt, kComponent, "SentencePiece model has {} {}", name, v);
          return static_cast<int>(v);
        };
        if (f == 3)
          m.model_type = int32_field("model type");
        else if (f == 35)
          m.byte_fallback = v != 0;
        else if (f == 40)
          m.unk_id = int32_field("unk_id");
        else if (f == 41)
          m.bos_id = int32_field("bos_id");
        else if (f == 42)
          m.eos_id = int32_field("eos_id");
        else if (f == 43)
          m.pad_id = int32_field("pad_id");
      }
    } else if (field == 3 && type == 2) {  // NormalizerSpec
      Wire n(w.bytes());
      while (!n.done()) {
        uint64_t k = n.varint();
        int f = static_cast<int>(k >> 3), ty = static_cast<int>(k & 7);
        if (f == 1 && ty == 2)
          m.normalizer_name = std::string(n.bytes());
        else if (f == 2 && ty == 2)
          m.precompiled_charsmap = std::string(n.bytes());
        else if (f == 3 && ty == 0)
          m.add_dummy_prefix = n.varint() != 0;
        else if (f == 4 && ty == 0)
          m.remove_extra_whitespaces = n.varint() != 0;
        else if (f == 5 && ty == 0)
          m.escape_whitespaces = n.varint() != 0;
        else
          n.skip(ty);
      }
    } else {
      w.skip(type);
    }
  }
  if (m.pieces.empty()) fail(ErrorCode::kCorrupt, kComponent, "SentencePiece model has no pieces");
  if (m.pieces.size() > (1u << 24))
    fail(ErrorCode::kCorrupt, kComponent, "SentencePiece model has {} pieces", m.pieces.size());
  return m;
}

SpmBpeModel::SpmBpeModel(std::vector<SpmPiece> pieces, bool byte_fallback, int32_t unk_id)
    : pieces_(std::move(pieces)), byte_fallback_(byte_fallback), unk_id_(unk_id) {
  for (size_t i = 0; i < pieces_.size(); ++i) {
    const auto t = pieces_[i].type;
    // Merges may produce normal and user-defined pieces; control, unused and byte pieces are
    // never the result of a merge.
    if (t == PieceType::kNormal || t == PieceType::kUserDefined)
      ids_.emplace(pieces_[i].piece, static_cast<int32_t>(i));
  }
  std::vector<std::string> usable;
  for (const auto& [piece, id] : ids_) {
    usable.push_back(piece);
    size_t len = 0;
    int32_t cp = utf8::decode(piece, 0, &len);
    if (cp >= 0 && len == piece.size()) char_ids_.insert(static_cast<uint64_t>(cp), id);
  }
  chunk_at_metaspace_ = pieces_never_span_metaspace(usable);
  // Every way of writing a piece as two pieces is a merge; the merged piece's score orders it.
  // Finding them costs the square of a piece's length, so pieces longer than SentencePiece's
  // trainer ever makes (512 characters at most, 16 by default; real pieces reach 48 bytes) are
  // only matched whole (as user-defined pieces are): a crafted 16 MB piece must not take hours.
  constexpr size_t kMaxMergedPieceBytes = 2048;
  for (const auto& [piece, id] : ids_) {
    if (piece.size() > kMaxMergedPieceBytes) continue;
    for (size_t k = 1; k < piece.size(); ++k) {
      if ((static_cast<unsigned char>(piece[k]) & 0xC0) == 0x80)
        continue;  // not a character boundary
      auto a = ids_.find(std::string_view(piece).substr(0, k));
      auto b = ids_.find(std::string_view(piece).substr(k));
      if (a == ids_.end() || b == ids_.end()) continue;
      uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(a->second)) << 32) |
                     static_cast<uint32_t>(b->second);
      merges_.insert(key, Merge{id, pieces_[static_cast<size_t>(id)].score});
    }
  }
  for (int b = 0; b < 256; ++b) byte_ids_[b] = -1;
  for (size_t i = 0; i < pieces_.size(); ++i) {
    if (pieces_[i].type != PieceType::kByte) continue;
    // SentencePiece refuses to load a BYTE piece that is not "<0xXX>" (PieceToByte fails); so
    // does corelm, accepting lower-case hex digits as Hugging Face's ByteFallback does.
    const int byte = byte_piece_value(pieces_[i].piece);
    if (byte < 0)
      fail(ErrorCode::kCorrupt, kComponent,
           "SentencePiece piece {} has type BYTE but is not a byte piece <0xXX>: '{}'", i,
           utf8::sanitize(pieces_[i].piece));
    if (byte_ids_[byte] < 0) byte_ids_[byte] = static_cast<int32_t>(i);
  }
}

void SpmBpeModel::tokenize(std::string_view word, std::vector<int32_t>& out) const {
  tokenize_through_cache(
      word, chunk_at_metaspace_, cache_, out,
      [this](std::string_view chunk, std::vector<int32_t>& ids) { tokenize_chunk(chunk, ids); });
}

void SpmBpeModel::tokenize_chunk(std::string_view text, std::vector<int32_t>& out) const {
  if (text.empty()) return;
  // Symbols start as characters (id -1 when the character is not a piece). Two adjacent symbols
  // merge when their concatenation is a piece; the highest score goes first, leftmost on ties.
  struct Symbol {
    size_t begin, len;
    int32_t id;
    int32_t prev, next;
    bool alive;
  };
  std::vector<Symbol> sym;
  sym.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    size_t len = 0;
    int32_t cp = utf8::decode(text, pos, &len);
    const int32_t* id = cp >= 0 ? char_ids_.find(static_cast<uint64_t>(cp)) : nullptr;
    int32_t i = static_cast<int32_t>(sym.size());
    sym.push_back({pos, len, id ? *id : -1, i - 1, i + 1, true});
    pos += len;
  }
  sym.back().next = -1;
  auto key = [](int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  };
  struct Pair {
    float score;
    int32_t left;
    int32_t merged;
    bool operator<(const Pair& o) const {  // max-heap: higher score, then leftmost
      return score != o.score ? score < o.score : left > o.left;
    }
  };
  std::priority_queue<Pair> agenda;
  auto consider = [&](int32_t l) {
    if (l < 0 || sym[l].next < 0) return;
    const Symbol& a = sym[l];
    const Symbol& b = sym[a.next];
    if (a.id < 0 || b.id < 0) return;
    if (const Merge* m = merges_.find(key(a.id, b.id))) agenda.push({m->score, l, m->id});
  };
  for (int32_t i = 0; i + 1 < static_cast<int32_t>(sym.size()); ++i) consider(i);
  while (!agenda.empty()) {
    Pair p = agenda.top();
    agenda.pop();
    Symbol& a = sym[p.left];
    if (!a.alive || a.next < 0) continue;
    Symbol& b = sym[a.next];
    const Merge* m = a.id >= 0 && b.id >= 0 ? merges_.find(key(a.id, b.id)) : nullptr;
    if (m == nullptr || m->id != p.merged) continue;  // stale: a side changed since queued
    a.len += b.len;
    a.id = m->id;
    b.alive = false;
    a.next = b.next;
    if (b.next >= 0) sym[b.next].prev = p.left;
    consider(a.prev);
    consider(p.left);
  }
  bool last_unk = false;
  for (int32_t i = 0; i >= 0; i = sym[i].next) {
    if (sym[i].id >= 0) {
      out.push_back(sym[i].id);
      last_unk = false;
      continue;
    }
    std::string_view piece = text.substr(sym[i].begin, sym[i].len);
    if (byte_fallback_) {
      for (unsigned char c : piece) out.push_back(byte_ids_[c] >= 0 ? byte_ids_[c] : unk_id_);
      last_unk = false;
      continue;
    }
    // Consecutive unknown symbols become one <unk>, as SentencePiece does.
    if (!last_unk) out.push_back(unk_id_);
    last_unk = true;
  }
}

std::string spm_remove_extra_whitespaces(std::string_view text) {
  std::string out;
  bool pending_space = false;
  for (char c : text) {
    if (c == ' ') {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    out.push_back(c);
  }
  return out;
}

}  // namespace corelm::tok
