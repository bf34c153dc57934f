// Model: loading a package into validated weight views, tokenizer and metadata.
#include <filesystem>

#include "base/check.h"
#include "base/memory_info.h"
#include "gguf/gguf_file.h"
#include "model/model_impl.h"
#include "package/reader.h"
#include "tokenizer/tokenizer_data.h"

namespace corelm {

namespace {
constexpr const char* kComponent = "model";
}

std::unique_ptr<ModelImpl> load_package_model(const std::string& path) {
  auto reader = std::make_shared<PackageReader>(path);
  const auto& h = reader->header();
  auto impl = std::make_unique<ModelImpl>();
  if (!h.contains("config") || !h["config"].is_object())
    fail(ErrorCode::kCorrupt, "package", "'{}' header lacks the model config", path);
  impl->config = ModelConfig::from_hf_json(h["config"].dump());

  ModelInfo& info = impl->info;
  info.path = path;
  info.format = "clm";
  info.file_bytes = reader->file_bytes();
  if (h.contains("source") && h["source"].is_object())
    info.source_model_id = h["source"].value("co.huggingface.exporters.name", std::string());
  if (h.contains("quantization") && h["quantization"].is_object())
    info.quantization = h["quantization"].value("default", std::string());
  info.default_max_context = h.value("max_context", 2048);
  if (info.default_max_context <= 0 ||
      info.default_max_context > impl->config.max_position_embeddings)
    info.default_max_context = std::min(2048, impl->config.max_position_embeddings);
  if (h.contains("generation") && h["generation"].is_object())
    info.generation_config_json = h["generation"].dump();
  if (h.contains("chat_template") && h["chat_template"].is_string())
    info.chat_template = h["chat_template"].get<std::string>();

  impl->weights =
      bind_weights(impl->config, [&](const std::string& name) -> std::optional<TensorRef> {
        const PackageTensor* t = reader->find_tensor(name);
        if (!t) return std::nullopt;
        return TensorRef{t->name, t->dtype, t->shape, t->data, t->bytes, t->layout, true};
      });
  info.weight_bytes = impl->weights.bytes;
  info.parameter_count = impl->weights.parameters;
  // The embedding table is read a row per token: keep the OS from mapping its neighbours too
  // (unless it is also the output projection, which reads all of it).
  if (!impl->config.tie_word_embeddings) {
    const PackageTensor& e = reader->tensor("model.embed_tokens.weight");
    reader->file().advise_random(reader->data_offset() + e.offset, e.bytes);
  }

  auto tc = reader->blob("tokenizer_config.json");
  if (auto tj = reader->blob("tokenizer.json"))
    impl->tokenizer = Tokenizer::from_hf_json(*tj, tc ? *tc : std::string_view());
  else if (auto tm = reader->blob("tokenizer.model"))
    impl->tokenizer = Tokenizer::from_sentencepiece(*tm, tc ? *tc : std::string_view());
  else if (auto td = reader->blob("tokenizer_data.json"))
    impl->tokenizer = tokenizer_from_data(TokenizerData::from_json(nlohmann::json::parse(*td)));
  else
    fail(ErrorCode::kCorrupt, "package",
         "'{}' holds no tokenizer (tokenizer.json or tokenizer.model)", path);
  if (info.chat_template.empty()) info.chat_template = impl->tokenizer->chat_template();
  if (impl->tokenizer->vocab_size() > impl->config.vocab_size)
    fail(ErrorCode::kCorrupt, kComponent, "the tokenizer has {} tokens but the model only {}",
         impl->tokenizer->vocab_size(), impl->config.vocab_size);
  impl->storage = reader;
  return impl;
}

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::~Model() = default;

namespace {
// Every weight is read for every token, so it must fit in memory (as page cache): check before
// anything runs rather than thrash or be killed midway.
void check_memory(const ModelInfo& info) {
  const uint64_t available = available_memory_bytes();
  if (available > 0 && info.weight_bytes > available)
    fail(ErrorCode::kResourceExhausted, kComponent,
         "'{}' needs {} of memory for its weights but only {} is available", info.path,
         format_bytes(static_cast<double>(info.weight_bytes)),
         format_bytes(static_cast<double>(available)));
}
}  // namespace

Engine& ModelAccess::engine(const Model& m) {
  Model::Impl& impl = *m.impl_;
  std::call_once(impl.engine_once,
                 [&] { impl.engine = std::make_unique<Engine>(impl.load_options.n_threads); });
  return *impl.engine;
}

int Model::threads() const {
  return ModelAccess::engine(*this).threads();
}

std::shared_ptr<Model> Model::load(const std::string& path, const LoadOptions& options) {
  if (options.n_threads < 0 || options.n_threads > 1024)
    fail(ErrorCode::kInvalidArgument, kComponent, "{} threads is outside [0, 1024]",
         options.n_threads);
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    fail(ErrorCode::kInvalidArgument, kComponent,
         "'{}' is a folder; convert it first: corelm convert {} -o model.clm", path, path);
  if (gguf::is_gguf_file(path)) {
    auto impl = load_gguf_model(path);
    impl->load_options = options;
    check_memory(impl->info);
    return std::shared_ptr<Model>(new Model(std::move(impl)));
  }
  auto impl = load_package_model(path);
  impl->load_options = options;
  check_memory(impl->info);
  return std::shared_ptr<Model>(new Model(std::move(impl)));
}

const ModelConfig& Model::config() const {
  return impl_->config;
}
const ModelInfo& Model::info() const {
  return impl_->info;
}
const Tokenizer& Model::tokenizer() const {
  return *impl_->tokenizer;
}

}  // namespace corelm
