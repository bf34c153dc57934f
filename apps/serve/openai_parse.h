// Typed, path-naming access to an OpenAI request body (ordered JSON), shared by the request
// parsers (openai_api.cpp, openai_messages.cpp). Every problem is an ApiException (400) whose
// param is the field's path ("messages[1].content") and whose message says what was expected.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace corelm::serve::parse {

using ojson = nlohmann::ordered_json;

// Tool-call arguments are parsed at most this deep: nested in the messages (the body itself is
// bounded the same way), they stay well below a chat template's value-nesting bound (128).
constexpr int kMaxArgumentsDepth = 64;

[[noreturn]] void bad(std::string param, std::string message, std::string code = "invalid_value");
// "null", "a boolean", "an integer", "a number", "a string", "an array", "an object".
std::string kind(const ojson& v);
[[noreturn]] void wrong_type(const std::string& path, std::string_view expected, const ojson& got);
[[noreturn]] void missing(const std::string& path);
std::string join_path(const std::string& parent, std::string_view key);  // "a.b"
std::string index_path(const std::string& parent, size_t i);             // "a[3]"

// A field of an object: nullptr when absent or null (OpenAI treats an explicit null as "not
// given" for its optional fields). require: absent or null is an error naming `path`.
const ojson* get(const ojson& obj, std::string_view key);
const ojson& require(const ojson& obj, std::string_view key, const std::string& path);

const ojson& as_object(const ojson& v, const std::string& path);
const ojson& as_array(const ojson& v, const std::string& path);
std::string as_string(const ojson& v, const std::string& path);
bool as_bool(const ojson& v, const std::string& path);
// A finite number.
double as_number(const ojson& v, const std::string& path);
// A finite number in [lo, hi] (lo excluded when lo_open).
double number_in(const ojson& v, const std::string& path, double lo, double hi, bool lo_open);
// An integer (an integral float such as 5.0 too, as JavaScript numbers may arrive) in [lo, hi].
int64_t integer_in(const ojson& v, const std::string& path, int64_t lo, int64_t hi);

// Optional fields of the top-level object (param = key).
std::optional<double> opt_number(const ojson& root, const char* key, double lo, double hi,
                                 bool lo_open = false);
std::optional<int64_t> opt_integer(const ojson& root, const char* key, int64_t lo, int64_t hi);
bool opt_bool(const ojson& root, const char* key, bool fallback);

// Chat parts (openai_messages.cpp): one message as ChatRequest::messages holds it; the tools
// array checked (returns the function names); tool_choice as ChatRequest::tool_choice.
ojson parse_message(const ojson& v, const std::string& path);
std::vector<std::string> check_tools(const ojson& tools);
std::string parse_tool_choice(const ojson& v, const std::vector<std::string>& names);

}  // namespace corelm::serve::parse
