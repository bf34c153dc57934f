// corelm chat-template TOKENIZER --messages FILE.json: renders the model's chat template (or
// --template FILE.jinja) for a conversation, as transformers' apply_chat_template does.
#include <nlohmann/json.hpp>

#include <cstdio>

#include "base/check.h"
#include "base/file_util.h"
#include "base/json_access.h"
#include "commands.h"
#include "corelm/chat.h"
#include "corelm/tokenizer.h"

namespace corelm::cli {

std::string render_chat(const Tokenizer& tok, const std::string& template_source,
                        const std::string& messages_json, const std::string& tools_json,
                        bool add_generation_prompt) {
  if (template_source.empty())
    fail(ErrorCode::kNotFound, "chat",
         "the model has no chat template; pass one with --template FILE.jinja");
  ChatTemplateOptions o;
  o.add_generation_prompt = add_generation_prompt;
  o.bos_token = tok.bos_token();
  o.eos_token = tok.eos_token();
  o.tools_json = tools_json;
  return ChatTemplate::compile(template_source)->render(messages_json, o);
}

Action add_chat_template(CLI::App& app) {
  auto* cmd =
      app.add_subcommand("chat-template", "Render a conversation with the model's chat template");
  struct Args {
    std::string tokenizer, messages, template_file, tools;
    bool add_generation_prompt = false, json = false;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("tokenizer", a->tokenizer,
                  "A .clm package, a Hugging Face folder or a tokenizer file")
      ->required();
  cmd->add_option("--messages", a->messages,
                  "JSON file: a list of {role, content} messages, or {\"messages\": [...], "
                  "\"tools\": [...]}")
      ->required();
  cmd->add_option("--template", a->template_file, "Jinja template file (default: the model's own)");
  cmd->add_option("--tools", a->tools, "JSON file with a list of tools");
  cmd->add_flag("--add-generation-prompt", a->add_generation_prompt,
                "End with the assistant turn's opening");
  cmd->add_flag("--json", a->json, "Print {\"text\": ..., \"ids\": [...]}");
  return [a]() {
    auto tok = Tokenizer::from_path(a->tokenizer);
    nlohmann::ordered_json doc = parse_ordered_json(read_file(a->messages, "chat"), "chat",
                                                    fmt::format("'{}'", a->messages));
    nlohmann::ordered_json messages = doc, tools;
    if (doc.is_object()) {
      messages = doc.value("messages", nlohmann::ordered_json::array());
      if (doc.contains("tools") && !doc["tools"].empty()) tools = doc["tools"];
    }
    if (!a->tools.empty())
      tools =
          parse_ordered_json(read_file(a->tools, "chat"), "chat", fmt::format("'{}'", a->tools));
    std::string source =
        a->template_file.empty() ? tok->chat_template() : read_file(a->template_file, "chat");
    std::string text = render_chat(*tok, source, messages.dump(),
                                   tools.is_null() ? "" : tools.dump(), a->add_generation_prompt);
    if (!a->json) {
      std::fwrite(text.data(), 1, text.size(), stdout);
      std::printf("\n");
      return 0;
    }
    auto ids = tok->encode(text, false);
    std::string out = "{\"text\": " + json_quote(text) + ", \"ids\": [";
    for (size_t i = 0; i < ids.size(); ++i) out += (i ? ", " : "") + std::to_string(ids[i]);
    std::printf("%s]}\n", out.c_str());
    return 0;
  };
}

}  // namespace corelm::cli
