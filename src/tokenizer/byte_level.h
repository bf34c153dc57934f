// GPT-2's byte-level alphabet: every byte maps to one printable Unicode character, so arbitrary
// bytes survive as vocabulary strings ("Ġ" is the space byte 0x20).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace corelm::tok {

// The UTF-8 encoding of the character standing for each byte.
const std::array<std::string, 256>& byte_to_unicode();
// Maps a string's bytes to their characters.
std::string bytes_to_unicode_string(std::string_view bytes);
// Inverse of byte_to_unicode for one code point; -1 if it is not one of the 256.
int unicode_to_byte(uint32_t cp);

}  // namespace corelm::tok
