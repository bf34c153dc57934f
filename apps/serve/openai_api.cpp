// Request parsing for POST /v1/chat/completions and /v1/completions: the body is read as
// untrusted JSON (depth-bounded) and every field is checked against OpenAI's schema, each
// problem becoming an ApiException (400) whose param names the field's path.
#include "serve/openai_api.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <new>

#include "base/json_access.h"
#include "base/parse_number.h"
#include "corelm/error.h"

namespace corelm::serve {

using ojson = nlohmann::ordered_json;

namespace {

// The body and tool-call arguments are parsed at most this deep: the messages handed to a chat
// template then stay well below its value-nesting bound (128), arguments nested inside them.
constexpr int kMaxBodyDepth = 64;
constexpr int kMaxArgumentsDepth = 64;
constexpr size_t kMaxStops = 16;

[[noreturn]] void bad(std::string param, std::string message, std::string code = "invalid_value") {
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
                                 bool lo_open = false) {
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

ojson parse_body(std::string_view body) {
  ojson root;
  try {
    root = parse_ordered_json(body, "serve", "the request body", kMaxBodyDepth);
  } catch (const Error& e) {
    std::string message = e.what();
    if (message.rfind("[serve] ", 0) == 0) message.erase(0, 8);
    bad("", fmt::format("We could not parse the JSON body of your request: {}.", message),
        "invalid_json");
  }
  if (!root.is_object())
    bad("", fmt::format("The request body must be a JSON object, got {}.", kind(root)),
        "invalid_json");
  return root;
}

// A seed is any integer; negative ones are taken modulo 2^64 (two's complement).
uint64_t parse_seed(const ojson& v) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer()) return static_cast<uint64_t>(v.get<int64_t>());
  return static_cast<uint64_t>(integer_in(v, "seed", std::numeric_limits<int64_t>::min(),
                                          std::numeric_limits<int64_t>::max()));
}

std::vector<std::string> parse_stop(const ojson& v) {
  auto one = [](const ojson& s, const std::string& path) {
    std::string text = as_string(s, path);
    if (text.empty())
      bad(path, fmt::format("Invalid value for '{}': a stop string must not be empty.", path));
    return text;
  };
  if (v.is_string()) return {one(v, "stop")};
  if (!v.is_array()) wrong_type("stop", "a string or an array of strings", v);
  if (v.size() > kMaxStops)
    bad("stop", fmt::format("Invalid value for 'stop': at most {} stop strings, got {}.", kMaxStops,
                            v.size()));
  std::vector<std::string> stops;
  for (size_t i = 0; i < v.size(); ++i) stops.push_back(one(v[i], index_path("stop", i)));
  return stops;
}

std::vector<std::pair<int32_t, float>> parse_logit_bias(const ojson& v) {
  as_object(v, "logit_bias");
  std::vector<std::pair<int32_t, float>> biases;
  for (auto it = v.begin(); it != v.end(); ++it) {
    std::string path = join_path("logit_bias", it.key());
    // Digits only: parse_integer refuses signs, spaces and overflow.
    auto id =
        it.key().empty() || it.key()[0] == '-' ? std::nullopt : parse_integer<int32_t>(it.key());
    if (!id)
      bad("logit_bias",
          fmt::format(
              "Invalid key in 'logit_bias': '{}' is not a token id (a non-negative integer).",
              it.key()));
    biases.emplace_back(*id, static_cast<float>(number_in(it.value(), path, -100, 100, false)));
  }
  return biases;
}

// The fields both endpoints share. `chat` selects how `logprobs` reads (a boolean with
// top_logprobs for chat; the legacy integer 0..5 for completions).
void parse_sampling(const ojson& root, SamplingRequest& r, bool chat) {
  if (const ojson* v = get(root, "model")) r.model = as_string(*v, "model");
  constexpr int64_t kMaxInt64 = std::numeric_limits<int64_t>::max();
  constexpr int64_t kMaxInt32 = std::numeric_limits<int32_t>::max();
  auto max_tokens = opt_integer(root, "max_tokens", 1, kMaxInt64);
  auto max_completion_tokens = opt_integer(root, "max_completion_tokens", 1, kMaxInt64);
  r.max_tokens = max_completion_tokens ? max_completion_tokens : max_tokens;

  SamplingOptions& s = r.sampling;
  s.temperature = static_cast<float>(opt_number(root, "temperature", 0, 2).value_or(1.0));
  s.top_p = static_cast<float>(opt_number(root, "top_p", 0, 1, /*lo_open=*/true).value_or(1.0));
  s.top_k = static_cast<int>(opt_integer(root, "top_k", 0, kMaxInt32).value_or(0));
  s.min_p = static_cast<float>(opt_number(root, "min_p", 0, 1).value_or(0.0));
  s.presence_penalty = static_cast<float>(opt_number(root, "presence_penalty", -2, 2).value_or(0));
  s.frequency_penalty =
      static_cast<float>(opt_number(root, "frequency_penalty", -2, 2).value_or(0));
  s.repetition_penalty = static_cast<float>(
      opt_number(root, "repetition_penalty", 0, std::numeric_limits<float>::max(), true)
          .value_or(1.0));
  if (const ojson* v = get(root, "seed")) s.seed = parse_seed(*v);

  if (const ojson* v = get(root, "stop")) r.stop = parse_stop(*v);
  if (const ojson* v = get(root, "logit_bias")) r.logit_bias = parse_logit_bias(*v);

  if (chat) {
    r.logprobs = opt_bool(root, "logprobs", false);
    r.top_logprobs = static_cast<int>(opt_integer(root, "top_logprobs", 0, 20).value_or(0));
    if (r.top_logprobs > 0 && !r.logprobs)
      bad("top_logprobs",
          "Invalid value for 'top_logprobs': 'logprobs' must be true when 'top_logprobs' is used.");
  } else if (auto n = opt_integer(root, "logprobs", 0, 5)) {
    r.logprobs = true;
    r.top_logprobs = static_cast<int>(*n);
  }

  r.stream = opt_bool(root, "stream", false);
  if (const ojson* v = get(root, "stream_options")) {
    as_object(*v, "stream_options");
    if (!r.stream)
      bad("stream_options",
          "Invalid value for 'stream_options': only allowed when 'stream' is true.");
    if (const ojson* u = get(*v, "include_usage"))
      r.include_usage = as_bool(*u, "stream_options.include_usage");
  }
  r.ignore_eos = opt_bool(root, "ignore_eos", false);

  if (auto n = opt_integer(root, "n", 1, kMaxInt64); n && *n != 1)
    bad("n", fmt::format("Invalid value for 'n': only n = 1 is supported, got {}.", *n));
}

// Message content: a string, or an array of content parts whose texts are joined with "\n\n"
// (as Mistral's templates join text chunks). Non-text parts are refused.
std::string parse_content(const ojson& v, const std::string& path, bool assistant) {
  if (v.is_string()) return v.get<std::string>();
  if (!v.is_array()) wrong_type(path, "a string or an array of content parts", v);
  std::string text;
  for (size_t j = 0; j < v.size(); ++j) {
    std::string part_path = index_path(path, j);
    const ojson& part = as_object(v[j], part_path);
    std::string type = as_string(require(part, "type", join_path(part_path, "type")),
                                 join_path(part_path, "type"));
    std::string piece;
    if (type == "text") {
      piece = as_string(require(part, "text", join_path(part_path, "text")),
                        join_path(part_path, "text"));
    } else if (type == "refusal" && assistant) {
      piece = as_string(require(part, "refusal", join_path(part_path, "refusal")),
                        join_path(part_path, "refusal"));
    } else if (type == "image_url" || type == "input_audio" || type == "file" || type == "image" ||
               type == "audio") {
      bad(part_path,
          fmt::format("Invalid content part '{}': {} content is not supported; this server "
                      "takes text only.",
                      part_path, type),
          "unsupported_content");
    } else {
      bad(join_path(part_path, "type"),
          fmt::format("Invalid value for '{}': unknown content part type '{}'.",
                      join_path(part_path, "type"), type));
    }
    if (j > 0) text += "\n\n";
    text += piece;
  }
  return text;
}

ojson parse_tool_call(const ojson& v, const std::string& path) {
  as_object(v, path);
  std::string id = as_string(require(v, "id", join_path(path, "id")), join_path(path, "id"));
  if (const ojson* type = get(v, "type");
      type && as_string(*type, join_path(path, "type")) != "function")
    bad(join_path(path, "type"),
        fmt::format("Invalid value for '{}': only 'function' tool calls are supported.",
                    join_path(path, "type")));
  std::string fpath = join_path(path, "function");
  const ojson& function = as_object(require(v, "function", fpath), fpath);
  std::string name =
      as_string(require(function, "name", join_path(fpath, "name")), join_path(fpath, "name"));
  std::string apath = join_path(fpath, "arguments");
  const ojson& arguments_value = require(function, "arguments", apath);
  ojson arguments;
  if (arguments_value.is_object()) {
    arguments = arguments_value;
  } else {
    std::string text = as_string(arguments_value, apath);
    if (text.empty()) {
      arguments = ojson::object();
    } else {
      try {
        arguments = parse_ordered_json(text, "serve", "arguments", kMaxArgumentsDepth);
      } catch (const Error&) {
        bad(apath, fmt::format("Invalid value for '{}': the arguments are not valid JSON.", apath));
      }
    }
  }
  ojson call = ojson::object();
  call["id"] = id;
  call["type"] = "function";
  call["function"] = ojson{{"name", name}, {"arguments", std::move(arguments)}};
  return call;
}

ojson parse_message(const ojson& v, const std::string& path) {
  as_object(v, path);
  std::string role_path = join_path(path, "role");
  std::string role = as_string(require(v, "role", role_path), role_path);
  std::string content_path = join_path(path, "content");
  ojson out = ojson::object();
  if (role == "system" || role == "developer" || role == "user") {
    out["role"] = role == "user" ? "user" : "system";
    out["content"] = parse_content(require(v, "content", content_path), content_path, false);
  } else if (role == "assistant") {
    out["role"] = "assistant";
    const ojson* content = get(v, "content");
    out["content"] = content ? ojson(parse_content(*content, content_path, true)) : ojson(nullptr);
    ojson calls = ojson::array();
    std::string calls_path = join_path(path, "tool_calls");
    if (const ojson* tool_calls = get(v, "tool_calls")) {
      as_array(*tool_calls, calls_path);
      for (size_t j = 0; j < tool_calls->size(); ++j)
        calls.push_back(parse_tool_call((*tool_calls)[j], index_path(calls_path, j)));
    }
    if (!content && calls.empty())
      bad(content_path,
          fmt::format("Invalid message '{}': an assistant message needs 'content' "
                      "or 'tool_calls'.",
                      path),
          "missing_required_parameter");
    if (!calls.empty()) out["tool_calls"] = std::move(calls);
  } else if (role == "tool") {
    out["role"] = "tool";
    out["content"] = parse_content(require(v, "content", content_path), content_path, false);
    std::string id_path = join_path(path, "tool_call_id");
    out["tool_call_id"] = as_string(require(v, "tool_call_id", id_path), id_path);
    if (const ojson* name = get(v, "name")) out["name"] = as_string(*name, join_path(path, "name"));
  } else {
    bad(role_path,
        fmt::format("Invalid value for '{}': '{}' is not supported; the roles are system, "
                    "developer, user, assistant and tool.",
                    role_path, role));
  }
  return out;
}

bool valid_function_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
          c == '-'))
      return false;
  return true;
}

