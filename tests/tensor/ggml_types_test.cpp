// GGUF's run-in-place types (Q4_1, Q5_0, Q5_1, Q2_K..Q6_K): the registry's readers against
// llama.cpp's own dequantizer (gguf-py, through the block fixtures made at build time), and the
// kernels' integer form (decode_k_block) against the readers.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <vector>

#include "tensor/dtype.h"
#include "tensor/quant.h"
#include "tensor/quant_ggml.h"
#include "test_support.h"

namespace corelm {
namespace {

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

const DType kRunOnly[] = {DType::kQ4_1, DType::kQ5_0, DType::kQ5_1, DType::kQ2_K,
                          DType::kQ3_K, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K};

TEST(GgmlTypes, ReadersEqualLlamaCppsDequantizer) {
  for (DType d : kRunOnly) {
    const TypeTraits& t = dtype_traits(d);
    SCOPED_TRACE(t.ggml_name);
    const auto blocks = read_bytes(test::ggml_fixture(std::string(t.ggml_name) + ".blocks"));
    const auto values = read_bytes(test::ggml_fixture(std::string(t.ggml_name) + ".f32"));
    ASSERT_EQ(blocks.size() % t.block_bytes, 0u);
    const size_t n = blocks.size() / t.block_bytes * t.block_elements;
    ASSERT_EQ(values.size(), n * sizeof(float));
    std::vector<float> expect(n), got(n);
    std::memcpy(expect.data(), values.data(), values.size());
    t.to_float(blocks.data(), got.data(), n);
    for (size_t i = 0; i < n; ++i) {
      // numpy evaluates the same products, perhaps in another order: a few ulp.
      ASSERT_NEAR(got[i], expect[i], 4e-7f * std::fabs(expect[i]) + 1e-12f) << "element " << i;
    }
  }
}

TEST(GgmlTypes, KernelIntegerFormEqualsTheReaders) {
  for (DType d : {DType::kQ2_K, DType::kQ3_K, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K}) {
    const TypeTraits& t = dtype_traits(d);
    SCOPED_TRACE(t.name);
    const auto blocks = test::random_rows(d, 1, 256 * 6, 11);
    std::vector<float> ref(256 * 6);
    t.to_float(blocks.data(), ref.data(), ref.size());
    for (size_t b = 0; b < 6; ++b) {
      DecodedKBlock k;
      decode_k_block(d, blocks.data() + b * t.block_bytes, &k);
      for (int i = 0; i < 256; ++i) {
        const float v = k.d * static_cast<float>(k.sc[i / 16] * k.q[i]) -
                        k.dmin * static_cast<float>(k.mn[i / 16]);
        const float e = ref[b * 256 + i];
        ASSERT_NEAR(v, e, 1e-6f * std::fabs(e) + 1e-9f) << "block " << b << " element " << i;
      }
    }
  }
}

TEST(GgmlTypes, SuperBlockActivationsKeepTheirSums) {
  std::vector<float> x(512);
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.37f * static_cast<float>(i)) * 3.0f;
  x[100] = -5.0f;  // the largest magnitude maps to -127
  std::vector<BlockQ8K> q(2);
  quantize_row_q8k(x.data(), q.data(), x.size());
  EXPECT_FLOAT_EQ(q[0].scale, 5.0f / 127.0f);
  EXPECT_EQ(q[0].qs[100], -127);
  for (size_t b = 0; b < 2; ++b)
    for (int h = 0; h < 16; ++h) {
      int sum = 0;
      for (int i = 0; i < 16; ++i) {
        const int v = q[b].qs[16 * h + i];
        EXPECT_LE(std::fabs(static_cast<float>(v) - x[256 * b + 16 * h + i] / q[b].scale),
                  0.5f + 1e-4f);
        sum += v;
      }
      EXPECT_EQ(q[b].bsums[h], sum) << b << " " << h;
    }
}

}  // namespace
}  // namespace corelm
