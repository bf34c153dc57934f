// LoRA adapter files: a PEFT folder (adapter_config.json + adapter_model.safetensors) or a
// llama.cpp LoRA GGUF (general.type "adapter", adapter.type "lora"), read into float matrices in
// transformers' orientation and checked against the base model they are meant for. What an
// adapter holds that corelm cannot apply exactly (DoRA, bias, modules_to_save, embeddings,
// lm_head) is an Error naming the field, never silently dropped.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "source/model_source.h"

namespace corelm {

// One adapted weight matrix: W [out, in] becomes W + scale * B A.
struct LoadedModule {
  std::string module;  // Hugging Face module name, "model.layers.3.self_attn.q_proj"
  uint64_t rank = 0, in = 0, out = 0;
  std::vector<float> a;  // lora_A [rank, in]
  std::vector<float> b;  // lora_B [out, rank]
  float scale = 1.0f;    // final: alpha / r, or alpha / sqrt(r) with rsLoRA
};

struct LoadedAdapter {
  // Sorted by layer, then q, k, v, o, gate, up, down.
  std::vector<LoadedModule> modules;
  // For the package header and `corelm inspect`: rank, alpha, use_rslora, target_modules,
  // source (the adapter's path), base_model (PEFT's base_model_name_or_path, when given),
  // format ("peft" or "gguf"), fan_in_fan_out.
  nlohmann::json info = nlohmann::json::object();
};

// Reads the adapter at `path` (a PEFT folder or a .gguf file) for `base`. Throws Error with the
// component "[adapter]": kNotFound for missing files, kUnsupported for features corelm does not
// apply, kInvalidArgument for an adapter that does not fit `base` (unknown module, rank or shape
// mismatch), kCorrupt for malformed files.
LoadedAdapter read_adapter(const std::string& path, const ModelSource& base);

// The Hugging Face names of the seven projections of a Llama decoder layer, in stored order.
const std::vector<std::string>& lora_projection_names();

}  // namespace corelm
