// Helpers that format and throw corelm::Error. `component` is the bracketed prefix, e.g. "package".
#pragma once

#include <fmt/format.h>

#include <utility>

#include "corelm/error.h"

namespace corelm {

template <typename... Args>
[[noreturn]] void fail(ErrorCode code, const char* component, fmt::format_string<Args...> format,
                       Args&&... args) {
  throw Error(code,
              fmt::format("[{}] ", component) + fmt::format(format, std::forward<Args>(args)...));
}

// Human-readable byte counts for messages: "512 B", "3.9 MB", "4.1 GB" (powers of 1000, for files).
std::string format_bytes(double bytes);
// Memory sizes in powers of 1024: "812.3 MiB", "3.75 GiB".
std::string format_mem(double bytes);

}  // namespace corelm
