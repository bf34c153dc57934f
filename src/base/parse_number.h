// Strict number parsing for untrusted text (Jinja literals, token ids written as JSON keys,
// "<0x0A>" byte pieces). The whole text must be the number: no spaces, no '+', no trailing
// characters, no overflow (std::stoi accepts " 7", "+7" and "7abc", and throws foreign
// exceptions on the rest). Each returns nullopt when the text is not a number it can represent.
#pragma once

#include <charconv>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string_view>
#include <system_error>
#include <type_traits>

namespace corelm {

// Integers in `base` (2..36); a leading '-' only for signed T.
template <typename T>
std::optional<T> parse_integer(std::string_view text, int base = 10) {
  static_assert(std::is_integral_v<T>);
  if (text.empty()) return std::nullopt;
  T value{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, base);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// A finite decimal floating-point number ("1.5", "-2e-3"); "1e999", "nan" and "inf" give nullopt.
inline std::optional<double> parse_finite_double(std::string_view text) {
  if (text.empty()) return std::nullopt;
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(value))
    return std::nullopt;
  return value;
}

// True when `d` converts to int64_t without undefined behaviour (finite, within ±2^63).
inline bool fits_int64(double d) {
  return std::isfinite(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0;
}

}  // namespace corelm
