// The OpenAI API as corelm serve speaks it: request bodies parsed and checked into plain structs,
// response objects and SSE events built from them, and errors in OpenAI's shape. No model and no
// HTTP here: the server (server.cpp) joins this to the scheduler (scheduler.h).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <exception>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "corelm/generate.h"

namespace corelm::serve {

// An error answered as {"error": {"message", "type", "param", "code"}} with HTTP `status`.
// type: "invalid_request_error" (400, 404, 413), "authentication_error" (401),
// "rate_limit_error" (429), "server_error" (500, 503). param: the offending field as a path
// ("messages[2].content"), or "" (null). code: a short machine-readable word or "" (null).
struct ApiError {
  int status = 400;
  std::string message;
  std::string type = "invalid_request_error";
  std::string param;
  std::string code;
};

class ApiException : public std::exception {
 public:
  explicit ApiException(ApiError error) : error_(std::move(error)) {}
  const ApiError& error() const { return error_; }
  const char* what() const noexcept override { return error_.message.c_str(); }

 private:
  ApiError error_;
};

// {"error": {...}}: null for an empty param or code.
nlohmann::json error_body(const ApiError& error);

// What both endpoints share. Defaults are OpenAI's where it has one.
struct SamplingRequest {
  std::string model;  // as the client named it ("" if absent)
  // max_completion_tokens, else max_tokens (>= 1, up to INT64_MAX: the server caps it by the
  // context); unset: none (for completions too, where OpenAI's legacy default would be 16).
  std::optional<int64_t> max_tokens;
  SamplingOptions sampling;       // temperature 1.0 unless given (OpenAI's default)
  std::vector<std::string> stop;  // a string or a list of up to 16 non-empty strings
  std::vector<std::pair<int32_t, float>> logit_bias;  // token id -> bias in [-100, 100]
  bool logprobs = false;
  // 0..20; chat: needs logprobs; completions: `logprobs: N` (0..5) sets logprobs = true and
  // top_logprobs = N (0: the chosen tokens' logprobs, no alternatives).
  int top_logprobs = 0;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  bool ignore_eos = false;     // corelm extension (as llama.cpp's)
};

struct ChatRequest : SamplingRequest {
  // The messages as the template wants them (a JSON array): content given as a list of text parts
  // joined into one string (with "\n\n", as Mistral's templates join text chunks); "developer"
  // turned into "system"; assistant tool_calls kept with function.arguments parsed from its JSON
  // string into an object (transformers' convention, which Mistral's templates expect; "" is
  // {}), each call as {id, type: "function", function: {name, arguments}}, and content null
  // when the client gave none beside them; tool messages keep tool_call_id and name. Other
  // fields (a user's "name") are dropped. Each message's keys: role, content, then tool_calls
  // or tool_call_id and name.
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  // The tools array as given (each checked: type "function", a function name of 1-64 letters,
  // digits, '_' or '-'); null: no tools (absent, null or an empty list). Render with
  // tools_json = tools.dump() unless tool_choice is "none".
  nlohmann::ordered_json tools;
  // "auto" (default), "none" (tools not rendered), "required", or a function's name (from
  // {"type": "function", "function": {"name": ...}}, one of the tools). "required" and a name
  // need tools.
  std::string tool_choice = "auto";
};

struct CompletionRequest : SamplingRequest {
  std::string prompt;  // a string prompt
  // or token ids ([1, 2] or [[1, 2]]; non-empty, each in [0, 2^31); checked against the
  // vocabulary by the caller), then `prompt` is empty
  std::vector<int32_t> prompt_ids;
  bool prompt_is_ids = false;
  bool echo = false;
};

// Parse and check a request body (JSON text). Every problem is an ApiException (400; a missing
// or wrong-typed field names its path in param) — never another exception. Unknown fields are
// ignored, as OpenAI's API does; null is "not given" for every optional field. n other than 1
// is refused (param "n"), as are image/audio content parts, best_of other than 1, a non-empty
// suffix, a response_format other than text, and stream_options without stream. A body that
// runs out of memory is a 413. Message fields: "messages[1].content[0].text"; logit_bias
// values: "logit_bias.50256".
ChatRequest parse_chat_request(std::string_view body);
CompletionRequest parse_completion_request(std::string_view body);

// Token ids for `logit_bias` keys are checked against the vocabulary by the caller (server.cpp);
// these parsers only check that the keys are non-negative integers.

// One generated token's log-probability and the most likely alternatives at its position.
struct TokenLogprob {
  std::string token;  // its text (raw bytes: may be a partial UTF-8 character)
  float logprob = 0.0f;
  std::vector<std::pair<std::string, float>> top;  // text, logprob; most likely first
};

struct ToolCall {
  std::string id;  // "call_" + 24 alphanumerics, or 9 alphanumerics for Mistral
  std::string name;
  std::string arguments;  // a JSON text (OpenAI gives arguments as a string)
};

// The assistant's answer as the client sees it.
struct AssistantOutput {
  std::string content;
  std::vector<ToolCall> tool_calls;  // non-empty: finish_reason "tool_calls"
};

// Parses model output written with special tokens kept (decode with skip_special_tokens=false)
// for Mistral's tool calls:
//   v3 (Mistral-7B-Instruct-v0.3): "[TOOL_CALLS] [{"name": "f", "arguments": {...}}, ...]"
//   v11+: "[TOOL_CALLS]f[ARGS]{...}" (repeated), and "[TOOL_CALLS]f[CALL_ID]id[ARGS]{...}"
// Text before [TOOL_CALLS] is content; the end-of-sequence text ("</s>") is dropped. Output
// that is not a well-formed call list is returned as plain content with no tool calls. Ids the
// model did not give are made with `next_id` (called once per call).
AssistantOutput parse_assistant_output(std::string_view text,
                                       const std::function<std::string()>& next_id);
// While streaming: how many leading bytes of `text` (the answer so far, special tokens kept) can
// go out as content now. All of it, less what is or may become "[TOOL_CALLS]": from the marker
// on, text is held back for parse_assistant_output on the whole answer (which gives it back as
// content if it is not a well-formed call list).
size_t streamable_content_length(std::string_view text);
// A Mistral tool-call id (9 letters and digits, as Mistral's templates require) from `seed`.
std::string mistral_tool_call_id(uint64_t seed);

struct Usage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t cached_tokens = 0;  // prompt tokens reused from the slot's cache
};

