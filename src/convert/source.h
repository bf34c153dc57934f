// SourceTensor: one input tensor of a conversion, whatever file it comes from (safetensors
// shards, GGUF), read row by row as floats. The row reader may reorder rows (GGUF's q/k
// permutation is undone there) or dequantize (GGUF K-quants).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace corelm {

struct SourceTensor {
  std::string name;             // Hugging Face name
  std::vector<uint64_t> shape;  // [rows, cols] or [n], transformers' orientation
  std::string type_name;        // as the source file names it ("F32", "BF16", "Q4_K", ...)
  bool quantized = false;       // the source values are already quantized
  std::function<void(uint64_t row, float* out)> read_row;
  std::function<void(uint64_t first_row, uint64_t end_row)> release;  // done with these rows
};

using SourceLookup = std::function<std::optional<SourceTensor>(const std::string& hf_name)>;

}  // namespace corelm
