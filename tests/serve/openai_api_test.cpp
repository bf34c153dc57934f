// Request parsing for /v1/chat/completions and /v1/completions: the values read, OpenAI's
// defaults, and a 400 ApiException naming the field for every bad input.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <string>

#include "serve/openai_api.h"

namespace corelm::serve {
namespace {

using nlohmann::ordered_json;

ApiError chat_error(const std::string& body) {
  try {
    parse_chat_request(body);
  } catch (const ApiException& e) {
    return e.error();
  }
  ADD_FAILURE() << "no error for " << body;
  return {};
}

ApiError completion_error(const std::string& body) {
  try {
    parse_completion_request(body);
  } catch (const ApiException& e) {
    return e.error();
  }
  ADD_FAILURE() << "no error for " << body;
  return {};
}

constexpr const char* kHello = R"("messages": [{"role": "user", "content": "Hi"}])";

std::string chat_body(const std::string& fields) {
  return fields.empty() ? fmt::format("{{{}}}", kHello) : fmt::format("{{{}, {}}}", kHello, fields);
}

// The field `fields` (JSON members) is refused with param `param` and a message containing
// `fragment`.
void expect_chat_refused(const std::string& fields, const std::string& param,
                         const std::string& fragment) {
  ApiError e = chat_error(chat_body(fields));
  EXPECT_EQ(e.status, 400) << fields;
  EXPECT_EQ(e.type, "invalid_request_error") << fields;
  EXPECT_EQ(e.param, param) << fields << " -> " << e.message;
  EXPECT_NE(e.message.find(fragment), std::string::npos) << fields << " -> " << e.message;
}

TEST(OpenAiRequest, ChatDefaultsAreOpenAis) {
  ChatRequest r = parse_chat_request(chat_body(""));
  EXPECT_EQ(r.model, "");
  EXPECT_FALSE(r.max_tokens.has_value());
  EXPECT_EQ(r.sampling.temperature, 1.0f);
  EXPECT_EQ(r.sampling.top_p, 1.0f);
  EXPECT_EQ(r.sampling.top_k, 0);
  EXPECT_EQ(r.sampling.min_p, 0.0f);
  EXPECT_EQ(r.sampling.repetition_penalty, 1.0f);
  EXPECT_EQ(r.sampling.presence_penalty, 0.0f);
  EXPECT_EQ(r.sampling.frequency_penalty, 0.0f);
  EXPECT_FALSE(r.sampling.seed.has_value());
  EXPECT_TRUE(r.stop.empty());
  EXPECT_TRUE(r.logit_bias.empty());
  EXPECT_FALSE(r.logprobs);
  EXPECT_EQ(r.top_logprobs, 0);
  EXPECT_FALSE(r.stream);
  EXPECT_FALSE(r.include_usage);
  EXPECT_FALSE(r.ignore_eos);
  EXPECT_TRUE(r.tools.is_null());
  EXPECT_EQ(r.tool_choice, "auto");
  EXPECT_EQ(r.messages, ordered_json::parse(R"([{"role": "user", "content": "Hi"}])"));
}

TEST(OpenAiRequest, ChatReadsEveryField) {
  ChatRequest r = parse_chat_request(R"({
    "model": "stories", "messages": [{"role": "user", "content": "Hi"}],
    "max_tokens": 7, "temperature": 0.5, "top_p": 0.25, "top_k": 40, "min_p": 0.125,
    "seed": 42, "stop": ["\n", "END"], "presence_penalty": -1.5, "frequency_penalty": 2,
    "repetition_penalty": 1.25, "logit_bias": {"17": -100, "3": 2.5},
    "logprobs": true, "top_logprobs": 20, "stream": true,
    "stream_options": {"include_usage": true}, "ignore_eos": true, "n": 1,
    "user": "ignored", "unknown_field": {"x": [1]}})");
  EXPECT_EQ(r.model, "stories");
  EXPECT_EQ(r.max_tokens, 7);
  EXPECT_EQ(r.sampling.temperature, 0.5f);
  EXPECT_EQ(r.sampling.top_p, 0.25f);
  EXPECT_EQ(r.sampling.top_k, 40);
  EXPECT_EQ(r.sampling.min_p, 0.125f);
  EXPECT_EQ(r.sampling.seed, 42u);
  EXPECT_EQ(r.stop, (std::vector<std::string>{"\n", "END"}));
  EXPECT_EQ(r.sampling.presence_penalty, -1.5f);
  EXPECT_EQ(r.sampling.frequency_penalty, 2.0f);
  EXPECT_EQ(r.sampling.repetition_penalty, 1.25f);
  EXPECT_EQ(r.logit_bias, (std::vector<std::pair<int32_t, float>>{{17, -100.0f}, {3, 2.5f}}));
  EXPECT_TRUE(r.logprobs);
  EXPECT_EQ(r.top_logprobs, 20);
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
  EXPECT_TRUE(r.ignore_eos);
}

TEST(OpenAiRequest, NullMeansNotGiven) {
  ChatRequest r = parse_chat_request(chat_body(
      R"("model": null, "max_tokens": null, "temperature": null, "top_p": null, "seed": null,
         "stop": null, "logit_bias": null, "logprobs": null, "top_logprobs": null,
         "stream": null, "stream_options": null, "tools": null, "tool_choice": null, "n": null)"));
  EXPECT_EQ(r.model, "");
  EXPECT_FALSE(r.max_tokens.has_value());
  EXPECT_EQ(r.sampling.temperature, 1.0f);
  EXPECT_FALSE(r.sampling.seed.has_value());
  EXPECT_TRUE(r.stop.empty());
  EXPECT_EQ(r.tool_choice, "auto");
}

TEST(OpenAiRequest, MaxCompletionTokensWins) {
  EXPECT_EQ(parse_chat_request(chat_body(R"("max_completion_tokens": 5)")).max_tokens, 5);
  EXPECT_EQ(
      parse_chat_request(chat_body(R"("max_tokens": 9, "max_completion_tokens": 5)")).max_tokens,
      5);
  // Integral floats are integers (a JavaScript client may send 16.0); huge values are kept for
  // the server to cap by the context.
  EXPECT_EQ(parse_chat_request(chat_body(R"("max_tokens": 16.0)")).max_tokens, 16);
  EXPECT_EQ(parse_chat_request(chat_body(R"("max_tokens": 9223372036854775807)")).max_tokens,
            INT64_MAX);
}

TEST(OpenAiRequest, StopAsOneString) {
  EXPECT_EQ(parse_chat_request(chat_body(R"("stop": "###")")).stop,
            std::vector<std::string>{"###"});
}

TEST(OpenAiRequest, SeedsBeyondInt64AndNegative) {
  EXPECT_EQ(parse_chat_request(chat_body(R"("seed": 18446744073709551615)")).sampling.seed,
            UINT64_MAX);
  EXPECT_EQ(parse_chat_request(chat_body(R"("seed": -1)")).sampling.seed, UINT64_MAX);
}

TEST(OpenAiRequest, BadSamplingFieldsNameTheirParam) {
  expect_chat_refused(R"("temperature": "hot")", "temperature", "expected a number");
  expect_chat_refused(R"("temperature": 2.5)", "temperature", "at most 2");
  expect_chat_refused(R"("temperature": -0.1)", "temperature", "at least 0");
  // nlohmann refuses a number out of double's range while parsing: a body error.
  expect_chat_refused(R"("temperature": 1e999)", "", "number overflow");
  expect_chat_refused(R"("top_p": 0)", "top_p", "greater than 0");
  expect_chat_refused(R"("top_p": 1.01)", "top_p", "at most 1");
  expect_chat_refused(R"("top_k": -1)", "top_k", "from 0 to");
  expect_chat_refused(R"("top_k": 2.5)", "top_k", "expected an integer");
  expect_chat_refused(R"("top_k": 1e30)", "top_k", "from 0 to");
  expect_chat_refused(R"("min_p": 1.5)", "min_p", "at most 1");
  expect_chat_refused(R"("presence_penalty": 3)", "presence_penalty", "at most 2");
  expect_chat_refused(R"("frequency_penalty": -2.01)", "frequency_penalty", "at least -2");
  expect_chat_refused(R"("repetition_penalty": 0)", "repetition_penalty", "greater than 0");
  expect_chat_refused(R"("seed": 1.5)", "seed", "expected an integer");
  expect_chat_refused(R"("seed": "7")", "seed", "expected an integer");
  expect_chat_refused(R"("max_tokens": 0)", "max_tokens", "at least 1");
  expect_chat_refused(R"("max_tokens": -5)", "max_tokens", "at least 1");
  expect_chat_refused(R"("max_tokens": 18446744073709551615)", "max_tokens", "at least 1");
  expect_chat_refused(R"("max_tokens": "10")", "max_tokens", "expected an integer");
  expect_chat_refused(R"("max_completion_tokens": 0)", "max_completion_tokens", "at least 1");
  expect_chat_refused(R"("n": 2)", "n", "only n = 1");
  expect_chat_refused(R"("n": 0)", "n", "at least 1");
  expect_chat_refused(R"("stream": "yes")", "stream", "expected a boolean");
  expect_chat_refused(R"("stream_options": {"include_usage": true})", "stream_options",
                      "only allowed when 'stream' is true");
  expect_chat_refused(R"("stream": true, "stream_options": {"include_usage": 1})",
                      "stream_options.include_usage", "expected a boolean");
  expect_chat_refused(R"("stream": true, "stream_options": [])", "stream_options",
                      "expected an object");
  expect_chat_refused(R"("ignore_eos": 1)", "ignore_eos", "expected a boolean");
  expect_chat_refused(R"("model": 3)", "model", "expected a string");
}

TEST(OpenAiRequest, BadStopLogitBiasAndLogprobs) {
  expect_chat_refused(R"("stop": 5)", "stop", "a string or an array");
  expect_chat_refused(R"("stop": ["a", 1])", "stop[1]", "expected a string");
  expect_chat_refused(R"("stop": ["a", ""])", "stop[1]", "must not be empty");
  expect_chat_refused(R"("stop": "")", "stop", "must not be empty");
  std::string seventeen = R"("stop": [)";
  for (int i = 0; i < 17; ++i) seventeen += fmt::format("{}\"s{}\"", i ? "," : "", i);
  expect_chat_refused(seventeen + "]", "stop", "at most 16");

  expect_chat_refused(R"("logit_bias": [1])", "logit_bias", "expected an object");
  expect_chat_refused(R"("logit_bias": {"abc": 1})", "logit_bias", "'abc' is not a token id");
  expect_chat_refused(R"("logit_bias": {"-1": 1})", "logit_bias", "'-1' is not a token id");
  expect_chat_refused(R"("logit_bias": {"+1": 1})", "logit_bias", "'+1' is not a token id");
  expect_chat_refused(R"("logit_bias": {" 1": 1})", "logit_bias", "' 1' is not a token id");
  expect_chat_refused(R"("logit_bias": {"99999999999": 1})", "logit_bias", "is not a token id");
  expect_chat_refused(R"("logit_bias": {"5": 101})", "logit_bias.5", "at most 100");
  expect_chat_refused(R"("logit_bias": {"5": "1"})", "logit_bias.5", "expected a number");

  expect_chat_refused(R"("logprobs": 1)", "logprobs", "expected a boolean");
  expect_chat_refused(R"("logprobs": true, "top_logprobs": 21)", "top_logprobs", "from 0 to 20");
  expect_chat_refused(R"("top_logprobs": 2)", "top_logprobs", "'logprobs' must be true");
}

TEST(OpenAiRequest, BadBodies) {
  struct Case {
    std::string body, fragment;
  };
  const Case cases[] = {
      {"", "could not parse the JSON body"},
      {"{", "could not parse the JSON body"},
      {"{\"messages\": [}", "could not parse the JSON body"},
      {"\"text\"", "must be a JSON object, got a string"},
      {"[]", "must be a JSON object, got an array"},
      {"null", "must be a JSON object, got null"},
      {"{\"model\": \"\xff\"}", "could not parse the JSON body"},  // invalid UTF-8
      {"{\"a\": " + std::string(100000, '[') + std::string(100000, ']') + "}",
       "nests arrays or objects more than"},
  };
  for (const auto& c : cases) {
    for (const ApiError& e : {chat_error(c.body), completion_error(c.body)}) {
      EXPECT_EQ(e.status, 400);
      EXPECT_EQ(e.param, "");
      EXPECT_NE(e.message.find(c.fragment), std::string::npos) << e.message;
    }
  }
}

TEST(OpenAiRequest, MessagesAsTemplatesWantThem) {
  ChatRequest r = parse_chat_request(R"({"messages": [
    {"role": "developer", "content": "Be brief."},
    {"role": "system", "content": [{"type": "text", "text": "One"}, {"type": "text", "text": "Two"}]},
    {"role": "user", "content": [{"type": "text", "text": "Weather?"}], "name": "ann"},
    {"role": "assistant", "content": null, "tool_calls": [
      {"id": "abcDEF123", "type": "function",
       "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\", \"days\": [1, 2]}"}},
      {"id": "x2", "function": {"name": "now", "arguments": ""}}]},
    {"role": "tool", "tool_call_id": "abcDEF123", "name": "get_weather", "content": "22"},
    {"role": "tool", "tool_call_id": "x2", "content": [{"type": "text", "text": "noon"}]},
    {"role": "assistant", "content": [{"type": "refusal", "refusal": "No."}], "tool_calls": null},
    {"role": "assistant", "content": "ok", "tool_calls": []}
  ]})");
  // Hand-written: the OpenAI messages with developer -> system, parts joined with "\n\n", the
  // arguments string parsed (key order kept), "" arguments as {}, and extra fields dropped.
  EXPECT_EQ(r.messages, ordered_json::parse(R"([
    {"role": "system", "content": "Be brief."},
    {"role": "system", "content": "One\n\nTwo"},
    {"role": "user", "content": "Weather?"},
    {"role": "assistant", "content": null, "tool_calls": [
      {"id": "abcDEF123", "type": "function",
       "function": {"name": "get_weather", "arguments": {"city": "Paris", "days": [1, 2]}}},
      {"id": "x2", "type": "function", "function": {"name": "now", "arguments": {}}}]},
    {"role": "tool", "content": "22", "tool_call_id": "abcDEF123", "name": "get_weather"},
    {"role": "tool", "content": "noon", "tool_call_id": "x2"},
    {"role": "assistant", "content": "No."},
    {"role": "assistant", "content": "ok"}
  ])"));
  // ordered_json compares objects in order: the arguments keep the client's key order.
  EXPECT_EQ(r.messages[3]["tool_calls"][0]["function"]["arguments"].begin().key(), "city");
}

TEST(OpenAiRequest, BadMessagesNameTheirPath) {
  auto refused = [](const std::string& messages, const std::string& param,
                    const std::string& fragment) {
    ApiError e = chat_error(R"({"messages": )" + messages + "}");
    EXPECT_EQ(e.status, 400);
    EXPECT_EQ(e.param, param) << messages << " -> " << e.message;
    EXPECT_NE(e.message.find(fragment), std::string::npos) << messages << " -> " << e.message;
  };
  ApiError none = chat_error("{}");
  EXPECT_EQ(none.param, "messages");
  EXPECT_EQ(none.code, "missing_required_parameter");
  refused("null", "messages", "Missing required parameter");
  refused("{}", "messages", "expected an array");
  refused("[]", "messages", "at least one message");
  refused("[5]", "messages[0]", "expected an object");
  refused(R"([{"content": "x"}])", "messages[0].role", "Missing");
  refused(R"([{"role": 1, "content": "x"}])", "messages[0].role", "expected a string");
  refused(R"([{"role": "function", "content": "x"}])", "messages[0].role",
          "'function' is not supported");
  refused(R"([{"role": "user"}])", "messages[0].content", "Missing");
  refused(R"([{"role": "user", "content": null}])", "messages[0].content", "Missing");
  refused(R"([{"role": "user", "content": 5}])", "messages[0].content", "expected a string or");
  refused(R"([{"role": "user", "content": "a"}, {"role": "user", "content": [7]}])",
          "messages[1].content[0]", "expected an object");
  refused(R"([{"role": "user", "content": [{"text": "a"}]}])", "messages[0].content[0].type",
          "Missing");
  refused(R"([{"role": "user", "content": [{"type": "text"}]}])", "messages[0].content[0].text",
          "Missing");
  refused(R"([{"role": "user", "content": [{"type": "text", "text": 1}]}])",
          "messages[0].content[0].text", "expected a string");
  refused(
      R"([{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "image_url", "image_url": {"url": "x"}}]}])",
      "messages[0].content[1]", "image_url content is not supported");
  refused(R"([{"role": "user", "content": [{"type": "video"}]}])", "messages[0].content[0].type",
          "unknown content part type");
  refused(R"([{"role": "user", "content": [{"type": "refusal", "refusal": "no"}]}])",
          "messages[0].content[0].type", "unknown content part type");
  refused(R"([{"role": "assistant"}])", "messages[0].content", "needs 'content' or 'tool_calls'");
  refused(R"([{"role": "assistant", "content": null, "tool_calls": []}])", "messages[0].content",
          "needs 'content' or 'tool_calls'");
  refused(R"([{"role": "assistant", "tool_calls": {}}])", "messages[0].tool_calls",
          "expected an array");
  refused(
      R"([{"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": "{}"}}]}])",
      "messages[0].tool_calls[0].id", "Missing");
  refused(
      R"([{"role": "assistant", "tool_calls": [{"id": "a", "type": "code", "function": {"name": "f", "arguments": "{}"}}]}])",
      "messages[0].tool_calls[0].type", "only 'function'");
  refused(R"([{"role": "assistant", "tool_calls": [{"id": "a"}]}])",
          "messages[0].tool_calls[0].function", "Missing");
  refused(
      R"([{"role": "assistant", "tool_calls": [{"id": "a", "function": {"arguments": "{}"}}]}])",
      "messages[0].tool_calls[0].function.name", "Missing");
  refused(R"([{"role": "assistant", "tool_calls": [{"id": "a", "function": {"name": "f"}}]}])",
          "messages[0].tool_calls[0].function.arguments", "Missing");
  refused(
      R"([{"role": "assistant", "tool_calls": [{"id": "a", "function": {"name": "f", "arguments": "{\"a\": "}}]}])",
      "messages[0].tool_calls[0].function.arguments", "not valid JSON");
  refused(
      R"([{"role": "assistant", "tool_calls": [{"id": "a", "function": {"name": "f", "arguments": 5}}]}])",
      "messages[0].tool_calls[0].function.arguments", "expected a string");
  refused(R"([{"role": "tool", "content": "x"}])", "messages[0].tool_call_id", "Missing");
  refused(R"([{"role": "tool", "content": "x", "tool_call_id": 5}])", "messages[0].tool_call_id",
          "expected a string");
  refused(R"([{"role": "tool", "tool_call_id": "a"}])", "messages[0].content", "Missing");
  // Arguments nested deeper than the bound would overflow the templates' value depth.
  std::string deep = std::string(80, '[') + std::string(80, ']');
  refused(
      R"([{"role": "assistant", "tool_calls": [{"id": "a", "function": {"name": "f", "arguments": ")" +
          deep + R"("}}]}])",
      "messages[0].tool_calls[0].function.arguments", "not valid JSON");
}

