// Mistral tool-call parsing: every expected value below is written by hand from the formats
// Mistral's models emit (v3: "[TOOL_CALLS] [{...}]", v11+: "[TOOL_CALLS]name[ARGS]{...}").
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "serve/openai_api.h"

namespace corelm::serve {
namespace {

// Ids "id0", "id1", ... in the order parse_assistant_output asks for them.
struct Ids {
  int next = 0;
  std::function<std::string()> fn() {
    return [this] { return "id" + std::to_string(next++); };
  }
};

AssistantOutput parse(std::string_view text, Ids& ids) {
  return parse_assistant_output(text, ids.fn());
}

TEST(ToolCalls, PlainTextIsContent) {
  Ids ids;
  AssistantOutput out = parse("Hello there.</s>", ids);
  EXPECT_EQ(out.content, "Hello there.");
  EXPECT_TRUE(out.tool_calls.empty());
  EXPECT_EQ(ids.next, 0);
  // Only a trailing end-of-sequence text is dropped.
  EXPECT_EQ(parse("a </s> b", ids).content, "a </s> b");
  EXPECT_EQ(parse("", ids).content, "");
}

TEST(ToolCalls, MistralV3List) {
  Ids ids;
  AssistantOutput out = parse(
      R"([TOOL_CALLS] [{"name": "get_current_weather", "arguments": {"location": "Paris, France", "format": "celsius"}}]</s>)",
      ids);
  EXPECT_EQ(out.content, "");
  ASSERT_EQ(out.tool_calls.size(), 1u);
  EXPECT_EQ(out.tool_calls[0].id, "id0");
  EXPECT_EQ(out.tool_calls[0].name, "get_current_weather");
  // Compact, in the model's key order.
  EXPECT_EQ(out.tool_calls[0].arguments, R"({"location":"Paris, France","format":"celsius"})");
}

TEST(ToolCalls, MistralV3SeveralCallsAndGivenIds) {
  Ids ids;
  AssistantOutput out = parse(
      "[TOOL_CALLS] [{\"name\": \"a\", \"arguments\": {}, \"id\": \"abcDEF123\"}, "
      "{\"name\": \"b_2\", \"arguments\": {\"x\": [1, 2, {\"y\": null}], \"s\": \"]}\\\"[\"}}]",
      ids);
  ASSERT_EQ(out.tool_calls.size(), 2u);
  EXPECT_EQ(out.tool_calls[0].id, "abcDEF123");
  EXPECT_EQ(out.tool_calls[0].name, "a");
  EXPECT_EQ(out.tool_calls[0].arguments, "{}");
  EXPECT_EQ(out.tool_calls[1].id, "id0");
  EXPECT_EQ(out.tool_calls[1].name, "b_2");
  EXPECT_EQ(out.tool_calls[1].arguments, R"({"x":[1,2,{"y":null}],"s":"]}\"["})");
  EXPECT_EQ(ids.next, 1);
}

TEST(ToolCalls, ContentBeforeTheCalls) {
  Ids ids;
  AssistantOutput out =
      parse("Let me check. [TOOL_CALLS][{\"name\": \"f\", \"arguments\": {\"n\": 1}}]\n</s>", ids);
  EXPECT_EQ(out.content, "Let me check. ");
  ASSERT_EQ(out.tool_calls.size(), 1u);
  EXPECT_EQ(out.tool_calls[0].name, "f");
  EXPECT_EQ(out.tool_calls[0].arguments, R"({"n":1})");
}

TEST(ToolCalls, MistralV11Named) {
  Ids ids;
  AssistantOutput out = parse(
      "[TOOL_CALLS]get_weather[ARGS]{\"city\": \"Paris\"}[TOOL_CALLS]get_time[ARGS]{}</s>", ids);
  EXPECT_EQ(out.content, "");
  ASSERT_EQ(out.tool_calls.size(), 2u);
  EXPECT_EQ(out.tool_calls[0].id, "id0");
  EXPECT_EQ(out.tool_calls[0].name, "get_weather");
  EXPECT_EQ(out.tool_calls[0].arguments, R"({"city":"Paris"})");
  EXPECT_EQ(out.tool_calls[1].id, "id1");
  EXPECT_EQ(out.tool_calls[1].name, "get_time");
  EXPECT_EQ(out.tool_calls[1].arguments, "{}");
}

TEST(ToolCalls, MistralV11WithCallId) {
  Ids ids;
  AssistantOutput out =
      parse("[TOOL_CALLS]search[CALL_ID]a1B2c3D4e[ARGS]{\"q\": \"[ARGS] in text\"}", ids);
  ASSERT_EQ(out.tool_calls.size(), 1u);
  EXPECT_EQ(out.tool_calls[0].id, "a1B2c3D4e");
  EXPECT_EQ(out.tool_calls[0].name, "search");
  EXPECT_EQ(out.tool_calls[0].arguments, R"({"q":"[ARGS] in text"})");
  EXPECT_EQ(ids.next, 0);
}

