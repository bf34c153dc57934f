#include "tokenizer/word_cache.h"

namespace corelm::tok {

namespace {
constexpr std::string_view kMeta = "\xE2\x96\x81";  // U+2581
}

std::vector<std::string_view> metaspace_chunks(std::string_view text) {
  std::vector<std::string_view> out;
  size_t start = 0;
  bool prev_meta = true;  // no split before the first character
  for (size_t i = 0; i < text.size();) {
    bool meta = text.compare(i, kMeta.size(), kMeta) == 0;
    if (meta && !prev_meta) {
      out.push_back(text.substr(start, i - start));
      start = i;
    }
    prev_meta = meta;
    if (meta) {
      i += kMeta.size();
    } else {
      auto c = static_cast<unsigned char>(text[i]);
      i += c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    }
  }
  if (start < text.size()) out.push_back(text.substr(start));
  return out;
}

bool pieces_never_span_metaspace(const std::vector<std::string>& pieces) {
  for (const auto& p : pieces) {
    for (size_t at = p.find(kMeta); at != std::string::npos; at = p.find(kMeta, at + 1)) {
      if (at == 0) continue;
      if (at < kMeta.size() || p.compare(at - kMeta.size(), kMeta.size(), kMeta) != 0) return false;
    }
  }
  return true;
}

}  // namespace corelm::tok