TEST(OpenAiRequest, ToolsAndToolChoice) {
  const std::string tools =
      R"("tools": [{"type": "function", "function": {"name": "get_weather", "description": "d",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}, "strict": false}},
          {"type": "function", "function": {"name": "now"}}])";
  ChatRequest r = parse_chat_request(chat_body(tools));
  EXPECT_EQ(r.tools,
            ordered_json::parse(
                R"([{"type": "function", "function": {"name": "get_weather", "description": "d",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}, "strict": false}},
          {"type": "function", "function": {"name": "now"}}])"));
  EXPECT_EQ(r.tool_choice, "auto");
  EXPECT_EQ(parse_chat_request(chat_body(tools + R"(, "tool_choice": "none")")).tool_choice,
            "none");
  EXPECT_EQ(parse_chat_request(chat_body(tools + R"(, "tool_choice": "required")")).tool_choice,
            "required");
  EXPECT_EQ(parse_chat_request(
                chat_body(tools +
                          R"(, "tool_choice": {"type": "function", "function": {"name": "now"}})"))
                .tool_choice,
            "now");
  // An empty list is no tools; "none" and "auto" need none.
  EXPECT_TRUE(parse_chat_request(chat_body(R"("tools": [])")).tools.is_null());
  EXPECT_EQ(parse_chat_request(chat_body(R"("tool_choice": "none")")).tool_choice, "none");

  expect_chat_refused(R"("tools": {})", "tools", "expected an array");
  expect_chat_refused(R"("tools": [{"type": "function"}])", "tools[0].function", "Missing");
  expect_chat_refused(R"("tools": [{"function": {"name": "f"}}])", "tools[0].type", "Missing");
  expect_chat_refused(R"("tools": [{"type": "retrieval", "function": {"name": "f"}}])",
                      "tools[0].type", "only 'function'");
  expect_chat_refused(R"("tools": [{"type": "function", "function": {"name": "a b"}}])",
                      "tools[0].function.name", "1 to 64 letters");
  expect_chat_refused(
      R"("tools": [{"type": "function", "function": {"name": ")" + std::string(65, 'a') + R"("}}])",
      "tools[0].function.name", "1 to 64 letters");
  expect_chat_refused(
      R"("tools": [{"type": "function", "function": {"name": "f", "parameters": []}}])",
      "tools[0].function.parameters", "expected an object");
  expect_chat_refused(
      R"("tools": [{"type": "function", "function": {"name": "f", "description": 1}}])",
      "tools[0].function.description", "expected a string");
  expect_chat_refused(tools + R"(, "tool_choice": "maybe")", "tool_choice", "'maybe'");
  expect_chat_refused(tools + R"(, "tool_choice": 1)", "tool_choice",
                      "expected a string or an object");
  expect_chat_refused(
      tools + R"(, "tool_choice": {"type": "function", "function": {"name": "nope"}})",
      "tool_choice.function.name", "no tool is named 'nope'");
  expect_chat_refused(tools + R"(, "tool_choice": {"type": "x", "function": {"name": "now"}})",
                      "tool_choice.type", "expected 'function'");
  expect_chat_refused(R"("tool_choice": "required")", "tool_choice", "'tools' must be given");
  expect_chat_refused(R"("tool_choice": {"type": "function", "function": {"name": "now"}})",
                      "tool_choice", "'tools' must be given");
  expect_chat_refused(R"("response_format": {"type": "json_object"})", "response_format",
                      "only {\"type\": \"text\"}");
  EXPECT_NO_THROW(parse_chat_request(chat_body(R"("response_format": {"type": "text"})")));
}

