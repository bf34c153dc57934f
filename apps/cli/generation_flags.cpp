#include "generation_flags.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <tuple>

#include "base/check.h"
#include "commands.h"
#include "hub_cache.h"

namespace corelm::cli {

void add_generation_flags(CLI::App* cmd, GenerationFlags& f, const std::string& verbose_help) {
  cmd->add_option("--max-new-tokens", f.max_new_tokens,
                  "Generated tokens at most (default: no limit beyond the context)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--max-context", f.max_context,
                  "KV cache length in tokens (default: the package's)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--temperature", f.temperature, "0 = greedy (default)")->capture_default_str();
  cmd->add_option("--top-k", f.top_k, "Keep the K most likely tokens (0 = off)");
  cmd->add_option("--top-p", f.top_p, "Nucleus sampling mass (1 = off)");
  cmd->add_option("--min-p", f.min_p, "Drop tokens below MIN_P x the top probability (0 = off)");
  cmd->add_option("--repetition-penalty", f.repetition_penalty,
                  "Penalty on tokens already in the context (1 = off)");
  cmd->add_option("--seed", f.seed, "Random seed (default: random)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--stop", f.stop, "Stop when this text appears (repeatable)");
  cmd->add_flag("--ignore-eos", f.ignore_eos, "Keep going past end-of-sequence tokens");
  cmd->add_option("-t,--threads", f.threads, "Threads (default: physical cores)");
  cmd->add_option("--kv-cache", f.kv_cache, "KV cache format: f16 (default), q8, f32")
      ->capture_default_str();
  cmd->add_option("--function", f.function,
                  "Run the package's function (LoRA adapter) NAME, its scale times SCALE "
                  "(NAME[:SCALE]; default: the base model)");
  cmd->add_flag("-v,--verbose", f.verbose, verbose_help);
}

std::pair<std::string, float> parse_function_flag(const std::string& text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos) return {text, 1.0f};
  const std::string name = text.substr(0, colon), scale_text = text.substr(colon + 1);
  if (name.empty())
    fail(ErrorCode::kInvalidArgument, "cli", "--function '{}': a function name comes before ':'",
         text);
  float scale = 0.0f;
  const char* end = scale_text.data() + scale_text.size();
  auto [ptr, ec] = std::from_chars(scale_text.data(), end, scale, std::chars_format::general);
  if (scale_text.empty() || ec != std::errc() || ptr != end || !std::isfinite(scale))
    fail(ErrorCode::kInvalidArgument, "cli",
         "--function '{}': the scale after ':' must be a finite decimal number", text);
  return {name, scale};
}

GenerateOptions generate_options(const GenerationFlags& f) {
  for (const auto& s : f.stop) require_utf8(s, "--stop");
  GenerateOptions go;
  go.max_new_tokens = f.max_new_tokens;
  go.sampling.temperature = f.temperature;
  go.sampling.top_k = f.top_k;
  go.sampling.top_p = f.top_p;
  go.sampling.min_p = f.min_p;
  go.sampling.repetition_penalty = f.repetition_penalty;
  if (f.seed >= 0) go.sampling.seed = static_cast<uint64_t>(f.seed);
  go.stop_strings = f.stop;
  go.ignore_eos = f.ignore_eos;
  return go;
}

LoadedModel load_model_and_session(const GenerationFlags& f) {
  auto kv = kv_cache_type_from_name(f.kv_cache);
  if (!kv)
    fail(ErrorCode::kInvalidArgument, "cli", "unknown --kv-cache '{}' (f16, q8 or f32)",
         f.kv_cache);
  LoadOptions lo;
  lo.n_threads = f.threads;
  LoadedModel m;
  m.model = Model::load(hub::resolve_model_argument(f.model), lo);
  const int trained = m.model->config().max_position_embeddings;
  if (trained > 0 && f.max_context > trained)
    std::fprintf(stderr,
                 "warning: --max-context %d is beyond the %d positions the model was trained "
                 "for; quality may drop past them\n",
                 f.max_context, trained);
  SessionOptions so;
  so.max_context = f.max_context;
  so.kv_cache = *kv;
  std::tie(so.function, so.function_scale) = parse_function_flag(f.function);
  m.session = std::make_unique<Session>(m.model, so);
  return m;
}

}  // namespace corelm::cli
