// Weights: views into a loaded file (package or GGUF mapping) for every tensor the forward pass
// reads, checked against the ModelConfig once at load. Views live as long as the file mapping.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "corelm/model.h"
#include "tensor/ops.h"

namespace corelm {

// A tensor as a loader presents it: HF name, dtype, shape ([rows, cols] or [n]) and bytes.
struct TensorRef {
  std::string name;
  DType dtype;
  std::vector<uint64_t> shape;
  const uint8_t* data = nullptr;
  uint64_t bytes = 0;
  Layout layout = Layout::kRows;
  bool file_backed = false;  // `data` points into a read-only file mapping
};

struct LayerWeights {
  const float* input_layernorm;           // [hidden]
  WeightView q_proj;                      // [heads * head_dim, hidden]
  WeightView k_proj;                      // [kv_heads * head_dim, hidden]
  WeightView v_proj;                      // [kv_heads * head_dim, hidden]
  WeightView o_proj;                      // [hidden, heads * head_dim]
  const float* post_attention_layernorm;  // [hidden]
  WeightView gate_proj;                   // [intermediate, hidden]
  WeightView up_proj;                     // [intermediate, hidden]
  WeightView down_proj;                   // [hidden, intermediate]
};

struct Weights {
  WeightView embed_tokens;  // [vocab, hidden]
  std::vector<LayerWeights> layers;
  const float* norm;   // [hidden]
  WeightView lm_head;  // [vocab, hidden]; the embedding table when tied
  uint64_t bytes = 0;  // all weight bytes
  uint64_t parameters = 0;
};

using TensorLookup = std::function<std::optional<TensorRef>(const std::string& name)>;

// Binds every tensor by its Hugging Face name; throws Error (kCorrupt) naming a missing tensor
// or one whose shape or dtype does not fit the config.
Weights bind_weights(const ModelConfig& config, const TensorLookup& lookup);

// The HF tensors of a Llama/Mistral model and their shapes ([rows, cols] or [n]), in the order
// converters write them.
struct ExpectedTensor {
  std::string name;
  std::vector<uint64_t> shape;
};
std::vector<ExpectedTensor> expected_tensors(const ModelConfig& config, bool with_lm_head);

}  // namespace corelm
