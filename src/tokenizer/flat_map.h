// FlatMap: an open-addressing hash map from 64-bit keys to small values, for the BPE inner loop
// (pair -> merge, code point -> id). Linear probing, power-of-two capacity, at most half full.
#pragma once

#include <cstdint>
#include <vector>

namespace corelm::tok {

template <typename V>
class FlatMap {
 public:
  void insert(uint64_t key, const V& value) {
    if ((size_ + 1) * 2 > keys_.size()) grow();
    size_t i = slot(key);
    while (keys_[i] != kEmpty && keys_[i] != key) i = (i + 1) & mask_;
    if (keys_[i] == kEmpty) ++size_;
    keys_[i] = key;
    values_[i] = value;
  }
  // Inserts only if absent (the first value wins).
  void emplace(uint64_t key, const V& value) {
    if (!find(key)) insert(key, value);
  }
  const V* find(uint64_t key) const {
    if (keys_.empty()) return nullptr;
    for (size_t i = slot(key);; i = (i + 1) & mask_) {
      if (keys_[i] == key) return &values_[i];
      if (keys_[i] == kEmpty) return nullptr;
    }
  }
  size_t size() const { return size_; }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t{0};
  size_t slot(uint64_t key) const {
    return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> shift_);
  }
  void grow() {
    std::vector<uint64_t> old_keys = std::move(keys_);
    std::vector<V> old_values = std::move(values_);
    size_t cap = old_keys.empty() ? 64 : old_keys.size() * 2;
    keys_.assign(cap, kEmpty);
    values_.assign(cap, V{});
    mask_ = cap - 1;
    shift_ = 64;
    for (size_t c = cap; c > 1; c >>= 1) --shift_;
    size_ = 0;
    for (size_t i = 0; i < old_keys.size(); ++i)
      if (old_keys[i] != kEmpty) insert(old_keys[i], old_values[i]);
  }
  std::vector<uint64_t> keys_;
  std::vector<V> values_;
  size_t mask_ = 0, size_ = 0;
  int shift_ = 64;
};

}  // namespace corelm::tok
