#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/regex.h"

#include <pcre2.h>

#include "base/check.h"
#include "base/json_access.h"

namespace corelm::tok {

Regex::Regex(const std::string& pattern) {
  int err = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                   PCRE2_UTF | PCRE2_UCP, &err, &offset, nullptr);
  if (code == nullptr) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof(msg));
    fail(ErrorCode::kUnsupported, "tokenizer", "cannot compile regex '{}' at offset {}: {}",
         pattern, offset, reinterpret_cast<const char*>(msg));
  }
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // best effort; interpretation works too
  code_ = code;
}

Regex::~Regex() {
  if (code_) pcre2_code_free(static_cast<pcre2_code*>(code_));
}

Regex::Regex(Regex&& o) noexcept : code_(std::exchange(o.code_, nullptr)) {}
Regex& Regex::operator=(Regex&& o) noexcept {
  if (this != &o) {
    if (code_) pcre2_code_free(static_cast<pcre2_code*>(code_));
    code_ = std::exchange(o.code_, nullptr);
  }
  return *this;
}

std::vector<std::pair<size_t, size_t>> Regex::find_all(std::string_view text) const {
  std::vector<std::pair<size_t, size_t>> out;
  auto* code = static_cast<pcre2_code*>(code_);
  pcre2_match_data* md = pcre2_match_data_create_from_pattern(code, nullptr);
  size_t start = 0;
  while (start <= text.size()) {
    int rc = pcre2_match(code, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), start,
                         PCRE2_NO_UTF_CHECK, md, nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {  // the match or heap limit (catastrophic backtracking), or a bad input
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(rc, msg, sizeof(msg));
      pcre2_match_data_free(md);
      fail(ErrorCode::kResourceExhausted, "tokenizer",
           "a pre-tokenizer regex gave up at byte {}: {}", start,
           reinterpret_cast<const char*>(msg));
    }
    PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    size_t b = ov[0], e = ov[1];
    if (e == b) {
      // Empty match: step over one whole character.
      if (b >= text.size()) break;
      size_t step = 1;
      while (b + step < text.size() && (static_cast<unsigned char>(text[b + step]) & 0xC0) == 0x80)
        ++step;
      start = b + step;
      continue;
    }
    out.emplace_back(b, e);
    start = e;
  }
  pcre2_match_data_free(md);
  return out;
}

Pattern Pattern::from_json(const nlohmann::json& j) {
  // {"String": "..."}, {"Regex": "..."} or a plain string.
  const JsonReader r("tokenizer", "tokenizer.json");
  Pattern p;
  if (j.is_object() && j.contains("String")) {
    p.literal_ = r.as_str(j["String"], "pattern field 'String'");
  } else if (j.is_object() && j.contains("Regex")) {
    p.regex_ = std::make_shared<Regex>(r.as_str(j["Regex"], "pattern field 'Regex'"));
  } else if (j.is_string()) {
    p.literal_ = j.get<std::string>();
  } else {
    r.wrong_type("field 'pattern'", "a string, {\"String\": ...} or {\"Regex\": ...}", j);
  }
  return p;
}

Pattern Pattern::literal(std::string s) {
  Pattern p;
  p.literal_ = std::move(s);
  return p;
}

std::vector<std::pair<size_t, size_t>> Pattern::find_all(std::string_view text) const {
  if (regex_) return regex_->find_all(text);
  std::vector<std::pair<size_t, size_t>> out;
  if (literal_.empty()) return out;
  size_t pos = 0;
  while ((pos = text.find(literal_, pos)) != std::string_view::npos) {
    out.emplace_back(pos, pos + literal_.size());
    pos += literal_.size();
  }
  return out;
}

std::string Pattern::replace_all(std::string_view text, std::string_view content) const {
  auto matches = find_all(text);
  if (matches.empty()) return std::string(text);
  std::string out;
  out.reserve(text.size());
  size_t last = 0;
  for (auto [b, e] : matches) {
    out.append(text.substr(last, b - last));
    out.append(content);
    last = e;
  }
  out.append(text.substr(last));
  return out;
}

}  // namespace corelm::tok
