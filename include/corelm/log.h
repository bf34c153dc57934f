// Where the library's messages go. corelm never writes to stdout or stderr itself: notes (e.g. a
// GGUF tensor converted at load) and warnings go to the log callback. The default callback
// prints warnings and errors to stderr as "corelm: warning: ..."; set your own to route them to
// your application's log, or an empty one to silence them.
#pragma once

#include <functional>
#include <string_view>

namespace corelm {

enum class LogLevel { kDebug, kInfo, kWarning, kError };
const char* log_level_name(LogLevel level);

using LogCallback = std::function<void(LogLevel level, std::string_view message)>;

// Replaces the process-wide callback (thread-safe); returns the previous one. An empty callback
// discards every message.
LogCallback set_log_callback(LogCallback callback);
// The callback that prints warnings and errors to stderr (the initial one).
LogCallback default_log_callback();

}  // namespace corelm
