#include "tokenizer/precompiled.h"

#include <cstring>

#include "base/check.h"
#include "base/utf8.h"

namespace corelm::tok {

std::string base64_decode(std::string_view in) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=' || c == '\n' || c == '\r') continue;
    int v = val(c);
    if (v < 0) fail(ErrorCode::kCorrupt, "tokenizer", "invalid base64 character in charsmap");
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return out;
}

PrecompiledCharsMap PrecompiledCharsMap::from_base64(const std::string& b64) {
  return from_bytes(base64_decode(b64));
}

PrecompiledCharsMap PrecompiledCharsMap::from_bytes(std::string_view bytes) {
  PrecompiledCharsMap m;
  if (bytes.empty()) return m;
  if (bytes.size() < 4) fail(ErrorCode::kCorrupt, "tokenizer", "precompiled charsmap is truncated");
  uint32_t trie_bytes = 0;
  std::memcpy(&trie_bytes, bytes.data(), 4);
  if (trie_bytes % 4 != 0 || trie_bytes > bytes.size() - 4)
    fail(ErrorCode::kCorrupt, "tokenizer",
         "precompiled charsmap declares a {}-byte trie in {} bytes", trie_bytes, bytes.size());
  m.units_.resize(trie_bytes / 4);
  if (trie_bytes > 0) std::memcpy(m.units_.data(), bytes.data() + 4, trie_bytes);
  m.normalized_ = std::string(bytes.substr(4 + trie_bytes));
  return m;
}

size_t PrecompiledCharsMap::longest_prefix(std::string_view s, uint32_t* value) const {
  auto offset = [](uint32_t u) { return (u >> 10) << ((u & (1u << 9)) >> 6); };
  auto label = [](uint32_t u) { return u & ((1u << 31) | 0xFFu); };
  auto has_leaf = [](uint32_t u) { return ((u >> 8) & 1u) == 1u; };
  size_t best = 0;
  if (units_.empty()) return 0;
  size_t pos = offset(units_[0]);
  for (size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == 0) break;
    pos ^= c;
    if (pos >= units_.size()) break;
    uint32_t unit = units_[pos];
    if (label(unit) != c) break;
    pos ^= offset(unit);
    if (pos >= units_.size()) break;
    if (has_leaf(unit)) {
      best = i + 1;
      *value = units_[pos] & 0x7FFFFFFFu;
    }
  }
  return best;
}

std::string PrecompiledCharsMap::normalize(std::string_view text) const {
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) {
    uint32_t value = 0;
    size_t len = longest_prefix(text.substr(pos), &value);
    if (len > 0 && value < normalized_.size()) {
      const char* r = normalized_.data() + value;
      out.append(r, strnlen(r, normalized_.size() - value));
      pos += len;
      continue;
    }
    size_t clen = 0;
    utf8::decode(text, pos, &clen);
    out.append(text.substr(pos, clen));
    pos += clen;
  }
  return out;
}

}  // namespace corelm::tok
