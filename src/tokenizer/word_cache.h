// WordCache: remembers the ids of recently tokenized words (text repeats its words, and BPE on a
// word is the expensive step). Bounded; thread-safe; a full cache stops taking new words.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace corelm::tok {

class WordCache {
 public:
  explicit WordCache(size_t capacity = 1 << 16) : capacity_(capacity) {}
  // Appends the cached ids of `word` to `out`; false if it is not cached.
  bool get(std::string_view word, std::vector<int32_t>& out) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = map_.find(word);
    if (it == map_.end()) return false;
    out.insert(out.end(), it->second.begin(), it->second.end());
    return true;
  }
  void put(std::string_view word, const int32_t* ids, size_t n) {
    std::lock_guard<std::mutex> lock(mu_);
    if (map_.size() >= capacity_) return;
    map_.emplace(std::string(word), std::vector<int32_t>(ids, ids + n));
  }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  size_t capacity_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::vector<int32_t>, Hash, std::equal_to<>> map_;
};

// Splits SentencePiece-style text ("▁"-separated) into chunks no vocabulary piece can span:
// a new chunk starts at every "▁" that follows a character other than "▁". Valid only when no
// piece has "▁" after another character (checked by pieces_never_span_metaspace).
std::vector<std::string_view> metaspace_chunks(std::string_view text);
bool pieces_never_span_metaspace(const std::vector<std::string>& pieces);

// Appends the ids of `word` to `out`: through `cache` for words (or metaspace chunks, when
// `chunk_at_metaspace`) up to 64 bytes, else by calling tokenize_chunk(chunk, out).
template <typename TokenizeChunk>
void tokenize_through_cache(std::string_view word, bool chunk_at_metaspace, WordCache& cache,
                            std::vector<int32_t>& out, TokenizeChunk&& tokenize_chunk) {
  constexpr size_t kMaxCached = 64;
  auto run = [&](std::string_view chunk) {
    if (cache.get(chunk, out)) return;
    size_t before = out.size();
    tokenize_chunk(chunk, out);
    if (chunk.size() <= kMaxCached) cache.put(chunk, out.data() + before, out.size() - before);
  };
  if (!chunk_at_metaspace || word.size() <= kMaxCached) {
    run(word);
    return;
  }
  for (std::string_view chunk : metaspace_chunks(word)) run(chunk);
}

}  // namespace corelm::tok
