// Fuzz target: a chat template (Jinja) from bytes, compiled and rendered with a fixed
// conversation (system, user, assistant, user), both with and without a generation prompt, and
// once with tools.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "corelm/chat.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<corelm::ChatMessage> messages = {
      {"system", "You are a helpful assistant."},
      {"user", "Hello! What is 2+2?"},
      {"assistant", "2+2 = 4."},
      {"user", "And <b>3*3</b>?\n\"quoted\" \xc3\xa9"},
  };
  static const std::string messages_json =
      R"([{"role":"user","content":"What is the weather?"},)"
      R"({"role":"assistant","content":"","tool_calls":[{"id":"abc123def","type":"function",)"
      R"("function":{"name":"get_weather","arguments":{"city":"Paris"}}}]},)"
      R"({"role":"tool","tool_call_id":"abc123def","content":"22 C"}])";
  static const std::string tools_json =
      R"([{"type":"function","function":{"name":"get_weather","description":"Weather",)"
      R"("parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}])";
  try {
    auto tmpl =
        corelm::ChatTemplate::compile(std::string(reinterpret_cast<const char*>(data), size));
    corelm::ChatTemplateOptions options;
    options.bos_token = "<s>";
    options.eos_token = "</s>";
    try {
      (void)tmpl->render(messages, options);
    } catch (const corelm::Error& e) {
      corelm::fuzz::note(e);
    }
    options.add_generation_prompt = true;
    try {
      (void)tmpl->render(messages, options);
    } catch (const corelm::Error& e) {
      corelm::fuzz::note(e);
    }
    options.tools_json = tools_json;
    (void)tmpl->render(messages_json, options);
  } catch (const corelm::Error& e) {
    corelm::fuzz::note(e);
  }
  return 0;
}
