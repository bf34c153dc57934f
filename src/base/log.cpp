#include "base/log.h"

#include <cstdio>
#include <memory>
#include <mutex>
#include <utility>

namespace corelm {

namespace {

std::mutex& callback_mutex() {
  static std::mutex mu;
  return mu;
}

// The callback is shared, not copied per message, and called outside the lock: it may log or
// replace itself without deadlocking, and a slow callback holds up no other thread's logging.
std::shared_ptr<const LogCallback>& callback() {
  static std::shared_ptr<const LogCallback> cb =
      std::make_shared<const LogCallback>(default_log_callback());
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
  auto next = std::make_shared<const LogCallback>(std::move(cb));
  std::lock_guard<std::mutex> lock(callback_mutex());
  std::shared_ptr<const LogCallback> previous = std::exchange(callback(), std::move(next));
  return *previous;
}

void log_message(LogLevel level, std::string_view message) {
  std::shared_ptr<const LogCallback> cb;
  {
    std::lock_guard<std::mutex> lock(callback_mutex());
    cb = callback();
  }
  if (*cb) (*cb)(level, message);
}

}  // namespace corelm
