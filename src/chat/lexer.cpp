#include "chat/lexer.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <string_view>
#include <tuple>

#include "base/parse_number.h"

namespace corelm::jinja {

namespace {

class Positions {
 public:
  explicit Positions(const std::string& s) {
    starts_.push_back(0);
    for (size_t i = 0; i < s.size(); ++i)
      if (s[i] == '\n') starts_.push_back(i + 1);
  }
  std::pair<int, int> at(size_t offset) const {
    auto it = std::upper_bound(starts_.begin(), starts_.end(), offset);
    size_t line = static_cast<size_t>(it - starts_.begin());
    return {static_cast<int>(line), static_cast<int>(offset - starts_[line - 1] + 1)};
  }

 private:
  std::vector<size_t> starts_;
};

}  // namespace

double float_literal(const std::string& text) {
  if (auto v = parse_finite_double(text)) return *v;
  // Out of range: overflow when the first significant digit sits at a positive decimal exponent.
  size_t e = text.find_first_of("eE");
  std::string mantissa = text.substr(0, e);
  size_t point = mantissa.find('.');
  if (point == std::string::npos) point = mantissa.size();
  size_t first = mantissa.find_first_not_of("0.");
  if (first == std::string::npos) return 0.0;
  int64_t magnitude = first < point ? static_cast<int64_t>(point - first)
                                    : -static_cast<int64_t>(first - point - 1);
  int64_t exponent = 0;
  if (e != std::string::npos) {
    std::string_view digits(text.data() + e + 1, text.size() - e - 1);
    bool negative = !digits.empty() && digits[0] == '-';
    if (!digits.empty() && (digits[0] == '-' || digits[0] == '+')) digits.remove_prefix(1);
    auto parsed = parse_integer<int64_t>(digits);
    exponent = parsed ? *parsed : int64_t{1} << 40;  // more digits than int64: enormous
    if (negative) exponent = -exponent;
  }
  return magnitude + exponent > 0 ? HUGE_VAL : 0.0;
}

namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

std::vector<Token> tokenize(const std::string& src, size_t begin, size_t end,
                            const Positions& pos) {
  std::vector<Token> out;
  size_t i = begin;
  auto error = [&](const std::string& msg, size_t at) {
    auto [l, c] = pos.at(at);
    throw TemplateError(msg, l, c);
  };
  static const char* kOps[] = {"**", "//", "==", "!=", "<=", ">=", "+", "-", "*",
                               "/",  "%",  "~",  "<",  ">",  "=",  "(", ")", "[",
                               "]",  "{",  "}",  ",",  ".",  ":",  "|"};
  while (i < end) {
    char c = src[i];
    if (is_space(c)) {
      ++i;
      continue;
    }
    Token t;
    std::tie(t.line, t.column) = pos.at(i);
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t j = i;
      while (j < end && (std::isalnum(static_cast<unsigned char>(src[j])) || src[j] == '_')) ++j;
      t.type = Token::Type::kName;
      t.text = src.substr(i, j - i);
      i = j;
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      size_t j = i;
      while (j < end && (std::isdigit(static_cast<unsigned char>(src[j])) || src[j] == '_')) ++j;
      bool is_float = false;
      if (j + 1 < end && src[j] == '.' && std::isdigit(static_cast<unsigned char>(src[j + 1]))) {
        is_float = true;
        ++j;
        while (j < end && std::isdigit(static_cast<unsigned char>(src[j]))) ++j;
      }
      if (j < end && (src[j] == 'e' || src[j] == 'E')) {
        size_t k = j + 1;
        if (k < end && (src[k] == '+' || src[k] == '-')) ++k;
        if (k < end && std::isdigit(static_cast<unsigned char>(src[k]))) {
          is_float = true;
          j = k;
          while (j < end && std::isdigit(static_cast<unsigned char>(src[j]))) ++j;
        }
      }
      std::string num = src.substr(i, j - i);
      num.erase(std::remove(num.begin(), num.end(), '_'), num.end());
      t.text = num;
      if (is_float) {
        t.type = Token::Type::kFloat;
        t.float_value = float_literal(num);
      } else {
        t.type = Token::Type::kInt;
        auto v = parse_integer<int64_t>(num);
        if (!v) error("integer literal " + num + " is out of the 64-bit range", i);
        t.int_value = *v;
      }
      i = j;
    } else if (c == '\'' || c == '"') {
      size_t j = i + 1;
      std::string s;
      while (j < end && src[j] != c) {
        if (src[j] == '\\' && j + 1 < end) {
          char e = src[j + 1];
          switch (e) {
            case 'n':
              s += '\n';
              break;
            case 't':
              s += '\t';
              break;
            case 'r':
              s += '\r';
              break;
            case '\\':
              s += '\\';
              break;
            case '\'':
              s += '\'';
              break;
            case '"':
              s += '"';
              break;
            case '0':
              s += '\0';
              break;
            default:
              s += '\\';
              s += e;
              break;
          }
          j += 2;
          continue;
        }
        s += src[j++];
      }
      if (j >= end) error("unterminated string literal", i);
      t.type = Token::Type::kString;
      t.text = std::move(s);
      i = j + 1;
    } else {
      const char* op = nullptr;
      for (const char* o : kOps)
        if (src.compare(i, std::strlen(o), o) == 0 && i + std::strlen(o) <= end) {
          op = o;
          break;
        }
      if (!op) error(std::string("unexpected character '") + c + "'", i);
      t.type = Token::Type::kOperator;
      t.text = op;
      i += std::strlen(op);
    }
    out.push_back(std::move(t));
  }
  Token e;
  e.type = Token::Type::kEnd;
  std::tie(e.line, e.column) = pos.at(end);
  out.push_back(e);
  return out;
}

