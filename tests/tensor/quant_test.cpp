// q4s32 / q8s32 against hand-computed blocks: coremltools' linear_symmetric rule
// (scale = max|w| / qmax as fp16, q = round half to even, clamp to [-qmax, qmax]).
#include <gtest/gtest.h>

#include <array>
#include <vector>

#include "base/half.h"
#include "tensor/dtype.h"
#include "tensor/quant.h"

namespace corelm {
namespace {

// Element i of a q4 block: low nibble of qs[i] for i < 16, high nibble of qs[i - 16] after.
int q4_value(const BlockQ4& b, int i) {
  return (i < 16 ? (b.qs[i] & 0xF) : (b.qs[i - 16] >> 4)) - 8;
}

std::array<float, 32> block(std::initializer_list<float> head) {
  std::array<float, 32> x{};
  std::copy(head.begin(), head.end(), x.begin());
  return x;
}

TEST(QuantQ4S32, TiesRoundHalfToEven) {
  // max|w| = 7, so the scale is exactly 1 and each value's quotient is itself.
  auto x = block({7, 0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 3.5f, 6.5f, -6.5f});
  BlockQ4 b;
  quantize_row_q4s32(x.data(), &b, 32);
  EXPECT_EQ(b.scale, 0x3C00);  // 1.0
  const int expected[] = {7, 0, 2, 2, 0, -2, -2, 4, 6, -6};
  for (int i = 0; i < 10; ++i) EXPECT_EQ(q4_value(b, i), expected[i]) << "element " << i;
  for (int i = 10; i < 32; ++i) EXPECT_EQ(q4_value(b, i), 0);
}

TEST(QuantQ4S32, AllZeroBlockHasScaleZero) {
  std::array<float, 32> x{};
  BlockQ4 b;
  quantize_row_q4s32(x.data(), &b, 32);
  EXPECT_EQ(b.scale, 0);
  for (int i = 0; i < 16; ++i) EXPECT_EQ(b.qs[i], 0x88);  // q = 0 stored as nibble 8
  std::array<float, 32> y;
  dequantize_row_q4(&b, y.data(), 32);
  for (float v : y) EXPECT_EQ(v, 0.0f);
}

TEST(QuantQ4S32, OneLargeOutlierFlattensTheRest) {
  // scale = fp16(100 / 7) = fp16(14.2857...) = 14.2890625 (0x4B25): the mantissa step in
  // [8, 16) is 2^-7, and 14.2857 / 2^-7 = 1828.57 rounds to 1829.
  auto x = block({100, 1, 3, 7.2f, -7.1f, -21.5f});
  BlockQ4 b;
  quantize_row_q4s32(x.data(), &b, 32);
  EXPECT_EQ(b.scale, 0x4B25);
  // 100/14.289 = 6.998 -> 7; 7.2/14.289 = 0.504 -> 1; -7.1/14.289 = -0.497 -> 0;
  // -21.5/14.289 = -1.505 -> -2.
  const int expected[] = {7, 0, 0, 1, 0, -2};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(q4_value(b, i), expected[i]) << "element " << i;
  std::array<float, 32> y;
  dequantize_row_q4(&b, y.data(), 32);
  EXPECT_FLOAT_EQ(y[0], 7 * 14.2890625f);
  EXPECT_FLOAT_EQ(y[5], -2 * 14.2890625f);
}

TEST(QuantQ4S32, NegativeMaximumSetsTheScale) {
  // max|w| = 14 comes from -14: scale 2, -14 -> -7; 1/2 = 0.5 -> 0; 3/2 = 1.5 -> 2;
  // 5/2 = 2.5 -> 2; 13/2 = 6.5 -> 6; 7/2 = 3.5 -> 4.
  auto x = block({-14, 1, -1, 3, 5, -5, 13, -13, 7});
  BlockQ4 b;
  quantize_row_q4s32(x.data(), &b, 32);
  EXPECT_EQ(b.scale, 0x4000);  // 2.0
  const int expected[] = {-7, 0, 0, 2, 2, -2, 6, -6, 4};
  for (int i = 0; i < 9; ++i) EXPECT_EQ(q4_value(b, i), expected[i]) << "element " << i;
}

TEST(QuantQ4S32, UpperHalfGoesToHighNibbles) {
  std::array<float, 32> x{};
  x[16] = 7;   // element 16 -> high nibble of qs[0]
  x[31] = -7;  // element 31 -> high nibble of qs[15]
  BlockQ4 b;
  quantize_row_q4s32(x.data(), &b, 32);
  EXPECT_EQ(b.qs[0], 0x88 + 0x70);  // low 8 (0), high 15 (7)
  EXPECT_EQ(b.qs[15], 0x18);        // low 8 (0), high 1 (-7)
}

TEST(QuantQ4S32, SeveralBlocksAreIndependent) {
  std::vector<float> x(64, 0.0f);
  x[0] = 7;
  x[32] = -70;
  x[33] = 30;  // 30 / 10 = 3
  std::vector<BlockQ4> b(2);
  quantize_row_q4s32(x.data(), b.data(), 64);
  EXPECT_EQ(b[0].scale, 0x3C00);
  EXPECT_EQ(b[1].scale, float_to_fp16(10.0f));
  EXPECT_EQ(q4_value(b[1], 0), -7);
  EXPECT_EQ(q4_value(b[1], 1), 3);
}

TEST(QuantQ8S32, TiesAndRange) {
  auto x = block({127, 0.5f, 1.5f, 126.5f, -126.5f, -127, 2.5f});
  BlockQ8 b;
  quantize_row_q8s32(x.data(), &b, 32);
  EXPECT_EQ(b.scale, 0x3C00);
  const int expected[] = {127, 0, 2, 126, -126, -127, 2};
  for (int i = 0; i < 7; ++i) EXPECT_EQ(b.qs[i], expected[i]) << "element " << i;
}

TEST(QuantQ8S32, NegativeMaximumAndZeroBlock) {
  auto x = block({-254, 1, 3});  // scale 2: -254 -> -127, 0.5 -> 0, 1.5 -> 2
  BlockQ8 b;
  quantize_row_q8s32(x.data(), &b, 32);
  EXPECT_EQ(b.scale, 0x4000);
  EXPECT_EQ(b.qs[0], -127);
  EXPECT_EQ(b.qs[1], 0);
  EXPECT_EQ(b.qs[2], 2);
  std::array<float, 32> z{};
  quantize_row_q8s32(z.data(), &b, 32);
  EXPECT_EQ(b.scale, 0);
  for (int i = 0; i < 32; ++i) EXPECT_EQ(b.qs[i], 0);
}

TEST(DType, TraitsTable) {
  EXPECT_EQ(dtype_row_bytes(DType::kQ4S32, 64), 36u);
  EXPECT_EQ(dtype_row_bytes(DType::kQ8S32, 64), 68u);
  EXPECT_EQ(dtype_row_bytes(DType::kF16, 3), 6u);
  EXPECT_DOUBLE_EQ(dtype_bits_per_element(DType::kQ4S32), 4.5);
  EXPECT_DOUBLE_EQ(dtype_bits_per_element(DType::kQ8S32), 8.5);
  EXPECT_FALSE(dtype_fits_row(DType::kQ4S32, 172));
  EXPECT_TRUE(dtype_fits_row(DType::kF16, 172));
  for (const char* n : {"f32", "f16", "bf16", "q8s32", "q4s32", "q4_0", "q8_0"})
    EXPECT_STREQ(dtype_name(*dtype_from_name(n)), n);
  EXPECT_FALSE(dtype_from_name("q3").has_value());
}

TEST(QuantQ8A, ActivationBlocksKeepScaleAndSum) {
  auto x = block({-1.27f, 0.01f, 0.5f});  // scale 0.01: -127, 1, 50
  BlockQ8A b;
  quantize_row_q8a(x.data(), &b, 32);
  EXPECT_FLOAT_EQ(b.scale, 0.01f);
  EXPECT_EQ(b.qs[0], -127);
  EXPECT_EQ(b.qs[1], 1);
  EXPECT_EQ(b.qs[2], 50);
  EXPECT_EQ(b.qsum, -127 + 1 + 50);
}

}  // namespace
}  // namespace corelm
