#include "tokenizer/byte_level.h"

#include <vector>

#include "base/utf8.h"

namespace corelm::tok {

namespace {
struct Tables {
  std::array<std::string, 256> to_unicode;
  std::vector<int> to_byte;  // indexed by code point < 512
  Tables() : to_byte(512, -1) {
    // Printable Latin-1 bytes stand for themselves; the others are shifted to 256 and up in
    // byte order, as GPT-2's bytes_to_unicode() defines.
    int next = 256;
    for (int b = 0; b < 256; ++b) {
      bool keep = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      int cp = keep ? b : next++;
      std::string s;
      utf8::append(s, static_cast<uint32_t>(cp));
      to_unicode[b] = s;
      to_byte[cp] = b;
    }
  }
};
const Tables& tables() {
  static const Tables t;
  return t;
}
}  // namespace

const std::array<std::string, 256>& byte_to_unicode() {
  return tables().to_unicode;
}

std::string bytes_to_unicode_string(std::string_view bytes) {
  const auto& t = tables().to_unicode;
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) out.append(t[c]);
  return out;
}

int unicode_to_byte(uint32_t cp) {
  const auto& t = tables().to_byte;
  return cp < t.size() ? t[cp] : -1;
}

}  // namespace corelm::tok
