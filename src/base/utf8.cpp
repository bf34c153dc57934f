#include "base/utf8.h"

namespace corelm::utf8 {

int32_t decode(std::string_view s, size_t pos, size_t* length) {
  *length = 1;
  if (pos >= s.size()) return -1;
  auto c = static_cast<unsigned char>(s[pos]);
  size_t n = sequence_length(c);
  if (n == 0) return -1;
  if (n == 1) return c;
  if (pos + n > s.size()) return -1;
  uint32_t cp = c & (0x7F >> n);
  for (size_t i = 1; i < n; ++i) {
    auto b = static_cast<unsigned char>(s[pos + i]);
    if ((b & 0xC0) != 0x80) return -1;
    // Reject overlongs and surrogates / out-of-range at the second byte, as RFC 3629 does.
    if (i == 1) {
      if (c == 0xE0 && b < 0xA0) return -1;
      if (c == 0xED && b > 0x9F) return -1;
      if (c == 0xF0 && b < 0x90) return -1;
      if (c == 0xF4 && b > 0x8F) return -1;
    }
    cp = (cp << 6) | (b & 0x3F);
  }
  *length = n;
  return static_cast<int32_t>(cp);
}

void append(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

size_t first_invalid(std::string_view s) {
  size_t pos = 0;
  while (pos < s.size()) {
    if (static_cast<unsigned char>(s[pos]) < 0x80) {
      ++pos;
      continue;
    }
    size_t len = 0;
    if (decode(s, pos, &len) < 0) return pos;
    pos += len;
  }
  return std::string_view::npos;
}

bool is_valid(std::string_view s) {
  return first_invalid(s) == std::string_view::npos;
}

std::string sanitize(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t pos = 0;
  while (pos < s.size()) {
    size_t len = 0;
    if (decode(s, pos, &len) >= 0) {
      out.append(s.substr(pos, len));
      pos += len;
      continue;
    }
    // Maximal subpart: the lead byte plus the continuation bytes that were still plausible.
    auto c = static_cast<unsigned char>(s[pos]);
    size_t n = sequence_length(c);
    size_t skip = 1;
    for (size_t i = 1; i < n && pos + i < s.size(); ++i) {
      auto b = static_cast<unsigned char>(s[pos + i]);
      bool ok = (b & 0xC0) == 0x80;
      if (i == 1) {
        if (c == 0xE0 && b < 0xA0) ok = false;
        if (c == 0xED && b > 0x9F) ok = false;
        if (c == 0xF0 && b < 0x90) ok = false;
        if (c == 0xF4 && b > 0x8F) ok = false;
      }
      if (!ok) break;
      skip = i + 1;
    }
    out.append("\xEF\xBF\xBD");
    pos += skip;
  }
  return out;
}

size_t incomplete_tail(std::string_view s) {
  // Look back at most 3 bytes for a lead byte whose sequence runs past the end.
  size_t n = s.size();
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    auto c = static_cast<unsigned char>(s[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation: keep looking for the lead
    size_t need = sequence_length(c);
    return (need > back) ? back : 0;
  }
  return 0;
}

}  // namespace corelm::utf8
