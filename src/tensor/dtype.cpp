#include "tensor/dtype.h"

#include <iterator>

#include "tensor/quant.h"
#include "tensor/quant_blocks.h"
#include "tensor/quant_ggml.h"

namespace corelm {

namespace {

// A DType's row.
constexpr TypeTraits dtype_row(DType d, const char* name, size_t block_elements, size_t block_bytes,
                               bool conversion_target, bool q4_blocks, int ggml_id,
                               const char* ggml_name, RowToFloat to_float,
                               RowFromFloat from_float) {
  return {name,      d, block_elements, block_bytes, block_elements > 1, conversion_target, false,
          q4_blocks, 0, ggml_id,        ggml_name,   to_float,           from_float};
}
// A GGUF type corelm runs in place but never writes (no from_float).
constexpr TypeTraits run_only(DType d, const char* name, int ggml_id, const char* ggml_name,
                              size_t block_elements, size_t block_bytes, RowToFloat to_float) {
  return {name,  d, block_elements, block_bytes, true,     false,  block_elements == 256,
          false, 0, ggml_id,        ggml_name,   to_float, nullptr};
}
// A type corelm only reads (to_float may be nullptr: known to ggml, unreadable here).
constexpr TypeTraits read_only(int ggml_id, const char* name, size_t block_elements,
                               size_t block_bytes, RowToFloat to_float) {
  return {name,  std::nullopt, block_elements, block_bytes, block_elements > 1,
          false, false,        false,          0,           ggml_id,
          name,  to_float,     nullptr};
}

constexpr size_t kQ4 = sizeof(BlockQ4), kQ8 = sizeof(BlockQ8);

// The registry. The DTypes first, in enum order; then GGUF's other types (ids and geometry as
// ggml defines them in ggml.c's type_traits).
constexpr TypeTraits kTypes[] = {
    dtype_row(DType::kF32, "f32", 1, 4, true, false, 0, "F32", row_f32_to_float, row_float_to_f32),
    dtype_row(DType::kF16, "f16", 1, 2, true, false, 1, "F16", row_f16_to_float, row_float_to_f16),
    dtype_row(DType::kBF16, "bf16", 1, 2, true, false, 30, "BF16", row_bf16_to_float,
              row_float_to_bf16),
    dtype_row(DType::kQ8S32, "q8s32", kQuantBlock, kQ8, true, false, -1, nullptr, row_q8_to_float,
              row_float_to_q8s32),
    dtype_row(DType::kQ4S32, "q4s32", kQuantBlock, kQ4, true, true, -1, nullptr, row_q4_to_float,
              row_float_to_q4s32),
    dtype_row(DType::kQ4_0, "q4_0", kQuantBlock, kQ4, false, true, 2, "Q4_0", row_q4_to_float,
              row_float_to_q4_0),
    dtype_row(DType::kQ8_0, "q8_0", kQuantBlock, kQ8, false, false, 8, "Q8_0", row_q8_to_float,
              row_float_to_q8s32),
    run_only(DType::kQ4_1, "q4_1", 3, "Q4_1", 32, 20, row_q4_1_to_float),
    run_only(DType::kQ5_0, "q5_0", 6, "Q5_0", 32, 22, row_q5_0_to_float),
    run_only(DType::kQ5_1, "q5_1", 7, "Q5_1", 32, 24, row_q5_1_to_float),
    run_only(DType::kQ2_K, "q2_k", 10, "Q2_K", 256, 84, row_q2_k_to_float),
    run_only(DType::kQ3_K, "q3_k", 11, "Q3_K", 256, 110, row_q3_k_to_float),
    run_only(DType::kQ4_K, "q4_k", 12, "Q4_K", 256, 144, row_q4_k_to_float),
    run_only(DType::kQ5_K, "q5_k", 13, "Q5_K", 256, 176, row_q5_k_to_float),
    run_only(DType::kQ6_K, "q6_k", 14, "Q6_K", 256, 210, row_q6_k_to_float),
    // lut4: rows of 4-bit indices, two per byte (any even row length); the tables are part of the
    // matrix (Layout::kLutG*), so it has no row converters: quantize_lut4_matrix and
    // dequantize_matrix_row read and write whole matrices.
    {"lut4", DType::kLut4, 2, 1, true, true, false, false, 4, -1, nullptr, nullptr, nullptr},
    // lut3 / lut6: 3 and 6 bits per index, packed in bit planes (tensor/layout.h): 8 indices in 3
    // bytes (rows of a multiple of 8 values) and 4 in 3 bytes (a multiple of 4).
    {"lut3", DType::kLut3, 8, 3, true, true, false, false, 3, -1, nullptr, nullptr, nullptr},
    {"lut6", DType::kLut6, 4, 3, true, true, false, false, 6, -1, nullptr, nullptr, nullptr},
    read_only(9, "Q8_1", 32, 36, nullptr),
    read_only(15, "Q8_K", 256, 292, nullptr),
    read_only(16, "IQ2_XXS", 256, 66, nullptr),
    read_only(17, "IQ2_XS", 256, 74, nullptr),
    read_only(18, "IQ3_XXS", 256, 98, nullptr),
    read_only(19, "IQ1_S", 256, 50, nullptr),
    read_only(20, "IQ4_NL", 32, 18, nullptr),
    read_only(21, "IQ3_S", 256, 110, nullptr),
    read_only(22, "IQ2_S", 256, 82, nullptr),
    read_only(23, "IQ4_XS", 256, 136, nullptr),
    read_only(24, "I8", 1, 1, nullptr),
    read_only(25, "I16", 1, 2, nullptr),
    read_only(26, "I32", 1, 4, nullptr),
    read_only(27, "I64", 1, 8, nullptr),
    read_only(28, "F64", 1, 8, nullptr),
    read_only(29, "IQ1_M", 256, 56, nullptr),
    read_only(34, "TQ1_0", 256, 54, nullptr),
    read_only(35, "TQ2_0", 256, 66, nullptr),
    read_only(39, "MXFP4", 32, 17, nullptr),
};

constexpr bool dtypes_in_enum_order() {
  for (size_t i = 0; i < kNumDTypes; ++i)
    if (!kTypes[i].dtype || static_cast<size_t>(*kTypes[i].dtype) != i) return false;
  for (size_t i = kNumDTypes; i < std::size(kTypes); ++i)
    if (kTypes[i].dtype) return false;
  return true;
}
static_assert(dtypes_in_enum_order(), "one row per DType, in enum order, before the others");

}  // namespace

const TypeTraits& dtype_traits(DType dtype) {
  return kTypes[static_cast<size_t>(dtype)];
}

std::optional<DType> dtype_from_name(std::string_view name) {
  for (size_t i = 0; i < kNumDTypes; ++i)
    if (name == kTypes[i].name) return kTypes[i].dtype;
  return std::nullopt;
}

std::span<const TypeTraits> type_registry() {
  return kTypes;
}

const TypeTraits* ggml_type(uint32_t id) {
  for (const auto& t : kTypes)
    if (t.ggml_id >= 0 && static_cast<uint32_t>(t.ggml_id) == id) return &t;
  return nullptr;
}

std::vector<std::string> conversion_dtype_names() {
  std::vector<std::string> names;
  for (const auto& t : kTypes)
    if (t.conversion_target) names.emplace_back(t.name);
  return names;
}

bool dtype_fits_row(DType dtype, size_t cols) {
  return cols > 0 && cols % dtype_traits(dtype).block_elements == 0;
}

size_t dtype_row_bytes(DType dtype, size_t cols) {
  const auto& t = dtype_traits(dtype);
  return cols / t.block_elements * t.block_bytes;
}

double dtype_bits_per_element(DType dtype) {
  const auto& t = dtype_traits(dtype);
  return 8.0 * static_cast<double>(t.block_bytes) / static_cast<double>(t.block_elements);
}

}  // namespace corelm
