#include "tensor/quant_ggml.h"

#include <cstdint>
#include <cstring>

#include "base/half.h"

namespace corelm {

namespace {

constexpr int kQK = 256;

// The 6-bit scale and min of sub-block j of a Q4_K / Q5_K super-block.
inline void scale_min_k4(int j, const uint8_t* q, uint8_t* sc, uint8_t* m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = static_cast<uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    *m = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

uint16_t load16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

void dequant_q4_k(const uint8_t* b, float* y) {  // d, dmin, scales[12], qs[128]
  const float d = fp16_to_float(load16(b)), dmin = fp16_to_float(load16(b + 2));
  const uint8_t* scales = b + 4;
  const uint8_t* q = b + 16;
  int is = 0;
  for (int j = 0; j < kQK; j += 64) {
    uint8_t sc, m;
    scale_min_k4(is, scales, &sc, &m);
    const float d1 = d * sc, m1 = dmin * m;
    scale_min_k4(is + 1, scales, &sc, &m);
    const float d2 = d * sc, m2 = dmin * m;
    for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>(q[l] & 0xF) - m1;
    for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>(q[l] >> 4) - m2;
    q += 32;
    is += 2;
  }
}

void dequant_q5_k(const uint8_t* b, float* y) {  // d, dmin, scales[12], qh[32], qs[128]
  const float d = fp16_to_float(load16(b)), dmin = fp16_to_float(load16(b + 2));
  const uint8_t* scales = b + 4;
  const uint8_t* qh = b + 16;
  const uint8_t* ql = b + 48;
  int is = 0;
  uint8_t u1 = 1, u2 = 2;
  for (int j = 0; j < kQK; j += 64) {
    uint8_t sc, m;
    scale_min_k4(is, scales, &sc, &m);
    const float d1 = d * sc, m1 = dmin * m;
    scale_min_k4(is + 1, scales, &sc, &m);
    const float d2 = d * sc, m2 = dmin * m;
    for (int l = 0; l < 32; ++l)
      *y++ = d1 * static_cast<float>((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
    for (int l = 0; l < 32; ++l)
      *y++ = d2 * static_cast<float>((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
    ql += 32;
    is += 2;
    u1 = static_cast<uint8_t>(u1 << 2);
    u2 = static_cast<uint8_t>(u2 << 2);
  }
}

void dequant_q6_k(const uint8_t* b, float* y) {  // ql[128], qh[64], scales[16] (int8), d
  const uint8_t* ql = b;
  const uint8_t* qh = b + 128;
  const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192);
  const float d = fp16_to_float(load16(b + 208));
  for (int n = 0; n < kQK; n += 128) {
    for (int l = 0; l < 32; ++l) {
      const int is = l / 16;
      const int q1 = static_cast<int>((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
      const int q2 = static_cast<int>((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
      const int q3 = static_cast<int>((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
      const int q4 = static_cast<int>((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
      y[l] = d * sc[is] * q1;
      y[l + 32] = d * sc[is + 2] * q2;
      y[l + 64] = d * sc[is + 4] * q3;
      y[l + 96] = d * sc[is + 6] * q4;
    }
    y += 128;
    ql += 64;
    qh += 32;
    sc += 8;
  }
}

void dequant_q4_1(const uint8_t* b, float* y) {  // d, m, qs[16]
  const float d = fp16_to_float(load16(b)), m = fp16_to_float(load16(b + 2));
  for (int j = 0; j < 16; ++j) {
    y[j] = d * static_cast<float>(b[4 + j] & 0xF) + m;
    y[j + 16] = d * static_cast<float>(b[4 + j] >> 4) + m;
  }
}

void dequant_q5(const uint8_t* b, float* y,
                bool with_min) {  // Q5_0: d, qh[4], qs[16]; Q5_1: d, m, qh, qs
  const float d = fp16_to_float(load16(b));
  const float m = with_min ? fp16_to_float(load16(b + 2)) : 0.0f;
  const uint8_t* p = b + (with_min ? 4 : 2);
  uint32_t qh;
  std::memcpy(&qh, p, 4);
  const uint8_t* qs = p + 4;
  for (int j = 0; j < 16; ++j) {
    const int x0 = (qs[j] & 0xF) | static_cast<int>(((qh >> j) & 1) << 4);
    const int x1 = (qs[j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1) << 4);
    if (with_min) {
      y[j] = d * static_cast<float>(x0) + m;
      y[j + 16] = d * static_cast<float>(x1) + m;
    } else {
      y[j] = d * static_cast<float>(x0 - 16);
      y[j + 16] = d * static_cast<float>(x1 - 16);
    }
  }
}

// Applies a one-block reader to each block of a row.
template <size_t kElements, size_t kBytes, typename F>
void each_block(const void* in, float* out, size_t n, F&& f) {
  const auto* p = static_cast<const uint8_t*>(in);
  for (size_t b = 0; b < n / kElements; ++b) f(p + b * kBytes, out + b * kElements);
}

}  // namespace

void row_q4_1_to_float(const void* in, float* out, size_t n) {
  each_block<32, 20>(in, out, n, dequant_q4_1);
}
void row_q5_0_to_float(const void* in, float* out, size_t n) {
  each_block<32, 22>(in, out, n, [](const uint8_t* b, float* y) { dequant_q5(b, y, false); });
}
void row_q5_1_to_float(const void* in, float* out, size_t n) {
  each_block<32, 24>(in, out, n, [](const uint8_t* b, float* y) { dequant_q5(b, y, true); });
}
void row_q4_k_to_float(const void* in, float* out, size_t n) {
  each_block<256, 144>(in, out, n, dequant_q4_k);
}
void row_q5_k_to_float(const void* in, float* out, size_t n) {
  each_block<256, 176>(in, out, n, dequant_q5_k);
}
void row_q6_k_to_float(const void* in, float* out, size_t n) {
  each_block<256, 210>(in, out, n, dequant_q6_k);
}

}  // namespace corelm
