#include "base/log.h"

#include <cstdio>
#include <mutex>

namespace corelm {

namespace {

std::mutex& callback_mutex() {
  static std::mutex mu;
  return mu;
}

LogCallback& callback() {
  static LogCallback cb = default_log_callback();
  return cb;
}

}  // namespace

const char* log_level_name(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "unknown";
}

LogCallback default_log_callback() {
  return [](LogLevel level, std::string_view message) {
    if (level < LogLevel::kWarning) return;
    std::fprintf(stderr, "corelm: %s: %.*s\n", log_level_name(level),
                 static_cast<int>(message.size()), message.data());
  };
}

LogCallback set_log_callback(LogCallback cb) {
  std::lock_guard<std::mutex> lock(callback_mutex());
  LogCallback previous = std::move(callback());
  callback() = std::move(cb);
  return previous;
}

void log_message(LogLevel level, std::string_view message) {
  std::lock_guard<std::mutex> lock(callback_mutex());
  if (callback()) callback()(level, message);
}

}  // namespace corelm
