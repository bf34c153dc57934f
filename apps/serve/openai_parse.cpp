// Typed, path-naming access to an OpenAI request body (see openai_parse.h).
#include "serve/openai_parse.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>

#include "base/parse_number.h"
#include "serve/openai_api.h"

namespace corelm::serve::parse {

[[noreturn]] void bad(std::string param, std::string message, std::string code) {
  ApiError error;
  error.status = 400;
  error.message = std::move(message);
  error.param = std::move(param);
  error.code = std::move(code);
  throw ApiException(std::move(error));
}

std::string kind(const ojson& v) {
  switch (v.type()) {
    case ojson::value_t::null:
      return "null";
    case ojson::value_t::boolean:
      return "a boolean";
    case ojson::value_t::number_integer:
    case ojson::value_t::number_unsigned:
      return "an integer";
    case ojson::value_t::number_float:
      return "a number";
    case ojson::value_t::string:
      return "a string";
    case ojson::value_t::array:
      return "an array";
    case ojson::value_t::object:
      return "an object";
    default:
      return "binary data";
  }
}

[[noreturn]] void wrong_type(const std::string& path, std::string_view expected, const ojson& got) {
  bad(path,
      fmt::format("Invalid type for '{}': expected {}, but got {} instead.", path, expected,
                  kind(got)),
      "invalid_type");
}

[[noreturn]] void missing(const std::string& path) {
  bad(path, fmt::format("Missing required parameter: '{}'.", path), "missing_required_parameter");
}

std::string join_path(const std::string& parent, std::string_view key) {
  return parent.empty() ? std::string(key) : fmt::format("{}.{}", parent, key);
}

std::string index_path(const std::string& parent, size_t i) {
  return fmt::format("{}[{}]", parent, i);
}

// A field of an object: nullptr when absent or null (OpenAI treats an explicit null as "not
// given" for its optional fields).
const ojson* get(const ojson& obj, std::string_view key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

const ojson& require(const ojson& obj, std::string_view key, const std::string& path) {
  const ojson* v = get(obj, key);
  if (!v) missing(path);
  return *v;
}

const ojson& as_object(const ojson& v, const std::string& path) {
  if (!v.is_object()) wrong_type(path, "an object", v);
  return v;
}

const ojson& as_array(const ojson& v, const std::string& path) {
  if (!v.is_array()) wrong_type(path, "an array", v);
  return v;
}

std::string as_string(const ojson& v, const std::string& path) {
  if (!v.is_string()) wrong_type(path, "a string", v);
  return v.get<std::string>();
}

bool as_bool(const ojson& v, const std::string& path) {
  if (!v.is_boolean()) wrong_type(path, "a boolean", v);
  return v.get<bool>();
}

// A number as a double; nlohmann reads 1e999 as infinity, which no field accepts.
double as_number(const ojson& v, const std::string& path) {
  if (!v.is_number()) wrong_type(path, "a number", v);
  double d = v.get<double>();
  if (!std::isfinite(d))
    bad(path, fmt::format("Invalid value for '{}': {} is not a finite number.", path, v.dump()));
  return d;
}

double number_in(const ojson& v, const std::string& path, double lo, double hi, bool lo_open) {
  double d = as_number(v, path);
  if (d < lo || d > hi || (lo_open && d == lo))
    bad(path, fmt::format("Invalid value for '{}': must be {} {} and at most {}, got {}.", path,
                          lo_open ? "greater than" : "at least", lo, hi, v.dump()));
  return d;
}

// An integer (an integral float such as 5.0 too, as JavaScript numbers may arrive) in [lo, hi].
int64_t integer_in(const ojson& v, const std::string& path, int64_t lo, int64_t hi) {
  if (!v.is_number()) wrong_type(path, "an integer", v);
  bool in_range = false;
  int64_t value = 0;
  if (v.is_number_unsigned()) {
    uint64_t u = v.get<uint64_t>();
    in_range = u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
    value = in_range ? static_cast<int64_t>(u) : 0;
  } else if (v.is_number_integer()) {
    value = v.get<int64_t>();
    in_range = true;
  } else {
    double d = v.get<double>();
    if (std::isfinite(d) && std::floor(d) != d) wrong_type(path, "an integer", v);
    in_range = fits_int64(d);
    value = in_range ? static_cast<int64_t>(d) : 0;
  }
  if (!in_range || value < lo || value > hi) {
    if (hi == std::numeric_limits<int64_t>::max())
      bad(path, fmt::format("Invalid value for '{}': must be an integer of at least {}, got {}.",
                            path, lo, v.dump()));
    bad(path, fmt::format("Invalid value for '{}': must be an integer from {} to {}, got {}.", path,
                          lo, hi, v.dump()));
  }
  return value;
}

// Optional typed fields of the top-level object (param = key).
std::optional<double> opt_number(const ojson& root, const char* key, double lo, double hi,
                                 bool lo_open) {
  const ojson* v = get(root, key);
  if (!v) return std::nullopt;
  return number_in(*v, key, lo, hi, lo_open);
}

std::optional<int64_t> opt_integer(const ojson& root, const char* key, int64_t lo, int64_t hi) {
  const ojson* v = get(root, key);
  if (!v) return std::nullopt;
  return integer_in(*v, key, lo, hi);
}

bool opt_bool(const ojson& root, const char* key, bool fallback) {
  const ojson* v = get(root, key);
  return v ? as_bool(*v, key) : fallback;
}

}  // namespace corelm::serve::parse