// Finds the closing delimiter of a tag that opened at `from`, skipping string literals.
// Braces of dict literals inside "{{ }}" nest: "}}" closes the tag only at depth 0.
size_t find_close(const std::string& s, size_t from, const char* close) {
  char quote = 0;
  int depth = 0;
  for (size_t i = from; i + 1 < s.size(); ++i) {
    char c = s[i];
    if (quote) {
      if (c == '\\')
        ++i;
      else if (c == quote)
        quote = 0;
      continue;
    }
    if (c == '\'' || c == '"')
      quote = c;
    else if (c == '{')
      ++depth;
    else if (c == '}' && depth > 0)
      --depth;
    else if (c == close[0] && s[i + 1] == close[1])
      return i;
  }
  return std::string::npos;
}

}  // namespace

std::vector<Segment> lex(const std::string& src, bool trim_blocks, bool lstrip_blocks) {
  Positions pos(src);
  std::vector<Segment> out;
  size_t i = 0;
  bool strip_next_left = false;    // a "-" closed the previous tag
  bool trim_next_newline = false;  // trim_blocks after a block or comment tag
  auto push_text = [&](std::string text, size_t at) {
    if (text.empty()) return;
    Segment seg{Segment::Kind::kText, std::move(text), {}, 0, 0};
    std::tie(seg.line, seg.column) = pos.at(at);
    out.push_back(std::move(seg));
  };
  while (i < src.size()) {
    // Whitespace the previous tag swallows: all of it after "-", one newline after trim_blocks.
    if (strip_next_left) {
      while (i < src.size() && is_space(src[i])) ++i;
    } else if (trim_next_newline) {
      if (src.compare(i, 2, "\r\n") == 0)
        i += 2;
      else if (i < src.size() && (src[i] == '\n' || src[i] == '\r'))
        ++i;
    }
    strip_next_left = trim_next_newline = false;
    const bool line_starting = i == 0 || src[i - 1] == '\n';
    size_t open = src.find('{', i);
    while (open != std::string::npos && open + 1 < src.size() && src[open + 1] != '{' &&
           src[open + 1] != '%' && src[open + 1] != '#')
      open = src.find('{', open + 1);
    if (open == std::string::npos || open + 1 >= src.size()) {
      push_text(src.substr(i), i);
      break;
    }
    const char kind = src[open + 1];
    const bool block = kind == '%' || kind == '#';
    const char close[3] = {kind == '{' ? '}' : kind, '}', 0};
    size_t inner = open + 2;
    bool minus_left = inner < src.size() && src[inner] == '-';
    bool plus_left = inner < src.size() && src[inner] == '+';
    if (minus_left || plus_left) ++inner;
    size_t end = kind == '#' ? src.find("#}", inner) : find_close(src, inner, close);
    if (end == std::string::npos) {
      auto [l, c] = pos.at(open);
      throw TemplateError(std::string("unclosed tag '{") + kind + "'", l, c);
    }
    bool minus_right = end > inner && src[end - 1] == '-';
    bool plus_right = end > inner && src[end - 1] == '+';
    size_t inner_end = (minus_right || plus_right) ? end - 1 : end;

    std::string text = src.substr(i, open - i);
    if (minus_left) {
      while (!text.empty() && is_space(text.back())) text.pop_back();
    } else if (block && lstrip_blocks && !plus_left) {
      // Jinja2's rule: strip the tag's line indentation when only spaces precede it on its line.
      size_t nl = text.find_last_of('\n');
      size_t line_start = nl == std::string::npos ? 0 : nl + 1;
      bool only_ws = std::all_of(text.begin() + static_cast<std::ptrdiff_t>(line_start), text.end(),
                                 [](char c) { return c == ' ' || c == '\t'; });
      if (only_ws && (nl != std::string::npos || line_starting)) text.erase(line_start);
    }
    push_text(std::move(text), i);

    size_t after = end + 2;
    if (kind == '#') {
      // Comments produce nothing but take part in whitespace control.
    } else if (kind == '%') {
      std::vector<Token> tokens = tokenize(src, inner, inner_end, pos);
      if (!tokens.empty() && tokens[0].type == Token::Type::kName && tokens[0].text == "raw") {
        size_t endraw = src.find("endraw", after);
        size_t tag_open = endraw == std::string::npos ? endraw : src.rfind("{%", endraw);
        size_t tag_close = endraw == std::string::npos ? endraw : src.find("%}", endraw);
        if (tag_open == std::string::npos || tag_close == std::string::npos) {
          throw TemplateError("unclosed {% raw %}", tokens[0].line, tokens[0].column);
        }
        std::string raw = src.substr(after, tag_open - after);
        if (src[tag_open + 2] == '-')
          while (!raw.empty() && is_space(raw.back())) raw.pop_back();
        Segment seg{Segment::Kind::kText, raw, {}, tokens[0].line, tokens[0].column};
        if (!raw.empty()) out.push_back(std::move(seg));
        after = tag_close + 2;
        minus_right = src[tag_close - 1] == '-';
      } else {
        Segment seg{Segment::Kind::kStatement, {}, std::move(tokens), 0, 0};
        std::tie(seg.line, seg.column) = pos.at(open);
        out.push_back(std::move(seg));
      }
    } else {
      Segment seg{Segment::Kind::kOutput, {}, tokenize(src, inner, inner_end, pos), 0, 0};
      std::tie(seg.line, seg.column) = pos.at(open);
      out.push_back(std::move(seg));
    }
    strip_next_left = minus_right;
    trim_next_newline = block && trim_blocks && !plus_right;
    i = after;
  }
  return out;
}

}  // namespace corelm::jinja
