// Pieces the server's two source files share.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "serve/openai_api.h"
#include "serve/server.h"

namespace httplib {
struct Response;
}

namespace corelm::serve {

// Requests answered, by endpoint and status (for /metrics).
struct Server::Counters {
  void count(const std::string& endpoint, int status) {
    std::lock_guard lock(mutex);
    ++table[{endpoint, status}];
  }
  std::map<std::pair<std::string, int>, uint64_t> snapshot() const {
    std::lock_guard lock(mutex);
    return table;
  }
  mutable std::mutex mutex;
  std::map<std::pair<std::string, int>, uint64_t> table;
};

void send_error(httplib::Response& res, const ApiError& error);
// JSON text for a response: bytes that are not UTF-8 (a file name, a partial token) become U+FFFD
// instead of an exception.
inline std::string json_text(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}
// A JSON object body, or an ApiException (400) saying what is wrong with it.
nlohmann::json parse_body(std::string_view body);
// body[field]: a list of non-negative token ids (400 otherwise).
std::vector<int32_t> parse_token_ids(const nlohmann::json& body, const char* field);

}  // namespace corelm::serve
