#include "convert/hf_source.h"

#include <filesystem>

#include "base/check.h"
#include "base/file_util.h"
#include "base/json_access.h"
#include "gguf/gguf_source.h"
#include "package/format.h"
#include "package/package_source.h"

namespace corelm {

namespace {

constexpr const char* kComponent = "convert";
using nlohmann::json;
namespace fs = std::filesystem;

json parse_json_file(const fs::path& p) {
  return parse_json(read_file(p.string(), kComponent), kComponent, fmt::format("'{}'", p.string()));
}

}  // namespace

HfFolderSource::HfFolderSource(const std::string& path) {
  const fs::path dir(path);
  SourceMetadata& m = metadata_;
  m.path = path;
  m.format = "safetensors";
  if (!fs::exists(dir / "config.json"))
    fail(ErrorCode::kNotFound, kComponent, "'{}' has no config.json", path);
  config_ = ModelConfig::from_hf_json(read_file((dir / "config.json").string(), kComponent));
  const json raw_config = parse_json_file(dir / "config.json");
  m.model_id = JsonReader(kComponent, "config.json").str(raw_config, "_name_or_path", "");

  // The tokenizer travels inside the package: tokenizer.json, else SentencePiece's tokenizer.model.
  if (fs::exists(dir / "tokenizer_config.json")) {
    tokenizer_.tokenizer_config = read_file((dir / "tokenizer_config.json").string(), kComponent);
    const json tc = parse_json_file(dir / "tokenizer_config.json");
    // chat_template is a string, or a list of {name, template} (named templates: tool_use, ...).
    const JsonReader r(kComponent, "tokenizer_config.json");
    if (JsonReader::has(tc, "chat_template") && tc["chat_template"].is_array()) {
      const json& list = tc["chat_template"];
      for (size_t i = 0; i < list.size(); ++i) {
        const std::string what = fmt::format("chat_template[{}]", i);
        r.as_object(list[i], what);
        m.named_templates[r.required_str(list[i], "name")] = r.required_str(list[i], "template");
      }
    }
  }
  if (fs::exists(dir / "tokenizer.json"))
    tokenizer_.tokenizer_json = read_file((dir / "tokenizer.json").string(), kComponent);
  else if (fs::exists(dir / "tokenizer.model"))
    tokenizer_.tokenizer_model = read_file((dir / "tokenizer.model").string(), kComponent);
  else
    fail(
        ErrorCode::kNotFound, kComponent,
        "'{}' has no tokenizer.json (nor tokenizer.model): the package needs the model's tokenizer",
        path);
  if (fs::exists(dir / "generation_config.json"))
    m.generation = parse_json_file(dir / "generation_config.json");
  // Used when the tokenizer config has no template.
  if (fs::exists(dir / "chat_template.jinja"))
    m.chat_template = read_file((dir / "chat_template.jinja").string(), kComponent);

  reader_ = SafetensorsReader::open_folder(path);
}

std::vector<std::string> HfFolderSource::tensor_names() const {
  std::vector<std::string> names;
  for (const auto& [name, t] : reader_->tensors()) names.push_back(name);
  return names;
}

std::optional<TensorRef> HfFolderSource::tensor(const std::string& hf_name) const {
  const SafetensorsTensor* t = reader_->find(hf_name);
  if (!t) return std::nullopt;
  TensorRef r;
  r.name = hf_name;
  r.type = &dtype_traits(t->dtype);
  r.shape = t->shape;
  if (r.shape.empty()) r.shape = {1};
  r.data = t->data;
  r.bytes = t->bytes;
  r.file = t->file;
  r.file_offset = t->file_offset;
  return r;
}

std::unique_ptr<ModelSource> open_conversion_source(const std::string& path) {
  std::error_code ec;
  if (gguf::is_gguf_file(path)) return std::make_unique<GgufSource>(path);
  if (fs::is_directory(path, ec)) return std::make_unique<HfFolderSource>(path);
  // A package converts again (another --quant; its functions are copied as they are).
  if (read_file_head(path, sizeof(package::kMagic)) ==
      std::string(package::kMagic, sizeof(package::kMagic)))
    return std::make_unique<PackageSource>(path);
  fail(ErrorCode::kNotFound, kComponent,
       "'{}' is not a Hugging Face model folder, a GGUF file or a .clm package", path);
}

}  // namespace corelm
