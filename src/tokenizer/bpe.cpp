#include "tokenizer/bpe.h"

#include <queue>

#include "base/check.h"
#include "base/utf8.h"

namespace corelm::tok {

BpeModel::BpeModel(const Vocab& vocab,
                   const std::vector<std::pair<std::string, std::string>>& merges,
                   BpeOptions options)
    : vocab_(vocab), options_(std::move(options)) {
  const size_t prefix_len = options_.continuing_subword_prefix.size();
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [a, b] = merges[rank];
    if (a.empty() && b.empty()) continue;  // a merge that cannot apply (see make_bpe)
    auto ia = vocab_.find(a), ib = vocab_.find(b);
    std::string merged =
        a + (b.size() >= prefix_len && prefix_len > 0 &&
                     b.compare(0, prefix_len, options_.continuing_subword_prefix) == 0
                 ? b.substr(prefix_len)
                 : b);
    auto im = vocab_.find(merged);
    if (!ia || !ib || !im)
      fail(ErrorCode::kCorrupt, "tokenizer", "merge {} ('{}' + '{}') uses a token not in the vocab",
           rank, a, b);
    merges_.emplace(key(*ia, *ib), Merge{static_cast<uint32_t>(rank), *im});  // first rank wins
  }
  if (options_.unk_token) {
    unk_id_ = vocab_.find(*options_.unk_token);
  }
  std::vector<std::string> pieces;
  for (int32_t id = 0; id < vocab_.size(); ++id) {
    pieces.push_back(vocab_.token(id));
    size_t len = 0;
    int32_t cp = utf8::decode(pieces.back(), 0, &len);
    // The id a lone character maps to (the vocab's own entry for that string).
    if (cp >= 0 && len == pieces.back().size()) {
      auto found = vocab_.find(pieces.back());
      if (found) char_ids_.insert(static_cast<uint64_t>(cp), *found);
    }
  }
  chunk_at_metaspace_ = pieces_never_span_metaspace(pieces);
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    auto id = vocab_.find(name);
    byte_ids_[b] = id ? *id : -1;
  }
}

void BpeModel::tokenize(std::string_view word, std::vector<int32_t>& out) const {
  tokenize_through_cache(
      word, chunk_at_metaspace_, cache_, out,
      [this](std::string_view chunk, std::vector<int32_t>& ids) { tokenize_chunk(chunk, ids); });
}

void BpeModel::tokenize_chunk(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  if (options_.ignore_merges) {
    if (auto id = vocab_.find(word)) {
      out.push_back(*id);
      return;
    }
  }
  // Symbols as a doubly linked list over a vector.
  struct Symbol {
    int32_t id;
    int32_t prev, next;
    bool alive;
  };
  std::vector<Symbol> sym;
  sym.reserve(word.size());
  bool last_was_unk = false;
  auto push = [&](int32_t id) {
    int32_t idx = static_cast<int32_t>(sym.size());
    sym.push_back({id, idx - 1, idx + 1, true});
  };
  std::string buf;
  size_t pos = 0;
  while (pos < word.size()) {
    size_t len = 0;
    int32_t cp = utf8::decode(word, pos, &len);
    std::string_view ch = word.substr(pos, len);
    bool first = pos == 0, last = pos + len == word.size();
    std::string_view lookup = ch;
    const bool decorated = (!first && !options_.continuing_subword_prefix.empty()) ||
                           (last && !options_.end_of_word_suffix.empty());
    if (!decorated && cp >= 0) {
      if (const int32_t* id = char_ids_.find(static_cast<uint64_t>(cp))) {
        pos += len;
        push(*id);
        last_was_unk = false;
        continue;
      }
    }
    if (decorated) {
      buf.clear();
      if (!first) buf += options_.continuing_subword_prefix;
      buf += ch;
      if (last) buf += options_.end_of_word_suffix;
      lookup = buf;
    }
    pos += len;
    if (auto id = vocab_.find(lookup)) {
      push(*id);
      last_was_unk = false;
      continue;
    }
    if (options_.byte_fallback) {
      bool all = true;
      for (unsigned char c : ch) all = all && byte_ids_[c] >= 0;
      if (all) {
        for (unsigned char c : ch) push(byte_ids_[c]);
        last_was_unk = false;
        continue;
      }
    }
    if (unk_id_) {
      if (!(options_.fuse_unk && last_was_unk)) push(*unk_id_);
      last_was_unk = true;
    }
    // Without an unk token the character is dropped, as `tokenizers` does for BPE models
    // that declare none.
  }
  if (sym.empty()) return;
  sym.back().next = -1;

  struct Candidate {
    uint32_t rank;
    int32_t pos;
    int32_t new_id;
    bool operator>(const Candidate& o) const {
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> queue;
  auto consider = [&](int32_t i) {
    if (i < 0) return;
    int32_t j = sym[i].next;
    if (j < 0) return;
    if (const Merge* m = merges_.find(key(sym[i].id, sym[j].id))) queue.push({m->rank, i, m->id});
  };
  for (int32_t i = 0; i + 1 < static_cast<int32_t>(sym.size()); ++i) consider(i);
  while (!queue.empty()) {
    Candidate c = queue.top();
    queue.pop();
    Symbol& left = sym[c.pos];
    if (!left.alive || left.next < 0) continue;
    Symbol& right = sym[left.next];
    const Merge* m = merges_.find(key(left.id, right.id));
    if (m == nullptr || m->id != c.new_id || m->rank != c.rank) continue;
    left.id = c.new_id;
    right.alive = false;
    left.next = right.next;
    if (right.next >= 0) sym[right.next].prev = c.pos;
    consider(left.prev);
    consider(c.pos);
  }
  for (int32_t i = 0; i >= 0; i = sym[i].next) out.push_back(sym[i].id);
}

}  // namespace corelm::tok
