#include <nlohmann/json.hpp>

#include "base/utf8.h"
#include "commands.h"

namespace corelm::cli {

std::string json_quote(std::string_view s) {
  return nlohmann::json(utf8::sanitize(s)).dump();
}

}  // namespace corelm::cli
