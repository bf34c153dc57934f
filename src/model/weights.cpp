#include "model/weights.h"

#include <fmt/ranges.h>

#include "base/check.h"

namespace corelm {

namespace {
constexpr const char* kComponent = "model";

std::string layer_name(int i, const char* suffix) {
  return fmt::format("model.layers.{}.{}", i, suffix);
}
}  // namespace

std::vector<ExpectedTensor> expected_tensors(const ModelConfig& c, bool with_lm_head) {
  const uint64_t hidden = c.hidden_size, inter = c.intermediate_size, vocab = c.vocab_size;
  const uint64_t q_dim = static_cast<uint64_t>(c.num_attention_heads) * c.head_dim;
  const uint64_t kv_dim = static_cast<uint64_t>(c.num_key_value_heads) * c.head_dim;
  std::vector<ExpectedTensor> t{{"model.embed_tokens.weight", {vocab, hidden}}};
  for (int i = 0; i < c.num_hidden_layers; ++i) {
    t.push_back({layer_name(i, "input_layernorm.weight"), {hidden}});
    t.push_back({layer_name(i, "self_attn.q_proj.weight"), {q_dim, hidden}});
    t.push_back({layer_name(i, "self_attn.k_proj.weight"), {kv_dim, hidden}});
    t.push_back({layer_name(i, "self_attn.v_proj.weight"), {kv_dim, hidden}});
    t.push_back({layer_name(i, "self_attn.o_proj.weight"), {hidden, q_dim}});
    t.push_back({layer_name(i, "post_attention_layernorm.weight"), {hidden}});
    t.push_back({layer_name(i, "mlp.gate_proj.weight"), {inter, hidden}});
    t.push_back({layer_name(i, "mlp.up_proj.weight"), {inter, hidden}});
    t.push_back({layer_name(i, "mlp.down_proj.weight"), {hidden, inter}});
  }
  t.push_back({"model.norm.weight", {hidden}});
  if (with_lm_head) t.push_back({"lm_head.weight", {vocab, hidden}});
  return t;
}

Weights bind_weights(const ModelConfig& c, const TensorLookup& lookup) {
  Weights w;
  auto get = [&](const std::string& name) -> TensorRef {
    auto t = lookup(name);
    if (!t) fail(ErrorCode::kCorrupt, kComponent, "the model lacks tensor '{}'", name);
    w.bytes += t->bytes;
    uint64_t n = 1;
    for (auto d : t->shape) n *= d;
    w.parameters += n;
    return *t;
  };
  bool embed_file_backed = false;
  auto matrix = [&](const std::string& name, uint64_t rows, uint64_t cols) -> WeightView {
    TensorRef t = get(name);
    if (name == "model.embed_tokens.weight") embed_file_backed = t.file_backed;
    if (t.shape.size() != 2 || t.shape[0] != rows || t.shape[1] != cols)
      fail(ErrorCode::kCorrupt, kComponent,
           "tensor '{}' has shape [{}] but the config needs [{}, {}]", name,
           fmt::join(t.shape, ", "), rows, cols);
    WeightView v;
    v.name = name;
    v.dtype = t.dtype;
    v.layout = t.layout;
    if (!layout_fits(t.dtype, t.layout, rows, cols))
      fail(ErrorCode::kCorrupt, kComponent, "tensor '{}' cannot be stored as {} in layout {}", name,
           dtype_name(t.dtype), layout_name(t.layout));
    v.data = t.data;
    v.rows = rows;
    v.cols = cols;
    v.row_bytes = dtype_row_bytes(t.dtype, cols);
    if (!dtype_fits_row(t.dtype, cols) || v.row_bytes * rows != t.bytes)
      fail(ErrorCode::kCorrupt, kComponent, "tensor '{}' holds {} bytes, not {} rows of {} {}",
           name, t.bytes, rows, cols, dtype_name(t.dtype));
    return v;
  };
  auto vector = [&](const std::string& name, uint64_t n) -> const float* {
    TensorRef t = get(name);
    uint64_t elements = 1;
    for (auto d : t.shape) elements *= d;
    if (elements != n || t.dtype != DType::kF32 || t.bytes != n * 4)
      fail(ErrorCode::kCorrupt, kComponent, "tensor '{}' must be {} f32 values (has {} {})", name,
           n, elements, dtype_name(t.dtype));
    return reinterpret_cast<const float*>(t.data);
  };

  const uint64_t hidden = c.hidden_size, inter = c.intermediate_size;
  const uint64_t q_dim = static_cast<uint64_t>(c.num_attention_heads) * c.head_dim;
  const uint64_t kv_dim = static_cast<uint64_t>(c.num_key_value_heads) * c.head_dim;
  w.embed_tokens = matrix("model.embed_tokens.weight", c.vocab_size, hidden);
  // An untied embedding table is read a row per token: do not let it pile up in memory.
  w.embed_tokens.release_after_lookup = embed_file_backed && !c.tie_word_embeddings;
  for (int i = 0; i < c.num_hidden_layers; ++i) {
    LayerWeights l;
    l.input_layernorm = vector(layer_name(i, "input_layernorm.weight"), hidden);
    l.q_proj = matrix(layer_name(i, "self_attn.q_proj.weight"), q_dim, hidden);
    l.k_proj = matrix(layer_name(i, "self_attn.k_proj.weight"), kv_dim, hidden);
    l.v_proj = matrix(layer_name(i, "self_attn.v_proj.weight"), kv_dim, hidden);
    l.o_proj = matrix(layer_name(i, "self_attn.o_proj.weight"), hidden, q_dim);
    l.post_attention_layernorm = vector(layer_name(i, "post_attention_layernorm.weight"), hidden);
    l.gate_proj = matrix(layer_name(i, "mlp.gate_proj.weight"), inter, hidden);
    l.up_proj = matrix(layer_name(i, "mlp.up_proj.weight"), inter, hidden);
    l.down_proj = matrix(layer_name(i, "mlp.down_proj.weight"), hidden, inter);
    w.layers.push_back(std::move(l));
  }
  w.norm = vector("model.norm.weight", hidden);
  if (c.tie_word_embeddings) {
    w.lm_head = w.embed_tokens;
    if (lookup("lm_head.weight"))
      fail(ErrorCode::kCorrupt, kComponent,
           "tie_word_embeddings is true but the model also has 'lm_head.weight'");
  } else {
    w.lm_head = matrix("lm_head.weight", c.vocab_size, hidden);
  }
  return w;
}

}  // namespace corelm
