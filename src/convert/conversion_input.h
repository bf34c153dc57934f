// ConversionInput: everything a package is written from, whatever the source format. The
// readers (Hugging Face folder, GGUF file) fill it; the converter writes it.
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

#include "convert/source.h"
#include "corelm/convert.h"
#include "corelm/model.h"
#include "corelm/tokenizer.h"
#include "package/writer.h"

namespace corelm {

struct ConversionInput {
  ModelConfig config;              // transformers' conventions (rope_interleaved is false)
  SourceLookup lookup;             // HF name -> tensor
  std::vector<std::string> names;  // every source tensor, by HF name
  std::vector<PlannedBlob> tokenizer_blobs;
  std::shared_ptr<Tokenizer> tokenizer;  // parsed, to validate before writing
  nlohmann::json generation = nlohmann::json::object();
  std::string chat_template;
  nlohmann::json named_templates = nlohmann::json::object();
  std::string model_id;
  std::string source_format;         // "safetensors" or "gguf"
  std::shared_ptr<void> keep_alive;  // the readers the row functions use
};

ConversionInput read_hf_folder(const ConvertOptions& options);
ConversionInput read_gguf_input(const ConvertOptions& options);

}  // namespace corelm
