#include "package/package_source.h"

#include <cmath>
#include <set>

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
  read_functions();
  if (auto td = reader_.blob("tokenizer_data.json")) {
    const nlohmann::json j =
        parse_json(*td, kComponent, fmt::format("'{}' tokenizer_data.json", path));
    tokenizer_.data = TokenizerData::from_json(j);
  }
}

// "functions": [{"name": "main", "adapters": []},
//               {"name": "sql", "rank": 16, ..., "adapters": [{"module":
//               "model.layers.0.self_attn.q_proj",
//                "scale": 2.0, "lora_A": TENSOR NAME, "lora_B": TENSOR NAME}, ...]}]
void PackageSource::read_functions() {
  const auto& h = reader_.header();
  if (!JsonReader::has(h, "functions")) return;
  const JsonReader r(kComponent, "package header");
  std::set<std::string> names;
  for (const auto& f : r.as_array(h["functions"], "field 'functions'")) {
    r.as_object(f, "a function");
    const std::string name = r.required_str(f, "name");
    if (name.empty()) fail(ErrorCode::kCorrupt, kComponent, "a function has an empty name");
    if (!names.insert(name).second)
      fail(ErrorCode::kCorrupt, kComponent, "function '{}' appears twice", name);
    const auto& adapters =
        r.as_array(r.required(f, "adapters"), fmt::format("function '{}' adapters", name));
    if (name == "main") {
      if (!adapters.empty())
        fail(ErrorCode::kCorrupt, kComponent, "function 'main' (the base model) has adapters");
      continue;
    }
    FunctionRef fn;
    fn.name = name;
    std::set<std::string> modules;
    for (const auto& a : adapters) {
      r.as_object(a, fmt::format("an adapter of function '{}'", name));
      AdapterRef ad;
      ad.module = r.required_str(a, "module");
      if (!modules.insert(ad.module).second)
        fail(ErrorCode::kCorrupt, kComponent, "function '{}' adapts '{}' twice", name, ad.module);
      const double scale = r.as_number(r.required(a, "scale"), "adapter scale");
      if (!std::isfinite(scale))
        fail(ErrorCode::kCorrupt, kComponent, "function '{}' module '{}' has scale {}", name,
             ad.module, scale);
      ad.scale = static_cast<float>(scale);
      auto matrix = [&](const char* key) {
        const std::string tensor_name = r.required_str(a, key);
        std::optional<TensorRef> t = tensor(tensor_name);
        if (!t)
          fail(ErrorCode::kCorrupt, kComponent, "function '{}' names tensor '{}', which is missing",
               name, tensor_name);
        if (t->shape.size() != 2 || !t->dtype() || t->layout != Layout::kRows)
          fail(ErrorCode::kCorrupt, kComponent,
               "function '{}' tensor '{}' must be a matrix stored in rows", name, tensor_name);
        return *t;
      };
      ad.a = matrix("lora_A");
      ad.b = matrix("lora_B");
      if (ad.a.rows() != ad.b.cols() || ad.a.rows() == 0)
        fail(ErrorCode::kCorrupt, kComponent,
             "function '{}' module '{}': lora_A has rank {} but lora_B has rank {}", name,
             ad.module, ad.a.rows(), ad.b.cols());
      fn.adapters.push_back(std::move(ad));
    }
    fn.info = f;
    fn.info.erase("name");
    fn.info.erase("adapters");
    functions_.push_back(std::move(fn));
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
