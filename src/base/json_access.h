// Typed access to untrusted JSON (config.json, tokenizer.json, tokenizer_config.json, package
// headers). nlohmann's own accessors throw type_error on a wrong type; these check first and
// throw a corelm::Error that names the component, the document and the field:
//   [config] config.json: field 'hidden_act' must be a string, got null
// A missing field, or one set to null (Hugging Face's None: "not set"), gives the fallback,
// unless the caller passes OnNull::kError for a field where null makes no sense. Integers are
// range-checked (an id of 2e9 or -1 is refused before it sizes an allocation).
#pragma once

#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace corelm {

enum class OnNull { kDefault, kError };

class JsonReader {
 public:
  using json = nlohmann::json;

  // `component` is the bracketed prefix ("config"); `document` names the file or part being read
  // ("config.json", "tokenizer.json model") and may be empty.
  JsonReader(const char* component, std::string document)
      : component_(component), document_(std::move(document)) {}

  // Fields of an object. A missing key (or null, with OnNull::kDefault) gives `fallback`.
  std::string str(const json& obj, std::string_view key, std::string fallback,
                  OnNull on_null = OnNull::kDefault) const;
  bool boolean(const json& obj, std::string_view key, bool fallback,
               OnNull on_null = OnNull::kDefault) const;
  int64_t integer(const json& obj, std::string_view key, int64_t fallback, int64_t min, int64_t max,
                  OnNull on_null = OnNull::kDefault) const;
  double number(const json& obj, std::string_view key, double fallback,
                OnNull on_null = OnNull::kDefault) const;

  // Required fields: missing or null is an error.
  std::string required_str(const json& obj, std::string_view key) const;
  int64_t required_integer(const json& obj, std::string_view key, int64_t min, int64_t max) const;
  const json& required(const json& obj, std::string_view key) const;

  // True when `key` is present and not null.
  static bool has(const json& obj, std::string_view key);

  // Values that are not object fields (array elements, whole documents); `what` names them in
  // the message ("merges[3]", "the header").
  std::string as_str(const json& v, std::string_view what) const;
  bool as_boolean(const json& v, std::string_view what) const;
  int64_t as_integer(const json& v, std::string_view what, int64_t min, int64_t max) const;
  double as_number(const json& v, std::string_view what) const;
  const json& as_object(const json& v, std::string_view what) const;
  const json& as_array(const json& v, std::string_view what) const;

  [[noreturn]] void wrong_type(std::string_view what, std::string_view expected,
                               const json& got) const;
  [[noreturn]] void missing(std::string_view key) const;

  const char* component() const { return component_; }

 private:
  const json* field(const json& obj, std::string_view key, OnNull on_null,
                    std::string_view expected) const;

  const char* component_;
  std::string document_;
};

// Parses untrusted JSON text. A syntax error, or arrays/objects nested deeper than `max_depth`
// (dump() and every recursive walk would overflow the stack on 100k levels), is a kCorrupt
// error "[component] WHAT is not valid JSON: ..." / "WHAT nests arrays or objects more than N
// deep". Real documents (configs, tokenizers, chat messages with tool schemas) stay far below.
constexpr int kMaxJsonDepth = 128;
nlohmann::json parse_json(std::string_view text, const char* component, std::string_view what,
                          int max_depth = kMaxJsonDepth);
nlohmann::ordered_json parse_ordered_json(std::string_view text, const char* component,
                                          std::string_view what, int max_depth = kMaxJsonDepth);

// "null", "true", "the number 5", "a string (\"abc\")", "an array", "an object": for messages.
std::string describe_json(const nlohmann::json& v);

}  // namespace corelm
