#include "package/package_source.h"

#include "base/check.h"

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
  if (h.contains("source") && h["source"].is_object())
    m.model_id = h["source"].value("co.huggingface.exporters.name", std::string());
  if (h.contains("quantization") && h["quantization"].is_object())
    m.quantization = h["quantization"].value("default", std::string());
  if (auto it = h.find("max_context"); it != h.end() && it->is_number_integer())
    m.max_context = std::max<int64_t>(0, std::min<int64_t>(it->get<int64_t>(), 1 << 30));
  if (h.contains("generation") && h["generation"].is_object()) m.generation = h["generation"];
  if (h.contains("chat_template") && h["chat_template"].is_string())
    m.chat_template = h["chat_template"].get<std::string>();
  if (h.contains("chat_templates") && h["chat_templates"].is_object())
    m.named_templates = h["chat_templates"];

  auto blob = [&](const char* name) -> std::optional<std::string> {
    if (auto b = reader_.blob(name)) return std::string(*b);
    return std::nullopt;
  };
  tokenizer_.tokenizer_json = blob("tokenizer.json");
  tokenizer_.tokenizer_model = blob("tokenizer.model");
  tokenizer_.tokenizer_config = blob("tokenizer_config.json");
  if (auto td = reader_.blob("tokenizer_data.json")) {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(*td);
    } catch (const nlohmann::json::exception& e) {
      fail(ErrorCode::kCorrupt, kComponent, "'{}' tokenizer_data.json is not valid JSON: {}", path,
           e.what());
    }
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
