// HfFolderSource: a Hugging Face model folder as a ModelSource: config.json, safetensors (single
// or sharded), the tokenizer files (tokenizer.json, else tokenizer.model; tokenizer_config.json),
// generation_config.json and the chat template (chat_template.jinja when the tokenizer config
// has none). Conversion reads it; Model::load does not run folders.
#pragma once

#include <memory>
#include <string>

#include "convert/safetensors.h"
#include "source/model_source.h"

namespace corelm {

class HfFolderSource final : public ModelSource {
 public:
  explicit HfFolderSource(const std::string& dir);

  const ModelConfig& config() const override { return config_; }
  const SourceMetadata& metadata() const override { return metadata_; }
  std::vector<std::string> tensor_names() const override;
  std::optional<TensorRef> tensor(const std::string& hf_name) const override;
  const TokenizerFiles& tokenizer_files() const override { return tokenizer_; }

 private:
  std::unique_ptr<SafetensorsReader> reader_;
  ModelConfig config_;
  SourceMetadata metadata_;
  TokenizerFiles tokenizer_;
};

// The source a conversion reads: a GGUF file, a Hugging Face folder or a .clm package.
std::unique_ptr<ModelSource> open_conversion_source(const std::string& path);

}  // namespace corelm
