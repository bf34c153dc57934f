// SseWriter: streamed answers as OpenAI chunks, with Mistral tool calls recognised in the stream.
// The token ids are real: Mistral's v3 tokenizer (mistral-common's tokenizer.model.v3) encoding
// the answers, [TOOL_CALLS] being its control token; the text per token comes from the same
// StopStringStream the scheduler uses. Expected chunks are written by hand.
#include "serve/sse_writer.h"

#include <gtest/gtest.h>

#include "corelm/tokenizer.h"
#include "generate/stop_stream.h"
#include "test_support.h"

namespace corelm::serve {
namespace {

using nlohmann::json;

const Tokenizer& mistral_v3() {
  static auto tok = Tokenizer::from_path(
      test::data_path("mistral-spm-models/mistral_instruct_tokenizer_240323.model.v3"));
  return *tok;
}

// Ids of `before` + [TOOL_CALLS] + `after` (no marker when `after` is empty).
std::vector<int32_t> answer_ids(const std::string& before, const std::string& after) {
  const Tokenizer& tok = mistral_v3();
  std::vector<int32_t> ids;
  if (!before.empty()) ids = tok.encode(before, false);
  if (!after.empty()) {
    auto marker = tok.token_to_id("[TOOL_CALLS]");
    EXPECT_TRUE(marker.has_value());
    ids.push_back(*marker);
    auto rest = tok.encode(after, false);
    ids.insert(ids.end(), rest.begin(), rest.end());
  }
  return ids;
}

struct Streamed {
  std::vector<json> chunks;
  std::string content;
  json tool_calls;
  std::string finish_reason;
  bool done = false;
};

// Feeds `ids` one token per call, as the scheduler would, and parses what the writer sends.
Streamed stream(const std::vector<int32_t>& ids, bool tools, bool chat = true) {
  const Tokenizer& tok = mistral_v3();
  StreamSpec spec;
  spec.chat = chat;
  spec.tools = tools;
  spec.include_usage = true;
  spec.id = "chatcmpl-test";
  spec.model = "m";
  spec.last_prompt_id = 4;  // [/INST]
  int calls = 0;
  SseWriter w(tok, spec, [&] { return "abcDEF12" + std::to_string(calls++); });
  const int32_t prompt[] = {1, 3, 4};
  StopStringStream text(tok, prompt, {});
  std::string events = w.begin();
  RequestFinal fin;
  for (int32_t id : ids) {
    TokenOutput t;
    t.id = id;
    t.text = text.push(id);
    fin.text += t.text;
    events += w.tokens({t});
  }
  fin.ids = ids;
  fin.tail = text.finish();
  fin.finish_reason = "stop";
  fin.prompt_tokens = 3;
  events += w.end(fin);
  Streamed s;
  size_t pos = 0;
  while (pos < events.size()) {
    size_t end = events.find("\n\n", pos);
    EXPECT_NE(end, std::string::npos);
    std::string data = events.substr(pos + 6, end - pos - 6);
    pos = end + 2;
    if (data == "[DONE]") {
      s.done = true;
      continue;
    }
    json j = json::parse(data);
    s.chunks.push_back(j);
    if (j["choices"].empty()) continue;
    const json& c = j["choices"][0];
    const json delta = chat ? c["delta"] : json{{"content", c["text"]}};
    if (delta.contains("content") && delta["content"].is_string())
      s.content += delta["content"].get<std::string>();
    if (delta.contains("tool_calls")) s.tool_calls = delta["tool_calls"];
    if (!c["finish_reason"].is_null()) s.finish_reason = c["finish_reason"];
  }
  return s;
}

TEST(SseWriter, AToolCallAnswerBecomesToolCallsAndNoContent) {
  auto ids = answer_ids("", R"( [{"name": "get_weather", "arguments": {"city": "Paris"}}])");
  auto s = stream(ids, true);
  EXPECT_TRUE(s.done);
  EXPECT_EQ(s.content, "");
  ASSERT_EQ(s.tool_calls.size(), 1u) << s.tool_calls.dump();
  EXPECT_EQ(s.tool_calls[0]["index"], 0);
  EXPECT_EQ(s.tool_calls[0]["type"], "function");
  EXPECT_EQ(s.tool_calls[0]["function"]["name"], "get_weather");
  EXPECT_EQ(json::parse(s.tool_calls[0]["function"]["arguments"].get<std::string>()),
            json({{"city", "Paris"}}));
  EXPECT_EQ(s.tool_calls[0]["id"].get<std::string>().size(), 9u);
  EXPECT_EQ(s.finish_reason, "tool_calls");
  EXPECT_TRUE(s.chunks.back()["choices"].empty()) << "the usage chunk comes last";
  EXPECT_EQ(s.chunks.back()["usage"]["completion_tokens"], ids.size());
}

TEST(SseWriter, TextBeforeACallStreamsAsContent) {
  auto ids = answer_ids("Let me check the weather.",
                        R"( [{"name": "get_weather", "arguments": {"city": "Oslo"}}])");
  auto s = stream(ids, true);
  EXPECT_EQ(s.content, "Let me check the weather.");
  ASSERT_EQ(s.tool_calls.size(), 1u);
  EXPECT_EQ(s.tool_calls[0]["function"]["name"], "get_weather");
  EXPECT_EQ(s.finish_reason, "tool_calls");
  // The content went out while the answer was streaming, before the call's chunk.
  size_t first_content = 0;
  while (first_content < s.chunks.size() &&
         s.chunks[first_content]["choices"][0]["delta"].value("content", "").empty())
    ++first_content;
  EXPECT_LT(first_content + 3, s.chunks.size());
}

TEST(SseWriter, AnswersThatOnlyLookLikeTheMarkerAreContent) {
  const std::string text = "Put it in [TOOL box] and [TOOL_CALL it [TOOL_CALLS later";
  auto s = stream(answer_ids(text, ""), true);
  EXPECT_EQ(s.content, text);
  EXPECT_TRUE(s.tool_calls.is_null());
  EXPECT_EQ(s.finish_reason, "stop");
  // A malformed call list is given back as it was said.
  auto bad = stream(answer_ids("", R"( [{"name": "get_weather", "argu)"), true);
  EXPECT_TRUE(bad.tool_calls.is_null());
  EXPECT_EQ(bad.finish_reason, "stop");
  EXPECT_NE(bad.content.find("get_weather"), std::string::npos);
}

TEST(SseWriter, WithoutToolsEveryTokensTextGoesOutAsItComes) {
  const std::string text = "Hello! The café is open.";
  auto ids = answer_ids(text, "");
  auto s = stream(ids, false);
  EXPECT_EQ(s.content, text);
  EXPECT_EQ(s.finish_reason, "stop");
  // One chunk per token that adds text, plus the role, finishing and usage chunks.
  EXPECT_GE(s.chunks.size(), 3u + 5u);
  auto legacy = stream(ids, false, false);
  EXPECT_EQ(legacy.content, text);
  EXPECT_EQ(legacy.chunks[0]["object"], "text_completion");
}

}  // namespace
}  // namespace corelm::serve
