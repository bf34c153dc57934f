// PackageSource: a .clm package as a ModelSource. Tensors are views into the mapping (the
// interleaved8 layout passes through as it is); the tokenizer's blobs and the header's
// metadata (source id, default context, generation config, chat template) are handed over, and
// the header's functions (LoRA adapters stored as tensors of the package).
#pragma once

#include <memory>
#include <string>

#include "package/reader.h"
#include "source/model_source.h"

namespace corelm {

class PackageSource final : public ModelSource {
 public:
  explicit PackageSource(const std::string& path);

  const ModelConfig& config() const override { return config_; }
  const SourceMetadata& metadata() const override { return metadata_; }
  std::vector<std::string> tensor_names() const override;
  std::optional<TensorRef> tensor(const std::string& hf_name) const override;
  const TokenizerFiles& tokenizer_files() const override { return tokenizer_; }
  const std::vector<FunctionRef>& functions() const override { return functions_; }

  const PackageReader& reader() const { return reader_; }

 private:
  void read_functions();

  PackageReader reader_;
  ModelConfig config_;
  SourceMetadata metadata_;
  TokenizerFiles tokenizer_;
  std::vector<FunctionRef> functions_;
};

}  // namespace corelm
