// fp16 / bf16 conversions against hand-computed bit patterns and the compiler's _Float16.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

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

// The compiler's own IEEE binary16 type (hardware or libgcc conversions) is a second,
// independent implementation to compare every value with. GCC 12 has _Float16 in C++ on x86;
// on ARM its IEEE __fp16.
#if defined(__ARM_FP16_FORMAT_IEEE)
#define CORELM_TEST_COMPILER_HALF 1
using CompilerHalf = __fp16;
#elif defined(__FLT16_MAX__) && (defined(__x86_64__) || defined(__i386__))
#define CORELM_TEST_COMPILER_HALF 1
using CompilerHalf = _Float16;
#endif

#ifdef CORELM_TEST_COMPILER_HALF
uint16_t compiler_half_bits(float f) {
  CompilerHalf h = static_cast<CompilerHalf>(f);
  uint16_t bits;
  std::memcpy(&bits, &h, 2);
  return bits;
}

TEST(Half, EveryHalfWidensAsTheCompilerDoes) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const uint16_t bits = static_cast<uint16_t>(h);
    CompilerHalf ref;
    std::memcpy(&ref, &bits, 2);
    const float expected = static_cast<float>(ref);
    const float got = fp16_to_float(bits);
    if (std::isnan(expected)) {
      ASSERT_TRUE(std::isnan(got)) << std::hex << h;
      continue;
    }
    uint32_t a, b;
    std::memcpy(&a, &expected, 4);
    std::memcpy(&b, &got, 4);
    ASSERT_EQ(b, a) << "half 0x" << std::hex << h;
  }
}

TEST(Half, FloatsNarrowAsTheCompilerDoes) {
  // Every float near each half boundary (the ties and their neighbours), then random floats
  // over the whole range.
  auto check = [](float f) {
    if (std::isnan(f)) return;
    ASSERT_EQ(float_to_fp16(f), compiler_half_bits(f)) << std::hexfloat << f;
  };
  for (uint32_t h = 0; h < 0x7C00; ++h) {
    const float lo = fp16_to_float(static_cast<uint16_t>(h));
    const float hi = fp16_to_float(static_cast<uint16_t>(h + 1));
    const float mid = lo + (hi - lo) / 2;  // exact: a half step is a float
    for (float f : {mid, std::nextafter(mid, 0.0f), std::nextafter(mid, 1e9f)}) {
      check(f);
      check(-f);
    }
  }
  std::mt19937 rng(7);
  for (int i = 0; i < 2000000; ++i) {
    uint32_t bits = rng();
    float f;
    std::memcpy(&f, &bits, 4);
    check(f);
  }
}
#endif

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
