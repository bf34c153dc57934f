// Added tokens (tokenizer.json "added_tokens"): strings matched before the model runs, with the
// `tokenizers` library's semantics: leftmost-longest matching, lstrip/rstrip swallowing adjacent
// whitespace, single_word requiring word boundaries, and `normalized` tokens matched on the
// normalized text (their content normalized too).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace corelm::tok {

struct AddedToken {
  int32_t id = -1;
  std::string content;
  bool special = false;
  bool normalized = false;
  bool lstrip = false;
  bool rstrip = false;
  bool single_word = false;
};

// A byte trie over token contents for leftmost-longest matching.
class AddedTokenMatcher {
 public:
  // `contents[i]` is what to match for `tokens[i]` (the normalized content for normalized ones).
  void build(const std::vector<const AddedToken*>& tokens,
             const std::vector<std::string>& contents);
  bool empty() const { return tokens_.empty(); }

  struct Split {
    size_t begin, end;
    int32_t id;  // -1 for plain text between tokens
  };
  // Splits `text` into plain-text and token spans covering it (empty text: nothing).
  std::vector<Split> split(std::string_view text) const;

 private:
  struct Node {
    std::vector<std::pair<unsigned char, int>> children;  // sorted by byte
    int token = -1;                                       // index into tokens_
  };
  int child(int node, unsigned char c) const;
  std::vector<Node> nodes_;
  bool first_byte_[256] = {};  // bytes some token starts with
  std::vector<const AddedToken*> tokens_;
};

}  // namespace corelm::tok
