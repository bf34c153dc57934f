// ggml tensor types as GGUF files number them: names, block geometry, and which ones corelm can
// read (run directly, or dequantize for conversion). The K-quant dequantizers follow ggml's
// block definitions (super-blocks of 256 weights) and are tested on hand-built blocks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "tensor/dtype.h"

namespace corelm::gguf {

struct GgmlTypeInfo {
  uint32_t id;
  const char* name;
  uint32_t block_elements;
  uint32_t block_bytes;
  bool readable;  // corelm can dequantize it
};

// nullptr for an id ggml does not define.
const GgmlTypeInfo* ggml_type_info(uint32_t id);

// The DType a tensor of this type runs as without conversion (F32, F16, BF16, Q4_0, Q8_0).
std::optional<DType> direct_dtype(uint32_t id);

// Dequantizes `n` elements (a multiple of the block size) of a readable type into floats.
void dequantize_ggml(uint32_t type, const uint8_t* in, float* out, size_t n);

enum : uint32_t {
  kGgmlF32 = 0,
  kGgmlF16 = 1,
  kGgmlQ4_0 = 2,
  kGgmlQ4_1 = 3,
  kGgmlQ5_0 = 6,
  kGgmlQ5_1 = 7,
  kGgmlQ8_0 = 8,
  kGgmlQ8_1 = 9,
  kGgmlQ2_K = 10,
  kGgmlQ3_K = 11,
  kGgmlQ4_K = 12,
  kGgmlQ5_K = 13,
  kGgmlQ6_K = 14,
  kGgmlQ8_K = 15,
  kGgmlBF16 = 30,
};

}  // namespace corelm::gguf
