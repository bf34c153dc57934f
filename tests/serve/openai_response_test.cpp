// Response objects against OpenAI's documented shapes (hand-written from the API reference:
// chat.completion, chat.completion.chunk, text_completion, usage, logprobs) and SSE framing.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "serve/openai_api.h"

namespace corelm::serve {
namespace {

using nlohmann::json;

TEST(OpenAiResponse, ChatCompletion) {
  AssistantOutput out;
  out.content = "Hello!";
  EXPECT_EQ(chat_completion("chatcmpl-1", 1700000000, "stories", out, "stop", {5, 2, 3}, nullptr),
            json::parse(R"({
    "id": "chatcmpl-1", "object": "chat.completion", "created": 1700000000, "model": "stories",
    "choices": [{"index": 0,
                 "message": {"role": "assistant", "content": "Hello!", "refusal": null},
                 "logprobs": null, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7,
              "prompt_tokens_details": {"cached_tokens": 3}}})"));
}

TEST(OpenAiResponse, ChatCompletionWithToolCalls) {
  AssistantOutput out;
  out.tool_calls = {{"abcDEF123", "get_weather", R"({"city":"Paris"})"}, {"call_2", "now", "{}"}};
  EXPECT_EQ(chat_completion("c", 1, "m", out, "tool_calls", {10, 20, 0}, nullptr), json::parse(R"({
    "id": "c", "object": "chat.completion", "created": 1, "model": "m",
    "choices": [{"index": 0,
                 "message": {"role": "assistant", "content": null, "refusal": null,
                             "tool_calls": [
                   {"id": "abcDEF123", "type": "function",
                    "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                   {"id": "call_2", "type": "function", "function": {"name": "now", "arguments": "{}"}}]},
                 "logprobs": null, "finish_reason": "tool_calls"}],
    "usage": {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30,
              "prompt_tokens_details": {"cached_tokens": 0}}})"));
  // Text before the calls is kept as content.
  out.content = "Checking.";
  EXPECT_EQ(chat_completion("c", 1, "m", out, "tool_calls", {},
                            nullptr)["choices"][0]["message"]["content"],
            "Checking.");
}

// Chat logprobs: {"content": [{token, logprob, bytes, top_logprobs: [{token, logprob, bytes}]}]}.
// A token that ends inside a UTF-8 character shows U+FFFD in `token`; `bytes` keeps its bytes.
// A logprob of -inf is written as OpenAI does, -9999.
TEST(OpenAiResponse, ChatLogprobs) {
  std::vector<TokenLogprob> lp = {
      {"Hi", -0.25f, {{"Hi", -0.25f}, {"Hello", -1.5f}}},
      {"\xE2\x82", -2.0f, {{"\xE2\x82", -2.0f}, {"!", -std::numeric_limits<float>::infinity()}}},
      {"\xAC", -0.5f, {}},
  };
  AssistantOutput out;
  out.content = "Hi\xE2\x82\xAC";
  json got = chat_completion("c", 1, "m", out, "length", {1, 3, 0}, &lp);
  EXPECT_EQ(got["choices"][0]["message"]["content"], "Hi\u20ac");
  EXPECT_EQ(got["choices"][0]["logprobs"], json::parse(R"({"content": [
    {"token": "Hi", "logprob": -0.25, "bytes": [72, 105],
     "top_logprobs": [{"token": "Hi", "logprob": -0.25, "bytes": [72, 105]},
                      {"token": "Hello", "logprob": -1.5, "bytes": [72, 101, 108, 108, 111]}]},
    {"token": "\ufffd", "logprob": -2.0, "bytes": [226, 130],
     "top_logprobs": [{"token": "\ufffd", "logprob": -2.0, "bytes": [226, 130]},
                      {"token": "!", "logprob": -9999.0, "bytes": [33]}]},
    {"token": "\ufffd", "logprob": -0.5, "bytes": [172], "top_logprobs": []}],
    "refusal": null})"));
}

TEST(OpenAiResponse, ChatChunks) {
  EXPECT_EQ(chat_chunk("chatcmpl-9", 5, "m", {{"role", "assistant"}}, "", nullptr), json::parse(R"({
    "id": "chatcmpl-9", "object": "chat.completion.chunk", "created": 5, "model": "m",
    "choices": [{"index": 0, "delta": {"role": "assistant"}, "logprobs": null,
                 "finish_reason": null}]})"));
  std::vector<TokenLogprob> lp = {{" a", -1.0f, {{" a", -1.0f}}}};
  EXPECT_EQ(chat_chunk("chatcmpl-9", 5, "m", {{"content", " a"}}, "length", &lp), json::parse(R"({
    "id": "chatcmpl-9", "object": "chat.completion.chunk", "created": 5, "model": "m",
    "choices": [{"index": 0, "delta": {"content": " a"},
                 "logprobs": {"content": [{"token": " a", "logprob": -1.0, "bytes": [32, 97],
                   "top_logprobs": [{"token": " a", "logprob": -1.0, "bytes": [32, 97]}]}],
                   "refusal": null},
                 "finish_reason": "length"}]})"));
  EXPECT_EQ(usage_chunk("chatcmpl-9", 5, "m", "chat.completion.chunk", {4, 6, 2}), json::parse(R"({
    "id": "chatcmpl-9", "object": "chat.completion.chunk", "created": 5, "model": "m",
    "choices": [],
    "usage": {"prompt_tokens": 4, "completion_tokens": 6, "total_tokens": 10,
              "prompt_tokens_details": {"cached_tokens": 2}}})"));
}

TEST(OpenAiResponse, ToolCallsDelta) {
  EXPECT_EQ(tool_calls_delta({{"abcDEF123", "f", "{\"a\":1}"}, {"xyz987654", "g", "{}"}}),
            json::parse(R"([
    {"index": 0, "id": "abcDEF123", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}},
    {"index": 1, "id": "xyz987654", "type": "function", "function": {"name": "g", "arguments": "{}"}}])"));
}

// Legacy logprobs: parallel lists; top_logprobs one {text: logprob} object per token;
// text_offset the byte offset of each token, counted from the given start.
TEST(OpenAiResponse, TextCompletion) {
  std::vector<TokenLogprob> lp = {{"Once", -0.5f, {{"Once", -0.5f}, {"Twice", -2.0f}}},
                                  {" upon", -0.25f, {{" upon", -0.25f}}}};
  EXPECT_EQ(text_completion("cmpl-1", 7, "m", "Once upon", "length", {3, 2, 1}, &lp, 10),
            json::parse(R"({
    "id": "cmpl-1", "object": "text_completion", "created": 7, "model": "m",
    "choices": [{"text": "Once upon", "index": 0,
                 "logprobs": {"tokens": ["Once", " upon"], "token_logprobs": [-0.5, -0.25],
                              "top_logprobs": [{"Once": -0.5, "Twice": -2.0}, {" upon": -0.25}],
                              "text_offset": [10, 14]},
                 "finish_reason": "length"}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5,
              "prompt_tokens_details": {"cached_tokens": 1}}})"));
  EXPECT_EQ(text_completion("cmpl-1", 7, "m", "", "stop", {}, nullptr, 0)["choices"][0]["logprobs"],
            nullptr);
}

TEST(OpenAiResponse, TextChunks) {
  EXPECT_EQ(text_chunk("cmpl-2", 8, "m", " there", "", nullptr), json::parse(R"({
    "id": "cmpl-2", "object": "text_completion", "created": 8, "model": "m",
    "choices": [{"text": " there", "index": 0, "logprobs": null, "finish_reason": null}]})"));
  std::vector<TokenLogprob> lp = {{"!", -0.125f, {}}};
  EXPECT_EQ(text_chunk("cmpl-2", 8, "m", "!", "stop", &lp, 6)["choices"][0], json::parse(R"({
    "text": "!", "index": 0,
    "logprobs": {"tokens": ["!"], "token_logprobs": [-0.125], "top_logprobs": [{}], "text_offset": [6]},
    "finish_reason": "stop"})"));
  EXPECT_EQ(usage_chunk("cmpl-2", 8, "m", "text_completion", {1, 1, 0})["object"],
            "text_completion");
}

TEST(Sse, EventsAreOneDataLineEach) {
  EXPECT_EQ(sse_event(json{{"a", "x\ny\r\n"}}), "data: {\"a\":\"x\\ny\\r\\n\"}\n\n");
  EXPECT_EQ(sse_done(), "data: [DONE]\n\n");
  json chunk = chat_chunk("id", 1, "m", {{"content", "line1\n\nline2"}}, "", nullptr);
  std::string event = sse_event(chunk);
  ASSERT_TRUE(event.starts_with("data: "));
  ASSERT_TRUE(event.ends_with("\n\n"));
  std::string payload = event.substr(6, event.size() - 8);
  EXPECT_EQ(payload.find('\n'), std::string::npos);
  EXPECT_EQ(json::parse(payload), chunk);
  // A string the caller did not check is replaced, not thrown.
  EXPECT_EQ(sse_event(json{{"t", "a\xFF"}}), "data: {\"t\":\"a\xEF\xBF\xBD\"}\n\n");
}

}  // namespace
}  // namespace corelm::serve
