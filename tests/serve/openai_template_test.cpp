// The messages parse_chat_request makes, rendered through Mistral's real templates, against
// renders made elsewhere: mistral-common's token ids for whole tool conversations
// (mistral-chat-samples) and Python Jinja2's renders (generated_renders.json).
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "chat_prompt.h"
#include "corelm/chat.h"
#include "corelm/error.h"
#include "corelm/tokenizer.h"
#include "serve/openai_api.h"
#include "test_support.h"

namespace corelm::serve {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

// Renders a request as the server does: its messages, and its tools as tools_json.
std::string render(const std::string& template_file, const ChatRequest& r,
                   bool add_generation_prompt = true) {
  auto tmpl = ChatTemplate::compile(test::read_data("mistral-chat-templates/" + template_file));
  ChatTemplateOptions o;
  o.bos_token = "<s>";
  o.eos_token = "</s>";
  o.add_generation_prompt = add_generation_prompt;
  if (!r.tools.is_null()) o.tools_json = r.tools.dump();
  return tmpl->render(r.messages.dump(), o);
}

// mistral-common's text_vN.txt: the encoding's pieces joined, "▁" for a space, "<0x0A>" for a
// newline byte.
std::string pieces_to_text(std::string pieces) {
  auto replace_all = [&](const std::string& from, const std::string& to) {
    for (size_t at = pieces.find(from); at != std::string::npos; at = pieces.find(from, at))
      pieces.replace(at, from.size(), to), at += to.size();
  };
  replace_all("\xE2\x96\x81", " ");
  replace_all("<0x0A>", "\n");
  return pieces;
}

std::vector<int32_t> sample_tokens(const std::string& sample, const std::string& version) {
  return json::parse(test::read_data("mistral-chat-samples/" + sample + "/tokens_" + version +
                                     ".json"))["tokens"]
      .get<std::vector<int32_t>>();
}

// A full tool round trip (user -> assistant tool_calls -> tool result -> assistant -> user ->
// two more calls and results), sent as an OpenAI request (arguments as JSON strings, content
// null beside tool_calls), renders exactly what mistral-common encodes.
TEST(OpenAiTemplate, ToolRoundTripIsMistralCommons) {
  ChatRequest r =
      parse_chat_request(test::read_data("mistral-chat-samples/several_calls/sample.json"));
  for (const std::string version : {"v2", "v3"}) {
    std::string text = render(version + "_spm.jinja", r);
    EXPECT_EQ(test::mistral_tokenizer(version)->encode(text, false),
              sample_tokens("several_calls", version))
        << version << "\n"
        << text;
    std::string expected_text = pieces_to_text(
        test::read_data("mistral-chat-samples/several_calls/text_" + version + ".txt"));
    EXPECT_EQ(text, expected_text) << version;
  }
}

TEST(OpenAiTemplate, NoToolsSampleIsMistralCommons) {
  ChatRequest r = parse_chat_request(test::read_data("mistral-chat-samples/no_tools/sample.json"));
  EXPECT_TRUE(r.tools.is_null());  // "tools": [] is no tools
  for (const std::string version : {"v1", "v2", "v3"}) {
    std::string text = render(version + "_spm.jinja", r);
    EXPECT_EQ(test::mistral_tokenizer(version)->encode(text, false),
              sample_tokens("no_tools", version))
        << version << "\n"
        << text;
  }
}

// get_weather_*: system messages, a tool call, an integer tool result ("22") and a JSON tool
// result. mistral-common re-serialises a JSON tool result with its own normalisation, which no
// Jinja template does (SOURCES.md): everything before the last [TOOL_RESULTS] matches its ids,
// and the last result renders as the template writes a string (checked by hand below).
TEST(OpenAiTemplate, ToolResultSamplesMatchUpToTheJsonResult) {
  for (const std::string sample : {"get_weather_full", "get_weather_no_history"}) {
    ChatRequest r =
        parse_chat_request(test::read_data("mistral-chat-samples/" + sample + "/sample.json"));
    for (const std::string version : {"v2", "v3"}) {
      std::string text = render(version + "_spm.jinja", r);
      auto ids = test::mistral_tokenizer(version)->encode(text, false);
      auto expected = sample_tokens(sample, version);
      const int32_t results = *test::mistral_tokenizer(version)->token_to_id("[TOOL_RESULTS]");
      auto last = std::find(expected.rbegin(), expected.rend(), results).base() - 1;
      size_t prefix = static_cast<size_t>(last - expected.begin());
      ASSERT_GT(prefix, 0u);
      ASSERT_GE(ids.size(), prefix);
      EXPECT_EQ(std::vector<int32_t>(ids.begin(), ids.begin() + prefix),
                std::vector<int32_t>(expected.begin(), last))
          << sample << " " << version << "\n"
          << text;
      // Hand-checked for v3: the template's tojson of {'content': <the result string>,
      // 'call_id': id}, the string as the sample gives it, its quotes escaped.
      if (version != "v3") continue;
      const std::string result =
          sample == "get_weather_full"
              ? R"({\"2024-05-22\":\"22\",\"2024-05-23\":\"23\",\"2024-05-24\":\"24\",\"2024-05-25\":\"25\",\"2024-05-26\":\"26\"})"
              : R"({\"2024-05-22\": \"22\", \"2024-05-23\": \"23\", \"2024-05-24\": \"24\", \"2024-05-25\": \"25\", \"2024-05-26\": \"26\"})";
      EXPECT_TRUE(text.ends_with(R"([TOOL_RESULTS] {"content": ")" + result +
                                 R"(", "call_id": "123456789"}[/TOOL_RESULTS])"))
          << text;
    }
  }
}

