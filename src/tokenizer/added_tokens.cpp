#include "tokenizer/added_tokens.h"

#include <algorithm>

#include "base/utf8.h"

namespace corelm::tok {

namespace {

bool is_whitespace_cp(int32_t cp) {
  return cp == ' ' || (cp >= 0x09 && cp <= 0x0D) || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
         cp == 0x205F || cp == 0x3000;
}

bool is_word_cp(int32_t cp) {
  // Rust's char::is_alphanumeric or '_' as used by `tokenizers` for single_word.
  if (cp < 0) return false;
  if (cp < 128) return std::isalnum(cp) || cp == '_';
  return !is_whitespace_cp(cp) && cp > 0x7F;  // approximation outside ASCII: letters dominate
}

// Start of the code point that ends at byte `end`.
size_t prev_char(std::string_view s, size_t end) {
  size_t p = end - 1;
  while (p > 0 && (static_cast<unsigned char>(s[p]) & 0xC0) == 0x80) --p;
  return p;
}

}  // namespace

void AddedTokenMatcher::build(const std::vector<const AddedToken*>& tokens,
                              const std::vector<std::string>& contents) {
  nodes_.assign(1, Node{});
  tokens_ = tokens;
  std::fill(std::begin(first_byte_), std::end(first_byte_), false);
  for (size_t i = 0; i < tokens.size(); ++i) {
    const std::string& s = contents[i];
    if (s.empty()) continue;
    first_byte_[static_cast<unsigned char>(s[0])] = true;
    int node = 0;
    for (unsigned char c : s) {
      int next = child(node, c);
      if (next < 0) {
        next = static_cast<int>(nodes_.size());
        nodes_.push_back(Node{});
        auto& ch = nodes_[node].children;
        ch.insert(std::lower_bound(ch.begin(), ch.end(), std::make_pair(c, 0)), {c, next});
      }
      node = next;
    }
    if (nodes_[node].token < 0) nodes_[node].token = static_cast<int>(i);
  }
}

int AddedTokenMatcher::child(int node, unsigned char c) const {
  const auto& ch = nodes_[node].children;
  auto it = std::lower_bound(ch.begin(), ch.end(), std::make_pair(c, 0));
  return it != ch.end() && it->first == c ? it->second : -1;
}

std::vector<AddedTokenMatcher::Split> AddedTokenMatcher::split(std::string_view text) const {
  std::vector<Split> out;
  if (text.empty()) return out;
  size_t start_offset = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    if (!first_byte_[static_cast<unsigned char>(text[pos])]) {
      ++pos;
      continue;
    }
    // Longest match starting at pos.
    int node = 0, best = -1;
    size_t best_end = 0;
    for (size_t i = pos; i < text.size(); ++i) {
      node = child(node, static_cast<unsigned char>(text[i]));
      if (node < 0) break;
      if (nodes_[node].token >= 0) {
        best = nodes_[node].token;
        best_end = i + 1;
      }
    }
    if (best < 0) {
      ++pos;
      continue;
    }
    const AddedToken& tok = *tokens_[best];
    size_t start = pos, stop = best_end;
    if (tok.single_word) {
      size_t l = 0;
      bool start_ok = start == 0 || !is_word_cp(utf8::decode(text, prev_char(text, start), &l));
      bool stop_ok = stop == text.size() || !is_word_cp(utf8::decode(text, stop, &l));
      if (!start_ok || !stop_ok) {
        ++pos;
        continue;
      }
    }
    if (tok.lstrip) {
      size_t s = start;
      while (s > start_offset) {
        size_t p = prev_char(text, s), l = 0;
        if (!is_whitespace_cp(utf8::decode(text, p, &l))) break;
        s = p;
      }
      start = s;
    }
    if (tok.rstrip) {
      while (stop < text.size()) {
        size_t l = 0;
        if (!is_whitespace_cp(utf8::decode(text, stop, &l))) break;
        stop += l;
      }
    }
    if (start_offset < start) out.push_back({start_offset, start, -1});
    out.push_back({start, stop, tok.id});
    start_offset = stop;
    pos = stop;
  }
  if (start_offset < text.size()) out.push_back({start_offset, text.size(), -1});
  return out;
}

}  // namespace corelm::tok
