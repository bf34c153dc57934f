// StreamDecoder: incremental detokenization over a short window of recent ids. The text of
// window+new minus the text of the window is what the new id adds; it is held back while it
// ends inside a UTF-8 character. Decoding the window (not the single id) keeps the decoders'
// context right: a leading "▁" becomes a space only when something precedes it.
#include "base/utf8.h"
#include "corelm/tokenizer.h"

namespace corelm {

namespace {
constexpr size_t kContextIds = 6;
}

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer, std::span<const int32_t> context)
    : tokenizer_(tokenizer), ids_(context.begin(), context.end()) {
  read_offset_ = ids_.size();
  prefix_offset_ = ids_.size() > kContextIds ? ids_.size() - kContextIds : 0;
}

std::string StreamDecoder::push(int32_t id) {
  ids_.push_back(id);
  std::span<const int32_t> all(ids_);
  std::string prefix =
      tokenizer_.decode_raw(all.subspan(prefix_offset_, read_offset_ - prefix_offset_));
  std::string text = tokenizer_.decode_raw(all.subspan(prefix_offset_));
  if (text.size() <= prefix.size()) return {};  // nothing new yet (e.g. a skipped special id)
  std::string out = text.substr(prefix.size());
  if (utf8::incomplete_tail(out) > 0 || !utf8::is_valid(out)) {
    // Hold back until the character is complete; give up holding after 4 ids (invalid bytes).
    if (ids_.size() - read_offset_ < 4) return {};
    out = utf8::sanitize(out);
  }
  prefix_offset_ = read_offset_;
  read_offset_ = ids_.size();
  return out;
}

std::string StreamDecoder::flush() {
  std::span<const int32_t> all(ids_);
  std::string prefix =
      tokenizer_.decode_raw(all.subspan(prefix_offset_, read_offset_ - prefix_offset_));
  std::string text = tokenizer_.decode_raw(all.subspan(prefix_offset_));
  prefix_offset_ = read_offset_ = ids_.size();
  if (text.size() <= prefix.size()) return {};
  return utf8::sanitize(text.substr(prefix.size()));
}

}  // namespace corelm
