// ModelSource: a model as a file format presents it, in transformers' terms: the config, every
// tensor by its Hugging Face name (bytes in place, with the registry row of their type), the
// tokenizer's files and the metadata. Implemented by the package reader (package/), the GGUF
// reader (gguf/) and the Hugging Face folder reader (convert/). Model::load and convert_model
// both read through it, so the assembly (binding weights, the tokenizer, the default context)
// is written once, in model/ and convert/ respectively.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/mapped_file.h"
#include "corelm/model.h"
#include "tensor/dtype.h"
#include "tensor/layout.h"
#include "tokenizer/tokenizer_data.h"

namespace corelm {

// One tensor of a source.
struct TensorRef {
  std::string name;                  // Hugging Face name
  const TypeTraits* type = nullptr;  // registry row: a DType's, or a read-only type's
  std::vector<uint64_t> shape;       // [rows, cols] or [n], transformers' orientation
  Layout layout = Layout::kRows;
  const uint8_t* data = nullptr;
  uint64_t bytes = 0;
  // q/k projection rows whose rotary pairs are interleaved within each head ((x[2i], x[2i+1]),
  // as GGUF stores llama weights) rather than transformers' rotate-half order.
  bool rotary_interleaved = false;
  // The read-only file mapping `data` lies in (nullptr for memory the source owns).
  const MappedFile* file = nullptr;
  uint64_t file_offset = 0;  // of `data` in `file`

  uint64_t rows() const { return shape.size() == 2 ? shape[0] : 1; }
  uint64_t cols() const { return shape.back(); }
  uint64_t row_bytes() const { return cols() / type->block_elements * type->block_bytes; }
  // The DType when corelm runs this type directly.
  std::optional<DType> dtype() const { return type->dtype; }
};

// One LoRA adapter of a function: the weight matrix `module` (its Hugging Face name without
// ".weight", e.g. "model.layers.3.self_attn.q_proj") becomes W + scale * B * A, applied unmerged:
// y = W x + scale * B (A x).
struct AdapterRef {
  std::string module;
  TensorRef a;         // lora_A [rank, in_features]
  TensorRef b;         // lora_B [out_features, rank]
  float scale = 1.0f;  // alpha / rank, or alpha / sqrt(rank) with rsLoRA (already applied)
};

// A named function of a package (the seed's multifunction models): a set of adapters over the
// shared base weights. "main" (the base model alone) is implicit and never listed.
struct FunctionRef {
  std::string name;
  std::vector<AdapterRef> adapters;
  // What it was made from, for `corelm inspect`: rank, alpha, use_rslora, target_modules,
  // source (the adapter's path or base model), ... (the package header's object minus
  // "name" and "adapters").
  nlohmann::json info = nlohmann::json::object();
};

// Where a source came from and what it carries besides tensors.
struct SourceMetadata {
  std::string path;
  std::string format;        // "clm", "gguf" or "safetensors"
  std::string model_id;      // the seed's co.huggingface.exporters.name ("" if unknown)
  std::string quantization;  // the weights' main type ("q4s32", "Q4_K", ...; "" if unknown)
  int max_context = 0;       // the default context stored with the model (0: none)
  uint64_t file_bytes = 0;
  nlohmann::json generation;  // generation_config.json (null when the source has none)
  std::string chat_template;  // "" -> the tokenizer's
  nlohmann::json named_templates = nlohmann::json::object();
};

class ModelSource {
 public:
  virtual ~ModelSource() = default;
  // The config in transformers' conventions.
  virtual const ModelConfig& config() const = 0;
  virtual const SourceMetadata& metadata() const = 0;
  // Every tensor the source holds, by Hugging Face name (names corelm does not know verbatim).
  virtual std::vector<std::string> tensor_names() const = 0;
  // The tensor called `hf_name`, nullopt when absent. Throws Error for a malformed one.
  virtual std::optional<TensorRef> tensor(const std::string& hf_name) const = 0;
  // What the tokenizer is built from.
  virtual const TokenizerFiles& tokenizer_files() const = 0;
  // The package's functions (LoRA adapter sets) in stored order; none for other sources.
  // Validated as far as the source can (tensors present, 2-D, ranks agreeing); whether each fits
  // its base matrix is checked when the weights are bound.
  virtual const std::vector<FunctionRef>& functions() const {
    static const std::vector<FunctionRef> kNone;
    return kNone;
  }
};

// Row `hf_row` of `t` (in transformers' order) as `cols` floats: rows of a rotary-interleaved
// q/k tensor are read from where GGUF keeps them, rows of a package's interleaved8 matrix from
// their group. Requires t.type->to_float.
void read_row_as_float(const TensorRef& t, uint64_t hf_row, uint64_t head_dim, float* out);

// Row `r` of a q or k projection in transformers' rotate-half order lives at this row of a
// rotary-interleaved tensor (llama.cpp's converter interleaves each head's two halves).
uint64_t interleaved_rotary_row(uint64_t r, uint64_t head_dim);

}  // namespace corelm
