// The tensors of a Llama/Mistral decoder, named once: Hugging Face names (what packages store and
// every ModelSource hands out), GGUF's names for them, and their shapes under a config. The
// binder (model/weights.cpp), the converter's plan and the GGUF source all read this table.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "corelm/model.h"

namespace corelm {

enum class LayerTensor {
  kInputNorm,
  kQ,
  kK,
  kV,
  kO,
  kPostNorm,
  kGate,
  kUp,
  kDown,
};

// "model.layers.{layer}.self_attn.q_proj.weight" and so on.
std::string layer_tensor_name(int layer, LayerTensor t);

// The HF tensors and their shapes ([rows, cols] or [n]), in the order converters write them.
struct ExpectedTensor {
  std::string name;
  std::vector<uint64_t> shape;
};
std::vector<ExpectedTensor> expected_tensors(const ModelConfig& config, bool with_lm_head);

// "model.layers.3.self_attn.q_proj.weight" -> "blk.3.attn_q.weight"; nullopt for other names.
std::optional<std::string> gguf_tensor_name(const std::string& hf_name);
// The inverse ("" for names corelm does not know).
std::string hf_tensor_name(const std::string& gguf_name);

}  // namespace corelm
