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
#include "kernels/isa.h"

namespace corelm::cli {

namespace {
struct GenerateArgs {
  std::string prompt, model;
  int max_length = 256;
  int max_new_tokens = -1;
  int max_context = 0;
  float temperature = 0.0f, top_p = 1.0f, min_p = 0.0f, repetition_penalty = 1.0f;
  int top_k = 0;
  int64_t seed = -1;
  std::vector<std::string> stop;
  bool ignore_eos = false, json = false, verbose = false;
  int threads = 0;
  std::string kv_cache = "f16";
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
  cmd->add_option("model", a->model, "Model package (.clm)")->required();
  cmd->add_option("--max-length", a->max_length,
                  "Total tokens, prompt included (0: until EOS or the context is full)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--max-new-tokens", a->max_new_tokens,
                  "Generated tokens at most (default: no limit beyond --max-length)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--max-context", a->max_context,
                  "KV cache length in tokens (default: the package's)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--temperature", a->temperature, "0 = greedy (default)")->capture_default_str();
  cmd->add_option("--top-k", a->top_k, "Keep the K most likely tokens (0 = off)");
  cmd->add_option("--top-p", a->top_p, "Nucleus sampling mass (1 = off)");
  cmd->add_option("--min-p", a->min_p, "Drop tokens below MIN_P x the top probability (0 = off)");
  cmd->add_option("--repetition-penalty", a->repetition_penalty,
                  "Penalty on tokens already in the context (1 = off)");
  cmd->add_option("--seed", a->seed, "Random seed (default: random)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--stop", a->stop, "Stop when this text appears (repeatable)");
  cmd->add_flag("--ignore-eos", a->ignore_eos, "Keep going past end-of-sequence tokens");
  cmd->add_option("-t,--threads", a->threads, "Threads (default: physical cores)");
  cmd->add_option("--kv-cache", a->kv_cache, "KV cache format: f16 (default), q8, f32")
      ->capture_default_str();
  cmd->add_flag("--json", a->json, "Print one JSON line with ids, text and speeds");
  cmd->add_flag("-v,--verbose", a->verbose, "Print the kernel table (ISA) in use to stderr");
  cmd->add_flag("--chat", a->chat, "Wrap PROMPT as a user message in the model's chat template");
  cmd->add_option("--system", a->system, "System message (with --chat)");
  cmd->add_option("--template", a->template_file,
                  "Chat template file (with --chat; default: the model's)");
  return [a]() {
    require_utf8(a->prompt, "the prompt");
    require_utf8(a->system, "--system");
    for (const auto& s : a->stop) require_utf8(s, "--stop");
    auto kv = kv_cache_type_from_name(a->kv_cache);
    if (!kv)
      fail(ErrorCode::kInvalidArgument, "cli", "unknown --kv-cache '{}' (f16, q8 or f32)",
           a->kv_cache);
    LoadOptions lo;
    lo.n_threads = a->threads;
    auto model = Model::load(a->model, lo);
    const int trained = model->config().max_position_embeddings;
    if (trained > 0 && a->max_context > trained)
      std::fprintf(stderr,
                   "warning: --max-context %d is beyond the %d positions the model was trained "
                   "for; quality may drop past them\n",
                   a->max_context, trained);
    SessionOptions so;
    so.max_context = a->max_context;
    so.kv_cache = *kv;
    Session session(model, so);
    if (a->verbose) std::fprintf(stderr, "isa: %s\n", describe_isas().c_str());
    Generator generator(session, model->tokenizer());
    GenerateOptions go;
    go.max_length = a->max_length;
    go.max_new_tokens = a->max_new_tokens;
    go.sampling.temperature = a->temperature;
    go.sampling.top_k = a->top_k;
    go.sampling.top_p = a->top_p;
    go.sampling.min_p = a->min_p;
    go.sampling.repetition_penalty = a->repetition_penalty;
    if (a->seed >= 0) go.sampling.seed = static_cast<uint64_t>(a->seed);
    go.stop_strings = a->stop;
    go.ignore_eos = a->ignore_eos;
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
