// Fuzz target: an HTTP request body for POST /v1/chat/completions and /v1/completions, parsed by
// both parsers (anything but ApiException escaping is a finding), then the same bytes taken as
// model output for the Mistral tool-call parser, and the response objects and SSE events built
// from what came out (none of these may throw). A parsed chat request's messages are rendered
// through the ChatML fallback template, as the server does for models without a template.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "chat_prompt.h"
#include "corelm/chat.h"
#include "fuzz_support.h"
#include "serve/openai_api.h"

namespace {

void build_responses(const corelm::serve::AssistantOutput& output) {
  using namespace corelm::serve;
  std::vector<TokenLogprob> logprobs = {{output.content, -0.5f, {{output.content, -0.5f}}}};
  (void)sse_event(chat_completion("chatcmpl-f", 0, "m", output,
                                  output.tool_calls.empty() ? "stop" : "tool_calls", {},
                                  &logprobs));
  (void)sse_event(chat_chunk("chatcmpl-f", 0, "m",
                             {{"tool_calls", tool_calls_delta(output.tool_calls)}}, "", &logprobs));
  (void)sse_event(text_completion("cmpl-f", 0, "m", output.content, "stop", {}, &logprobs, 0));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace corelm::serve;
  std::string_view body(reinterpret_cast<const char*>(data), size);
  try {
    ChatRequest r = parse_chat_request(body);
    static const auto chatml = corelm::ChatTemplate::compile(corelm::cli::kFallbackChatTemplate);
    corelm::fuzz::attempt([&] {
      corelm::ChatTemplateOptions o;
      o.add_generation_prompt = true;
      if (!r.tools.is_null()) o.tools_json = r.tools.dump();
      (void)chatml->render(r.messages.dump(), o);
    });
  } catch (const ApiException& e) {
    if (e.error().status != 400 && e.error().status != 413) std::abort();
    (void)sse_event(error_body(e.error()));
  }
  try {
    CompletionRequest r = parse_completion_request(body);
    (void)r;
  } catch (const ApiException& e) {
    if (e.error().status != 400 && e.error().status != 413) std::abort();
  }
  int next = 0;
  AssistantOutput output = parse_assistant_output(
      body, [&] { return mistral_tool_call_id(static_cast<uint64_t>(next++)); });
  // Malformed output is all content: nothing is lost.
  if (output.tool_calls.empty() && output.content != body && output.content + "</s>" != body)
    std::abort();
  build_responses(output);
  return 0;
}
