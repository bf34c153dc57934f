// Conversion of a Hugging Face model folder (or a GGUF file) into one .clm package, streaming one
// tensor at a time (peak memory about one tensor's output chunk plus the OS's view of the mapped
// inputs).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace corelm {

struct ConvertProgress {
  size_t tensor_index = 0;  // of the tensor being written
  size_t tensor_count = 0;
  std::string tensor_name;
  uint64_t bytes_done = 0;  // output bytes written so far
  uint64_t bytes_total = 0;
  double seconds = 0.0;  // since the start
};

// A LoRA adapter to store as a function of the package: a PEFT folder (adapter_config.json +
// adapter_model.safetensors) or a llama.cpp LoRA GGUF. `name`: [A-Za-z0-9_.-]+, not "main".
struct AdapterOption {
  std::string name;
  std::string path;
};

struct ConvertOptions {
  std::string source;                // Hugging Face folder or GGUF file
  std::string output;                // .clm path (written atomically)
  std::string quant = "q4s32";       // one of convert_quant_names()
  bool quantize_embeddings = false;  // store embed_tokens in `quant` too (else f16)
  bool interleave = true;            // q4s32 matrices in the SIMD-friendly interleaved8 layout
  int group_size = 16;   // lut4: output rows sharing one table (8, 16 or 32; docs/lut-plan.md)
  int max_context = 0;   // default context stored in the package (0: min(2048, model))
  std::string model_id;  // source model id (default: config _name_or_path or folder)
  int n_threads = 0;
  std::function<void(const ConvertProgress&)> on_progress;
  // LoRA adapters stored as named functions after the base tensors (unique names).
  std::vector<AdapterOption> adapters;
  // The name of one of `adapters` to fold into the weights before quantizing (W + s B A); it is
  // then not stored as a function. "" for none.
  std::string merge_adapter;
  std::string adapter_dtype = "f16";  // of stored adapters: "f16", "q8s32" or "f32"
  // An importance matrix of `corelm imatrix` ("" for none): q4s32 / q8s32 blocks choose their
  // scale by the weighted error, lut4's k-means weights its values by it (docs/quantization.md,
  // "Importance matrix"). Every matrix stored in `quant` needs its tensor's statistics, except
  // the embedding table (a lookup: quantized as without).
  std::string imatrix;
};

struct ConvertReport {
  std::string output;
  uint64_t file_bytes = 0;
  uint64_t parameters = 0;
  double bits_per_weight = 0.0;  // over all weight tensors
  double seconds = 0.0;
  size_t tensors = 0;
  std::vector<std::string> notes;  // e.g. tensors kept in f16 because rows do not fit blocks
  std::string source_format;       // "safetensors" or "gguf"
  // The error conversion adds to the weights, measured against the source's (dequantized)
  // values: sqrt(sum (stored - source)^2 / sum source^2), over all weights and for the worst
  // tensor.
  double relative_rms_error = 0.0;
  double worst_relative_rms_error = 0.0;
  std::string worst_tensor;
};

// The weight formats a conversion can write (ConvertOptions::quant), from the type registry.
std::vector<std::string> convert_quant_names();

// Throws Error on any problem; nothing is left at `output` unless the conversion succeeded.
ConvertReport convert_model(const ConvertOptions& options);

// Adds the adapter at `adapter_path` to the package as function `name` ("f16", "q8s32" or "f32"),
// rewriting the package atomically: every existing tensor, blob and header field is copied as
// it is (nothing is re-quantized; the base model's source is not needed). Throws Error, leaving
// the package unchanged, if the name exists or the adapter does not fit the model.
void add_adapter(const std::string& package, const std::string& name,
                 const std::string& adapter_path, const std::string& dtype = "f16");
// Removes function `name` and its tensors, atomically. Throws kNotFound if there is none.
void remove_adapter(const std::string& package, const std::string& name);

}  // namespace corelm
