// Pre-tokenizers of tokenizer.json: Metaspace, ByteLevel, Split, Whitespace, WhitespaceSplit,
// Digits, Punctuation, BertPreTokenizer, Sequence. Splitting follows the `tokenizers` library's
// SplitDelimiterBehavior semantics exactly (Removed, Isolated, MergedWithPrevious,
// MergedWithNext, Contiguous, and `invert`).
#include <utf8proc.h>

#include <functional>

#include "base/check.h"
#include "base/json_access.h"
#include "base/utf8.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/components.h"
#include "tokenizer/regex.h"

namespace corelm::tok {

namespace {

using nlohmann::json;
using Range = std::pair<size_t, size_t>;

const JsonReader& reader() {
  static const JsonReader r("tokenizer", "tokenizer.json pre_tokenizer");
  return r;
}

enum class Behavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

// The "behavior" field of `j` (Isolated when absent).
Behavior parse_behavior(const json& j) {
  const std::string b = reader().str(j, "behavior", "Isolated");
  if (b == "Removed") return Behavior::kRemoved;
  if (b == "Isolated") return Behavior::kIsolated;
  if (b == "MergedWithPrevious") return Behavior::kMergedWithPrevious;
  if (b == "MergedWithNext") return Behavior::kMergedWithNext;
  if (b == "Contiguous") return Behavior::kContiguous;
  fail(ErrorCode::kUnsupported, "tokenizer", "unsupported split behavior '{}'", b);
}

// Turns match ranges into the (range, is_match) cover of the whole text, then applies the
// behavior. Returns the ranges of the resulting pieces.
std::vector<Range> split_ranges(size_t length, const std::vector<Range>& matches, Behavior behavior,
                                bool invert) {
  std::vector<std::pair<Range, bool>> cover;
  if (length == 0) return {};
  size_t prev = 0;
  for (auto [b, e] : matches) {
    if (prev != b) cover.push_back({{prev, b}, false});
    cover.push_back({{b, e}, true});
    prev = e;
  }
  if (prev != length) cover.push_back({{prev, length}, false});
  if (invert)
    for (auto& c : cover) c.second = !c.second;

  std::vector<Range> out;
  switch (behavior) {
    case Behavior::kIsolated:
      for (auto& c : cover) out.push_back(c.first);
      break;
    case Behavior::kRemoved:
      for (auto& c : cover)
        if (!c.second) out.push_back(c.first);
      break;
    case Behavior::kMergedWithPrevious: {
      bool previous_match = false;
      for (auto& [r, is_match] : cover) {
        if (is_match && !previous_match && !out.empty())
          out.back().second = r.second;
        else
          out.push_back(r);
        previous_match = is_match;
      }
      break;
    }
    case Behavior::kMergedWithNext: {
      bool previous_match = false;
      for (auto it = cover.rbegin(); it != cover.rend(); ++it) {
        auto& [r, is_match] = *it;
        if (is_match && !previous_match && !out.empty())
          out.back().first = r.first;
        else
          out.push_back(r);
        previous_match = is_match;
      }
      std::reverse(out.begin(), out.end());
      break;
    }
    case Behavior::kContiguous: {
      bool previous_match = false;
      for (auto& [r, is_match] : cover) {
        if (is_match == previous_match && !out.empty())
          out.back().second = r.second;
        else
          out.push_back(r);
        previous_match = is_match;
      }
      break;
    }
  }
  return out;
}

// Applies `find` to every piece and replaces it with its sub-pieces.
void split_each(std::vector<Piece>& pieces, Behavior behavior, bool invert,
                const std::function<std::vector<Range>(std::string_view)>& find) {
  std::vector<Piece> out;
  out.reserve(pieces.size());
  for (auto& p : pieces) {
    for (auto [b, e] : split_ranges(p.text.size(), find(p.text), behavior, invert))
      if (e > b) out.push_back({p.text.substr(b, e - b), p.offset + b});
  }
  pieces = std::move(out);
}

// Ranges of the characters satisfying `pred`, one range per character.
std::vector<Range> char_matches(std::string_view s, const std::function<bool(int32_t)>& pred) {
  std::vector<Range> out;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t len = 0;
    int32_t cp = utf8::decode(s, pos, &len);
    if (cp >= 0 && pred(cp)) out.emplace_back(pos, pos + len);
    pos += len;
  }
  return out;
}

bool is_whitespace(int32_t cp) {
  if (cp == ' ' || (cp >= 0x09 && cp <= 0x0D) || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
      (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
      cp == 0x205F || cp == 0x3000)
    return true;
  return false;
}

bool is_punctuation(int32_t cp) {
  if (cp < 128) return std::ispunct(cp) != 0;
  switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_PC:
    case UTF8PROC_CATEGORY_PD:
    case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE:
    case UTF8PROC_CATEGORY_PI:
    case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO:
      return true;
    default:
      return false;
  }
}

bool is_numeric(int32_t cp) {
  auto c = utf8proc_category(cp);
  return c == UTF8PROC_CATEGORY_ND || c == UTF8PROC_CATEGORY_NL || c == UTF8PROC_CATEGORY_NO;
}

class SequencePreTokenizer : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> parts)
      : parts_(std::move(parts)) {}
  void split(std::vector<Piece>& pieces) const override {
    for (const auto& p : parts_) p->split(pieces);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> parts_;
};

