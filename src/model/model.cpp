// Model: assembling a ModelSource (a package or a GGUF file) into validated weights, tokenizer
// and metadata. Written once for every format.
#include <cstdio>
#include <filesystem>

#include "base/boundary.h"
#include "base/check.h"
#include "base/log.h"
#include "base/memory_info.h"
#include "model/model_impl.h"
#include "tokenizer/tokenizer_data.h"

namespace corelm {

namespace {

constexpr const char* kComponent = "model";

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

std::unique_ptr<ModelImpl> assemble_model(std::shared_ptr<const ModelSource> source) {
  auto impl = std::make_unique<ModelImpl>();
  const SourceMetadata& m = source->metadata();
  impl->config = source->config();
  impl->weights = bind_weights(impl->config, *source);
  if (impl->weights.converted > 0)
    log_warning(
        "{} tensors of '{}' were converted at load (to q8_0/f32), costing memory and "
        "time; `corelm convert` avoids this",
        impl->weights.converted, m.path);

  impl->tokenizer = tokenizer_from_files(source->tokenizer_files(), m.path);
  if (impl->tokenizer->vocab_size() > impl->config.vocab_size)
    fail(ErrorCode::kCorrupt, kComponent, "the tokenizer has {} tokens but the model only {}",
         impl->tokenizer->vocab_size(), impl->config.vocab_size);

  ModelInfo& info = impl->info;
  info.path = m.path;
  info.format = m.format;
  info.file_bytes = m.file_bytes;
  info.source_model_id = m.model_id;
  info.quantization = m.quantization;
  const int trained = impl->config.max_position_embeddings;
  info.default_max_context =
      m.max_context > 0 && m.max_context <= trained ? m.max_context : std::min(2048, trained);
  if (!m.generation.is_null()) info.generation_config_json = m.generation.dump();
  info.chat_template =
      !m.chat_template.empty() ? m.chat_template : impl->tokenizer->chat_template();
  for (const FunctionRef& f : source->functions()) {
    const FunctionWeights& fw = impl->weights.functions[info.functions.size()];
    info.functions.push_back({f.name, fw.adapters, fw.max_rank, fw.bytes, f.info.dump()});
  }
  info.weight_bytes = impl->weights.bytes;
  info.parameter_count = impl->weights.parameters;
  impl->source = std::move(source);
  return impl;
}

std::vector<ModelTensor> model_tensors(const Model& model) {
  const ModelImpl& impl = ModelAccess::impl(model);
  const Weights& w = impl.weights;
  std::vector<ModelTensor> out;
  auto matrix = [&](const Linear& l) {
    out.push_back({l.name(),
                   dtype_name(l.dtype()),
                   layout_name(l.layout()),
                   {l.rows(), l.cols()},
                   l.bytes(),
                   l.data()});
  };
  auto vector = [&](const std::string& name, const float* v) {
    const uint64_t n = static_cast<uint64_t>(impl.config.hidden_size);
    out.push_back({name, "f32", "rows", {n}, n * 4, v});
  };
  matrix(w.embed_tokens);
  for (size_t i = 0; i < w.layers.size(); ++i) {
    const LayerWeights& l = w.layers[i];
    const std::string p = "model.layers." + std::to_string(i) + ".";
    vector(p + "input_layernorm.weight", l.input_layernorm);
    for (const Linear* x : {&l.q_proj, &l.k_proj, &l.v_proj, &l.o_proj}) matrix(*x);
    vector(p + "post_attention_layernorm.weight", l.post_attention_layernorm);
    for (const Linear* x : {&l.gate_proj, &l.up_proj, &l.down_proj}) matrix(*x);
  }
  vector("model.norm.weight", w.norm);
  if (!impl.config.tie_word_embeddings) matrix(w.lm_head);
  return out;
}

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::~Model() = default;

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
  try {
    if (options.n_threads < 0 || options.n_threads > 1024)
      fail(ErrorCode::kInvalidArgument, kComponent, "{} threads is outside [0, 1024]",
           options.n_threads);
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec))
      fail(ErrorCode::kInvalidArgument, kComponent,
           "'{}' is a folder; convert it first: corelm convert {} -o model.clm", path, path);
    auto impl = assemble_model(open_model_file(path));
    impl->load_options = options;
    check_memory(impl->info);
    return std::shared_ptr<Model>(new Model(std::move(impl)));
  } catch (...) {
    rethrow_as_error("model");
  }
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
