#include "tensor/dtype.h"

#include <iterator>

#include "tensor/quant_blocks.h"

namespace corelm {

namespace {
constexpr DTypeTraits kTraits[] = {
    {DType::kF32, "f32", 1, 4, false},
    {DType::kF16, "f16", 1, 2, false},
    {DType::kBF16, "bf16", 1, 2, false},
    {DType::kQ8S32, "q8s32", kQuantBlock, sizeof(BlockQ8), true},
    {DType::kQ4S32, "q4s32", kQuantBlock, sizeof(BlockQ4), true},
    {DType::kQ4_0, "q4_0", kQuantBlock, sizeof(BlockQ4), true},
    {DType::kQ8_0, "q8_0", kQuantBlock, sizeof(BlockQ8), true},
};
static_assert(std::size(kTraits) == kNumDTypes, "one traits row per DType, in enum order");
}  // namespace

const DTypeTraits& dtype_traits(DType dtype) {
  return kTraits[static_cast<size_t>(dtype)];
}

std::optional<DType> dtype_from_name(std::string_view name) {
  for (const auto& t : kTraits)
    if (name == t.name) return t.dtype;
  return std::nullopt;
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
