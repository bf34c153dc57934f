// Checks, for every pair of positive finite fp16 values a, b (about 10^9 pairs, a second or two),
// that rounding the float32 quotient a / b to fp16 gives the correctly rounded fp16 quotient: the
// claim src/tensor/quant.cpp (fp16_quotient) and docs/package-format.md rest on, and the way NumPy
// divides float16 arrays.
//
// The float32 rounding cannot carry the quotient across an fp16 midpoint (every midpoint is a
// float32 number, and the float32 result is the float32 number nearest the exact quotient), so
// double rounding can only go wrong where the float32 quotient lands exactly on a midpoint while
// the exact quotient is not there. The check finds every float32 quotient on a midpoint (subnormal
// ones and 65520, the overflow threshold, included) and tests that the division was exact: the
// remainder a - q * b, computed exactly in double (q * b has at most 35 bits), is zero.
//
// Build and run: g++ -O2 -o /tmp/fp16_division_check tests/tools/fp16_division_check.cpp &&
// /tmp/fp16_division_check
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>

namespace {

float fp16_value(uint32_t h) {
  const uint32_t exp = (h >> 10) & 31, mant = h & 1023;
  if (exp == 0) return static_cast<float>(mant) * (1.0f / 16777216.0f);
  const uint32_t u = ((exp + 112) << 23) | (mant << 13);
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Whether positive q lies halfway between two neighbouring fp16 values.
bool on_fp16_midpoint(float q) {
  if (q < 0x1p-14f) {  // the subnormal grid, step 2^-24: midpoints are odd multiples of 2^-25
    const double k = static_cast<double>(q) * 0x1p25;
    return k == std::floor(k) && std::fmod(k, 2.0) == 1.0;
  }
  uint32_t u;
  std::memcpy(&u, &q, 4);
  return (u & 0x1fffu) == 0x1000u;  // the 13 bits below fp16's 10-bit mantissa are one half
}

}  // namespace

int main() {
  unsigned long long pairs = 0, midpoints = 0, wrong = 0;
  for (uint32_t a = 1; a < 0x7c00; ++a) {
    const float fa = fp16_value(a);
    for (uint32_t b = 1; b < 0x7c00; ++b) {
      const float fb = fp16_value(b), q = fa / fb;
      ++pairs;
      if (!on_fp16_midpoint(q)) continue;
      ++midpoints;
      if (static_cast<double>(fa) - static_cast<double>(q) * static_cast<double>(fb) != 0.0)
        ++wrong;
    }
  }
  std::printf("%llu pairs, %llu float32 quotients on an fp16 midpoint, %llu of them inexact\n",
              pairs, midpoints, wrong);
  return wrong == 0 ? 0 : 1;
}
