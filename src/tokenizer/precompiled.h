// SentencePiece's precompiled character map (the "Precompiled" normalizer of tokenizer.json and
// the normalizer_spec of a .model file): a Darts-clone double-array trie of byte strings whose
// values index NUL-terminated replacement strings.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace corelm::tok {

class PrecompiledCharsMap {
 public:
  static PrecompiledCharsMap from_base64(const std::string& b64);
  static PrecompiledCharsMap from_bytes(std::string_view bytes);
  // Longest-prefix replacement at each position, one UTF-8 character at a time otherwise.
  std::string normalize(std::string_view text) const;
  bool empty() const { return units_.empty(); }

 private:
  // Length and value of the longest key that prefixes `s`; length 0 if none.
  size_t longest_prefix(std::string_view s, uint32_t* value) const;
  std::vector<uint32_t> units_;
  std::string normalized_;
};

std::string base64_decode(std::string_view in);

}  // namespace corelm::tok
