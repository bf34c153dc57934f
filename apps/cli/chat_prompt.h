// The chat template a runner uses and how it renders a conversation: shared by `corelm generate
// --chat`, `corelm chat` and `corelm serve`.
#pragma once

#include <string>

namespace corelm {
class Model;
class Tokenizer;
}  // namespace corelm

namespace corelm::cli {

// ChatML, for models that carry no template of their own (base models such as stories260K), as
// llama.cpp's server falls back to. It renders system, user, assistant and tool messages.
extern const char* const kFallbackChatTemplate;

struct ChosenTemplate {
  std::string source;
  std::string origin;  // "file PATH", "model" or "fallback (chatml)"
};

// `template_file` if given, else the package's (or GGUF's) chat template, else the tokenizer's,
// else the ChatML fallback (allow_fallback) or an Error saying to pass --chat-template.
ChosenTemplate choose_chat_template(const Model& model, const std::string& template_file,
                                    bool allow_fallback = true);

}  // namespace corelm::cli
