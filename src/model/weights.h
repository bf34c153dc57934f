// Weights: a Linear for every weight matrix the forward pass reads (and the norm vectors),
// bound by Hugging Face name from a ModelSource and checked against the ModelConfig once at
// load. Tensors are used in place from the source's mapping when their type runs directly;
// others are converted once into memory the Weights own. Views live as long as the source.
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/aligned_buffer.h"
#include "corelm/model.h"
#include "source/llama_tensors.h"
#include "source/model_source.h"
#include "tensor/linear.h"

namespace corelm {

struct LayerWeights {
  const float* input_layernorm;           // [hidden]
  Linear q_proj;                          // [heads * head_dim, hidden]
  Linear k_proj;                          // [kv_heads * head_dim, hidden]
  Linear v_proj;                          // [kv_heads * head_dim, hidden]
  Linear o_proj;                          // [hidden, heads * head_dim]
  const float* post_attention_layernorm;  // [hidden]
  Linear gate_proj;                       // [intermediate, hidden]
  Linear up_proj;                         // [intermediate, hidden]
  Linear down_proj;                       // [hidden, intermediate]
};

// The projections a LoRA adapter may target, in LayerWeights order.
enum class Projection { kQ, kK, kV, kO, kGate, kUp, kDown };
inline constexpr size_t kProjections = 7;

// One adapter: the projection's output gains scale * B (A x).
struct LoraWeights {
  Linear a;  // lora_A [rank, in_features], used where it is mapped
  // lora_B transposed, [rank, out_features] (f32, or f16 when stored so), made once at load:
  // B's rows are only rank long, so the up-projection runs as axpys over its columns.
  const void* bt = nullptr;
  DType bt_dtype = DType::kF32;
  size_t rank = 0;
  float scale = 1.0f;
};

// A function of the package (a LoRA adapter set) bound to the base weights it adapts. Its
// tensors are used in place from the package's mapping: choosing a function copies nothing.
struct FunctionWeights {
  std::string name;
  // [layer][projection]: the adapter of that matrix, or empty.
  std::vector<std::array<std::optional<LoraWeights>, kProjections>> layers;
  size_t max_rank = 0;
  uint64_t bytes = 0;  // of its A and B tensors
  size_t adapters = 0;
};

struct Weights {
  Linear embed_tokens;  // [vocab, hidden]; read a row per token
  std::vector<LayerWeights> layers;
  const float* norm;  // [hidden]
  Linear lm_head;     // [vocab, hidden]; the embedding table when tied
  // The rotary pair order of q_proj/k_proj rows, as the source stored them: false for
  // transformers' rotate-half, true for interleaved pairs. The forward pass hands it to its
  // rope op unchanged.
  bool rope_interleaved = false;
  uint64_t bytes = 0;  // all weight bytes
  uint64_t parameters = 0;
  size_t converted = 0;  // tensors converted at load (their type does not run directly)
  size_t repacked = 0;   // q4 / q8 row tensors repacked into the interleaved8 layout at load
  std::vector<std::unique_ptr<AlignedBuffer<uint8_t>>> owned;  // the converted tensors' bytes
  std::vector<FunctionWeights> functions;  // the package's functions, in stored order
  size_t max_lora_rank = 0;                // over every function
};

// Binds every tensor by its Hugging Face name, and the source's functions (LoRA adapters) to the
// matrices they adapt; throws Error (kCorrupt) naming a missing tensor or one whose shape or type
// does not fit the config, kUnsupported for a type corelm cannot read.
Weights bind_weights(const ModelConfig& config, const ModelSource& source);

}  // namespace corelm
