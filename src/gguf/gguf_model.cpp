// Loading a GGUF file as a Model: F32/F16/BF16/Q8_0/Q4_0 tensors are used in place from the
// mapping; K-quants and Q4_1/Q5_x are dequantized once at load into q8_0 copies (noted on
// stderr), as are non-f32 norm vectors.
#include "gguf/gguf_model.h"

#include <cstdio>
#include <filesystem>
#include <regex>

#include "base/aligned_buffer.h"
#include "base/check.h"
#include "gguf/ggml_types.h"
#include "model/model_impl.h"
#include "tensor/quant.h"

namespace corelm {

namespace gguf {

namespace {
constexpr const char* kComponent = "gguf";

const std::pair<const char*, const char*> kLayerNames[] = {
    {"input_layernorm.weight", "attn_norm.weight"},
    {"self_attn.q_proj.weight", "attn_q.weight"},
    {"self_attn.k_proj.weight", "attn_k.weight"},
    {"self_attn.v_proj.weight", "attn_v.weight"},
    {"self_attn.o_proj.weight", "attn_output.weight"},
    {"post_attention_layernorm.weight", "ffn_norm.weight"},
    {"mlp.gate_proj.weight", "ffn_gate.weight"},
    {"mlp.up_proj.weight", "ffn_up.weight"},
    {"mlp.down_proj.weight", "ffn_down.weight"},
};

int64_t required_int(const GgufFile& g, const std::string& key) {
  auto v = g.get_int(key);
  if (!v) fail(ErrorCode::kCorrupt, kComponent, "'{}' lacks '{}'", g.file().path(), key);
  if (*v <= 0 || *v > (1ll << 31))
    fail(ErrorCode::kCorrupt, kComponent, "'{}' has {} = {}", g.file().path(), key, *v);
  return *v;
}
}  // namespace

std::optional<std::string> gguf_name(const std::string& hf) {
  if (hf == "model.embed_tokens.weight") return "token_embd.weight";
  if (hf == "model.norm.weight") return "output_norm.weight";
  if (hf == "lm_head.weight") return "output.weight";
  static const std::regex layer(R"(model\.layers\.(\d+)\.(.+))");
  std::smatch m;
  if (std::regex_match(hf, m, layer))
    for (const auto& [h, g] : kLayerNames)
      if (m[2] == h) return "blk." + m[1].str() + "." + g;
  return std::nullopt;
}

std::string hf_name(const std::string& g) {
  if (g == "token_embd.weight") return "model.embed_tokens.weight";
  if (g == "output_norm.weight") return "model.norm.weight";
  if (g == "output.weight") return "lm_head.weight";
  static const std::regex layer(R"(blk\.(\d+)\.(.+))");
  std::smatch m;
  if (std::regex_match(g, m, layer))
    for (const auto& [h, gg] : kLayerNames)
      if (m[2] == gg) return "model.layers." + m[1].str() + "." + h;
  if (g == "rope_freqs.weight") return "rope_freqs.weight";
  return "";
}

uint64_t gguf_row_of_hf_row(uint64_t r, uint64_t head_dim) {
  const uint64_t head = r / head_dim, within = r % head_dim, half = head_dim / 2;
  const uint64_t j = within / half, i = within % half;  // HF row = head*hd + j*half + i
  return head * head_dim + 2 * i + j;
}

ModelConfig model_config(const GgufFile& g) {
  auto arch = g.get_string("general.architecture");
  if (!arch)
    fail(ErrorCode::kCorrupt, kComponent, "'{}' lacks general.architecture", g.file().path());
  if (*arch != "llama")
    fail(ErrorCode::kUnsupported, kComponent,
         "'{}' has architecture '{}'; corelm runs 'llama' (Llama and Mistral)", g.file().path(),
         *arch);
  ModelConfig c;
  c.architecture = "LlamaForCausalLM";
  c.model_type = "llama";
  c.hidden_size = static_cast<int>(required_int(g, "llama.embedding_length"));
  c.intermediate_size = static_cast<int>(required_int(g, "llama.feed_forward_length"));
  c.num_hidden_layers = static_cast<int>(required_int(g, "llama.block_count"));
  c.num_attention_heads = static_cast<int>(required_int(g, "llama.attention.head_count"));
  if (const Value* kv = g.find("llama.attention.head_count_kv");
      kv && kv->type == ValueType::kArray) {
    if (kv->ints.empty() ||
        std::any_of(kv->ints.begin(), kv->ints.end(), [&](int64_t x) { return x != kv->ints[0]; }))
      fail(ErrorCode::kUnsupported, kComponent, "per-layer KV head counts are not supported");
    c.num_key_value_heads = static_cast<int>(kv->ints[0]);
  } else {
    c.num_key_value_heads = static_cast<int>(
        g.get_int("llama.attention.head_count_kv").value_or(c.num_attention_heads));
  }
  c.head_dim = static_cast<int>(
      g.get_int("llama.attention.key_length").value_or(c.hidden_size / c.num_attention_heads));
  if (auto rd = g.get_int("llama.rope.dimension_count"); rd && *rd != c.head_dim)
    fail(ErrorCode::kUnsupported, kComponent,
         "partial rotary embeddings (rope dimension {} of head_dim {}) are not supported", *rd,
         c.head_dim);
  c.max_position_embeddings = static_cast<int>(g.get_int("llama.context_length").value_or(2048));
  c.rms_norm_eps =
      static_cast<float>(g.get_float("llama.attention.layer_norm_rms_epsilon").value_or(1e-5));
  c.rope_theta = static_cast<float>(g.get_float("llama.rope.freq_base").value_or(10000.0));
  if (auto type = g.get_string("llama.rope.scaling.type"); type && *type != "none") {
    if (*type != "linear")
      fail(ErrorCode::kUnsupported, kComponent, "rope scaling '{}' is not supported", *type);
    c.rope_scaling_type = "linear";
    c.rope_scaling_factor =
        static_cast<float>(g.get_float("llama.rope.scaling.factor").value_or(1.0));
  }
  const TensorInfo* embd = g.find_tensor("token_embd.weight");
  if (!embd || embd->dims.size() != 2)
    fail(ErrorCode::kCorrupt, kComponent, "'{}' lacks token_embd.weight", g.file().path());
  c.vocab_size =
      static_cast<int>(g.get_int("llama.vocab_size").value_or(static_cast<int64_t>(embd->dims[1])));
  c.tie_word_embeddings = g.find_tensor("output.weight") == nullptr;
  c.rope_interleaved = true;
  c.bos_token_id = static_cast<int>(g.get_int("tokenizer.ggml.bos_token_id").value_or(-1));
  if (auto eos = g.get_int("tokenizer.ggml.eos_token_id"))
    c.eos_token_ids.push_back(static_cast<int>(*eos));
  c.validate();
  return c;
}

TokenizerData tokenizer_data(const GgufFile& g) {
  TokenizerData d;
  auto model = g.get_string("tokenizer.ggml.model");
  if (!model)
    fail(ErrorCode::kCorrupt, "tokenizer", "'{}' has no tokenizer (tokenizer.ggml.model)",
         g.file().path());
  d.model = *model;
  auto array = [&](const char* key) -> const Value* {
    const Value* v = g.find(key);
    if (v && v->type != ValueType::kArray)
      fail(ErrorCode::kCorrupt, "tokenizer", "'{}' key '{}' is not an array", g.file().path(), key);
    return v;
  };
  if (const Value* t = array("tokenizer.ggml.tokens")) d.tokens = t->strings;
  if (const Value* s = array("tokenizer.ggml.scores"))
    for (double x : s->floats) d.scores.push_back(static_cast<float>(x));
  if (const Value* t = array("tokenizer.ggml.token_type"))
    for (int64_t x : t->ints) d.token_types.push_back(static_cast<int32_t>(x));
  if (const Value* m = array("tokenizer.ggml.merges")) d.merges = m->strings;
  auto id = [&](const char* key) {
    auto v = g.get_int(key);
    return v && *v >= 0 && *v < (1ll << 31) ? static_cast<int32_t>(*v) : -1;
  };
  d.bos_id = id("tokenizer.ggml.bos_token_id");
  d.eos_id = id("tokenizer.ggml.eos_token_id");
  d.unk_id = id("tokenizer.ggml.unknown_token_id");
  d.pad_id = id("tokenizer.ggml.padding_token_id");
  const bool llama = d.model == "llama";
  d.add_bos = g.get_bool("tokenizer.ggml.add_bos_token").value_or(llama);
  d.add_eos = g.get_bool("tokenizer.ggml.add_eos_token").value_or(false);
  d.add_space_prefix = g.get_bool("tokenizer.ggml.add_space_prefix").value_or(true);
  d.pre = g.get_string("tokenizer.ggml.pre").value_or("gpt-2");
  d.chat_template = g.get_string("tokenizer.chat_template").value_or("");
  d.validate();
  return d;
}

}  // namespace gguf

namespace {

struct GgufStorage {
  explicit GgufStorage(const std::string& path) : file(path) {}
  gguf::GgufFile file;
  std::vector<std::unique_ptr<AlignedBuffer<uint8_t>>> owned;  // tensors converted at load
};

}  // namespace

std::unique_ptr<ModelImpl> load_gguf_model(const std::string& path) {
  auto storage = std::make_shared<GgufStorage>(path);
  const gguf::GgufFile& g = storage->file;
  auto impl = std::make_unique<ModelImpl>();
  impl->config = gguf::model_config(g);
  size_t converted = 0;
  impl->weights =
      bind_weights(impl->config, [&](const std::string& name) -> std::optional<TensorRef> {
        auto gname = gguf::gguf_name(name);
        const gguf::TensorInfo* t = gname ? g.find_tensor(*gname) : nullptr;
        if (!t) return std::nullopt;
        const gguf::GgmlTypeInfo* type = gguf::ggml_type_info(t->type);
        TensorRef ref;
        ref.name = name;
        ref.shape = t->dims.size() == 1 ? std::vector<uint64_t>{t->dims[0]}
                                        : std::vector<uint64_t>{t->rows(), t->cols()};
        if (t->dims.size() > 2 && t->dims[2] != 1)
          fail(ErrorCode::kCorrupt, "gguf", "tensor '{}' has {} dimensions", t->name,
               t->dims.size());
        const bool vector = t->dims.size() == 1;
        auto direct = gguf::direct_dtype(t->type);
        if (direct && (!vector || *direct == DType::kF32)) {
          ref.dtype = *direct;
          ref.data = t->data;
          ref.bytes = t->bytes;
          ref.file_backed = true;
          return ref;
        }
        if (!type->readable)
          fail(ErrorCode::kUnsupported, "gguf", "tensor '{}' has type {}, which corelm cannot read",
               t->name, type->name);
        // Convert once: vectors to f32, matrices to q8_0 (or f16 when rows do not fill blocks).
        const uint64_t rows = t->rows(), cols = t->cols();
        ref.dtype = vector ? DType::kF32 : (cols % 32 == 0 ? DType::kQ8_0 : DType::kF16);
        const uint64_t out_row = dtype_row_bytes(ref.dtype, cols);
        auto buffer = std::make_unique<AlignedBuffer<uint8_t>>(rows * out_row);
        std::vector<float> tmp(cols);
        for (uint64_t r = 0; r < rows; ++r) {
          gguf::dequantize_ggml(t->type, t->data + r * t->row_bytes(), tmp.data(), cols);
          quantize_row(ref.dtype, tmp.data(), buffer->data() + r * out_row, cols);
        }
        ref.data = buffer->data();
        ref.bytes = rows * out_row;
        storage->owned.push_back(std::move(buffer));
        ++converted;
        return ref;
      });
  if (converted > 0)
    std::fprintf(stderr,
                 "note: %zu GGUF tensors were converted at load (to q8_0/f32); `corelm convert` "
                 "avoids this\n",
                 converted);
  impl->tokenizer = tokenizer_from_data(gguf::tokenizer_data(g));
  ModelInfo& info = impl->info;
  info.path = path;
  info.format = "gguf";
  info.file_bytes = g.file().size();
  info.source_model_id =
      g.get_string("general.name").value_or(std::filesystem::path(path).stem().string());
  if (const gguf::TensorInfo* q = g.find_tensor("blk.0.attn_q.weight"))
    info.quantization = gguf::ggml_type_info(q->type)->name;
  info.default_max_context = std::min(2048, impl->config.max_position_embeddings);
  info.chat_template = impl->tokenizer->chat_template();
  nlohmann::json gen = nlohmann::json::object();
  if (impl->config.bos_token_id >= 0) gen["bos_token_id"] = impl->config.bos_token_id;
  if (!impl->config.eos_token_ids.empty()) gen["eos_token_id"] = impl->config.eos_token_ids[0];
  info.generation_config_json = gen.dump();
  if (!impl->config.tie_word_embeddings)
    if (const gguf::TensorInfo* e = g.find_tensor("token_embd.weight"))
      g.file().advise_random(static_cast<size_t>(e->data - g.file().data()), e->bytes);
  info.weight_bytes = impl->weights.bytes;
  info.parameter_count = impl->weights.parameters;
  impl->storage = storage;
  return impl;
}

}  // namespace corelm