TEST(OpenAiRequest, CompletionPrompts) {
  CompletionRequest r = parse_completion_request(R"({"model": "m", "prompt": "Once upon"})");
  EXPECT_EQ(r.model, "m");
  EXPECT_EQ(r.prompt, "Once upon");
  EXPECT_FALSE(r.prompt_is_ids);
  EXPECT_TRUE(r.prompt_ids.empty());
  EXPECT_FALSE(r.echo);
  EXPECT_FALSE(r.logprobs);
  EXPECT_EQ(r.sampling.temperature, 1.0f);

  EXPECT_EQ(parse_completion_request(R"({"prompt": ["Only one"]})").prompt, "Only one");
  EXPECT_EQ(parse_completion_request(R"({"prompt": ""})").prompt, "");

  r = parse_completion_request(R"({"prompt": [1, 403, 2]})");
  EXPECT_TRUE(r.prompt_is_ids);
  EXPECT_EQ(r.prompt_ids, (std::vector<int32_t>{1, 403, 2}));
  EXPECT_EQ(r.prompt, "");
  r = parse_completion_request(R"({"prompt": [[5, 6]]})");
  EXPECT_TRUE(r.prompt_is_ids);
  EXPECT_EQ(r.prompt_ids, (std::vector<int32_t>{5, 6}));
}

