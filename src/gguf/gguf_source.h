// What corelm reads from a GGUF file of architecture "llama" (which covers Mistral): the model
// config, the tensor name mapping to Hugging Face names, and the tokenizer; GgufSource hands
// them out as a ModelSource.
#pragma once

#include <optional>
#include <string>

#include "corelm/model.h"
#include "gguf/gguf_file.h"
#include "source/model_source.h"
#include "tokenizer/tokenizer_data.h"

namespace corelm {

namespace gguf {

// Hyper-parameters from the llama.* keys.
ModelConfig model_config(const GgufFile& file);

// "model.layers.3.self_attn.q_proj.weight" -> "blk.3.attn_q.weight"; nullopt for non-llama names.
std::optional<std::string> gguf_name(const std::string& hf_name);
// The inverse, for every tensor in the file ("" for names corelm does not know).
std::string hf_name(const std::string& gguf_tensor_name);

// Tokenizer from tokenizer.ggml.* metadata (and tokenizer.chat_template).
TokenizerData tokenizer_data(const GgufFile& file);

}  // namespace gguf

class GgufSource final : public ModelSource {
 public:
  explicit GgufSource(const std::string& path);

  const ModelConfig& config() const override { return config_; }
  const SourceMetadata& metadata() const override { return metadata_; }
  std::vector<std::string> tensor_names() const override;
  std::optional<TensorRef> tensor(const std::string& hf_name) const override;
  const TokenizerFiles& tokenizer_files() const override { return tokenizer_; }

  const gguf::GgufFile& file() const { return file_; }

 private:
  gguf::GgufFile file_;
  ModelConfig config_;
  SourceMetadata metadata_;
  TokenizerFiles tokenizer_;
};

}  // namespace corelm
