// Reading a Hugging Face folder for conversion: config.json, safetensors (single or sharded),
// tokenizer (tokenizer.json, else tokenizer.model), tokenizer_config.json, generation_config.json
// and the chat template.
#include <filesystem>

#include "base/check.h"
#include "base/file_util.h"
#include "convert/conversion_input.h"
#include "convert/safetensors.h"
#include "tensor/quant.h"

namespace corelm {

namespace {

constexpr const char* kComponent = "convert";
using nlohmann::json;
namespace fs = std::filesystem;

json parse_json_file(const fs::path& p) {
  try {
    return json::parse(read_file(p.string(), kComponent));
  } catch (const json::exception& e) {
    fail(ErrorCode::kCorrupt, kComponent, "'{}' is not valid JSON: {}", p.string(), e.what());
  }
}

const char* safetensors_type(DType d) {
  return d == DType::kF32 ? "F32" : d == DType::kF16 ? "F16" : "BF16";
}

}  // namespace

ConversionInput read_hf_folder(const ConvertOptions& o) {
  const fs::path dir(o.source);
  ConversionInput in;
  in.source_format = "safetensors";
  if (!fs::exists(dir / "config.json"))
    fail(ErrorCode::kNotFound, kComponent, "'{}' has no config.json", o.source);
  in.config = ModelConfig::from_hf_json(read_file((dir / "config.json").string(), kComponent));
  json raw_config = parse_json_file(dir / "config.json");

  // The tokenizer travels inside the package: tokenizer.json, else SentencePiece's tokenizer.model.
  std::string tokenizer_config;
  json tokenizer_config_json = json::object();
  if (fs::exists(dir / "tokenizer_config.json")) {
    tokenizer_config = read_file((dir / "tokenizer_config.json").string(), kComponent);
    tokenizer_config_json = parse_json_file(dir / "tokenizer_config.json");
  }
  if (fs::exists(dir / "tokenizer.json")) {
    std::string bytes = read_file((dir / "tokenizer.json").string(), kComponent);
    in.tokenizer = Tokenizer::from_hf_json(bytes, tokenizer_config);
    in.tokenizer_blobs.push_back({"tokenizer.json", std::move(bytes)});
  } else if (fs::exists(dir / "tokenizer.model")) {
    std::string bytes = read_file((dir / "tokenizer.model").string(), kComponent);
    in.tokenizer = Tokenizer::from_sentencepiece(bytes, tokenizer_config);
    in.tokenizer_blobs.push_back({"tokenizer.model", std::move(bytes)});
  } else {
    fail(
        ErrorCode::kNotFound, kComponent,
        "'{}' has no tokenizer.json (nor tokenizer.model): the package needs the model's tokenizer",
        o.source);
  }
  if (!tokenizer_config.empty())
    in.tokenizer_blobs.push_back({"tokenizer_config.json", tokenizer_config});

  if (fs::exists(dir / "generation_config.json"))
    in.generation = parse_json_file(dir / "generation_config.json");
  in.chat_template = in.tokenizer->chat_template();
  if (tokenizer_config_json.contains("chat_template") &&
      tokenizer_config_json["chat_template"].is_array())
    for (const auto& e : tokenizer_config_json["chat_template"])
      if (e.is_object() && e.contains("name") && e.contains("template"))
        in.named_templates[e["name"].get<std::string>()] = e["template"];
  if (in.chat_template.empty() && fs::exists(dir / "chat_template.jinja"))
    in.chat_template = read_file((dir / "chat_template.jinja").string(), kComponent);

  if (raw_config.contains("_name_or_path") && raw_config["_name_or_path"].is_string())
    in.model_id = raw_config["_name_or_path"].get<std::string>();

  std::shared_ptr<SafetensorsReader> reader = SafetensorsReader::open_folder(o.source);
  for (const auto& [name, t] : reader->tensors()) in.names.push_back(name);
  in.lookup = [reader](const std::string& name) -> std::optional<SourceTensor> {
    const SafetensorsTensor* t = reader->find(name);
    if (!t) return std::nullopt;
    SourceTensor s;
    s.name = name;
    s.shape = t->shape;
    s.type_name = safetensors_type(t->dtype);
    const uint64_t cols = t->shape.empty() ? 1 : t->shape.back();
    const uint64_t row_bytes = cols * dtype_traits(t->dtype).block_bytes;
    s.read_row = [t, cols, row_bytes](uint64_t r, float* out) {
      dequantize_row(t->dtype, t->data + r * row_bytes, out, cols);
    };
    s.release = [t, row_bytes](uint64_t r0, uint64_t r1) {
      t->file->drop_pages(t->file_offset + r0 * row_bytes, (r1 - r0) * row_bytes);
    };
    return s;
  };
  in.keep_alive = reader;
  return in;
}

}  // namespace corelm