class MetaspacePreTokenizer : public PreTokenizer {
 public:
  explicit MetaspacePreTokenizer(const json& j) {
    const JsonReader& r = reader();
    replacement_ = r.str(j, "replacement", "\xE2\x96\x81");
    std::string scheme = "always";
    if (JsonReader::has(j, "prepend_scheme"))
      scheme = r.str(j, "prepend_scheme", scheme);
    else if (!r.boolean(j, "add_prefix_space", true))
      scheme = "never";
    if (scheme != "always" && scheme != "first" && scheme != "never")
      fail(ErrorCode::kUnsupported, "tokenizer", "unsupported Metaspace prepend_scheme '{}'",
           scheme);
    scheme_ = scheme;
    split_ = r.boolean(j, "split", true);
  }
  void split(std::vector<Piece>& pieces) const override {
    for (auto& p : pieces) {
      p.text = Pattern::literal(" ").replace_all(p.text, replacement_);
      // "always" prepends unless the piece already starts with the replacement, as the
      // `tokenizers` library does. "first" prepends at the start of the input even then: that
      // is SentencePiece's dummy prefix (" grabbed" -> "▁▁grabbed"), which the Llama/Mistral
      // models were trained with and mistral-common reproduces; `tokenizers` skips it there.
      if (scheme_ == "always" && p.text.rfind(replacement_, 0) != 0) p.text = replacement_ + p.text;
      if (scheme_ == "first" && p.offset == 0) p.text = replacement_ + p.text;
    }
    if (!split_) return;
    Pattern rep = Pattern::literal(replacement_);
    split_each(pieces, Behavior::kMergedWithNext, false,
               [&](std::string_view s) { return rep.find_all(s); });
  }

 private:
  std::string replacement_, scheme_;
  bool split_ = true;
};

constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

class ByteLevelPreTokenizer : public PreTokenizer {
 public:
  explicit ByteLevelPreTokenizer(const json& j)
      : add_prefix_space_(reader().boolean(j, "add_prefix_space", true)),
        use_regex_(reader().boolean(j, "use_regex", true)),
        regex_(kGpt2Pattern) {}
  void split(std::vector<Piece>& pieces) const override {
    std::vector<Piece> out;
    out.reserve(pieces.size());
    for (auto& p : pieces) {
      if (add_prefix_space_ && !p.text.empty() && p.text[0] != ' ') p.text = " " + p.text;
      if (!use_regex_) {
        out.push_back({bytes_to_unicode_string(p.text), p.offset});
        continue;
      }
      // Isolated split: matches and the gaps between them each become a piece, mapped to the
      // byte-level alphabet in the same pass.
      size_t prev = 0;
      auto emit = [&](size_t b, size_t e) {
        if (e > b)
          out.push_back(
              {bytes_to_unicode_string(std::string_view(p.text).substr(b, e - b)), p.offset + b});
      };
      for (auto [b, e] : regex_.find_all(p.text)) {
        emit(prev, b);
        emit(b, e);
        prev = e;
      }
      emit(prev, p.text.size());
    }
    pieces = std::move(out);
  }

