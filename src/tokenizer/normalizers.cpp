// Normalizers of tokenizer.json: Sequence, Prepend, Replace, NFC/NFD/NFKC/NFKD, Lowercase,
// Strip, Precompiled (SentencePiece's charsmap), BertNormalizer (subset).
#include <utf8proc.h>

#include <cstring>

#include "base/check.h"
#include "base/json_access.h"
#include "base/utf8.h"
#include "tokenizer/components.h"
#include "tokenizer/precompiled.h"
#include "tokenizer/regex.h"

namespace corelm::tok {

namespace {

using nlohmann::json;

const JsonReader& reader() {
  static const JsonReader r("tokenizer", "tokenizer.json normalizer");
  return r;
}

class SequenceNormalizer : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> parts)
      : parts_(std::move(parts)) {}
  std::string normalize(std::string_view text) const override {
    std::string s(text);
    for (const auto& p : parts_) s = p->normalize(s);
    return s;
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> parts_;
};

class PrependNormalizer : public Normalizer {
 public:
  explicit PrependNormalizer(std::string prefix) : prefix_(std::move(prefix)) {}
  std::string normalize(std::string_view text) const override {
    if (text.empty()) return {};
    return prefix_ + std::string(text);
  }

 private:
  std::string prefix_;
};

// Replace: a literal string or a regex, every occurrence.
class ReplaceNormalizer : public Normalizer {
 public:
  explicit ReplaceNormalizer(const json& j)
      : pattern_(Pattern::from_json(reader().required(j, "pattern"))),
        content_(reader().required_str(j, "content")) {}
  std::string normalize(std::string_view text) const override {
    return pattern_.replace_all(text, content_);
  }

 private:
  Pattern pattern_;
  std::string content_;
};

class UnicodeNormalizer : public Normalizer {
 public:
  explicit UnicodeNormalizer(int options) : options_(options) {}
  std::string normalize(std::string_view text) const override {
    if (text.empty()) return {};
    utf8proc_uint8_t* out = nullptr;
    utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                                      static_cast<utf8proc_ssize_t>(text.size()), &out,
                                      static_cast<utf8proc_option_t>(options_));
    if (n < 0) return std::string(text);  // invalid UTF-8 was sanitised before; keep as is
    std::string s(reinterpret_cast<char*>(out), static_cast<size_t>(n));
    std::free(out);
    return s;
  }

 private:
  int options_;
};

class LowercaseNormalizer : public Normalizer {
 public:
  std::string normalize(std::string_view text) const override {
    std::string out;
    out.reserve(text.size());
    size_t pos = 0;
    while (pos < text.size()) {
      size_t len = 0;
      int32_t cp = utf8::decode(text, pos, &len);
      if (cp < 0) {
        out.push_back(text[pos]);
      } else if (cp == 0x130) {  // İ lowercases to i + combining dot, as Rust's to_lowercase
        out.append("i\xCC\x87");
      } else {
        utf8::append(out, static_cast<uint32_t>(utf8proc_tolower(cp)));
      }
      pos += len;
    }
    return out;
  }
};

