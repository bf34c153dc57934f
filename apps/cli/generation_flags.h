// The flags `corelm generate` and `corelm chat` share: sampling, stop strings, the KV cache and
// threads. Each command registers them on its subcommand and turns them into library options.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "corelm/generate.h"
#include "corelm/model.h"

namespace corelm::cli {

struct GenerationFlags {
  std::string model;
  int max_new_tokens = -1;
  int max_context = 0;
  float temperature = 0.0f, top_p = 1.0f, min_p = 0.0f, repetition_penalty = 1.0f;
  int top_k = 0;
  int64_t seed = -1;
  std::vector<std::string> stop;
  bool ignore_eos = false, verbose = false;
  int threads = 0;
  std::string kv_cache = "f16";
  std::string function;  // NAME or NAME:SCALE (a LoRA function of the package)
};

// "NAME" or "NAME:SCALE" -> (name, scale); "" -> the base model. Throws Error on a bad scale.
std::pair<std::string, float> parse_function_flag(const std::string& text);

// Registers --max-new-tokens, --max-context, the sampling flags, --stop, --ignore-eos,
// -t/--threads, --kv-cache, --function and -v/--verbose (`verbose_help` says what it prints).
void add_generation_flags(CLI::App* cmd, GenerationFlags& f, const std::string& verbose_help);

// Checks the flags' text (UTF-8) and values; fills everything but max_length.
GenerateOptions generate_options(const GenerationFlags& f);

// Loads the model (-t) and opens a Session with --max-context, --kv-cache and --function,
// warning on stderr when the context goes beyond the positions the model was trained for.
struct LoadedModel {
  std::shared_ptr<Model> model;
  std::unique_ptr<Session> session;
};
LoadedModel load_model_and_session(const GenerationFlags& f);

}  // namespace corelm::cli
