// The type registry: every element format corelm knows, one row each. The DTypes (formats corelm
// stores or runs) come first, in enum order; after them the types corelm only reads from other
// files (GGUF's i-quants and friends: converted once at load, never run). GGUF's Q4_1, Q5_0,
// Q5_1 and the K-quants Q2_K..Q6_K are DTypes that run in place but are never written: they have
// no from_float (corelm does not quantize into them). Package names, GGUF ids,
// block geometry and the row converters all come from here; the converter's --quant choices
// and the kernel tables' sizes derive from it. Model code never branches on a format.
//
// Adding a dtype: the enum below, its row in dtype.cpp (with its row converters in quant.cpp),
// and its kernels (src/kernels). docs/architecture.md lists the files.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace corelm {

enum class DType : uint8_t {
  kF32,
  kF16,
  kBF16,
  kQ8S32,  // int8 linear symmetric, blocks of 32 along a row, fp16 scale = max|w|/127
  kQ4S32,  // int4 linear symmetric, blocks of 32 along a row, fp16 scale = max|w|/7 (the default)
  kQ4_0,   // GGUF Q4_0: the q4s32 block layout with the full [-8, 7] range
  kQ8_0,   // GGUF Q8_0: the q8s32 block layout
  // GGUF types run in their own block formats (ggml's definitions; quant_ggml.h), never written.
  kQ4_1,  // blocks of 32: fp16 d, fp16 m, 4-bit q: d * q + m
  kQ5_0,  // blocks of 32: fp16 d, 5-bit q: d * (q - 16)
  kQ5_1,  // blocks of 32: fp16 d, fp16 m, 5-bit q: d * q + m
  kQ2_K,  // super-blocks of 256 (K-quants): 16 sub-blocks of 16 with 4-bit scales and mins
  kQ3_K,  // 16 sub-blocks of 16, 6-bit signed scales, 3-bit q
  kQ4_K,  // 8 sub-blocks of 32, 6-bit scales and mins, 4-bit q
  kQ5_K,  // 8 sub-blocks of 32, 6-bit scales and mins, 5-bit q
  kQ6_K,  // 16 sub-blocks of 16, int8 scales, 6-bit q
  // Palettized: 4-bit indices into a table of 16 fp16 values shared by a group of output rows.
  // A row alone cannot be read: the tables live in the matrix's lut_g* layout (tensor/layout.h).
  kLut4,
  kLut3,  // 3-bit indices, a table of 8 (rows of a multiple of 8 values)
  kLut6,  // 6-bit indices, a table of 64 (rows of a multiple of 4 values)
};
// The number of DTypes (tables indexed by DType are sized by it); kLut6 is the last.
inline constexpr size_t kNumDTypes = static_cast<size_t>(DType::kLut6) + 1;

// Converts `n` elements (a multiple of the block size) of one row to float, or back.
using RowToFloat = void (*)(const void* in, float* out, size_t n);
using RowFromFloat = void (*)(const float* in, void* out, size_t n);

// One row of the registry.
struct TypeTraits {
  const char* name;            // packages and the command line ("q4s32"); ggml's for read-only
  std::optional<DType> dtype;  // the DType; nullopt for a type corelm only reads
  size_t block_elements;       // elements per block (1 for plain types)
  size_t block_bytes;          // bytes per block
  bool quantized;
  bool conversion_target;   // `corelm convert --quant` writes it
  bool k_quant;             // super-blocks of 256 whose kernels read kQ8K activations
  bool q4_blocks;           // rows of BlockQ4: may be stored in the interleaved8 layout
  int lut_bits;             // palettized: bits per index (a table of 2^lut_bits); 0 otherwise
  int ggml_id;              // GGUF's type id, -1 when GGUF has none
  const char* ggml_name;    // GGUF's name, nullptr when none
  RowToFloat to_float;      // nullptr: corelm cannot read it
  RowFromFloat from_float;  // nullptr: corelm cannot write it
};
using DTypeTraits = TypeTraits;

const TypeTraits& dtype_traits(DType dtype);
inline const char* dtype_name(DType dtype) {
  return dtype_traits(dtype).name;
}
// The DType named `name` (package / command-line names only).
std::optional<DType> dtype_from_name(std::string_view name);

// Every row: the DTypes in enum order, then the read-only types.
std::span<const TypeTraits> type_registry();
// The row of GGUF type `id`; nullptr for an id ggml does not define.
const TypeTraits* ggml_type(uint32_t id);
// The names `corelm convert --quant` accepts, in registry order.
std::vector<std::string> conversion_dtype_names();

// Bytes of one row of `cols` elements; requires cols % block_elements == 0.
size_t dtype_row_bytes(DType dtype, size_t cols);
// True if a row of `cols` elements can be stored in `dtype`.
bool dtype_fits_row(DType dtype, size_t cols);
// Average bits per element.
double dtype_bits_per_element(DType dtype);

}  // namespace corelm
