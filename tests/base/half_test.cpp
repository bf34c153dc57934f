// fp16 / bf16 conversions against hand-computed bit patterns.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "base/half.h"

namespace corelm {
namespace {

TEST(Half, ExactValues) {
  EXPECT_EQ(float_to_fp16(1.0f), 0x3C00);
  EXPECT_EQ(float_to_fp16(-2.0f), 0xC000);
  EXPECT_EQ(float_to_fp16(0.0f), 0x0000);
  EXPECT_EQ(float_to_fp16(-0.0f), 0x8000);
  EXPECT_EQ(float_to_fp16(65504.0f), 0x7BFF);         // largest finite half
  EXPECT_EQ(float_to_fp16(0.000060975552f), 0x03FF);  // largest subnormal
  EXPECT_EQ(float_to_fp16(5.9604645e-08f), 0x0001);   // 2^-24, smallest subnormal
  EXPECT_EQ(float_to_fp16(6.1035156e-05f), 0x0400);   // 2^-14, smallest normal
}

TEST(Half, RoundsHalfToEven) {
  // 1 + 2^-11 lies exactly between 1 (0x3C00, even) and 1 + 2^-10 (0x3C01): goes to even.
  EXPECT_EQ(float_to_fp16(1.0f + 0.00048828125f), 0x3C00);
  // 1 + 3 * 2^-11 lies between 0x3C01 (odd) and 0x3C02 (even): goes to 0x3C02.
  EXPECT_EQ(float_to_fp16(1.0f + 3 * 0.00048828125f), 0x3C02);
  EXPECT_EQ(float_to_fp16(0.1f), 0x2E66);
  // 65520 is halfway between 65504 and 65536 (odd mantissa): rounds up to infinity.
  EXPECT_EQ(float_to_fp16(65520.0f), 0x7C00);
  EXPECT_EQ(float_to_fp16(65519.0f), 0x7BFF);
  // Subnormal tie: 1.5 * 2^-24 -> 2 * 2^-24 (even), 2.5 * 2^-24 -> 2 * 2^-24.
  EXPECT_EQ(float_to_fp16(1.5f * 5.9604645e-08f), 0x0002);
  EXPECT_EQ(float_to_fp16(2.5f * 5.9604645e-08f), 0x0002);
  EXPECT_EQ(float_to_fp16(0.5f * 5.9604645e-08f), 0x0000);  // tie to even zero
}

TEST(Half, SpecialValues) {
  EXPECT_EQ(float_to_fp16(std::numeric_limits<float>::infinity()), 0x7C00);
  EXPECT_EQ(float_to_fp16(-std::numeric_limits<float>::infinity()), 0xFC00);
  EXPECT_TRUE(std::isnan(fp16_to_float(float_to_fp16(std::nanf("")))));
  EXPECT_EQ(fp16_to_float(0x7C00), std::numeric_limits<float>::infinity());
}

TEST(Half, RoundTripsEveryHalf) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    float f = fp16_to_float(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(float_to_fp16(f), h) << "half 0x" << std::hex << h;
  }
}

TEST(BFloat16, ConvertsAndRounds) {
  EXPECT_EQ(float_to_bf16(1.0f), 0x3F80);
  EXPECT_EQ(bf16_to_float(0x3F80), 1.0f);
  EXPECT_EQ(bf16_to_float(0xC0A0), -5.0f);
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: to even (1.0).
  EXPECT_EQ(float_to_bf16(1.00390625f), 0x3F80);
  EXPECT_EQ(float_to_bf16(1.01171875f), 0x3F82);  // 1 + 3*2^-8 -> 1 + 2^-6
}

}  // namespace
}  // namespace corelm
