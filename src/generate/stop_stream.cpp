#include "generate/stop_stream.h"

#include <algorithm>

namespace corelm {

namespace {
// Length of the longest suffix of `text` that is a proper prefix of some stop string.
size_t stop_prefix_overlap(std::string_view text, const std::vector<std::string>& stops) {
  size_t best = 0;
  for (const auto& s : stops) {
    for (size_t len = std::min(text.size(), s.size() - 1); len > best; --len) {
      if (text.compare(text.size() - len, len, s, 0, len) == 0) {
        best = len;
        break;
      }
    }
  }
  return best;
}
}  // namespace

StopStringStream::StopStringStream(const Tokenizer& tokenizer, std::span<const int32_t> context,
                                   std::vector<std::string> stops)
    : decoder_(tokenizer, context), stops_(std::move(stops)) {
  std::erase_if(stops_, [](const std::string& s) { return s.empty(); });
}

std::string StopStringStream::release(size_t hold) {
  std::string piece = pending_.substr(0, pending_.size() - hold);
  pending_.erase(0, piece.size());
  shown_ += piece;
  return piece;
}

std::string StopStringStream::push(int32_t id) {
  pending_ += decoder_.push(id);
  if (stops_.empty()) return release(0);
  // Held-back text is a proper prefix of a stop string, so a stop string can only begin inside
  // pending_ (shown text never holds the start of one).
  size_t cut = std::string::npos;
  for (const auto& s : stops_) cut = std::min(cut, pending_.find(s));
  if (cut != std::string::npos) {
    pending_.resize(cut);
    stopped_ = true;
    return release(0);
  }
  return release(stop_prefix_overlap(pending_, stops_));
}

std::string StopStringStream::finish() {
  if (stopped_) return {};
  pending_ += decoder_.flush();
  return release(0);
}

}  // namespace corelm
