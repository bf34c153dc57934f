// Chat templates: a model's own Jinja template (tokenizer_config.json "chat_template", a
// chat_template.jinja file, or GGUF's tokenizer.chat_template) rendered as transformers'
// apply_chat_template does. Compiled templates are cached and immutable; render is thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace corelm {

struct ChatMessage {
  std::string role;
  std::string content;
};

// Bounds on one render, so that a hostile template or conversation ends with an Error within
// seconds and a few hundred MiB instead of crashing, hanging or exhausting memory. Real templates
// stay below them: a 10,000-message conversation of 4 KB messages through Mistral's v1-v3
// templates renders 37 MB of text in under 20 million steps. Nesting depths that protect the
// stack are fixed: 256 for the template's syntax, 128 for values (messages JSON included).
struct ChatTemplateLimits {
  int64_t max_output_bytes = int64_t{64} << 20;  // rendered text (and each captured block)
  int64_t max_value_bytes = int64_t{64} << 20;   // a string or list one operation builds
  // Work: 1 per statement or expression evaluated, 8 per loop iteration, 1 per value visited by
  // ==, sorting, tojson or str(), 1 per 8 list items copied and per 256 bytes of text built.
  int64_t max_steps = 50'000'000;
  int max_call_depth = 128;  // macro calls active at once
  // Text and lists the template's values hold at once (the messages passed in not counted).
  int64_t max_memory_bytes = int64_t{512} << 20;
};

struct ChatTemplateOptions {
  bool add_generation_prompt = false;
  std::string bos_token;
  std::string eos_token;
  std::string tools_json;  // a JSON array of tools; empty: `tools` is undefined
  std::string
      extra_context_json;  // a JSON object of extra variables (e.g. {"enable_thinking": false})
  ChatTemplateLimits limits;
};

class ChatTemplate {
 public:
  // Parses `source`; a syntax error or an unsupported feature is an Error naming it, with line
  // and column. The same source text returns the same compiled template.
  static std::shared_ptr<const ChatTemplate> compile(const std::string& source);
  ~ChatTemplate();

  // `messages_json` is a JSON array of message objects (role, content, tool_calls, ...).
  // raise_exception() in the template becomes Error(kInvalidArgument, "[chat] <its message>").
  std::string render(const std::string& messages_json, const ChatTemplateOptions& options) const;
  std::string render(const std::vector<ChatMessage>& messages,
                     const ChatTemplateOptions& options) const;

 private:
  struct Impl;
  explicit ChatTemplate(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace corelm
