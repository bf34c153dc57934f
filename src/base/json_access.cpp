#include "base/json_access.h"

#include <cmath>

#include "base/check.h"

namespace corelm {

using nlohmann::json;

namespace {

struct TooDeep {};

template <typename Json>
Json parse_limited(std::string_view text, const char* component, std::string_view what,
                   int max_depth) {
  // The callback sees each value's depth as the parser (iterative) reaches it.
  typename Json::parser_callback_t check = [max_depth](int depth,
                                                       typename Json::parse_event_t event, Json&) {
    if ((event == Json::parse_event_t::object_start || event == Json::parse_event_t::array_start) &&
        depth >= max_depth)
      throw TooDeep{};
    return true;
  };
  try {
    return Json::parse(text.begin(), text.end(), check);
  } catch (const TooDeep&) {
    fail(ErrorCode::kCorrupt, component, "{} nests arrays or objects more than {} deep", what,
         max_depth);
  } catch (const typename Json::exception& e) {
    fail(ErrorCode::kCorrupt, component, "{} is not valid JSON: {}", what, e.what());
  }
}

}  // namespace

json parse_json(std::string_view text, const char* component, std::string_view what,
                int max_depth) {
  return parse_limited<json>(text, component, what, max_depth);
}

nlohmann::ordered_json parse_ordered_json(std::string_view text, const char* component,
                                          std::string_view what, int max_depth) {
  return parse_limited<nlohmann::ordered_json>(text, component, what, max_depth);
}

std::string describe_json(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return v.get<bool>() ? "true" : "false";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
      return "the number " + v.dump();
    case json::value_t::string: {
      std::string s = v.dump(-1, ' ', true, json::error_handler_t::replace);
      if (s.size() > 40) s = s.substr(0, 37) + "...";
      return "a string (" + s + ")";
    }
    case json::value_t::array:
      return "an array";
    case json::value_t::object:
      return "an object";
    default:
      return "binary data";
  }
}

void JsonReader::wrong_type(std::string_view what, std::string_view expected,
                            const json& got) const {
  if (document_.empty())
    fail(ErrorCode::kCorrupt, component_, "{} must be {}, got {}", what, expected,
         describe_json(got));
  fail(ErrorCode::kCorrupt, component_, "{}: {} must be {}, got {}", document_, what, expected,
       describe_json(got));
}

void JsonReader::missing(std::string_view key) const {
  if (document_.empty()) fail(ErrorCode::kCorrupt, component_, "field '{}' is missing", key);
  fail(ErrorCode::kCorrupt, component_, "{}: field '{}' is missing", document_, key);
}

bool JsonReader::has(const json& obj, std::string_view key) {
  if (!obj.is_object()) return false;
  auto it = obj.find(key);
  return it != obj.end() && !it->is_null();
}

const json* JsonReader::field(const json& obj, std::string_view key, OnNull on_null,
                              std::string_view expected) const {
  if (!obj.is_object())
    wrong_type("the parent of field '" + std::string(key) + "'", "an object", obj);
  auto it = obj.find(key);
  if (it == obj.end()) return nullptr;
  if (it->is_null()) {
    if (on_null == OnNull::kError) wrong_type("field '" + std::string(key) + "'", expected, *it);
    return nullptr;
  }
  return &*it;
}

namespace {
std::string field_name(std::string_view key) {
  return "field '" + std::string(key) + "'";
}
}  // namespace

std::string JsonReader::str(const json& obj, std::string_view key, std::string fallback,
                            OnNull on_null) const {
  const json* v = field(obj, key, on_null, "a string");
  return v ? as_str(*v, field_name(key)) : fallback;
}

bool JsonReader::boolean(const json& obj, std::string_view key, bool fallback,
                         OnNull on_null) const {
  const json* v = field(obj, key, on_null, "true or false");
  return v ? as_boolean(*v, field_name(key)) : fallback;
}

int64_t JsonReader::integer(const json& obj, std::string_view key, int64_t fallback, int64_t min,
                            int64_t max, OnNull on_null) const {
  const json* v = field(obj, key, on_null, "an integer");
  return v ? as_integer(*v, field_name(key), min, max) : fallback;
}

double JsonReader::number(const json& obj, std::string_view key, double fallback,
                          OnNull on_null) const {
  const json* v = field(obj, key, on_null, "a number");
  return v ? as_number(*v, field_name(key)) : fallback;
}

const json& JsonReader::required(const json& obj, std::string_view key) const {
  if (!obj.is_object())
    wrong_type("the parent of field '" + std::string(key) + "'", "an object", obj);
  auto it = obj.find(key);
  if (it == obj.end()) missing(key);
  if (it->is_null()) wrong_type(field_name(key), "set", *it);
  return *it;
}

std::string JsonReader::required_str(const json& obj, std::string_view key) const {
  return as_str(required(obj, key), field_name(key));
}

int64_t JsonReader::required_integer(const json& obj, std::string_view key, int64_t min,
                                     int64_t max) const {
  return as_integer(required(obj, key), field_name(key), min, max);
}

std::string JsonReader::as_str(const json& v, std::string_view what) const {
  if (!v.is_string()) wrong_type(what, "a string", v);
  return v.get<std::string>();
}

bool JsonReader::as_boolean(const json& v, std::string_view what) const {
  if (!v.is_boolean()) wrong_type(what, "true or false", v);
  return v.get<bool>();
}

int64_t JsonReader::as_integer(const json& v, std::string_view what, int64_t min,
                               int64_t max) const {
  auto range = [&] { return fmt::format("an integer in [{}, {}]", min, max); };
  if (v.is_number_unsigned()) {
    uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
        static_cast<int64_t>(u) < min || static_cast<int64_t>(u) > max)
      wrong_type(what, range(), v);
    return static_cast<int64_t>(u);
  }
  if (v.is_number_integer()) {
    int64_t i = v.get<int64_t>();
    if (i < min || i > max) wrong_type(what, range(), v);
    return i;
  }
  if (v.is_number_float()) {
    // 4096.0 is accepted as 4096 (some exporters write floats); 4096.5 or 1e30 are not.
    double d = v.get<double>();
    if (!std::isfinite(d) || d != std::floor(d) || std::fabs(d) >= 9.2e18 ||
        d < static_cast<double>(min) || d > static_cast<double>(max))
      wrong_type(what, range(), v);
    return static_cast<int64_t>(d);
  }
  wrong_type(what, range(), v);
}

double JsonReader::as_number(const json& v, std::string_view what) const {
  if (!v.is_number()) wrong_type(what, "a number", v);
  return v.get<double>();
}

const json& JsonReader::as_object(const json& v, std::string_view what) const {
  if (!v.is_object()) wrong_type(what, "an object", v);
  return v;
}

const json& JsonReader::as_array(const json& v, std::string_view what) const {
  if (!v.is_array()) wrong_type(what, "an array", v);
  return v;
}

}  // namespace corelm
