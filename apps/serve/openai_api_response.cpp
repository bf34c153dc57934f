// Response objects in OpenAI's documented shapes (chat.completion, chat.completion.chunk,
// text_completion, usage, logprobs), error bodies, and server-sent event framing.
#include <cmath>

#include "base/utf8.h"
#include "serve/openai_api.h"

namespace corelm::serve {

using nlohmann::json;

namespace {

// Model text may end inside a UTF-8 character (a token's text alone, or output cut by a
// limit); JSON strings must be valid UTF-8, so such bytes become U+FFFD (`bytes` keeps them).
std::string text(std::string_view s) {
  return utf8::is_valid(s) ? std::string(s) : utf8::sanitize(s);
}

json bytes_of(std::string_view s) {
  json out = json::array();
  for (char c : s) out.push_back(static_cast<int>(static_cast<unsigned char>(c)));
  return out;
}

// A log-probability of -inf (a token the sampler excluded) is not JSON; OpenAI writes -9999.
double logprob_value(float lp) {
  return std::isfinite(lp) ? static_cast<double>(lp) : -9999.0;
}

json or_null(const std::string& s) {
  return s.empty() ? json(nullptr) : json(s);
}

json chat_logprobs(const std::vector<TokenLogprob>* logprobs) {
  if (!logprobs) return nullptr;
  json content = json::array();
  for (const auto& t : *logprobs) {
    json top = json::array();
    for (const auto& [token, lp] : t.top)
      top.push_back(
          {{"token", text(token)}, {"logprob", logprob_value(lp)}, {"bytes", bytes_of(token)}});
    content.push_back({{"token", text(t.token)},
                       {"logprob", logprob_value(t.logprob)},
                       {"bytes", bytes_of(t.token)},
                       {"top_logprobs", std::move(top)}});
  }
  return {{"content", std::move(content)}, {"refusal", nullptr}};
}

// The legacy completions logprobs: parallel lists, top_logprobs a {token: logprob} object per
// position, text_offset each token's byte offset in the text (counted from `text_offset`).
json legacy_logprobs(const std::vector<TokenLogprob>* logprobs, size_t text_offset) {
  if (!logprobs) return nullptr;
  json tokens = json::array(), token_logprobs = json::array(), top_logprobs = json::array(),
       offsets = json::array();
  size_t offset = text_offset;
  for (const auto& t : *logprobs) {
    tokens.push_back(text(t.token));
    token_logprobs.push_back(logprob_value(t.logprob));
    json top = json::object();
    for (const auto& [token, lp] : t.top) {
      std::string key = text(token);
      if (!top.contains(key)) top[key] = logprob_value(lp);  // the likelier of equal texts
    }
    top_logprobs.push_back(std::move(top));
    offsets.push_back(offset);
    offset += t.token.size();
  }
  return {{"tokens", std::move(tokens)},
          {"token_logprobs", std::move(token_logprobs)},
          {"top_logprobs", std::move(top_logprobs)},
          {"text_offset", std::move(offsets)}};
}

json tool_calls_json(const std::vector<ToolCall>& calls, bool with_index) {
  json out = json::array();
  for (size_t i = 0; i < calls.size(); ++i) {
    json call = json::object();
    if (with_index) call["index"] = i;
    call["id"] = text(calls[i].id);
    call["type"] = "function";
    call["function"] = {{"name", text(calls[i].name)}, {"arguments", text(calls[i].arguments)}};
    out.push_back(std::move(call));
  }
  return out;
}

json envelope(const std::string& id, const char* object, int64_t created,
              const std::string& model) {
  return {{"id", id}, {"object", object}, {"created", created}, {"model", text(model)}};
}

}  // namespace

json error_body(const ApiError& error) {
  return {{"error",
           {{"message", text(error.message)},
            {"type", error.type},
            {"param", error.param.empty() ? json(nullptr) : json(text(error.param))},
            {"code", or_null(error.code)}}}};
}

json usage_json(const Usage& usage) {
  return {{"prompt_tokens", usage.prompt_tokens},
          {"completion_tokens", usage.completion_tokens},
          {"total_tokens", usage.prompt_tokens + usage.completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", usage.cached_tokens}}}};
}

json tool_calls_delta(const std::vector<ToolCall>& calls) {
  return tool_calls_json(calls, /*with_index=*/true);
}

json chat_completion(const std::string& id, int64_t created, const std::string& model,
                     const AssistantOutput& output, const std::string& finish_reason,
                     const Usage& usage, const std::vector<TokenLogprob>* logprobs) {
  json message = {{"role", "assistant"}};
  // OpenAI answers a pure tool call with content null.
  message["content"] = output.content.empty() && !output.tool_calls.empty()
                           ? json(nullptr)
                           : json(text(output.content));
  message["refusal"] = nullptr;
  if (!output.tool_calls.empty()) message["tool_calls"] = tool_calls_json(output.tool_calls, false);
  json choice = {{"index", 0},
                 {"message", std::move(message)},
                 {"logprobs", chat_logprobs(logprobs)},
                 {"finish_reason", finish_reason}};
  json out = envelope(id, "chat.completion", created, model);
  out["choices"] = json::array({std::move(choice)});
  out["usage"] = usage_json(usage);
  return out;
}

json chat_chunk(const std::string& id, int64_t created, const std::string& model, const json& delta,
                const std::string& finish_reason, const std::vector<TokenLogprob>* logprobs) {
  json choice = {{"index", 0},
                 {"delta", delta},
                 {"logprobs", chat_logprobs(logprobs)},
                 {"finish_reason", or_null(finish_reason)}};
  json out = envelope(id, "chat.completion.chunk", created, model);
  out["choices"] = json::array({std::move(choice)});
  return out;
}

json usage_chunk(const std::string& id, int64_t created, const std::string& model,
                 const std::string& object, const Usage& usage) {
  json out = envelope(id, object.c_str(), created, model);
  out["choices"] = json::array();
  out["usage"] = usage_json(usage);
  return out;
}

json text_completion(const std::string& id, int64_t created, const std::string& model,
                     const std::string& completion, const std::string& finish_reason,
                     const Usage& usage, const std::vector<TokenLogprob>* logprobs,
                     size_t text_offset) {
  json choice = {{"text", text(completion)},
                 {"index", 0},
                 {"logprobs", legacy_logprobs(logprobs, text_offset)},
                 {"finish_reason", finish_reason}};
  json out = envelope(id, "text_completion", created, model);
  out["choices"] = json::array({std::move(choice)});
  out["usage"] = usage_json(usage);
  return out;
}

json text_chunk(const std::string& id, int64_t created, const std::string& model,
                const std::string& completion, const std::string& finish_reason,
                const std::vector<TokenLogprob>* logprobs, size_t text_offset) {
  json choice = {{"text", text(completion)},
                 {"index", 0},
                 {"logprobs", legacy_logprobs(logprobs, text_offset)},
                 {"finish_reason", or_null(finish_reason)}};
  json out = envelope(id, "text_completion", created, model);
  out["choices"] = json::array({std::move(choice)});
  return out;
}

std::string sse_event(const json& object) {
  // dump() escapes control characters, so the event is one line; invalid UTF-8 (a caller's
  // unchecked string) is replaced rather than thrown.
  return "data: " + object.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
}

std::string sse_done() {
  return "data: [DONE]\n\n";
}

}  // namespace corelm::serve