// Checks the tools array and returns the function names.
std::vector<std::string> check_tools(const ojson& tools) {
  as_array(tools, "tools");
  std::vector<std::string> names;
  for (size_t i = 0; i < tools.size(); ++i) {
    std::string path = index_path("tools", i);
    const ojson& tool = as_object(tools[i], path);
    std::string type_path = join_path(path, "type");
    if (as_string(require(tool, "type", type_path), type_path) != "function")
      bad(type_path,
          fmt::format("Invalid value for '{}': only 'function' tools are supported.", type_path));
    std::string fpath = join_path(path, "function");
    const ojson& function = as_object(require(tool, "function", fpath), fpath);
    std::string name_path = join_path(fpath, "name");
    std::string name = as_string(require(function, "name", name_path), name_path);
    if (!valid_function_name(name))
      bad(name_path,
          fmt::format("Invalid value for '{}': a function name is 1 to 64 letters, digits, "
                      "underscores or dashes.",
                      name_path));
    if (const ojson* d = get(function, "description"))
      as_string(*d, join_path(fpath, "description"));
    if (const ojson* p = get(function, "parameters")) as_object(*p, join_path(fpath, "parameters"));
    names.push_back(name);
  }
  return names;
}

std::string parse_tool_choice(const ojson& v, const std::vector<std::string>& names) {
  std::string choice;
  if (v.is_string()) {
    choice = v.get<std::string>();
    if (choice != "none" && choice != "auto" && choice != "required")
      bad("tool_choice",
          fmt::format("Invalid value for 'tool_choice': '{}'; expected 'none', 'auto', "
                      "'required' or a function.",
                      choice));
    if (choice != "required") return choice;
  } else if (v.is_object()) {
    const ojson* type = get(v, "type");
    if (!type || !type->is_string() || *type != "function")
      bad("tool_choice.type", "Invalid value for 'tool_choice.type': expected 'function'.");
    const ojson& function =
        as_object(require(v, "function", "tool_choice.function"), "tool_choice.function");
    choice = as_string(require(function, "name", "tool_choice.function.name"),
                       "tool_choice.function.name");
    bool known = false;
    for (const auto& name : names) known = known || name == choice;
    if (!known && !names.empty())
      bad("tool_choice.function.name",
          fmt::format("Invalid value for 'tool_choice.function.name': no tool is named '{}'.",
                      choice));
  } else {
    wrong_type("tool_choice", "a string or an object", v);
  }
  if (names.empty())
    bad("tool_choice", "Invalid value for 'tool_choice': 'tools' must be given with this choice.");
  return choice;
}

