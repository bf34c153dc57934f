#include "source/llama_tensors.h"

#include <fmt/format.h>

#include <charconv>
#include <iterator>

namespace corelm {

namespace {

struct Names {
  LayerTensor tensor;
  const char* hf;    // after "model.layers.N."
  const char* gguf;  // after "blk.N."
};
constexpr Names kLayer[] = {
    {LayerTensor::kInputNorm, "input_layernorm.weight", "attn_norm.weight"},
    {LayerTensor::kQ, "self_attn.q_proj.weight", "attn_q.weight"},
    {LayerTensor::kK, "self_attn.k_proj.weight", "attn_k.weight"},
    {LayerTensor::kV, "self_attn.v_proj.weight", "attn_v.weight"},
    {LayerTensor::kO, "self_attn.o_proj.weight", "attn_output.weight"},
    {LayerTensor::kPostNorm, "post_attention_layernorm.weight", "ffn_norm.weight"},
    {LayerTensor::kGate, "mlp.gate_proj.weight", "ffn_gate.weight"},
    {LayerTensor::kUp, "mlp.up_proj.weight", "ffn_up.weight"},
    {LayerTensor::kDown, "mlp.down_proj.weight", "ffn_down.weight"},
};
// Whole-model tensors: HF name, GGUF name.
constexpr std::pair<const char*, const char*> kGlobal[] = {
    {"model.embed_tokens.weight", "token_embd.weight"},
    {"model.norm.weight", "output_norm.weight"},
    {"lm_head.weight", "output.weight"},
};

// Splits "<prefix><digits>.<rest>" into layer and rest.
bool split_layer(const std::string& name, std::string_view prefix, int* layer, std::string* rest) {
  if (!name.starts_with(prefix)) return false;
  const char* begin = name.data() + prefix.size();
  const char* end = name.data() + name.size();
  auto [p, ec] = std::from_chars(begin, end, *layer);
  if (ec != std::errc() || p == begin || p == end || *p != '.' || *layer < 0) return false;
  *rest = std::string(p + 1, end);
  return true;
}

}  // namespace

std::string layer_tensor_name(int layer, LayerTensor t) {
  return fmt::format("model.layers.{}.{}", layer, kLayer[static_cast<int>(t)].hf);
}

std::vector<ExpectedTensor> expected_tensors(const ModelConfig& c, bool with_lm_head) {
  const uint64_t hidden = c.hidden_size, inter = c.intermediate_size, vocab = c.vocab_size;
  const uint64_t q_dim = static_cast<uint64_t>(c.num_attention_heads) * c.head_dim;
  const uint64_t kv_dim = static_cast<uint64_t>(c.num_key_value_heads) * c.head_dim;
  auto shape = [&](LayerTensor t) -> std::vector<uint64_t> {
    switch (t) {
      case LayerTensor::kInputNorm:
      case LayerTensor::kPostNorm:
        return {hidden};
      case LayerTensor::kQ:
        return {q_dim, hidden};
      case LayerTensor::kK:
      case LayerTensor::kV:
        return {kv_dim, hidden};
      case LayerTensor::kO:
        return {hidden, q_dim};
      case LayerTensor::kGate:
      case LayerTensor::kUp:
        return {inter, hidden};
      case LayerTensor::kDown:
        return {hidden, inter};
    }
    return {};
  };
  std::vector<ExpectedTensor> t{{"model.embed_tokens.weight", {vocab, hidden}}};
  for (int i = 0; i < c.num_hidden_layers; ++i)
    for (const auto& n : kLayer) t.push_back({layer_tensor_name(i, n.tensor), shape(n.tensor)});
  t.push_back({"model.norm.weight", {hidden}});
  if (with_lm_head) t.push_back({"lm_head.weight", {vocab, hidden}});
  return t;
}

std::optional<std::string> gguf_tensor_name(const std::string& hf) {
  for (const auto& [h, g] : kGlobal)
    if (hf == h) return g;
  int layer;
  std::string rest;
  if (split_layer(hf, "model.layers.", &layer, &rest))
    for (const auto& n : kLayer)
      if (rest == n.hf) return fmt::format("blk.{}.{}", layer, n.gguf);
  return std::nullopt;
}

std::string hf_tensor_name(const std::string& g) {
  for (const auto& [h, gg] : kGlobal)
    if (g == gg) return h;
  int layer;
  std::string rest;
  if (split_layer(g, "blk.", &layer, &rest))
    for (const auto& n : kLayer)
      if (rest == n.gguf) return layer_tensor_name(layer, n.tensor);
  if (g == "rope_freqs.weight") return g;
  return "";
}

}  // namespace corelm
