#include "package/package_source.h"

#include "base/check.h"
#include "base/json_access.h"

namespace corelm {

namespace {
constexpr const char* kComponent = "package";
}  // namespace

PackageSource::PackageSource(const std::string& path) : reader_(path) {
  const auto& h = reader_.header();
  if (!h.contains("config") || !h["config"].is_object())
    fail(ErrorCode::kCorrupt, kComponent, "'{}' header lacks the model config", path);
  config_ = ModelConfig::from_hf_json(h["config"].dump());

  SourceMetadata& m = metadata_;
  m.path = path;
  m.format = "clm";
  m.file_bytes = reader_.file_bytes();
  const JsonReader r(kComponent, "package header");
  if (JsonReader::has(h, "source"))
    m.model_id =
        r.str(r.as_object(h["source"], "field 'source'"), "co.huggingface.exporters.name", "");
  if (JsonReader::has(h, "quantization"))
    m.quantization = r.str(r.as_object(h["quantization"], "field 'quantization'"), "default", "");
  m.max_context = r.integer(h, "max_context", 0, 0, 1 << 30);
  if (JsonReader::has(h, "generation"))
    m.generation = r.as_object(h["generation"], "field 'generation'");
  m.chat_template = r.str(h, "chat_template", "");
  if (JsonReader::has(h, "chat_templates")) {
    for (const auto& [name, text] :
         r.as_object(h["chat_templates"], "field 'chat_templates'").items())
      r.as_str(text, fmt::format("chat_templates['{}']", name));
    m.named_templates = h["chat_templates"];
  }

  auto blob = [&](const char* name) -> std::optional<std::string> {
    if (auto b = reader_.blob(name)) return std::string(*b);
    return std::nullopt;
  };
  tokenizer_.tokenizer_json = blob("tokenizer.json");
  tokenizer_.tokenizer_model = blob("tokenizer.model");
  tokenizer_.tokenizer_config = blob("tokenizer_config.json");
  if (auto td = reader_.blob("tokenizer_data.json")) {
    const nlohmann::json j =
        parse_json(*td, kComponent, fmt::format("'{}' tokenizer_data.json", path));
    tokenizer_.data = TokenizerData::from_json(j);
  }
}

std::vector<std::string> PackageSource::tensor_names() const {
  std::vector<std::string> names;
  for (const auto& t : reader_.tensors()) names.push_back(t.name);
  return names;
}

std::optional<TensorRef> PackageSource::tensor(const std::string& hf_name) const {
  const PackageTensor* t = reader_.find_tensor(hf_name);
  if (!t) return std::nullopt;
  TensorRef r;
  r.name = t->name;
  r.type = &dtype_traits(t->dtype);
  r.shape = t->shape;
  r.layout = t->layout;
  r.data = t->data;
  r.bytes = t->bytes;
  r.file = &reader_.file();
  r.file_offset = reader_.data_offset() + t->offset;
  return r;
}

}  // namespace corelm
