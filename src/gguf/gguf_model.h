// What corelm reads from a GGUF file of architecture "llama" (which covers Mistral): the model
// config, the tensor name mapping to Hugging Face names, and the tokenizer.
#pragma once

#include <optional>
#include <string>

#include "corelm/model.h"
#include "gguf/gguf_file.h"
#include "tokenizer/tokenizer_data.h"

namespace corelm::gguf {

// Hyper-parameters from the llama.* keys; rope_interleaved is true (GGUF's q/k row layout).
ModelConfig model_config(const GgufFile& file);

// "model.layers.3.self_attn.q_proj.weight" -> "blk.3.attn_q.weight"; nullopt for non-llama names.
std::optional<std::string> gguf_name(const std::string& hf_name);
// The inverse, for every tensor in the file ("" for names corelm does not know).
std::string hf_name(const std::string& gguf_tensor_name);

// Tokenizer from tokenizer.ggml.* metadata (and tokenizer.chat_template).
TokenizerData tokenizer_data(const GgufFile& file);

// Row `r` of a q or k projection in transformers' rotate-half order lives at this row of the
// GGUF tensor (llama.cpp's converter interleaves each head's two halves).
uint64_t gguf_row_of_hf_row(uint64_t r, uint64_t head_dim);

}  // namespace corelm::gguf
