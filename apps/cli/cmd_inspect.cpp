// corelm inspect MODEL: metadata, tensors, sizes and bits per weight of a package.
#include <cstdio>
#include <map>

#include "base/check.h"
#include "commands.h"
#include "corelm/model.h"
#include "corelm/tokenizer.h"
#include "gguf/gguf_file.h"
#include "package/reader.h"
#include "tensor/dtype.h"

namespace corelm::cli {

namespace {

int inspect_gguf(const std::string& path, bool list_tensors) {
  gguf::GgufFile file(path);
  auto model = Model::load(path);  // validates config, weights and tokenizer
  const auto& c = model->config();
  std::printf("file:            %s (%s)\n", path.c_str(),
              format_bytes(static_cast<double>(file.file().size())).c_str());
  std::printf("format:          GGUF v%u, %zu metadata keys, %zu tensors\n", file.version(),
              file.metadata().size(), file.tensors().size());
  std::printf("model:           %s (%s)\n", model->info().source_model_id.c_str(),
              file.get_string("general.architecture").value_or("?").c_str());
  std::printf("layers:          %d, hidden %d, intermediate %d\n", c.num_hidden_layers,
              c.hidden_size, c.intermediate_size);
  std::printf("attention:       %d heads, %d KV heads, head_dim %d, rope_theta %g\n",
              c.num_attention_heads, c.num_key_value_heads, c.head_dim, c.rope_theta);
  std::printf("vocabulary:      %d (%s tokenizer, bos %d, eos %d)\n", c.vocab_size,
              file.get_string("tokenizer.ggml.model").value_or("?").c_str(),
              model->tokenizer().bos_id(), model->tokenizer().eos_id());
  std::printf("context:         %d trained\n", c.max_position_embeddings);
  std::printf("chat template:   %s\n", model->info().chat_template.empty() ? "none" : "yes");
  uint64_t params = 0, bytes = 0;
  if (list_tensors)
    std::printf("\n%-32s %-8s %-16s %12s %6s\n", "tensor", "type", "shape", "bytes", "bpw");
  for (const auto& t : file.tensors()) {
    uint64_t n = t.rows() * t.cols();
    params += n;
    bytes += t.bytes;
    if (!list_tensors) continue;
    std::string shape = t.dims.size() == 1 ? fmt::format("{}", t.dims[0])
                                           : fmt::format("{}x{}", t.rows(), t.cols());
    std::printf("%-32s %-8s %-16s %12llu %6.2f\n", t.name.c_str(), ggml_type(t.type)->ggml_name,
                shape.c_str(), static_cast<unsigned long long>(t.bytes),
                8.0 * static_cast<double>(t.bytes) / static_cast<double>(n));
  }
  std::printf("\ntotal:           %.3f M parameters, %s, %.3f bits/weight\n",
              static_cast<double>(params) / 1e6, format_bytes(static_cast<double>(bytes)).c_str(),
              8.0 * static_cast<double>(bytes) / static_cast<double>(params));
  return 0;
}

}  // namespace

Action add_inspect(CLI::App& app) {
  auto* cmd = app.add_subcommand("inspect", "Show a package's metadata and tensors");
  auto path = std::make_shared<std::string>();
  auto verify = std::make_shared<bool>(false);
  auto tensors = std::make_shared<bool>(true);
  cmd->add_option("model", *path, "Model package (.clm)")->required();
  cmd->add_flag("--verify", *verify, "Recompute every checksum");
  cmd->add_flag("--tensors,!--no-tensors", *tensors, "List tensors (default on)");
  return [=]() {
    if (gguf::is_gguf_file(*path)) return inspect_gguf(*path, *tensors);
    PackageReader reader(*path);
    auto model = Model::load(*path);  // validates weights against the config too
    const auto& info = model->info();
    const auto& c = model->config();
    const auto& h = reader.header();
    std::printf("file:            %s (%s)\n", path->c_str(),
                format_bytes(static_cast<double>(info.file_bytes)).c_str());
    std::printf("format:          corelm package v%u\n", reader.format_version());
    std::printf("source model:    %s\n", info.source_model_id.c_str());
    std::printf("architecture:    %s (%s)\n", c.architecture.c_str(), c.model_type.c_str());
    std::printf("layers:          %d, hidden %d, intermediate %d\n", c.num_hidden_layers,
                c.hidden_size, c.intermediate_size);
    std::printf(
        "attention:       %d heads, %d KV heads, head_dim %d, rope_theta %g%s\n",
        c.num_attention_heads, c.num_key_value_heads, c.head_dim, c.rope_theta,
        c.sliding_window ? fmt::format(", sliding window {}", *c.sliding_window).c_str() : "");
    std::printf("vocabulary:      %d (tokenizer %d, bos %d, eos %d)\n", c.vocab_size,
                model->tokenizer().vocab_size(), model->tokenizer().bos_id(),
                model->tokenizer().eos_id());
    std::printf("context:         %d default, %d max positions\n", info.default_max_context,
                c.max_position_embeddings);
    std::printf("quantization:    %s (%s)\n", info.quantization.c_str(),
                h.contains("quantization") ? h["quantization"].dump().c_str() : "");
    std::printf("chat template:   %s\n", info.chat_template.empty() ? "none" : "yes");
    std::map<std::string, std::pair<uint64_t, uint64_t>> by_dtype;  // params, bytes
    uint64_t params = 0, bytes = 0;
    if (*tensors)
      std::printf("\n%-48s %-6s %-14s %12s %6s\n", "tensor", "dtype", "shape", "bytes", "bpw");
    for (const auto& t : reader.tensors()) {
      params += t.elements();
      bytes += t.bytes;
      by_dtype[dtype_name(t.dtype)].first += t.elements();
      by_dtype[dtype_name(t.dtype)].second += t.bytes;
      if (*tensors) {
        std::string shape = t.shape.size() == 2 ? fmt::format("{}x{}", t.shape[0], t.shape[1])
                                                : fmt::format("{}", t.shape[0]);
        std::printf("%-48s %-6s %-14s %12llu %6.2f\n", t.name.c_str(), dtype_name(t.dtype),
                    shape.c_str(), static_cast<unsigned long long>(t.bytes),
                    8.0 * static_cast<double>(t.bytes) / static_cast<double>(t.elements()));
      }
    }
    std::printf("\ntotal:           %zu tensors, %.3f M parameters, %s, %.3f bits/weight\n",
                reader.tensors().size(), static_cast<double>(params) / 1e6,
                format_bytes(static_cast<double>(bytes)).c_str(),
                8.0 * static_cast<double>(bytes) / static_cast<double>(params));
    for (const auto& [name, pb] : by_dtype)
      std::printf("  %-6s %12.3f M parameters %12s\n", name.c_str(),
                  static_cast<double>(pb.first) / 1e6,
                  format_bytes(static_cast<double>(pb.second)).c_str());
    std::printf("\nfunctions:\n");
    print_functions(reader);
    if (*verify) {
      reader.verify_checksums();
      std::printf("checksums:       all %zu tensors and %zu blobs verified\n",
                  reader.tensors().size(), reader.blobs().size());
    }
    return 0;
  };
}

}  // namespace corelm::cli
