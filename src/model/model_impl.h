// Model::Impl: what a loaded model holds. The source (package or GGUF mapping) owns the bytes
// that `weights` points into, so it lives exactly as long as the Model.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "corelm/model.h"
#include "corelm/tokenizer.h"
#include "model/engine.h"
#include "model/weights.h"
#include "source/model_source.h"

namespace corelm {

struct Model::Impl {
  ModelConfig config;
  ModelInfo info;
  std::shared_ptr<Tokenizer> tokenizer;
  std::shared_ptr<const ModelSource> source;  // keeps the mapping alive
  Weights weights;

  // The engine every Session shares, started by the first one (inspecting a model starts no
  // threads).
  LoadOptions load_options;
  std::once_flag engine_once;
  std::unique_ptr<Engine> engine;
};

// What the library's own code (Sessions, the converter, the CLI's internals) reads of a Model.
struct ModelAccess {
  using Impl = Model::Impl;
  static const Impl& impl(const Model& m) { return *m.impl_; }
  static Engine& engine(const Model& m);
};

// Opens a .clm package or a GGUF file (recognised by content) as a ModelSource.
std::unique_ptr<ModelSource> open_model_file(const std::string& path);

// The model assembled from a source: weights bound, tokenizer built, metadata and default
// context filled in. The one place this is written, whatever the file format.
using ModelImpl = ModelAccess::Impl;
std::unique_ptr<ModelImpl> assemble_model(std::shared_ptr<const ModelSource> source);

// The weights `model` runs with.
inline const Weights& model_weights(const Model& model) {
  return ModelAccess::impl(model).weights;
}

// A weight tensor as the model runs it (for `corelm inspect` and `corelm bench`).
struct ModelTensor {
  std::string name;
  std::string type;             // the dtype it runs as ("q4s32", "q8_0", ...)
  std::string layout;           // "rows" or "interleaved8"
  std::vector<uint64_t> shape;  // [rows, cols] or [n]
  uint64_t bytes = 0;
  const void* data = nullptr;  // equal for tied tensors
};
// Every weight tensor of `model` as it runs, in the order converters write them (no lm_head
// when the embedding is tied).
std::vector<ModelTensor> model_tensors(const Model& model);

}  // namespace corelm
