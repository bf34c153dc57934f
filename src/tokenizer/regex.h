// Regex: a compiled PCRE2 pattern in UTF + Unicode-property mode (so \s, \w, \p{L} and
// lookaheads behave as in the `tokenizers` library's Oniguruma patterns). Pattern: the
// {"String": ...} or {"Regex": ...} node of tokenizer.json.
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace corelm::tok {

class Regex {
 public:
  explicit Regex(const std::string& pattern);
  ~Regex();
  Regex(Regex&&) noexcept;
  Regex& operator=(Regex&&) noexcept;
  // All non-overlapping matches as [begin, end) byte ranges, left to right. Empty matches
  // are skipped. `text` must be valid UTF-8.
  std::vector<std::pair<size_t, size_t>> find_all(std::string_view text) const;

 private:
  void* code_ = nullptr;  // pcre2_code_8*
};

class Pattern {
 public:
  static Pattern from_json(const nlohmann::json& j);
  static Pattern literal(std::string s);
  std::vector<std::pair<size_t, size_t>> find_all(std::string_view text) const;
  std::string replace_all(std::string_view text, std::string_view content) const;

 private:
  std::string literal_;
  std::shared_ptr<Regex> regex_;
};

}  // namespace corelm::tok
