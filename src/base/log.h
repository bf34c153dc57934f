// Internal logging: formats a message and hands it to the public log callback.
#pragma once

#include <fmt/format.h>

#include <string_view>
#include <utility>

#include "corelm/log.h"

namespace corelm {

void log_message(LogLevel level, std::string_view message);

template <typename... Args>
void log_warning(fmt::format_string<Args...> format, Args&&... args) {
  log_message(LogLevel::kWarning, fmt::format(format, std::forward<Args>(args)...));
}

template <typename... Args>
void log_info(fmt::format_string<Args...> format, Args&&... args) {
  log_message(LogLevel::kInfo, fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace corelm
