// Random weight rows in any DType (test_support.h).
#include <cstring>
#include <random>

#include "base/half.h"
#include "tensor/quant.h"
#include "test_support.h"

namespace corelm::test {

namespace {

struct Fp16Field {
  size_t offset;
  float low, high;
};

// The fp16 fields of the run-only GGUF blocks (quant_blocks.h) and sane ranges for them.
std::vector<Fp16Field> fp16_fields(DType dtype) {
  switch (dtype) {
    case DType::kQ4_1:
    case DType::kQ5_1:
      return {{0, 1e-3f, 1e-2f}, {2, -0.05f, 0.05f}};
    case DType::kQ5_0:
      return {{0, 1e-3f, 1e-2f}};
    case DType::kQ2_K:
      return {{80, 1e-3f, 1e-2f}, {82, 1e-3f, 1e-2f}};
    case DType::kQ3_K:
      return {{108, 1e-4f, 1e-3f}};
    case DType::kQ4_K:
    case DType::kQ5_K:
      return {{0, 1e-4f, 1e-3f}, {2, 1e-4f, 1e-3f}};
    case DType::kQ6_K:
      return {{208, 1e-5f, 1e-4f}};
    default:
      return {};
  }
}

}  // namespace

std::vector<uint8_t> random_rows(DType dtype, size_t rows, size_t cols, uint32_t seed,
                                 float scale) {
  const TypeTraits& t = dtype_traits(dtype);
  const size_t row_bytes = dtype_row_bytes(dtype, cols);
  std::vector<uint8_t> out(rows * row_bytes);
  std::mt19937 rng(seed);
  if (t.from_float != nullptr) {
    std::normal_distribution<float> nd(0.0f, scale);
    std::vector<float> x(cols);
    for (size_t r = 0; r < rows; ++r) {
      for (auto& v : x) v = nd(rng);
      quantize_row(dtype, x.data(), out.data() + r * row_bytes, cols);
    }
    return out;
  }
  std::uniform_int_distribution<int> byte(0, 255);
  for (auto& b : out) b = static_cast<uint8_t>(byte(rng));
  const auto fields = fp16_fields(dtype);
  for (size_t blk = 0; blk < out.size() / t.block_bytes; ++blk)
    for (const auto& f : fields) {
      std::uniform_real_distribution<float> value(f.low, f.high);
      const uint16_t h = float_to_fp16(value(rng));
      std::memcpy(out.data() + blk * t.block_bytes + f.offset, &h, 2);
    }
  return out;
}

}  // namespace corelm::test
