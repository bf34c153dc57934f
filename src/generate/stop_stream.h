// StopStringStream: sampled ids in, text for the reader out — never part of a UTF-8 character and
// never any part of a stop string (text that could still begin one is held back). Used by the
// Generator and by the server's scheduler, so both stream the same text.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "corelm/tokenizer.h"

namespace corelm {

class StopStringStream {
 public:
  // `context`: the ids already shown (the prompt); `stops`: empty strings are ignored.
  StopStringStream(const Tokenizer& tokenizer, std::span<const int32_t> context,
                   std::vector<std::string> stops);
  // Adds one sampled id; returns the text now safe to show (possibly empty). When a stop string
  // completes, returns the text before it and stopped() becomes true; push no more after that.
  std::string push(int32_t id);
  // At the end of generation (not after a stop): everything still held back.
  std::string finish();
  bool stopped() const { return stopped_; }
  // All text returned so far.
  const std::string& text() const { return shown_; }

 private:
  std::string release(size_t hold);

  StreamDecoder decoder_;
  std::vector<std::string> stops_;
  std::string shown_;    // returned to the reader
  std::string pending_;  // decoded, held back
  bool stopped_ = false;
};

}  // namespace corelm