// Python Jinja2's renders of plain conversations, sent with every content as a list of text
// parts and "developer" for "system": the mapping must not change a single character (or the
// template's error).
TEST(OpenAiTemplate, ContentPartsAndDeveloperRenderAsJinja2) {
  auto j = ordered_json::parse(test::read_data("mistral-chat-templates/generated_renders.json"));
  size_t checked = 0;
  for (const auto& render_case : j["renders"]) {
    ordered_json messages = ordered_json::array();
    for (const auto& m : j["conversations"][render_case["conversation"].get<std::string>()]) {
      std::string role = m["role"] == "system" ? "developer" : m["role"].get<std::string>();
      messages.push_back(
          {{"role", role},
           {"content", ordered_json::array({{{"type", "text"}, {"text", m["content"]}}})}});
    }
    ChatRequest r = parse_chat_request(ordered_json{{"messages", messages}}.dump());
    const std::string name = render_case["template"].get<std::string>() + " / " +
                             render_case["conversation"].get<std::string>();
    const bool gen = render_case["add_generation_prompt"].get<bool>();
    if (render_case.contains("error")) {
      try {
        render(render_case["template"].get<std::string>(), r, gen);
        ADD_FAILURE() << name << ": expected the template to raise";
      } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()), "[chat] " + render_case["error"].get<std::string>());
      }
    } else {
      EXPECT_EQ(render(render_case["template"].get<std::string>(), r, gen),
                render_case["rendered"].get<std::string>())
          << name;
    }
    ++checked;
  }
  EXPECT_EQ(checked, 50u);
}

// Several text parts are joined with "\n\n", as Mistral's v3 template joins the chunks of a
// list content itself: the joined string renders as the raw parts list does.
TEST(OpenAiTemplate, JoinedPartsRenderAsTheRawPartsList) {
  const std::string parts =
      R"([{"type": "text", "text": "First part."}, {"type": "text", "text": "Second part."}])";
  const std::string raw = R"([{"role": "user", "content": )" + parts + "}]";
  ChatRequest r = parse_chat_request(R"({"messages": )" + raw + "}");
  auto tmpl = ChatTemplate::compile(test::read_data("mistral-chat-templates/v3_spm.jinja"));
  ChatTemplateOptions o;
  o.bos_token = "<s>";
  o.eos_token = "</s>";
  EXPECT_EQ(tmpl->render(r.messages.dump(), o), tmpl->render(raw, o));
  EXPECT_EQ(tmpl->render(raw, o), "<s>[INST] First part.\n\nSecond part.[/INST]");
}

// The ChatML fallback (models without a template) renders a tool round trip without raising:
// the assistant's tool-call turn has no text, the tool result is a "tool" turn. Hand-written.
TEST(OpenAiTemplate, ChatMlFallbackRendersAToolRoundTrip) {
  ChatRequest r = parse_chat_request(R"({"messages": [
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": null, "tool_calls": [{"id": "abcDEF123", "type": "function",
      "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
    {"role": "tool", "tool_call_id": "abcDEF123", "content": "22"},
    {"role": "user", "content": "Thanks"}]})");
  auto tmpl = ChatTemplate::compile(cli::kFallbackChatTemplate);
  ChatTemplateOptions o;
  o.add_generation_prompt = true;
  EXPECT_EQ(tmpl->render(r.messages.dump(), o),
            "<|im_start|>user\nWeather in Paris?<|im_end|>\n"
            "<|im_start|>assistant\n<|im_end|>\n"
            "<|im_start|>tool\n22<|im_end|>\n"
            "<|im_start|>user\nThanks<|im_end|>\n"
            "<|im_start|>assistant\n");
}

}  // namespace
}  // namespace corelm::serve
