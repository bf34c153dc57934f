#include "base/boundary.h"

#include <fmt/format.h>

#include <new>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "corelm/error.h"

namespace corelm {

void rethrow_as_error(const char* component) {
  try {
    throw;
  } catch (const Error&) {
    throw;
  } catch (const nlohmann::json::exception& e) {
    // Wrong JSON types or syntax in an input file (config.json, tokenizer.json, a package header).
    throw Error(ErrorCode::kCorrupt,
                fmt::format("[{}] malformed JSON input: {}", component, e.what()));
  } catch (const std::bad_alloc&) {
    throw Error(ErrorCode::kResourceExhausted,
                fmt::format("[{}] out of memory (an allocation failed)", component));
  } catch (const std::length_error& e) {
    throw Error(ErrorCode::kResourceExhausted,
                fmt::format("[{}] a size beyond what can be allocated: {}", component, e.what()));
  } catch (const std::out_of_range& e) {
    throw Error(ErrorCode::kOutOfRange,
                fmt::format("[{}] a value out of range: {}", component, e.what()));
  } catch (const std::exception& e) {
    throw Error(ErrorCode::kInternal,
                fmt::format("[{}] unexpected error: {}", component, e.what()));
  } catch (...) {
    throw Error(ErrorCode::kInternal,
                fmt::format("[{}] unexpected non-standard exception", component));
  }
}

}  // namespace corelm
