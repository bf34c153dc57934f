// The `corelm` subcommands. Each registers its options on the CLI11 app and returns the action
// to run after parsing; actions throw corelm::Error, which main() reports.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>

namespace corelm {
class Tokenizer;
class PackageReader;
struct AdapterOption;
}  // namespace corelm

namespace corelm::cli {

using Action = std::function<int()>;

Action add_convert(CLI::App& app);
Action add_generate(CLI::App& app);
Action add_inspect(CLI::App& app);
Action add_tokenize(CLI::App& app);
Action add_chat_template(CLI::App& app);
Action add_bench(CLI::App& app);
Action add_perplexity(CLI::App& app);
Action add_imatrix(CLI::App& app);
Action add_chat(CLI::App& app);
Action add_serve(CLI::App& app);
Action add_list(CLI::App& app);  // corelm list / rm: the Hugging Face cache (cmd_models.cpp)
Action add_rm(CLI::App& app);
Action add_pull(CLI::App& app);  // corelm pull / run (apps/hub, built with libcurl + OpenSSL)
Action add_run(CLI::App& app);
Action add_adapter_command(CLI::App& app);  // corelm adapter add|remove|list  //
                                            // apps/serve/cmd_serve.cpp (builds with CORELM_SERVER)

// Renders `messages_json` with a chat template; errors if `template_source` is empty.
std::string render_chat(const Tokenizer& tok, const std::string& template_source,
                        const std::string& messages_json, const std::string& tools_json,
                        bool add_generation_prompt);

// Refuses text from the command line that is not UTF-8: "[cli] the prompt is not valid UTF-8
// (byte 0xff at offset 3)". Models and templates work on Unicode text.
void require_utf8(std::string_view text, std::string_view what);

// "NAME=PATH" of --adapter (kInvalidArgument otherwise).
AdapterOption parse_adapter_spec(const std::string& spec);
// Lists a package's LoRA functions (name, ranks, targets, scales, bytes), one per line; returns
// how many.
int print_functions(const PackageReader& reader);

// Writes `s` as a JSON string literal (UTF-8 kept, invalid bytes replaced).
std::string json_quote(std::string_view s);

}  // namespace corelm::cli
