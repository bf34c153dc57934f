// Decoders of tokenizer.json: Sequence, Replace, ByteFallback, Fuse, Strip, Metaspace, ByteLevel,
// WordPiece. Each transforms the list of token strings as the `tokenizers` library does.
#include "base/check.h"
#include "base/json_access.h"
#include "base/utf8.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/components.h"
#include "tokenizer/regex.h"

namespace corelm::tok {

namespace {

using nlohmann::json;

const JsonReader& reader() {
  static const JsonReader r("tokenizer", "tokenizer.json decoder");
  return r;
}

class SequenceDecoder : public Decoder {
 public:
  explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> parts)
      : parts_(std::move(parts)) {}
  void decode_chain(std::vector<std::string>& tokens, bool raw) const override {
    for (const auto& p : parts_) p->decode_chain(tokens, raw);
  }

 private:
  std::vector<std::unique_ptr<Decoder>> parts_;
};

class ReplaceDecoder : public Decoder {
 public:
  explicit ReplaceDecoder(const json& j)
      : pattern_(Pattern::from_json(reader().required(j, "pattern"))),
        content_(reader().required_str(j, "content")) {}
  void decode_chain(std::vector<std::string>& tokens, bool) const override {
    for (auto& t : tokens) t = pattern_.replace_all(t, content_);
  }

 private:
  Pattern pattern_;
  std::string content_;
};

// "<0xXX>" tokens become bytes; a run of them that is not valid UTF-8 becomes one U+FFFD per
// byte (unless raw).
class ByteFallbackDecoder : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens, bool raw) const override {
    std::vector<std::string> out;
    std::string bytes;
    auto flush = [&] {
      if (bytes.empty()) return;
      if (raw || utf8::is_valid(bytes)) {
        out.push_back(bytes);
      } else {
        for (size_t i = 0; i < bytes.size(); ++i) out.push_back("\xEF\xBF\xBD");
      }
      bytes.clear();
    };
    for (auto& t : tokens) {
      int b = byte_token(t);
      if (b >= 0) {
        bytes.push_back(static_cast<char>(b));
        continue;
      }
      flush();
      out.push_back(std::move(t));
    }
    flush();
    tokens = std::move(out);
  }

 private:
  static int byte_token(const std::string& t) {
    if (t.size() != 6 || t[0] != '<' || t[1] != '0' || t[2] != 'x' || t[5] != '>') return -1;
    auto hex = [](char c) {
      return c >= '0' && c <= '9'   ? c - '0'
             : c >= 'A' && c <= 'F' ? c - 'A' + 10
             : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                    : -1;
    };
    int hi = hex(t[3]), lo = hex(t[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
  }
};

class FuseDecoder : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens, bool) const override {
    std::string all;
    for (auto& t : tokens) all += t;
    tokens.assign(1, std::move(all));
  }
};

// Strip: removes up to `start` leading and `stop` trailing occurrences of `content` per token.
class StripDecoder : public Decoder {
 public:
  static constexpr int64_t kMaxStrip = 1 << 20;
  explicit StripDecoder(const json& j)
      : content_(reader().required_str(j, "content")),
        start_(static_cast<int>(reader().integer(j, "start", 0, 0, kMaxStrip))),
        stop_(static_cast<int>(reader().integer(j, "stop", 0, 0, kMaxStrip))) {}
  void decode_chain(std::vector<std::string>& tokens, bool) const override {
    if (content_.empty()) return;
    for (auto& t : tokens) {
      size_t b = 0, e = t.size();
      for (int i = 0; i < start_ && t.compare(b, content_.size(), content_) == 0 && b < e; ++i)
        b += content_.size();
      for (int i = 0; i < stop_ && e >= b + content_.size() &&
                      t.compare(e - content_.size(), content_.size(), content_) == 0;
           ++i)
        e -= content_.size();
      t = t.substr(b, e - b);
    }
  }

 private:
  std::string content_;
  int start_, stop_;
};

