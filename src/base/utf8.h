// UTF-8 helpers shared by the tokenizer, the chat templates and the apps.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace corelm::utf8 {

// Length of the sequence that starts with lead byte `c` (1-4), or 0 for a continuation or
// invalid lead byte.
inline size_t sequence_length(unsigned char c) {
  if (c < 0x80) return 1;
  if (c < 0xC2) return 0;
  if (c < 0xE0) return 2;
  if (c < 0xF0) return 3;
  if (c < 0xF5) return 4;
  return 0;
}

// Decodes one code point at s[pos]; on success sets *length and returns the code point, on an
// invalid or truncated sequence returns -1 and sets *length to 1.
int32_t decode(std::string_view s, size_t pos, size_t* length);

// Appends code point `cp` as UTF-8.
void append(std::string& out, uint32_t cp);

// True if `s` is entirely well-formed UTF-8 (no overlongs, surrogates or code points > 10FFFF).
bool is_valid(std::string_view s);

// Byte offset of the first invalid sequence, or npos.
size_t first_invalid(std::string_view s);

// Copies `s` replacing each maximal invalid subsequence with U+FFFD, as Python's
// bytes.decode('utf-8', errors='replace') does.
std::string sanitize(std::string_view s);

// Number of bytes at the end of `s` that form an incomplete (but so far valid) sequence, i.e.
// bytes a streaming decoder must hold back until more arrive. 0 when `s` ends cleanly.
size_t incomplete_tail(std::string_view s);

}  // namespace corelm::utf8
