// Strict number parsing: exactly the number, nothing else, nothing out of range.
#include "base/parse_number.h"

#include <gtest/gtest.h>

namespace corelm {
namespace {

TEST(ParseNumber, IntegersMustBeTheWholeText) {
  EXPECT_EQ(parse_integer<int>("42"), 42);
  EXPECT_EQ(parse_integer<int>("-7"), -7);
  EXPECT_EQ(parse_integer<uint8_t>("FF", 16), 255);
  EXPECT_EQ(parse_integer<uint8_t>("0a", 16), 10);
  // What std::stoi would have accepted or thrown on:
  for (const char* bad : {"", " 7", "+7", "7 ", "7abc", "0x10", "--1", "99999999999"})
    EXPECT_FALSE(parse_integer<int>(bad).has_value()) << "'" << bad << "'";
  for (const char* bad : {"-F", "+F", " 7", "#F", "100", "G0"})
    EXPECT_FALSE(parse_integer<uint8_t>(bad, 16).has_value()) << "'" << bad << "'";
  EXPECT_FALSE(parse_integer<uint32_t>("-1").has_value());
}

TEST(ParseNumber, DoublesMustBeFinite) {
  EXPECT_EQ(parse_finite_double("1.5"), 1.5);
  EXPECT_EQ(parse_finite_double("-2e-3"), -0.002);
  for (const char* bad : {"", "1e999", "-1e999", "inf", "nan", "1.5x", " 1"})
    EXPECT_FALSE(parse_finite_double(bad).has_value()) << "'" << bad << "'";
}

TEST(ParseNumber, Int64RangeOfDoubles) {
  EXPECT_TRUE(fits_int64(-9223372036854775808.0));
  EXPECT_FALSE(fits_int64(9223372036854775808.0));
  EXPECT_FALSE(fits_int64(1e23));
  EXPECT_TRUE(fits_int64(1e18));
  EXPECT_FALSE(fits_int64(std::nan("")));
}

}  // namespace
}  // namespace corelm
