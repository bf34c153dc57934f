// Reading a GGUF file for conversion: the llama config, tensors dequantized row by row (q and k
// rows put back in transformers' rotate-half order), and the tokenizer as plain data.
#include <filesystem>

#include "base/check.h"
#include "convert/conversion_input.h"
#include "gguf/ggml_types.h"
#include "gguf/gguf_model.h"

namespace corelm {

ConversionInput read_gguf_input(const ConvertOptions& o) {
  auto file = std::make_shared<gguf::GgufFile>(o.source);
  ConversionInput in;
  in.source_format = "gguf";
  in.config = gguf::model_config(*file);
  in.config.rope_interleaved = false;  // the rows are reordered below
  TokenizerData td = gguf::tokenizer_data(*file);
  in.tokenizer = tokenizer_from_data(td);
  in.tokenizer_blobs.push_back({"tokenizer_data.json", td.to_json().dump()});
  in.chat_template = td.chat_template;
  if (in.config.bos_token_id >= 0) in.generation["bos_token_id"] = in.config.bos_token_id;
  if (!in.config.eos_token_ids.empty()) in.generation["eos_token_id"] = in.config.eos_token_ids[0];
  in.model_id =
      file->get_string("general.name").value_or(std::filesystem::path(o.source).stem().string());
  for (const auto& t : file->tensors()) {
    std::string hf = gguf::hf_name(t.name);
    in.names.push_back(hf.empty() ? t.name : hf);
  }
  const ModelConfig cfg = in.config;
  in.lookup = [file, cfg](const std::string& name) -> std::optional<SourceTensor> {
    auto gname = gguf::gguf_name(name);
    const gguf::TensorInfo* t = gname ? file->find_tensor(*gname) : nullptr;
    if (!t) return std::nullopt;
    const gguf::GgmlTypeInfo* type = gguf::ggml_type_info(t->type);
    if (!type->readable)
      fail(ErrorCode::kUnsupported, "gguf", "tensor '{}' has type {}, which corelm cannot read",
           t->name, type->name);
    SourceTensor s;
    s.name = name;
    s.shape = t->dims.size() == 1 ? std::vector<uint64_t>{t->dims[0]}
                                  : std::vector<uint64_t>{t->rows(), t->cols()};
    s.type_name = type->name;
    s.quantized = type->block_elements > 1;
    const bool permuted =
        name.find("q_proj") != std::string::npos || name.find("k_proj") != std::string::npos;
    const uint64_t head_dim = static_cast<uint64_t>(cfg.head_dim), row_bytes = t->row_bytes(),
                   cols = t->cols();
    const uint32_t ty = t->type;
    const uint8_t* data = t->data;
    s.read_row = [=](uint64_t r, float* out) {
      uint64_t src = permuted ? gguf::gguf_row_of_hf_row(r, head_dim) : r;
      gguf::dequantize_ggml(ty, data + src * row_bytes, out, cols);
    };
    const size_t offset = static_cast<size_t>(data - file->file().data());
    s.release = [file, offset, row_bytes, permuted](uint64_t r0, uint64_t r1) {
      if (!permuted) file->file().drop_pages(offset + r0 * row_bytes, (r1 - r0) * row_bytes);
    };
    return s;
  };
  in.keep_alive = file;
  return in;
}

}  // namespace corelm