// Malformed output is returned whole (less the end-of-sequence text) as content, no calls, and
// no ids are used up.
TEST(ToolCalls, MalformedIsPlainContent) {
  const char* cases[] = {
      "[TOOL_CALLS] [{\"name\": \"f\", \"arguments\": {\"a\": 1}",     // truncated
      "[TOOL_CALLS] [{\"name\": \"f\", \"arguments\": {\"a\": 1,}}]",  // bad JSON
      "[TOOL_CALLS] [{\"arguments\": {}}]",                            // no name
      "[TOOL_CALLS] [{\"name\": \"\", \"arguments\": {}}]",            // empty name
      "[TOOL_CALLS] [{\"name\": \"f g\", \"arguments\": {}}]",         // not a function name
      "[TOOL_CALLS] [{\"name\": 5, \"arguments\": {}}]",               // name not a string
      "[TOOL_CALLS] [{\"name\": \"f\"}]",                              // no arguments
      "[TOOL_CALLS] [{\"name\": \"f\", \"arguments\": \"{}\"}]",       // arguments not an object
      "[TOOL_CALLS] []",                                               // no call
      "[TOOL_CALLS] {\"name\": \"f\", \"arguments\": {}}",             // not a list
      "[TOOL_CALLS] [{\"name\": \"f\", \"arguments\": {}}] and more",  // text after
      "[TOOL_CALLS] [\"f\"]",                                          // not an object
      "[TOOL_CALLS]",                                                  // nothing
      "[TOOL_CALLS]f[ARGS]",                                           // v11 truncated
      "[TOOL_CALLS]f[ARGS]{\"a\": ",                                   // v11 truncated JSON
      "[TOOL_CALLS]f[ARGS][1]",                                        // v11 not an object
      "[TOOL_CALLS][ARGS]{}",                                          // v11 no name
      "[TOOL_CALLS]f{}",                                               // v11 no [ARGS]
      "[TOOL_CALLS]f[CALL_ID][ARGS]{}",                                // empty call id
      "[TOOL_CALLS]f[ARGS]{} trailing",                                // text after
      "[TOOL_CALLS]f[ARGS]{}[TOOL_CALLS]",                             // second call missing
  };
  for (const char* text : cases) {
    Ids ids;
    AssistantOutput out = parse(std::string(text) + "</s>", ids);
    EXPECT_EQ(out.content, text);
    EXPECT_TRUE(out.tool_calls.empty()) << text;
    EXPECT_EQ(ids.next, 0) << text;
  }
}

TEST(ToolCalls, DeepArgumentsArePlainContent) {
  Ids ids;
  std::string deep = "[TOOL_CALLS]f[ARGS]" + std::string(100, '{');
  // Not closed: never parsed.
  EXPECT_TRUE(parse(deep, ids).tool_calls.empty());
  std::string nested = "[TOOL_CALLS]f[ARGS]{\"a\":";
  for (int i = 0; i < 200; ++i) nested += "[";
  for (int i = 0; i < 200; ++i) nested += "]";
  nested += "}";
  AssistantOutput out = parse(nested, ids);
  EXPECT_TRUE(out.tool_calls.empty());
  EXPECT_EQ(out.content, nested);
}

TEST(ToolCalls, StreamableContentHoldsBackTheMarker) {
  EXPECT_EQ(streamable_content_length(""), 0u);
  EXPECT_EQ(streamable_content_length("Hello"), 5u);
  EXPECT_EQ(streamable_content_length("Hello ["), 6u);
  EXPECT_EQ(streamable_content_length("Hello [TOOL_CALL"), 6u);
  EXPECT_EQ(streamable_content_length("Hello [TOOL_CALLS] [{\"name\""), 6u);
  EXPECT_EQ(streamable_content_length("[TOOL_CALLS"), 0u);
  EXPECT_EQ(streamable_content_length("a [x"), 4u);
  EXPECT_EQ(streamable_content_length("a [TOOL]"), 8u);
  EXPECT_EQ(streamable_content_length("[[T"), 1u);
}

TEST(ToolCalls, MistralIdsAreNineAlphanumerics) {
  std::set<std::string> seen;
  for (uint64_t seed = 0; seed < 1000; ++seed) {
    std::string id = mistral_tool_call_id(seed);
    ASSERT_EQ(id.size(), 9u);
    for (char c : id) EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c))) << id;
    EXPECT_EQ(mistral_tool_call_id(seed), id);  // a function of the seed
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 1000u);
}

}  // namespace
}  // namespace corelm::serve