// Response objects. `id` ("chatcmpl-..." / "cmpl-..."), `created` (Unix seconds) and `model`
// are the caller's. finish_reason: "stop", "length" or "tool_calls".
nlohmann::json chat_completion(const std::string& id, int64_t created, const std::string& model,
                               const AssistantOutput& output, const std::string& finish_reason,
                               const Usage& usage, const std::vector<TokenLogprob>* logprobs);
// A chat.completion.chunk: `delta` is {"role": "assistant"} for the first, {"content": text}
// for text, {"tool_calls": [...]} for calls; finish_reason "" for none (null).
nlohmann::json chat_chunk(const std::string& id, int64_t created, const std::string& model,
                          const nlohmann::json& delta, const std::string& finish_reason,
                          const std::vector<TokenLogprob>* logprobs);
// The last chunk when stream_options.include_usage: empty choices, with usage.
nlohmann::json usage_chunk(const std::string& id, int64_t created, const std::string& model,
                           const std::string& object, const Usage& usage);
// Legacy logprobs: text_offset[i] is token i's byte offset, the first token's being
// `text_offset` (e.g. the length of the echoed prompt that precedes it in `text`), each next one
// the previous plus its token's byte length.
nlohmann::json text_completion(const std::string& id, int64_t created, const std::string& model,
                               const std::string& text, const std::string& finish_reason,
                               const Usage& usage, const std::vector<TokenLogprob>* logprobs,
                               size_t text_offset);
// `text_offset`: the offset of this chunk's first token (the previous chunks' bytes included).
nlohmann::json text_chunk(const std::string& id, int64_t created, const std::string& model,
                          const std::string& text, const std::string& finish_reason,
                          const std::vector<TokenLogprob>* logprobs, size_t text_offset = 0);
nlohmann::json usage_json(const Usage& usage);
// delta.tool_calls for streaming: each call with its index, id, type and function.
nlohmann::json tool_calls_delta(const std::vector<ToolCall>& calls);

// Server-sent events: "data: " + the JSON (one line) + "\n\n", and the "data: [DONE]\n\n" end.
std::string sse_event(const nlohmann::json& object);
std::string sse_done();

}  // namespace corelm::serve
