// Scalar reference matmuls for Q4_1, Q5_0, Q5_1 (against BlockQ8A activations) and the K-quants
// (against BlockQ8K): plain loops, exact integer sums per block, then the scales.
#include "kernels/ref_ggml.h"

#include <cstring>

#include "base/half.h"
#include "tensor/layout.h"
#include "tensor/quant_ggml.h"

namespace corelm {

namespace {

inline float f16(uint16_t h) {
  return fp16_to_float(h);
}

// The 5-bit value of element i (< 32) of a Q5 block: 4 low bits from qs, the fifth from qh.
inline int q5_value(const uint8_t* qs, const uint8_t* qh, int i) {
  uint32_t h;
  std::memcpy(&h, qh, 4);
  const int low = i < 16 ? (qs[i] & 0xF) : (qs[i - 16] >> 4);
  return low | static_cast<int>(((h >> i) & 1) << 4);
}

inline int q4_value(const uint8_t* qs, int i) {
  return i < 16 ? (qs[i] & 0xF) : (qs[i - 16] >> 4);
}

// Element i is d * q_i + m: sum = d * a.scale * sum(q * a) + m * a.scale * sum(a).
float dot_q4_1(const uint8_t* w, const BlockQ8A& a) {
  const auto& b = *reinterpret_cast<const BlockQ4_1*>(w);
  int isum = 0;
  for (int i = 0; i < 32; ++i) isum += q4_value(b.qs, i) * a.qs[i];
  return a.scale * (f16(b.d) * static_cast<float>(isum) + f16(b.m) * static_cast<float>(a.qsum));
}

// Element i is d * (q_i - 16).
float dot_q5_0(const uint8_t* w, const BlockQ8A& a) {
  const auto& b = *reinterpret_cast<const BlockQ5_0*>(w);
  int isum = 0;
  for (int i = 0; i < 32; ++i) isum += q5_value(b.qs, b.qh, i) * a.qs[i];
  return a.scale * f16(b.d) * static_cast<float>(isum - 16 * a.qsum);
}

float dot_q5_1(const uint8_t* w, const BlockQ8A& a) {
  const auto& b = *reinterpret_cast<const BlockQ5_1*>(w);
  int isum = 0;
  for (int i = 0; i < 32; ++i) isum += q5_value(b.qs, b.qh, i) * a.qs[i];
  return a.scale * (f16(b.d) * static_cast<float>(isum) + f16(b.m) * static_cast<float>(a.qsum));
}

template <size_t kBytes, float (*kDot)(const uint8_t*, const BlockQ8A&)>
void matmul_q8a_blocks(const uint8_t* w, size_t row_bytes, const void* x, size_t x_stride, size_t n,
                       size_t k, float* y, size_t y_stride, size_t r0, size_t r1) {
  const size_t nb = k / 32;
  for (size_t r = r0; r < r1; ++r) {
    const uint8_t* wr = w + r * row_bytes;
    for (size_t t = 0; t < n; ++t) {
      const auto* a =
          reinterpret_cast<const BlockQ8A*>(static_cast<const uint8_t*>(x) + t * x_stride);
      float acc = 0.0f;
      for (size_t b = 0; b < nb; ++b) acc += kDot(wr + b * kBytes, a[b]);
      y[t * y_stride + r] = acc;
    }
  }
}

// A K-quant super-block against a BlockQ8K (quant_ggml.h, DecodedKBlock).
float dot_k(const DecodedKBlock& w, const BlockQ8K& a) {
  int isum = 0, msum = 0;
  for (int h = 0; h < 16; ++h) {
    int s = 0;
    for (int i = 16 * h; i < 16 * h + 16; ++i) s += w.q[i] * a.qs[i];
    isum += w.sc[h] * s;
    msum += w.mn[h] * a.bsums[h];
  }
  return a.scale * (w.d * static_cast<float>(isum) - w.dmin * static_cast<float>(msum));
}

template <DType kType>
void matmul_k(const uint8_t* w, size_t row_bytes, const void* x, size_t x_stride, size_t n,
              size_t k, float* y, size_t y_stride, size_t r0, size_t r1) {
  const size_t nb = k / kSuperBlock, block_bytes = dtype_traits(kType).block_bytes;
  DecodedKBlock dec;
  for (size_t r = r0; r < r1; ++r) {
    const uint8_t* wr = w + r * row_bytes;
    for (size_t t = 0; t < n; ++t) {
      const auto* a =
          reinterpret_cast<const BlockQ8K*>(static_cast<const uint8_t*>(x) + t * x_stride);
      float acc = 0.0f;
      for (size_t b = 0; b < nb; ++b) {
        decode_k_block(kType, wr + b * block_bytes, &dec);
        acc += dot_k(dec, a[b]);
      }
      y[t * y_stride + r] = acc;
    }
  }
}

// Q4_K in the interleaved16 layout (tensor/layout.h): each row's super-block decoded from its
// tile, then the same dot product as the rows.
void matmul_q4_k_tiles(const uint8_t* w, size_t, const void* x, size_t x_stride, size_t n, size_t k,
                       float* y, size_t y_stride, size_t r0, size_t r1) {
  const size_t nb = k / kSuperBlock;
  DecodedKBlock dec;
  for (size_t r = r0; r < r1; ++r) {
    const uint8_t* group = w + (r / kInterleave16Rows) * nb * kQ4KTileBytes;
    for (size_t t = 0; t < n; ++t) {
      const auto* a =
          reinterpret_cast<const BlockQ8K*>(static_cast<const uint8_t*>(x) + t * x_stride);
      float acc = 0.0f;
      for (size_t b = 0; b < nb; ++b) {
        decode_q4_k_tile_row(group + b * kQ4KTileBytes, r % kInterleave16Rows, &dec);
        acc += dot_k(dec, a[b]);
      }
      y[t * y_stride + r] = acc;
    }
  }
}

}  // namespace

void add_ggml_reference_kernels(KernelTable& t) {
  auto set = [&](DType d, MatmulFn fn, ActivationFormat a) {
    t.matmul[static_cast<size_t>(d)][static_cast<size_t>(Layout::kRows)] = fn;
    t.activation[static_cast<size_t>(d)] = a;
  };
  const auto q8a = ActivationFormat::kQ8A, q8k = ActivationFormat::kQ8K;
  set(DType::kQ4_1, matmul_q8a_blocks<sizeof(BlockQ4_1), dot_q4_1>, q8a);
  set(DType::kQ5_0, matmul_q8a_blocks<sizeof(BlockQ5_0), dot_q5_0>, q8a);
  set(DType::kQ5_1, matmul_q8a_blocks<sizeof(BlockQ5_1), dot_q5_1>, q8a);
  set(DType::kQ2_K, matmul_k<DType::kQ2_K>, q8k);
  set(DType::kQ3_K, matmul_k<DType::kQ3_K>, q8k);
  set(DType::kQ4_K, matmul_k<DType::kQ4_K>, q8k);
  t.matmul[static_cast<size_t>(DType::kQ4_K)][static_cast<size_t>(Layout::kInterleaved16)] =
      matmul_q4_k_tiles;
  set(DType::kQ5_K, matmul_k<DType::kQ5_K>, q8k);
  set(DType::kQ6_K, matmul_k<DType::kQ6_K>, q8k);
}

}  // namespace corelm