// Runs a parser so that nothing but ApiException leaves it: a bug or an allocation failure on
// a hostile body still answers as an error, never as a crash of the server.
template <typename F>
auto guarded(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const ApiException&) {
    throw;
  } catch (const std::bad_alloc&) {
    ApiError error;
    error.status = 413;
    error.message = "The request is too large to process.";
    error.code = "request_too_large";
    throw ApiException(std::move(error));
  } catch (const std::exception& e) {
    bad("", fmt::format("Invalid request: {}", e.what()));
  }
}

}  // namespace

ChatRequest parse_chat_request(std::string_view body) {
  return guarded([&] {
    ojson root = parse_body(body);
    ChatRequest r;
    parse_sampling(root, r, /*chat=*/true);

    const ojson& messages = as_array(require(root, "messages", "messages"), "messages");
    if (messages.empty())
      bad("messages", "Invalid value for 'messages': at least one message is required.");
    for (size_t i = 0; i < messages.size(); ++i)
      r.messages.push_back(parse_message(messages[i], index_path("messages", i)));

    std::vector<std::string> names;
    if (const ojson* tools = get(root, "tools")) {
      names = check_tools(*tools);
      if (!tools->empty()) r.tools = *tools;
    }
    if (const ojson* choice = get(root, "tool_choice"))
      r.tool_choice = parse_tool_choice(*choice, names);

    if (const ojson* format = get(root, "response_format")) {
      as_object(*format, "response_format");
      const ojson* type = get(*format, "type");
      if (!type || !type->is_string() || *type != "text")
        bad("response_format",
            "Invalid value for 'response_format': only {\"type\": \"text\"} is supported.");
    }
    return r;
  });
}