TEST(OpenAiRequest, CompletionFields) {
  CompletionRequest r = parse_completion_request(
      R"({"prompt": "x", "echo": true, "logprobs": 3, "max_tokens": 12, "stop": "\n", "suffix": "", "best_of": 1})");
  EXPECT_TRUE(r.echo);
  EXPECT_TRUE(r.logprobs);
  EXPECT_EQ(r.top_logprobs, 3);
  EXPECT_EQ(r.max_tokens, 12);
  EXPECT_EQ(r.stop, std::vector<std::string>{"\n"});
  // logprobs 0: the chosen tokens' logprobs without alternatives.
  r = parse_completion_request(R"({"prompt": "x", "logprobs": 0})");
  EXPECT_TRUE(r.logprobs);
  EXPECT_EQ(r.top_logprobs, 0);
}

TEST(OpenAiRequest, BadCompletions) {
  auto refused = [](const std::string& body, const std::string& param,
                    const std::string& fragment) {
    ApiError e = completion_error(body);
    EXPECT_EQ(e.status, 400);
    EXPECT_EQ(e.param, param) << body << " -> " << e.message;
    EXPECT_NE(e.message.find(fragment), std::string::npos) << body << " -> " << e.message;
  };
  refused("{}", "prompt", "Missing required parameter");
  refused(R"({"prompt": 5})", "prompt", "expected a string, an array");
  refused(R"({"prompt": []})", "prompt", "the prompt is empty");
  refused(R"({"prompt": [[]]})", "prompt[0]", "the prompt is empty");
  refused(R"({"prompt": ["a", "b"]})", "prompt", "one prompt per request");
  refused(R"({"prompt": [[1], [2]]})", "prompt", "one prompt per request");
  refused(R"({"prompt": [1, "a"]})", "prompt[1]", "expected an integer");
  refused(R"({"prompt": [1, -2]})", "prompt[1]", "from 0 to 2147483647");
  refused(R"({"prompt": [4294967296]})", "prompt[0]", "from 0 to 2147483647");
  refused(R"({"prompt": [[1, null]]})", "prompt[0][1]", "expected an integer");
  refused(R"({"prompt": "x", "logprobs": 6})", "logprobs", "from 0 to 5");
  refused(R"({"prompt": "x", "logprobs": true})", "logprobs", "expected an integer");
  refused(R"({"prompt": "x", "echo": "no"})", "echo", "expected a boolean");
  refused(R"({"prompt": "x", "suffix": "end"})", "suffix", "not supported");
  refused(R"({"prompt": "x", "best_of": 3})", "best_of", "only 1");
  refused(R"({"prompt": "x", "n": 4})", "n", "only n = 1");
  refused(R"({"prompt": "x", "temperature": 3})", "temperature", "at most 2");
}

TEST(OpenAiRequest, ErrorBodyIsOpenAis) {
  ApiError e = chat_error(chat_body(R"("temperature": "hot")"));
  EXPECT_EQ(error_body(e), nlohmann::json::parse(R"({"error": {
    "message": "Invalid type for 'temperature': expected a number, but got a string instead.",
    "type": "invalid_request_error", "param": "temperature", "code": "invalid_type"}})"));
  ApiError unavailable{503, "The server is busy.", "server_error", "", ""};
  EXPECT_EQ(error_body(unavailable), nlohmann::json::parse(R"({"error": {
    "message": "The server is busy.", "type": "server_error", "param": null, "code": null}})"));
}

}  // namespace
}  // namespace corelm::serve
