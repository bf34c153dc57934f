#include "tensor/quant.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/half.h"

namespace corelm {

namespace {

float block_absmax(const float* x) {
  float m = 0.0f;
  for (int i = 0; i < kQuantBlock; ++i) m = std::max(m, std::fabs(x[i]));
  return m;
}

// Round half to even: std::nearbyint under the default FE_TONEAREST mode.
inline int round_even(float v) {
  return static_cast<int>(std::nearbyint(v));
}

// The float32 quotient of two fp16 values rounded to 11 significant bits, half to even: the fp16
// quotient, correctly rounded, in every case the quantizer distinguishes.
//
// Why a float32 division then a rounding to fp16 equals the correctly rounded fp16 quotient of
// fp16 operands a = A*2^i, b = B*2^j (A, B integers below 2^11): double rounding goes wrong only
// when the float32 rounding moves the quotient onto or across a midpoint of two neighbouring fp16
// values. Such a midpoint is m = M*2^e with M odd and below 2^12, the quotient near m lying in
// [2^(e+11), 2^(e+12)) where half a float32 ulp is 2^(e-13). If a/b != m then a - m*b =
// A*2^i - M*B*2^(e+j) is a nonzero multiple of 2^min(i, e+j), so |a/b - m| >= 2^min(i,e+j) / b:
//   - min = e+j: |a/b - m| >= 2^e / B > 2^(e-11);
//   - min = i:   |a/b - m| >= 2^(i-j) / B = (a/b) / A >= 2^(e+11) / 2^11 = 2^e while
//                a/b >= 2^(e+11), and below that |a/b - m| >= m - 2^(e+11) >= 2^e anyway.
// Either bound exceeds 2^(e-13), so the float32 quotient stays on the exact quotient's side of
// every midpoint (and a midpoint quotient, 12 bits, is exact in float32). That is the general
// rule at work (Figueroa, "When is double rounding innocuous?", 1995: p >= 2q + 2 bits suffice
// for + - * / and sqrt; here p = 24, q = 11, 24 >= 24), and tests/tools/fp16_division_check.cpp
// checks it on all 10^9 pairs of positive finite fp16 values. The float32 quotient of fp16 values
// lies within [2^-40, 2^40], always a normal float32. It is also how NumPy divides float16
// arrays (widen to float32, divide, round to fp16).
//
// Below fp16's normal range (|q| < 2^-14) this keeps more bits than fp16's subnormals have, and it
// never overflows to infinity; neither changes the quantizer's result, which rounds the quotient
// to an integer and clamps it to [-qmax, qmax]: a quotient below 2^-14 rounds to 0 either way, and
// one at or beyond fp16's overflow clamps to +-qmax either way. Infinity and NaN pass through.
inline float fp16_quotient(float q) {
  const uint32_t u = float_bits(q);
  return bits_float((u + 0xfffu + ((u >> 13) & 1u)) & ~0x1fffu);
}

// fp16(v) as a float: v rounded to fp16 (nearest, half to even), subnormals and overflow to
// infinity included; in fp16's normal range that is fp16_quotient's rounding to 11 bits.
inline float round_to_fp16(float v) {
  const uint32_t abs = float_bits(v) & 0x7fffffffu;
  if (abs >= 0x38800000u && abs < 0x477ff000u) return fp16_quotient(v);
  return fp16_to_float(float_to_fp16(v));
}

// Round half to even of |v| <= 2^22: adding 1.5 * 2^23 leaves no fraction bits, so the float unit
// rounds (to nearest even); subtracting it again is exact.
inline float rint_small(float v) {
  constexpr float kMagic = 12582912.0f;
  return (v + kMagic) - kMagic;
}

constexpr float kFp16Max = 65504.0f;

// A block with a value beyond fp16's range or a NaN (only from bf16 / f32 sources): quantized
// from the float32 values, the scale saturated to fp16's largest value, NaN to 0.
template <int kMax>
uint16_t quantize_block_float(const float* x, int8_t* q) {
  float amax = 0.0f;
  for (int i = 0; i < kQuantBlock; ++i)
    if (!std::isnan(x[i])) amax = std::max(amax, std::fabs(x[i]));
  const uint16_t scale = float_to_fp16(std::min(amax / static_cast<float>(kMax), kFp16Max));
  const float s = fp16_to_float(scale);
  constexpr float lo = -static_cast<float>(kMax), hi = static_cast<float>(kMax);
  for (int i = 0; i < kQuantBlock; ++i) {
    const bool zero = s == 0.0f || std::isnan(x[i]);
    // Clamped before rounding, so an infinite quotient converts to an int as +-kMax.
    const float v = zero ? 0.0f : std::clamp(x[i] / s, lo, hi);
    q[i] = static_cast<int8_t>(round_even(v));
  }
  return scale;
}

// One block of 32 as coremltools' linear_symmetric int quantizer computes it on fp16 weights
// (docs/package-format.md, "q4s32 block"): the values cast to fp16, scale = fp16(max|w| / qmax),
// q = clip(round_half_even(fp16(w / scale)), -qmax, qmax); a zero scale divides by zero as
// coremltools does (+-qmax for nonzero w, 0 for zeros). Returns the fp16 scale.
template <int kMax>
uint16_t quantize_block(const float* x, int8_t* q) {
  float h[kQuantBlock];
  float amax = 0.0f;
  bool finite = true;
  for (int i = 0; i < kQuantBlock; ++i) {
    h[i] = round_to_fp16(x[i]);
    const float a = std::fabs(h[i]);
    finite = finite && a <= kFp16Max;  // false for infinity and NaN
    amax = std::max(amax, a);
  }
  if (!finite) return quantize_block_float<kMax>(x, q);
  // coremltools computes fp16(fp16(2 * amax) / (2 * qmax)): the same exact quotient, so the same
  // correctly rounded fp16 value, while 2 * amax is finite (amax < 32768); corelm keeps this
  // finite scale above that too (docs/package-format.md). amax / qmax in float32 rounded to fp16
  // is the correctly rounded quotient (fp16_quotient's argument; qmax is an fp16 value).
  const uint16_t scale = float_to_fp16(amax / static_cast<float>(kMax));
  const float s = fp16_to_float(scale);
  constexpr float lo = -static_cast<float>(kMax), hi = static_cast<float>(kMax);
  if (s == 0.0f) {
    for (int i = 0; i < kQuantBlock; ++i)
      q[i] = static_cast<int8_t>(h[i] > 0.0f ? kMax : h[i] < 0.0f ? -kMax : 0);
    return scale;
  }
  for (int i = 0; i < kQuantBlock; ++i)
    q[i] = static_cast<int8_t>(rint_small(std::clamp(fp16_quotient(h[i] / s), lo, hi)));
  return scale;
}

// The weighted block quantizer (an importance matrix's): the candidate divisors
// D_k = the float32 quotient (qmax * (56 + k)) / 56 for k = kWeightedGrid[...]; k = 0 is qmax
// itself, coremltools' scale. For q4s32 D_k = 7 + k / 8: 6.5 .. 9 (a larger scale, or a smaller one
// that clips the largest values).
constexpr int kWeightedGrid[] = {0, -4, -3, -2, -1, 1,  2,  3,  4,  5, 6,
                                 7, 8,  9,  10, 11, 12, 13, 14, 15, 16};

// sum_i imp_i (h_i - s q_i)^2 in double, in index order. h_i - s q_i is exact in double (s has 11
// significant bits, q_i at most 8, h_i is an fp16 value).
double weighted_block_error(const float* h, const float* imp, float s, const int8_t* q) {
  double err = 0.0;
  for (int i = 0; i < kQuantBlock; ++i) {
    const double d = static_cast<double>(h[i]) - static_cast<double>(s) * q[i];
    const double dd = d * d;
    const double term = static_cast<double>(imp[i]) * dd;
    err += term;
  }
  return err;
}

// One block of 32 with per-element importance `imp` (>= 0): among the fp16 scales
// fp16(max|h| / D_k) (h = the values cast to fp16), each with coremltools' rounding
// q = clip(round_half_even(fp16(h / s)), -qmax, qmax), the one of least weighted error
// sum imp_i (h_i - s q_i)^2; ties (all-zero importance included) keep the earlier candidate, so
// coremltools' scale (k = 0, tried first) wins every tie. A zero coremltools scale, or a block
// beyond fp16's range, is quantized as without importance. Returns the fp16 scale.
template <int kMax>
uint16_t quantize_block_weighted(const float* x, const float* imp, int8_t* q) {
  const uint16_t base = quantize_block<kMax>(x, q);
  const float s0 = fp16_to_float(base);
  if (s0 == 0.0f || !std::isfinite(s0)) return base;
  float h[kQuantBlock];
  float amax = 0.0f;
  for (int i = 0; i < kQuantBlock; ++i) {
    h[i] = round_to_fp16(x[i]);
    const float a = std::fabs(h[i]);
    if (!(a <= kFp16Max)) return base;  // a value beyond fp16's range (or NaN): no weighting
    amax = std::max(amax, a);
  }
  uint16_t best = base;
  double best_err = weighted_block_error(h, imp, s0, q);
  int8_t cand[kQuantBlock];
  constexpr float lo = -static_cast<float>(kMax), hi = static_cast<float>(kMax);
  for (int k : kWeightedGrid) {
    if (k == 0) continue;
    const float divisor = static_cast<float>(kMax * (56 + k)) / 56.0f;
    const uint16_t scale = float_to_fp16(amax / divisor);
    const float s = fp16_to_float(scale);
    if (s == 0.0f || !std::isfinite(s)) continue;
    for (int i = 0; i < kQuantBlock; ++i)
      cand[i] = static_cast<int8_t>(rint_small(std::clamp(fp16_quotient(h[i] / s), lo, hi)));
    const double err = weighted_block_error(h, imp, s, cand);
    if (err < best_err) {
      best_err = err;
      best = scale;
      std::copy_n(cand, kQuantBlock, q);
    }
  }
  return best;
}

}  // namespace

void quantize_row_q4s32(const float* x, BlockQ4* out, size_t n) {
  int8_t q[kQuantBlock];
  for (size_t b = 0; b < n / kQuantBlock; ++b, x += kQuantBlock) {
    out[b].scale = quantize_block<7>(x, q);
    for (int i = 0; i < kQuantBlock / 2; ++i)
      out[b].qs[i] = static_cast<uint8_t>((q[i] + 8) | ((q[i + 16] + 8) << 4));
  }
}

void quantize_row_q8s32(const float* x, BlockQ8* out, size_t n) {
  for (size_t b = 0; b < n / kQuantBlock; ++b, x += kQuantBlock)
    out[b].scale = quantize_block<127>(x, out[b].qs);
}

void quantize_row_q4s32_weighted(const float* x, const float* importance, BlockQ4* out, size_t n) {
  int8_t q[kQuantBlock];
  for (size_t b = 0; b < n / kQuantBlock; ++b, x += kQuantBlock, importance += kQuantBlock) {
    out[b].scale = quantize_block_weighted<7>(x, importance, q);
    for (int i = 0; i < kQuantBlock / 2; ++i)
      out[b].qs[i] = static_cast<uint8_t>((q[i] + 8) | ((q[i + 16] + 8) << 4));
  }
}

void quantize_row_q8s32_weighted(const float* x, const float* importance, BlockQ8* out, size_t n) {
  for (size_t b = 0; b < n / kQuantBlock; ++b, x += kQuantBlock, importance += kQuantBlock)
    out[b].scale = quantize_block_weighted<127>(x, importance, out[b].qs);
}

bool has_weighted_quantizer(DType dtype) {
  return dtype == DType::kQ4S32 || dtype == DType::kQ8S32;
}

void quantize_row_weighted(DType dtype, const float* x, const float* importance, void* out,
                           size_t n) {
  if (dtype == DType::kQ4S32)
    quantize_row_q4s32_weighted(x, importance, static_cast<BlockQ4*>(out), n);
  else if (dtype == DType::kQ8S32)
    quantize_row_q8s32_weighted(x, importance, static_cast<BlockQ8*>(out), n);
  else
    quantize_row(dtype, x, out, n);
}

void dequantize_row_q4(const BlockQ4* in, float* y, size_t n) {
  for (size_t b = 0; b < n / kQuantBlock; ++b, y += kQuantBlock) {
    float s = fp16_to_float(in[b].scale);
    for (int i = 0; i < kQuantBlock / 2; ++i) {
      y[i] = s * static_cast<float>((in[b].qs[i] & 0xF) - 8);
      y[i + 16] = s * static_cast<float>((in[b].qs[i] >> 4) - 8);
    }
  }
}

void dequantize_row_q8(const BlockQ8* in, float* y, size_t n) {
  for (size_t b = 0; b < n / kQuantBlock; ++b, y += kQuantBlock) {
    float s = fp16_to_float(in[b].scale);
    for (int i = 0; i < kQuantBlock; ++i) y[i] = s * static_cast<float>(in[b].qs[i]);
  }
}

void quantize_row_q8a(const float* x, BlockQ8A* out, size_t n) {
  for (size_t b = 0; b < n / kQuantBlock; ++b, x += kQuantBlock) {
    float amax = block_absmax(x);
    float s = amax / 127.0f;
    float inv = s > 0.0f ? 127.0f / amax : 0.0f;
    int sum = 0;
    for (int i = 0; i < kQuantBlock; ++i) {
      int q = round_even(x[i] * inv);
      out[b].qs[i] = static_cast<int8_t>(q);
      sum += q;
    }
    out[b].scale = s;
    out[b].qsum = sum;
  }
}

void quantize_row_q8a_padded(const float* x, BlockQ8A* out, size_t n,
                             void (*quantize)(const float*, BlockQ8A*, size_t)) {
  const size_t full = n / kQuantBlock * kQuantBlock;
  quantize(x, out, full);
  if (full == n) return;
  float padded[kQuantBlock] = {};
  std::copy(x + full, x + n, padded);
  quantize(padded, out + full / kQuantBlock, kQuantBlock);
}

void quantize_row_q8k(const float* x, BlockQ8K* out, size_t n) {
  for (size_t b = 0; b < n / kSuperBlock; ++b, x += kSuperBlock) {
    float amax = 0.0f;
    for (int i = 0; i < kSuperBlock; ++i) amax = std::max(amax, std::fabs(x[i]));
    const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
    for (int i = 0; i < kSuperBlock; ++i)
      out[b].qs[i] = static_cast<int8_t>(round_even(x[i] * inv));
    for (int j = 0; j < kSuperBlock / 16; ++j) {
      int sum = 0;
      for (int i = 0; i < 16; ++i) sum += out[b].qs[16 * j + i];
      out[b].bsums[j] = static_cast<int16_t>(sum);
    }
    out[b].scale = amax / 127.0f;
  }
}

void row_f32_to_float(const void* in, float* out, size_t n) {
  std::memcpy(out, in, n * sizeof(float));
}

void row_f16_to_float(const void* in, float* out, size_t n) {
  auto* h = static_cast<const uint16_t*>(in);
  for (size_t i = 0; i < n; ++i) out[i] = fp16_to_float(h[i]);
}

void row_bf16_to_float(const void* in, float* out, size_t n) {
  auto* h = static_cast<const uint16_t*>(in);
  for (size_t i = 0; i < n; ++i) out[i] = bf16_to_float(h[i]);
}

void row_q8_to_float(const void* in, float* out, size_t n) {
  dequantize_row_q8(static_cast<const BlockQ8*>(in), out, n);
}

void row_q4_to_float(const void* in, float* out, size_t n) {
  dequantize_row_q4(static_cast<const BlockQ4*>(in), out, n);
}

void row_float_to_f32(const float* in, void* out, size_t n) {
  std::memcpy(out, in, n * sizeof(float));
}

void row_float_to_f16(const float* in, void* out, size_t n) {
  auto* h = static_cast<uint16_t*>(out);
  for (size_t i = 0; i < n; ++i) h[i] = float_to_fp16(in[i]);
}

void row_float_to_bf16(const float* in, void* out, size_t n) {
  auto* h = static_cast<uint16_t*>(out);
  for (size_t i = 0; i < n; ++i) h[i] = float_to_bf16(in[i]);
}

void row_float_to_q8s32(const float* in, void* out, size_t n) {
  quantize_row_q8s32(in, static_cast<BlockQ8*>(out), n);
}

void row_float_to_q4s32(const float* in, void* out, size_t n) {
  quantize_row_q4s32(in, static_cast<BlockQ4*>(out), n);
}

void row_float_to_q4_0(const float* x, void* out, size_t n) {
  // llama.cpp's Q4_0: the signed value of largest magnitude maps to -8.
  auto* blocks = static_cast<BlockQ4*>(out);
  for (size_t b = 0; b < n / kQuantBlock; ++b, x += kQuantBlock) {
    float maxv = 0.0f, amax = 0.0f;
    for (int i = 0; i < kQuantBlock; ++i)
      if (std::fabs(x[i]) > amax) amax = std::fabs(x[i]), maxv = x[i];
    float d = maxv / -8.0f;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    blocks[b].scale = float_to_fp16(d);
    for (int i = 0; i < kQuantBlock / 2; ++i) {
      int q0 = std::min(15, static_cast<int>(x[i] * id + 8.5f));
      int q1 = std::min(15, static_cast<int>(x[i + 16] * id + 8.5f));
      blocks[b].qs[i] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
  }
}

void dequantize_row(DType dtype, const void* in, float* y, size_t n) {
  dtype_traits(dtype).to_float(in, y, n);
}

void quantize_row(DType dtype, const float* x, void* out, size_t n) {
  dtype_traits(dtype).from_float(x, out, n);
}

}  // namespace corelm
