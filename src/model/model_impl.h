// Model::Impl: what a loaded model holds. The file mapping (package or GGUF) owns the bytes that
// `weights` points into, so it lives exactly as long as the Model.
#pragma once

#include <memory>

#include "corelm/model.h"
#include "corelm/tokenizer.h"
#include "model/weights.h"

namespace corelm {

class PackageReader;

struct Model::Impl {
  ModelConfig config;
  ModelInfo info;
  std::shared_ptr<Tokenizer> tokenizer;
  std::shared_ptr<const void> storage;  // keeps the mapping alive (PackageReader, GGUF file)
  Weights weights;
};

// Loaders, one per file format; each validates everything and fills an Impl.
std::unique_ptr<Model::Impl> load_package_model(const std::string& path);
std::unique_ptr<Model::Impl> load_gguf_model(const std::string& path);

}  // namespace corelm
