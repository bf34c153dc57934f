#include "base/boundary.h"

#include <fmt/format.h>

#include <new>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "corelm/error.h"

namespace corelm {

void rethrow_as_error(const char* component) {
  // Inputs are checked where they are read, so everything below but a failed allocation means a
  // check is missing: the message says so, for the bug report.
  constexpr const char* kBug = "(an unchecked error: a bug in corelm, please report it)";
  try {
    throw;
  } catch (const Error&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw Error(ErrorCode::kResourceExhausted,
                fmt::format("[{}] out of memory (an allocation failed)", component));
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorCode::kInternal,
                fmt::format("[{}] malformed JSON input {}: {}", component, kBug, e.what()));
  } catch (const std::length_error& e) {
    throw Error(
        ErrorCode::kResourceExhausted,
        fmt::format("[{}] a size beyond what can be allocated {}: {}", component, kBug, e.what()));
  } catch (const std::out_of_range& e) {
    throw Error(ErrorCode::kOutOfRange,
                fmt::format("[{}] a value out of range {}: {}", component, kBug, e.what()));
  } catch (const std::exception& e) {
    throw Error(ErrorCode::kInternal,
                fmt::format("[{}] unexpected error {}: {}", component, kBug, e.what()));
  } catch (...) {
    throw Error(ErrorCode::kInternal,
                fmt::format("[{}] unexpected non-standard exception {}", component, kBug));
  }
}

}  // namespace corelm
