#include "chat_prompt.h"

#include "base/check.h"
#include "base/file_util.h"
#include "corelm/model.h"
#include "corelm/tokenizer.h"

namespace corelm::cli {

const char* const kFallbackChatTemplate =
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' -}}"
    "{%- if message['content'] is string -%}{{- message['content'] -}}{%- endif -%}"
    "{{- '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}";

ChosenTemplate choose_chat_template(const Model& model, const std::string& template_file,
                                    bool allow_fallback) {
  if (!template_file.empty()) return {read_file(template_file, "chat"), "file " + template_file};
  if (!model.info().chat_template.empty()) return {model.info().chat_template, "model"};
  if (!model.tokenizer().chat_template().empty())
    return {model.tokenizer().chat_template(), "model"};
  if (!allow_fallback)
    fail(ErrorCode::kNotFound, "chat",
         "the model has no chat template; pass one with --chat-template FILE.jinja");
  return {kFallbackChatTemplate, "fallback (chatml)"};
}

}  // namespace corelm::cli
