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

template <int kMax>
uint16_t symmetric_scale(const float* x, float* inverse) {
  uint16_t scale = float_to_fp16(block_absmax(x) / static_cast<float>(kMax));
  float s = fp16_to_float(scale);
  *inverse = s > 0.0f ? 1.0f / s : 0.0f;
  return scale;
}

}  // namespace

void quantize_row_q4s32(const float* x, BlockQ4* out, size_t n) {
  for (size_t b = 0; b < n / kQuantBlock; ++b, x += kQuantBlock) {
    float inv;
    out[b].scale = symmetric_scale<7>(x, &inv);
    // Divide rather than multiply by the inverse: x / s rounds exactly as numpy's w / scale.
    float s = fp16_to_float(out[b].scale);
    for (int i = 0; i < kQuantBlock / 2; ++i) {
      int q0 = inv > 0.0f ? std::clamp(round_even(x[i] / s), -7, 7) : 0;
      int q1 = inv > 0.0f ? std::clamp(round_even(x[i + 16] / s), -7, 7) : 0;
      out[b].qs[i] = static_cast<uint8_t>((q0 + 8) | ((q1 + 8) << 4));
    }
  }
}

void quantize_row_q8s32(const float* x, BlockQ8* out, size_t n) {
  for (size_t b = 0; b < n / kQuantBlock; ++b, x += kQuantBlock) {
    float inv;
    out[b].scale = symmetric_scale<127>(x, &inv);
    float s = fp16_to_float(out[b].scale);
    for (int i = 0; i < kQuantBlock; ++i)
      out[b].qs[i] =
          static_cast<int8_t>(inv > 0.0f ? std::clamp(round_even(x[i] / s), -127, 127) : 0);
  }
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
