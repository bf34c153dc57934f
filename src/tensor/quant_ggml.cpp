#include "tensor/quant_ggml.h"

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "base/half.h"

namespace corelm {

namespace {

constexpr int kQK = 256;

inline void scale_min_k4(int j, const uint8_t* q, uint8_t* sc, uint8_t* m) {
  k4_scale_min(j, q, sc, m);
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

// Q2_K: 16 scale bytes (low nibble scale, high nibble min, per 16 elements), 64 bytes of 2-bit q
// (element 128 * n + 32 * j + l, l < 32, is bits 2j..2j+1 of qs[32 * n + l]), fp16 d and dmin.
void dequant_q2_k(const uint8_t* b, float* y) {
  const auto* blk = reinterpret_cast<const BlockQ2K*>(b);
  const float d = fp16_to_float(load16(b + offsetof(BlockQ2K, d)));
  const float dmin = fp16_to_float(load16(b + offsetof(BlockQ2K, dmin)));
  const uint8_t* q = blk->qs;
  int is = 0;
  for (int n = 0; n < kQK; n += 128) {
    for (int shift = 0; shift < 8; shift += 2) {
      for (int half = 0; half < 2; ++half) {
        const uint8_t sc = blk->scales[is++];
        const float dl = d * static_cast<float>(sc & 0xF), ml = dmin * static_cast<float>(sc >> 4);
        for (int l = 0; l < 16; ++l)
          *y++ = dl * static_cast<float>((q[16 * half + l] >> shift) & 3) - ml;
      }
    }
    q += 32;
  }
}

// Q3_K: hmask[32] (bit j of hmask[l]: the high bit of element 32 * j + l; set means +0, clear
// -4), 64 bytes of low 2-bit pairs laid out as Q2_K's, 12 bytes of 6-bit scales, fp16 d.
void dequant_q3_k(const uint8_t* b, float* y) {
  const auto* blk = reinterpret_cast<const BlockQ3K*>(b);
  const float d = fp16_to_float(load16(b + offsetof(BlockQ3K, d)));
  int8_t scales[16];
  q3_k_scales(blk->scales, scales);
  const uint8_t* q = blk->qs;
  int is = 0;
  uint8_t m = 1;
  for (int n = 0; n < kQK; n += 128) {
    for (int shift = 0; shift < 8; shift += 2) {
      for (int half = 0; half < 2; ++half) {
        const float dl = d * static_cast<float>(scales[is++]);
        for (int l = 0; l < 16; ++l) {
          const int i = 16 * half + l;
          const int v = ((q[i] >> shift) & 3) - ((blk->hmask[i] & m) ? 0 : 4);
          *y++ = dl * static_cast<float>(v);
        }
      }
      m = static_cast<uint8_t>(m << 1);
    }
    q += 32;
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

void k4_scale_min(int j, const uint8_t* q, uint8_t* sc, uint8_t* m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = static_cast<uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    *m = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

void q3_k_scales(const uint8_t* s, int8_t out[16]) {
  // Scale j: low 4 bits from byte j % 8 (low nibble for j < 8, high for j >= 8), high 2 bits from
  // byte 8 + j % 4, bits 2 * (j / 4).
  for (int j = 0; j < 16; ++j) {
    const int low = j < 8 ? (s[j] & 0xF) : (s[j - 8] >> 4);
    const int high = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
    out[j] = static_cast<int8_t>((low | (high << 4)) - 32);
  }
}

void decode_k_block(DType dtype, const uint8_t* b, DecodedKBlock* out) {
  switch (dtype) {
    case DType::kQ2_K: {
      const auto* blk = reinterpret_cast<const BlockQ2K*>(b);
      out->d = fp16_to_float(load16(b + offsetof(BlockQ2K, d)));
      out->dmin = fp16_to_float(load16(b + offsetof(BlockQ2K, dmin)));
      for (int h = 0; h < 16; ++h) {
        out->sc[h] = static_cast<int16_t>(blk->scales[h] & 0xF);
        out->mn[h] = static_cast<int16_t>(blk->scales[h] >> 4);
      }
      for (int i = 0; i < kQK; ++i) {
        const int n = i / 128, j = (i % 128) / 32, l = i % 32;
        out->q[i] = static_cast<int8_t>((blk->qs[32 * n + l] >> (2 * j)) & 3);
      }
      return;
    }
    case DType::kQ3_K: {
      const auto* blk = reinterpret_cast<const BlockQ3K*>(b);
      out->d = fp16_to_float(load16(b + offsetof(BlockQ3K, d)));
      out->dmin = 0.0f;
      int8_t scales[16];
      q3_k_scales(blk->scales, scales);
      for (int h = 0; h < 16; ++h) out->sc[h] = scales[h], out->mn[h] = 0;
      for (int i = 0; i < kQK; ++i) {
        const int n = i / 128, j = (i % 128) / 32, l = i % 32;
        const int low = (blk->qs[32 * n + l] >> (2 * j)) & 3;
        const bool high = (blk->hmask[l] >> (4 * n + j)) & 1;
        out->q[i] = static_cast<int8_t>(low - (high ? 0 : 4));
      }
      return;
    }
    case DType::kQ4_K:
    case DType::kQ5_K: {
      const bool five = dtype == DType::kQ5_K;
      out->d = fp16_to_float(load16(b));
      out->dmin = fp16_to_float(load16(b + 2));
      const uint8_t* scales = b + 4;
      const uint8_t* qh = five ? b + 16 : nullptr;
      const uint8_t* qs = five ? b + 48 : b + 16;
      for (int j = 0; j < 8; ++j) {
        uint8_t sc, m;
        k4_scale_min(j, scales, &sc, &m);
        out->sc[2 * j] = out->sc[2 * j + 1] = sc;
        out->mn[2 * j] = out->mn[2 * j + 1] = m;
      }
      // Element 64 * p + l (l < 32) is the low nibble of qs[32 * p + l]; 64 * p + 32 + l the high.
      for (int i = 0; i < kQK; ++i) {
        const int p = i / 64, l = i % 32, hi = (i % 64) / 32;
        int v = (qs[32 * p + l] >> (4 * hi)) & 0xF;
        if (five) v += ((qh[l] >> (2 * p + hi)) & 1) << 4;
        out->q[i] = static_cast<int8_t>(v);
      }
      return;
    }
    case DType::kQ6_K: {
      const auto* blk = reinterpret_cast<const BlockQ6K*>(b);
      out->d = fp16_to_float(load16(b + offsetof(BlockQ6K, d)));
      out->dmin = 0.0f;
      for (int h = 0; h < 16; ++h) out->sc[h] = blk->scales[h], out->mn[h] = 0;
      // Element 128 * n + 32 * j + l: low nibble of ql[64 * n + l + 32 * (j & 1)] (high nibble for
      // j >= 2), high two bits from qh[32 * n + l] bits 2j..2j+1.
      for (int i = 0; i < kQK; ++i) {
        const int n = i / 128, j = (i % 128) / 32, l = i % 32;
        const int low = (blk->ql[64 * n + l + 32 * (j & 1)] >> (4 * (j >> 1))) & 0xF;
        const int high = (blk->qh[32 * n + l] >> (2 * j)) & 3;
        out->q[i] = static_cast<int8_t>((low | (high << 4)) - 32);
      }
      return;
    }
    default:
      break;
  }
  std::memset(out, 0, sizeof(*out));
}

void row_q2_k_to_float(const void* in, float* out, size_t n) {
  each_block<256, 84>(in, out, n, dequant_q2_k);
}
void row_q3_k_to_float(const void* in, float* out, size_t n) {
  each_block<256, 110>(in, out, n, dequant_q3_k);
}

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
