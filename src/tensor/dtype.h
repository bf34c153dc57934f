// DType: the element formats a weight or buffer can have, and their traits table. A quantized
// format is one row here plus its kernels (src/kernels); model code never branches on it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace corelm {

enum class DType : uint8_t {
  kF32,
  kF16,
  kBF16,
  kQ8S32,  // int8 linear symmetric, blocks of 32 along a row, fp16 scale = max|w|/127
  kQ4S32,  // int4 linear symmetric, blocks of 32 along a row, fp16 scale = max|w|/7 (the default)
  kQ4_0,   // GGUF Q4_0: the q4s32 block layout with the full [-8, 7] range
  kQ8_0,   // GGUF Q8_0: the q8s32 block layout
};
// The number of DTypes (tables indexed by DType are sized by it); kQ8_0 is the last.
inline constexpr size_t kNumDTypes = static_cast<size_t>(DType::kQ8_0) + 1;

struct DTypeTraits {
  DType dtype;
  const char* name;       // as written in packages and on the command line
  size_t block_elements;  // elements per block (1 for plain types)
  size_t block_bytes;     // bytes per block
  bool quantized;
};

const DTypeTraits& dtype_traits(DType dtype);
inline const char* dtype_name(DType dtype) {
  return dtype_traits(dtype).name;
}
std::optional<DType> dtype_from_name(std::string_view name);

// Bytes of one row of `cols` elements; requires cols % block_elements == 0.
size_t dtype_row_bytes(DType dtype, size_t cols);
// True if a row of `cols` elements can be stored in `dtype`.
bool dtype_fits_row(DType dtype, size_t cols);
// Average bits per element.
double dtype_bits_per_element(DType dtype);

}  // namespace corelm