 private:
  bool add_prefix_space_, use_regex_;
  Regex regex_;
};

class SplitPreTokenizer : public PreTokenizer {
 public:
  explicit SplitPreTokenizer(const json& j)
      : pattern_(Pattern::from_json(reader().required(j, "pattern"))),
        behavior_(parse_behavior(j)),
        invert_(reader().boolean(j, "invert", false)) {}
  void split(std::vector<Piece>& pieces) const override {
    split_each(pieces, behavior_, invert_,
               [&](std::string_view s) { return pattern_.find_all(s); });
  }

 private:
  Pattern pattern_;
  Behavior behavior_;
  bool invert_;
};

// Whitespace: keeps runs of word characters and runs of other non-space characters.
class WhitespacePreTokenizer : public PreTokenizer {
 public:
  WhitespacePreTokenizer() : regex_(R"(\w+|[^\w\s]+)") {}
  void split(std::vector<Piece>& pieces) const override {
    split_each(pieces, Behavior::kRemoved, true,
               [&](std::string_view s) { return regex_.find_all(s); });
  }

 private:
  Regex regex_;
};

class CharClassPreTokenizer : public PreTokenizer {
 public:
  CharClassPreTokenizer(std::function<bool(int32_t)> pred, Behavior behavior)
      : pred_(std::move(pred)), behavior_(behavior) {}
  void split(std::vector<Piece>& pieces) const override {
    split_each(pieces, behavior_, false,
               [&](std::string_view s) { return char_matches(s, pred_); });
  }

 private:
  std::function<bool(int32_t)> pred_;
  Behavior behavior_;
};

}  // namespace

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const json& j, int depth) {
  if (j.is_null()) return nullptr;
  const JsonReader& r = reader();
  r.as_object(j, "the pre_tokenizer");
  const std::string type = r.str(j, "type", std::string());
  if (type == "Sequence") {
    check_sequence_depth("pre_tokenizer", depth);
    std::vector<std::unique_ptr<PreTokenizer>> parts;
    for (const auto& p : r.as_array(r.required(j, "pretokenizers"), "field 'pretokenizers'"))
      if (auto x = make_pre_tokenizer(p, depth + 1)) parts.push_back(std::move(x));
    return std::make_unique<SequencePreTokenizer>(std::move(parts));
  }
  if (type == "Metaspace") return std::make_unique<MetaspacePreTokenizer>(j);
  if (type == "ByteLevel") return std::make_unique<ByteLevelPreTokenizer>(j);
  if (type == "Split") return std::make_unique<SplitPreTokenizer>(j);
  if (type == "Whitespace") return std::make_unique<WhitespacePreTokenizer>();
  if (type == "WhitespaceSplit")
    return std::make_unique<CharClassPreTokenizer>(is_whitespace, Behavior::kRemoved);
  if (type == "Punctuation")
    return std::make_unique<CharClassPreTokenizer>(is_punctuation, parse_behavior(j));
  if (type == "Digits")
    return std::make_unique<CharClassPreTokenizer>(
        is_numeric,
        r.boolean(j, "individual_digits", false) ? Behavior::kIsolated : Behavior::kContiguous);
  if (type == "BertPreTokenizer") {
    std::vector<std::unique_ptr<PreTokenizer>> parts;
    parts.push_back(std::make_unique<CharClassPreTokenizer>(is_whitespace, Behavior::kRemoved));
    parts.push_back(std::make_unique<CharClassPreTokenizer>(is_punctuation, Behavior::kIsolated));
    return std::make_unique<SequencePreTokenizer>(std::move(parts));
  }
  unsupported_component("pre_tokenizer", j);
}

}  // namespace corelm::tok
