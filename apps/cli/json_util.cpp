#include <nlohmann/json.hpp>

#include "base/check.h"
#include "base/utf8.h"
#include "commands.h"

namespace corelm::cli {

void require_utf8(std::string_view text, std::string_view what) {
  size_t at = utf8::first_invalid(text);
  if (at != std::string_view::npos)
    fail(ErrorCode::kInvalidArgument, "cli", "{} is not valid UTF-8 (byte 0x{:02x} at offset {})",
         what, static_cast<unsigned char>(text[at]), at);
}

std::string json_quote(std::string_view s) {
  return nlohmann::json(utf8::sanitize(s)).dump();
}

}  // namespace corelm::cli