CompletionRequest parse_completion_request(std::string_view body) {
  return guarded([&] {
    ojson root = parse_body(body);
    CompletionRequest r;
    parse_sampling(root, r, /*chat=*/false);

    const ojson& prompt = require(root, "prompt", "prompt");
    auto token_ids = [&](const ojson& list, const std::string& path) {
      if (list.empty())
        bad(path, fmt::format("Invalid value for '{}': the prompt is empty.", path));
      for (size_t i = 0; i < list.size(); ++i)
        r.prompt_ids.push_back(static_cast<int32_t>(
            integer_in(list[i], index_path(path, i), 0, std::numeric_limits<int32_t>::max())));
      r.prompt_is_ids = true;
    };
    if (prompt.is_string()) {
      r.prompt = prompt.get<std::string>();
    } else if (!prompt.is_array()) {
      wrong_type("prompt", "a string, an array of strings or an array of token ids", prompt);
    } else if (prompt.empty()) {
      bad("prompt", "Invalid value for 'prompt': the prompt is empty.");
    } else if (prompt[0].is_string() || prompt[0].is_array()) {
      if (prompt.size() != 1)
        bad("prompt",
            fmt::format("Invalid value for 'prompt': one prompt per request is supported, got {}.",
                        prompt.size()));
      if (prompt[0].is_string())
        r.prompt = prompt[0].get<std::string>();
      else
        token_ids(prompt[0], "prompt[0]");
    } else {
      token_ids(prompt, "prompt");
    }

    r.echo = opt_bool(root, "echo", false);
    if (const ojson* suffix = get(root, "suffix"); suffix && !as_string(*suffix, "suffix").empty())
      bad("suffix", "Invalid value for 'suffix': a suffix is not supported.");
    if (auto best_of = opt_integer(root, "best_of", 1, std::numeric_limits<int64_t>::max());
        best_of && *best_of != 1)
      bad("best_of",
          fmt::format("Invalid value for 'best_of': only 1 is supported, got {}.", *best_of));
    return r;
  });
}

}  // namespace corelm::serve
