// corelm tokenize TOKENIZER TEXT: the ids Hugging Face's tokenizer(TEXT) would give.
#include <cstdio>

#include "commands.h"
#include "corelm/tokenizer.h"

namespace corelm::cli {

Action add_tokenize(CLI::App& app) {
  auto* cmd = app.add_subcommand("tokenize", "Print the token ids of TEXT");
  auto path = std::make_shared<std::string>();
  auto text = std::make_shared<std::string>();
  auto no_special = std::make_shared<bool>(false);
  auto json = std::make_shared<bool>(false);
  cmd->add_option("tokenizer", *path, "A .clm package, a Hugging Face folder or a tokenizer.json")
      ->required();
  cmd->add_option("text", *text, "Text to tokenize")->required();
  cmd->add_flag("--no-special", *no_special, "Do not add special tokens (BOS/EOS)");
  cmd->add_flag("--json", *json, "Print {\"ids\": [...]}");
  return [=]() {
    require_utf8(*text, "the text");
    auto tok = Tokenizer::from_path(*path);
    auto ids = tok->encode(*text, !*no_special);
    std::string out = *json ? "{\"ids\": [" : "";
    for (size_t i = 0; i < ids.size(); ++i)
      out += (i ? (*json ? ", " : " ") : "") + std::to_string(ids[i]);
    out += *json ? "]}" : "";
    std::printf("%s\n", out.c_str());
    return 0;
  };
}

}  // namespace corelm::cli
