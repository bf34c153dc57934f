// corelm generate PROMPT MODEL: streams the continuation to stdout and speed to stderr, as the
// seed's Swift CLI does; --json prints one JSON line instead.
#include <cstdio>

#include <nlohmann/json.hpp>

#include "base/check.h"
#include "base/file_util.h"
#include "base/memory_info.h"
#include "commands.h"
#include "corelm/generate.h"
#include "corelm/model.h"
#include "corelm/tokenizer.h"
#include "generation_flags.h"
#include "kernels/isa.h"

namespace corelm::cli {

namespace {
struct GenerateArgs {
  std::string prompt;
  int max_length = 256;
  GenerationFlags flags;
  bool json = false;
  bool chat = false;
  std::string system, template_file;
};

std::string ids_json(const std::vector<int32_t>& ids) {
  std::string s = "[";
  for (size_t i = 0; i < ids.size(); ++i) s += (i ? ", " : "") + std::to_string(ids[i]);
  return s + "]";
}
}  // namespace

Action add_generate(CLI::App& app) {
  auto* cmd = app.add_subcommand("generate", "Generate a continuation of PROMPT with MODEL");
  auto a = std::make_shared<GenerateArgs>();
  cmd->add_option("prompt", a->prompt, "Prompt text")->required();
  cmd->add_option("model", a->flags.model,
                  "Model package (.clm), GGUF file or pulled model id ORG/NAME[@REV]")
      ->required();
  cmd->add_option("--max-length", a->max_length,
                  "Total tokens, prompt included (0: until EOS or the context is full)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  add_generation_flags(cmd, a->flags, "Print the kernel table (ISA) in use to stderr");
  cmd->add_flag("--json", a->json, "Print one JSON line with ids, text and speeds");
  cmd->add_flag("--chat", a->chat, "Wrap PROMPT as a user message in the model's chat template");
  cmd->add_option("--system", a->system, "System message (with --chat)");
  cmd->add_option("--template", a->template_file,
                  "Chat template file (with --chat; default: the model's)");
  return [a]() {
    require_utf8(a->prompt, "the prompt");
    require_utf8(a->system, "--system");
    GenerateOptions go = generate_options(a->flags);
    go.max_length = a->max_length;
    auto [model, session_ptr] = load_model_and_session(a->flags);
    Session& session = *session_ptr;
    if (a->flags.verbose) std::fprintf(stderr, "isa: %s\n", describe_isas().c_str());
    Generator generator(session, model->tokenizer());
    std::function<bool(std::string_view)> stream;
    if (!a->json)
      stream = [](std::string_view piece) {
        std::fwrite(piece.data(), 1, piece.size(), stdout);
        std::fflush(stdout);
        return true;
      };
    GenerationResult r;
    if (a->chat) {
      nlohmann::json messages = nlohmann::json::array();
      if (!a->system.empty()) messages.push_back({{"role", "system"}, {"content", a->system}});
      messages.push_back({{"role", "user"}, {"content", a->prompt}});
      const Tokenizer& tok = model->tokenizer();
      std::string source = !a->template_file.empty() ? read_file(a->template_file, "chat")
                           : !model->info().chat_template.empty() ? model->info().chat_template
                                                                  : tok.chat_template();
      std::string text = render_chat(tok, source, messages.dump(), "", true);
      r = generator.generate(tok.encode(text, false), go, stream);
    } else {
      r = generator.generate(a->prompt, go, stream);
    }
    const auto& st = r.stats;
    if (a->json) {
      std::printf(
          "{\"prompt_ids\": %s, \"ids\": %s, \"text\": %s, \"prefill_tokens_per_s\": %.3f, "
          "\"decode_tokens_per_s\": %.3f, \"stop_reason\": %s}\n",
          ids_json(r.prompt_ids).c_str(), ids_json(r.ids).c_str(), json_quote(r.text).c_str(),
          st.prefill_tokens_per_s(), st.decode_tokens_per_s(), json_quote(st.stop_reason).c_str());
    } else {
      std::printf("\n");
      std::fflush(stdout);
      std::fprintf(stderr,
                   "prefill: %zu tokens, %.2f tokens/s | decode: %zu tokens, %.2f tokens/s | stop: "
                   "%s | peak RSS %s\n",
                   st.prompt_tokens, st.prefill_tokens_per_s(), st.generated_tokens,
                   st.decode_tokens_per_s(), st.stop_reason.c_str(),
                   format_mem(static_cast<double>(peak_rss_bytes())).c_str());
    }
    return 0;
  };
}

}  // namespace corelm::cli