bool is_unicode_whitespace(int32_t cp) {
  if (cp < 0) return false;
  if (cp == ' ' || (cp >= 0x09 && cp <= 0x0D) || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
      (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
      cp == 0x205F || cp == 0x3000)
    return true;
  return false;
}

class StripNormalizer : public Normalizer {
 public:
  StripNormalizer(bool left, bool right) : left_(left), right_(right) {}
  std::string normalize(std::string_view text) const override {
    size_t begin = 0, end = text.size();
    if (left_) {
      while (begin < end) {
        size_t len = 0;
        if (!is_unicode_whitespace(utf8::decode(text, begin, &len))) break;
        begin += len;
      }
    }
    if (right_) {
      while (end > begin) {
        size_t start = end - 1;
        while (start > begin && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
        size_t len = 0;
        if (!is_unicode_whitespace(utf8::decode(text, start, &len))) break;
        end = start;
      }
    }
    return std::string(text.substr(begin, end - begin));
  }

 private:
  bool left_, right_;
};

class PrecompiledNormalizer : public Normalizer {
 public:
  explicit PrecompiledNormalizer(const std::string& base64)
      : map_(PrecompiledCharsMap::from_base64(base64)) {}
  std::string normalize(std::string_view text) const override { return map_.normalize(text); }

 private:
  PrecompiledCharsMap map_;
};

// BertNormalizer: clean_text, handle_chinese_chars, strip_accents, lowercase.
class BertNormalizer : public Normalizer {
 public:
  explicit BertNormalizer(const json& j) {
    const JsonReader& r = reader();
    clean_text_ = r.boolean(j, "clean_text", true);
    chinese_ = r.boolean(j, "handle_chinese_chars", true);
    lowercase_ = r.boolean(j, "lowercase", true);
    strip_accents_ = r.boolean(j, "strip_accents", lowercase_);
  }
  std::string normalize(std::string_view text) const override {
    std::string out;
    size_t pos = 0;
    while (pos < text.size()) {
      size_t len = 0;
      int32_t cp = utf8::decode(text, pos, &len);
      pos += len;
      if (cp < 0) continue;
      if (clean_text_) {
        if (cp == 0 || cp == 0xFFFD) continue;
        auto cat = utf8proc_category(cp);
        bool ws =
            cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cat == UTF8PROC_CATEGORY_ZS;
        if (ws) {
          out.push_back(' ');
          continue;
        }
        if (cp != '\t' && cp != '\n' && cp != '\r' &&
            (cat == UTF8PROC_CATEGORY_CC || cat == UTF8PROC_CATEGORY_CF))
          continue;
      }
      bool cjk = (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
                 (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
                 (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
                 (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
      if (chinese_ && cjk) {
        out.push_back(' ');
        utf8::append(out, static_cast<uint32_t>(cp));
        out.push_back(' ');
        continue;
      }
      utf8::append(out, static_cast<uint32_t>(cp));
    }
    if (strip_accents_) {
      out = UnicodeNormalizer(UTF8PROC_DECOMPOSE | UTF8PROC_STABLE).normalize(out);
      std::string kept;
      size_t p = 0;
      while (p < out.size()) {
        size_t len = 0;
        int32_t cp = utf8::decode(out, p, &len);
        if (cp >= 0 && utf8proc_category(cp) == UTF8PROC_CATEGORY_MN) {
          p += len;
          continue;
        }
        kept.append(out, p, len);
        p += len;
      }
      out = std::move(kept);
    }
    if (lowercase_) out = LowercaseNormalizer().normalize(out);
    return out;
  }

 private:
  bool clean_text_, chinese_, lowercase_, strip_accents_;
};

}  // namespace

void check_sequence_depth(const char* stage, int depth) {
  if (depth >= kMaxSequenceDepth)
    fail(ErrorCode::kUnsupported, "tokenizer",
         "the {} nests Sequences more than {} deep (corelm's limit)", stage, kMaxSequenceDepth);
}

void unsupported_component(const char* stage, const json& j) {
  // Only the type is shown: the node may be large or deeply nested (dump() recurses).
  if (j.is_object() && j.contains("type") && j["type"].is_string() &&
      !j["type"].get<std::string>().empty())
    fail(ErrorCode::kUnsupported, "tokenizer", "unsupported {} type '{}'", stage,
         j["type"].get<std::string>());
  fail(ErrorCode::kUnsupported, "tokenizer", "unsupported {}: it has no 'type'", stage);
}

std::unique_ptr<Normalizer> make_normalizer(const json& j, int depth) {
  if (j.is_null()) return nullptr;
  const JsonReader& r = reader();
  r.as_object(j, "the normalizer");
  const std::string type = r.str(j, "type", std::string());
  if (type == "Sequence") {
    check_sequence_depth("normalizer", depth);
    std::vector<std::unique_ptr<Normalizer>> parts;
    for (const auto& n : r.as_array(r.required(j, "normalizers"), "field 'normalizers'"))
      if (auto p = make_normalizer(n, depth + 1)) parts.push_back(std::move(p));
    return std::make_unique<SequenceNormalizer>(std::move(parts));
  }
  if (type == "Prepend") return std::make_unique<PrependNormalizer>(r.required_str(j, "prepend"));
  if (type == "Replace") return std::make_unique<ReplaceNormalizer>(j);
  if (type == "NFC") return std::make_unique<UnicodeNormalizer>(UTF8PROC_STABLE | UTF8PROC_COMPOSE);
  if (type == "NFD")
    return std::make_unique<UnicodeNormalizer>(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE);
  if (type == "NFKC")
    return std::make_unique<UnicodeNormalizer>(UTF8PROC_STABLE | UTF8PROC_COMPOSE |
                                               UTF8PROC_COMPAT);
  if (type == "NFKD")
    return std::make_unique<UnicodeNormalizer>(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE |
                                               UTF8PROC_COMPAT);
  if (type == "Lowercase") return std::make_unique<LowercaseNormalizer>();
  if (type == "Strip")
    return std::make_unique<StripNormalizer>(r.boolean(j, "strip_left", true),
                                             r.boolean(j, "strip_right", true));
  if (type == "Precompiled") {
    if (!j.contains("precompiled_charsmap")) r.missing("precompiled_charsmap");
    if (!JsonReader::has(j, "precompiled_charsmap")) return nullptr;
    return std::make_unique<PrecompiledNormalizer>(r.str(j, "precompiled_charsmap", ""));
  }
  if (type == "BertNormalizer") return std::make_unique<BertNormalizer>(j);
  unsupported_component("normalizer", j);
}

}  // namespace corelm::tok
