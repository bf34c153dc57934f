// convert_model: Hugging Face folder -> .clm package, one tensor at a time. Source tensors are
// read through mmap in chunks of rows; each chunk is converted in parallel, written, and its
// source pages are dropped, so resident memory stays near one chunk regardless of model size.
#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>

#include "base/check.h"
#include "base/file_util.h"
#include "base/thread_pool.h"
#include "convert/safetensors.h"
#include "convert/tensor_plan.h"
#include "corelm/convert.h"
#include "corelm/tokenizer.h"
#include "package/writer.h"
#include "tensor/quant.h"

namespace corelm {

namespace {

constexpr const char* kComponent = "convert";
constexpr uint64_t kChunkBytes = 8ull << 20;  // output bytes converted per step
using nlohmann::json;
namespace fs = std::filesystem;

json parse_json_file(const fs::path& p) {
  try {
    return json::parse(read_file(p.string(), kComponent));
  } catch (const json::exception& e) {
    fail(ErrorCode::kCorrupt, kComponent, "'{}' is not valid JSON: {}", p.string(), e.what());
  }
}

// The chat template from tokenizer_config.json (a string or a list of {name, template}) or
// from chat_template.jinja. Returns the default template and fills `named` with all of them.
std::string find_chat_template(const fs::path& dir, const json& tokenizer_config, json& named) {
  named = json::object();
  std::string default_template;
  if (tokenizer_config.contains("chat_template")) {
    const json& t = tokenizer_config["chat_template"];
    if (t.is_string()) {
      default_template = t.get<std::string>();
    } else if (t.is_array()) {
      for (const auto& e : t) {
        if (!e.is_object() || !e.contains("name") || !e.contains("template")) continue;
        named[e["name"].get<std::string>()] = e["template"];
        if (e["name"] == "default") default_template = e["template"].get<std::string>();
      }
    }
  }
  if (default_template.empty() && fs::exists(dir / "chat_template.jinja"))
    default_template = read_file((dir / "chat_template.jinja").string(), kComponent);
  return default_template;
}

}  // namespace

ConvertReport convert_model(const ConvertOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  auto quant = dtype_from_name(o.quant);
  if (!quant || *quant == DType::kQ4_0 || *quant == DType::kQ8_0)
    fail(ErrorCode::kInvalidArgument, kComponent,
         "unknown --quant '{}' (choose q4s32, q8s32, f16, bf16 or f32)", o.quant);
  const fs::path dir(o.source);
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    fail(ErrorCode::kNotFound, kComponent, "'{}' is not a Hugging Face model folder", o.source);
  if (o.output.empty()) fail(ErrorCode::kInvalidArgument, kComponent, "no output path (-o OUT.clm)");
  const fs::path out_dir = fs::absolute(o.output).parent_path();
  if (!fs::is_directory(out_dir, ec))
    fail(ErrorCode::kNotFound, kComponent, "the output folder '{}' does not exist", out_dir.string());

  if (!fs::exists(dir / "config.json"))
    fail(ErrorCode::kNotFound, kComponent, "'{}' has no config.json", o.source);
  const std::string config_text = read_file((dir / "config.json").string(), kComponent);
  ModelConfig config = ModelConfig::from_hf_json(config_text);
  json raw_config = parse_json_file(dir / "config.json");

  // The tokenizer travels inside the package: tokenizer.json, else SentencePiece's tokenizer.model.
  std::string tokenizer_config;
  json tokenizer_config_json = json::object();
  if (fs::exists(dir / "tokenizer_config.json")) {
    tokenizer_config = read_file((dir / "tokenizer_config.json").string(), kComponent);
    tokenizer_config_json = parse_json_file(dir / "tokenizer_config.json");
  }
  std::string tokenizer_name, tokenizer_bytes;
  std::shared_ptr<Tokenizer> tokenizer;
  if (fs::exists(dir / "tokenizer.json")) {
    tokenizer_name = "tokenizer.json";
    tokenizer_bytes = read_file((dir / "tokenizer.json").string(), kComponent);
    tokenizer = Tokenizer::from_hf_json(tokenizer_bytes, tokenizer_config);
  } else if (fs::exists(dir / "tokenizer.model")) {
    tokenizer_name = "tokenizer.model";
    tokenizer_bytes = read_file((dir / "tokenizer.model").string(), kComponent);
    tokenizer = Tokenizer::from_sentencepiece(tokenizer_bytes, tokenizer_config);
  } else {
    fail(ErrorCode::kNotFound, kComponent,
         "'{}' has no tokenizer.json (nor tokenizer.model): the package needs the model's tokenizer", o.source);
  }
  if (tokenizer->vocab_size() > config.vocab_size)
    fail(ErrorCode::kCorrupt, kComponent, "the tokenizer has {} tokens but config.json's vocab_size is {}",
         tokenizer->vocab_size(), config.vocab_size);

  auto source = SafetensorsReader::open_folder(o.source);
  TensorPlan plan = make_tensor_plan(config, *source, *quant, o.quantize_embeddings);

  json generation = json::object();
  if (fs::exists(dir / "generation_config.json")) generation = parse_json_file(dir / "generation_config.json");
  json named_templates;
  std::string chat_template = find_chat_template(dir, tokenizer_config_json, named_templates);

  std::string model_id = o.model_id;
  if (model_id.empty() && raw_config.contains("_name_or_path") && raw_config["_name_or_path"].is_string())
    model_id = raw_config["_name_or_path"].get<std::string>();
  if (model_id.empty()) model_id = fs::absolute(dir).lexically_normal().filename().string();
  if (model_id.empty()) model_id = fs::absolute(dir).lexically_normal().parent_path().filename().string();

  int max_context = o.max_context > 0 ? o.max_context : std::min(2048, config.max_position_embeddings);
  if (max_context > config.max_position_embeddings)
    fail(ErrorCode::kOutOfRange, kComponent, "--max-context {} exceeds the model's {} positions",
         max_context, config.max_position_embeddings);

  json meta;
  meta["source"] = {{"co.huggingface.exporters.name", model_id},
                    {"format", "safetensors"},
                    {"converter", "corelm convert"}};
  meta["config"] = json::parse(config.to_hf_json());
  meta["quantization"] = {{"default", dtype_name(*quant)},
                          {"mode", "linear_symmetric"},
                          {"block_size", 32},
                          {"embeddings", dtype_name(plan.entries.front().dtype)}};
  meta["max_context"] = max_context;
  meta["generation"] = generation;
  meta["chat_template"] = chat_template.empty() ? json(nullptr) : json(chat_template);
  if (!named_templates.empty()) meta["chat_templates"] = named_templates;
  meta["functions"] = json::array({{{"name", "main"}, {"adapters", json::array()}}});

  std::vector<PlannedTensor> planned;
  for (const auto& e : plan.entries) planned.push_back({e.name, e.dtype, e.shape});
  std::vector<PlannedBlob> blobs{{tokenizer_name, tokenizer_bytes}};
  if (!tokenizer_config.empty()) blobs.push_back({"tokenizer_config.json", tokenizer_config});
  PackageWriter writer(o.output, meta, planned, blobs);

  ThreadPool pool(o.n_threads);
  std::vector<std::vector<float>> rows(static_cast<size_t>(pool.size()));
  std::vector<uint8_t> chunk;
  uint64_t done = 0, params = 0, weight_bytes = 0;
  for (size_t i = 0; i < plan.entries.size(); ++i) {
    const PlanEntry& e = plan.entries[i];
    const uint64_t n_rows = e.shape.size() == 2 ? e.shape[0] : 1, cols = e.shape.back();
    const uint64_t out_row = dtype_row_bytes(e.dtype, cols);
    const uint64_t in_row = cols * dtype_traits(e.source->dtype).block_bytes;
    const uint64_t rows_per_chunk = std::max<uint64_t>(1, kChunkBytes / std::max<uint64_t>(out_row, 1));
    if (o.on_progress)
      o.on_progress({i, plan.entries.size(), e.name, done, writer.total_bytes(), elapsed()});
    for (uint64_t r0 = 0; r0 < n_rows; r0 += rows_per_chunk) {
      const uint64_t r1 = std::min(n_rows, r0 + rows_per_chunk);
      chunk.resize((r1 - r0) * out_row);
      pool.run([&](int thread, int n_threads) {
        auto& row = rows[static_cast<size_t>(thread)];
        row.resize(cols);
        for (uint64_t r = r0 + static_cast<uint64_t>(thread); r < r1; r += static_cast<uint64_t>(n_threads)) {
          dequantize_row(e.source->dtype, e.source->data + r * in_row, row.data(), cols);
          quantize_row(e.dtype, row.data(), chunk.data() + (r - r0) * out_row, cols);
        }
      });
      writer.write(chunk.data(), chunk.size());
      e.source->file->drop_pages(e.source->file_offset + r0 * in_row, (r1 - r0) * in_row);
    }
    writer.end_tensor();
    done += n_rows * out_row;
    params += n_rows * cols;
    weight_bytes += n_rows * out_row;
  }
  if (o.on_progress)
    o.on_progress({plan.entries.size(), plan.entries.size(), "", done, writer.total_bytes(), elapsed()});
  writer.commit();

  ConvertReport report;
  report.output = o.output;
  report.file_bytes = writer.total_bytes();
  report.parameters = params;
  report.bits_per_weight = params ? 8.0 * static_cast<double>(weight_bytes) / static_cast<double>(params) : 0.0;
  report.seconds = elapsed();
  report.tensors = plan.entries.size();
  report.notes = plan.notes;
  return report;
}

}  // namespace corelm
