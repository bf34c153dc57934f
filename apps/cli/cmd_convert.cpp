// corelm convert SRC -o OUT.clm [--quant ...]: Hugging Face folder to package, with a progress
// bar on a terminal.
#include <unistd.h>

#include <fmt/ranges.h>

#include <cstdio>

#include "base/check.h"
#include "base/memory_info.h"
#include "commands.h"
#include "corelm/convert.h"

namespace corelm::cli {

namespace {

std::string clock_text(double s) {
  int t = static_cast<int>(s + 0.5);
  return fmt::format("{:02d}:{:02d}", t / 60, t % 60);
}

void draw_progress(const ConvertProgress& p) {
  const double frac =
      p.bytes_total ? static_cast<double>(p.bytes_done) / static_cast<double>(p.bytes_total) : 0.0;
  const int width = 28, filled = static_cast<int>(frac * width);
  std::string bar(static_cast<size_t>(filled), '#');
  bar.resize(width, '.');
  std::string eta = frac > 0.02 ? clock_text(p.seconds / frac - p.seconds) : "--:--";
  std::string name = p.tensor_name.size() > 40
                         ? "…" + p.tensor_name.substr(p.tensor_name.size() - 39)
                         : p.tensor_name;
  std::fprintf(stderr, "\r[%s] %3d%% %s/%s %s ETA %s %-40s", bar.c_str(),
               static_cast<int>(frac * 100),
               format_bytes(static_cast<double>(p.bytes_done)).c_str(),
               format_bytes(static_cast<double>(p.bytes_total)).c_str(),
               clock_text(p.seconds).c_str(), eta.c_str(), name.c_str());
  std::fflush(stderr);
}

}  // namespace

Action add_convert(CLI::App& app) {
  auto* cmd =
      app.add_subcommand("convert", "Convert a Hugging Face model folder into a .clm package");
  auto o = std::make_shared<ConvertOptions>();
  auto quiet = std::make_shared<bool>(false);
  cmd->add_option(
         "source", o->source,
         "Hugging Face model folder (config.json, *.safetensors, tokenizer.json), a GGUF file or a "
         ".clm package")
      ->required();
  cmd->add_option("-o,--output", o->output, "Output package path (.clm)")->required();
  const std::vector<std::string> formats = convert_quant_names();
  cmd->add_option(
      "--quant", o->quant,
      fmt::format("Weight format: {} (default {})", fmt::join(formats, ", "), o->quant));
  cmd->add_option("--group-size", o->group_size,
                  "lut3/lut4/lut6: output rows sharing one table of 8/16/64 entries (8, 16 or 32; "
                  "default 16)");
  cmd->add_option("--imatrix", o->imatrix,
                  "Importance matrix of `corelm imatrix`: weights q4s32/q8s32 rounding and the lut "
                  "k-means by the activations");
  cmd->add_flag("--quantize-embeddings", o->quantize_embeddings,
                "Store the embedding table in --quant too (default f16)");
  cmd->add_option("--max-context", o->max_context,
                  "Default context length stored in the package (default min(2048, model))")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--model-id", o->model_id, "Source model id recorded in the package");
  cmd->add_option("-t,--threads", o->n_threads, "Threads (default: physical cores)");
  cmd->add_flag("-q,--quiet", *quiet, "No progress bar");
  auto adapters = std::make_shared<std::vector<std::string>>();
  cmd->add_option("--adapter", *adapters,
                  "NAME=PATH: store a LoRA adapter (PEFT folder or LoRA .gguf) as function NAME "
                  "(repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("--merge-adapter", o->merge_adapter,
                  "Fold the --adapter of this name into the weights instead of storing it");
  cmd->add_option("--adapter-dtype", o->adapter_dtype,
                  "Stored adapters: f16 (default), q8s32 or f32");
  return [o, quiet, adapters]() {
    ConvertOptions opts = *o;
    for (const auto& spec : *adapters) opts.adapters.push_back(parse_adapter_spec(spec));
    const bool tty = !*quiet && isatty(STDERR_FILENO);
    if (tty) opts.on_progress = draw_progress;
    ConvertReport r = convert_model(opts);
    if (tty) std::fprintf(stderr, "\n");
    for (const auto& note : r.notes) std::fprintf(stderr, "note: %s\n", note.c_str());
    std::fprintf(stderr, "wrote %s: %zu tensors, %.2f M parameters, %s, %.2f bits/weight, %.1f s\n",
                 r.output.c_str(), r.tensors, static_cast<double>(r.parameters) / 1e6,
                 format_bytes(static_cast<double>(r.file_bytes)).c_str(), r.bits_per_weight,
                 r.seconds);
    std::fprintf(stderr, "peak RSS: %s\n",
                 format_mem(static_cast<double>(peak_rss_bytes())).c_str());
    std::fprintf(stderr, "added error: %.3f%% RMS of the %s weights (worst: %.3f%% in %s)\n",
                 100.0 * r.relative_rms_error, r.source_format.c_str(),
                 100.0 * r.worst_relative_rms_error,
                 r.worst_tensor.empty() ? "-" : r.worst_tensor.c_str());
    return 0;
  };
}

}  // namespace corelm::cli
