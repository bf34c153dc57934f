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

#include "serve/openai_parse.h"

namespace corelm::serve {

using namespace parse;

namespace {

// The body is parsed at most this deep (see kMaxArgumentsDepth).
constexpr int kMaxBodyDepth = 64;
constexpr size_t kMaxStops = 16;

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