class MetaspaceDecoder : public Decoder {
 public:
  explicit MetaspaceDecoder(const json& j) {
    const JsonReader& r = reader();
    replacement_ = r.str(j, "replacement", "\xE2\x96\x81");
    std::string scheme = "always";
    if (JsonReader::has(j, "prepend_scheme"))
      scheme = r.str(j, "prepend_scheme", scheme);
    else if (!r.boolean(j, "add_prefix_space", true))
      scheme = "never";
    strip_first_ = scheme != "never";
  }
  void decode_chain(std::vector<std::string>& tokens, bool) const override {
    Pattern rep = Pattern::literal(replacement_);
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string t = rep.replace_all(tokens[i], " ");
      if (i == 0 && strip_first_ && !t.empty() && t[0] == ' ') t.erase(0, 1);
      tokens[i] = std::move(t);
    }
  }

 private:
  std::string replacement_;
  bool strip_first_ = true;
};

class ByteLevelDecoder : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens, bool raw) const override {
    std::string bytes;
    for (const auto& t : tokens) {
      size_t pos = 0;
      while (pos < t.size()) {
        size_t len = 0;
        int32_t cp = utf8::decode(t, pos, &len);
        int b = cp >= 0 ? unicode_to_byte(static_cast<uint32_t>(cp)) : -1;
        if (b >= 0)
          bytes.push_back(static_cast<char>(b));
        else
          bytes.append(t, pos, len);  // not a byte-level character: keep it as is
        pos += len;
      }
    }
    tokens.assign(1, raw ? bytes : utf8::sanitize(bytes));
  }
};

class WordPieceDecoder : public Decoder {
 public:
  explicit WordPieceDecoder(const json& j)
      : prefix_(reader().str(j, "prefix", "##")), cleanup_(reader().boolean(j, "cleanup", true)) {}
  void decode_chain(std::vector<std::string>& tokens, bool) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      auto& t = tokens[i];
      if (i != 0) {
        if (t.rfind(prefix_, 0) == 0)
          t.erase(0, prefix_.size());
        else
          t = " " + t;
      }
      if (cleanup_) {
        for (const char* p : {" .", " ?", " !", " ,"})
          t = Pattern::literal(p).replace_all(t, p + 1);
        t = Pattern::literal(" ' ").replace_all(t, "'");
        t = Pattern::literal(" n't").replace_all(t, "n't");
        t = Pattern::literal(" 'm").replace_all(t, "'m");
        t = Pattern::literal(" do not").replace_all(t, " don't");
        t = Pattern::literal(" 's").replace_all(t, "'s");
        t = Pattern::literal(" 've").replace_all(t, "'ve");
        t = Pattern::literal(" 're").replace_all(t, "'re");
      }
    }
  }

 private:
  std::string prefix_;
  bool cleanup_;
};

}  // namespace

std::unique_ptr<Decoder> make_decoder(const json& j, int depth) {
  if (j.is_null()) return nullptr;
  const JsonReader& r = reader();
  r.as_object(j, "the decoder");
  const std::string type = r.str(j, "type", std::string());
  if (type == "Sequence") {
    check_sequence_depth("decoder", depth);
    std::vector<std::unique_ptr<Decoder>> parts;
    for (const auto& d : r.as_array(r.required(j, "decoders"), "field 'decoders'"))
      if (auto x = make_decoder(d, depth + 1)) parts.push_back(std::move(x));
    return std::make_unique<SequenceDecoder>(std::move(parts));
  }
  if (type == "Replace") return std::make_unique<ReplaceDecoder>(j);
  if (type == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
  if (type == "Fuse") return std::make_unique<FuseDecoder>();
  if (type == "Strip") return std::make_unique<StripDecoder>(j);
  if (type == "Metaspace") return std::make_unique<MetaspaceDecoder>(j);
  if (type == "ByteLevel") return std::make_unique<ByteLevelDecoder>();
  if (type == "WordPiece") return std::make_unique<WordPieceDecoder>(j);
  unsupported_component("decoder", j);
}

}  // namespace corelm::tok
