// Model::Impl: what a loaded model holds. The file mapping (package or GGUF) owns the bytes that
// `weights` points into, so it lives exactly as long as the Model.
#pragma once

#include <memory>
#include <mutex>

#include "corelm/model.h"
#include "corelm/tokenizer.h"
#include "model/engine.h"
#include "model/weights.h"

namespace corelm {

class PackageReader;

struct Model::Impl {
  ModelConfig config;
  ModelInfo info;
  std::shared_ptr<Tokenizer> tokenizer;
  std::shared_ptr<const void> storage;  // keeps the mapping alive (PackageReader, GGUF file)
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

// Loaders, one per file format; each validates everything and fills an Impl.
using ModelImpl = ModelAccess::Impl;
std::unique_ptr<ModelImpl> load_package_model(const std::string& path);
std::unique_ptr<ModelImpl> load_gguf_model(const std::string& path);

}  // namespace corelm
