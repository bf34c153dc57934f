// On-disk / in-memory quantization blocks. The scalar functions in quant.h that fill and read
// them are the specification; SIMD kernels must agree with them.
#pragma once

#include <cstdint>

namespace corelm {

inline constexpr int kQuantBlock = 32;

// q4s32 and GGUF Q4_0 share this block. Element i of the block (0 <= i < 32) is
//   scale * (nibble_i - 8), nibble_i = (i < 16) ? qs[i] & 0xF : qs[i - 16] >> 4.
// q4s32 only ever stores nibbles 1..15 ([-7, 7]); Q4_0 may use nibble 0 (-8).
struct BlockQ4 {
  uint16_t scale;  // fp16
  uint8_t qs[kQuantBlock / 2];
};
static_assert(sizeof(BlockQ4) == 18, "BlockQ4 must be 18 bytes: 4.5 bits per weight");

// q8s32 and GGUF Q8_0 share this block: element i is scale * qs[i].
struct BlockQ8 {
  uint16_t scale;  // fp16
  int8_t qs[kQuantBlock];
};
static_assert(sizeof(BlockQ8) == 34, "BlockQ8 must be 34 bytes: 8.5 bits per weight");

// Activations quantized on the fly for integer dot products (never stored on disk):
// element i is scale * qs[i]; `qsum` = sum(qs), so a dot product with unsigned q4 nibbles can
// subtract the -8 offset as one integer: sum((n - 8) * q) = sum(n * q) - 8 * qsum.
struct BlockQ8A {
  float scale;
  int32_t qsum;
  int8_t qs[kQuantBlock];
};
static_assert(sizeof(BlockQ8A) == 40, "BlockQ8A must be 40 bytes");

// Activations for the K-quant kernels (never stored): one scale per 256 elements, so a
// super-block's integer sums over its sub-blocks combine before any float math; `bsums` holds the
// sums of each 16 consecutive qs (the K-quants' mins and offsets are applied through them).
inline constexpr int kSuperBlock = 256;
struct BlockQ8K {
  float scale;
  int8_t qs[kSuperBlock];
  int16_t bsums[kSuperBlock / 16];
};
static_assert(sizeof(BlockQ8K) == 292, "BlockQ8K must be 292 bytes");
static_assert(sizeof(BlockQ8K) <= 8 * sizeof(BlockQ8A), "a BlockQ8K fits where 8 BlockQ8A do");

// GGUF's other block formats, as ggml defines them (ggml-common.h); fp16 fields as uint16_t.
// Element values are documented with their readers in quant_ggml.cpp.
struct BlockQ4_1 {
  uint16_t d, m;
  uint8_t qs[16];
};
struct BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];  // bit j: the fifth bit of element j
  uint8_t qs[16];
};
struct BlockQ5_1 {
  uint16_t d, m;
  uint8_t qh[4];
  uint8_t qs[16];
};
struct BlockQ2K {
  uint8_t scales[16];  // low nibble: scale, high nibble: min, per 16 elements
  uint8_t qs[64];
  uint16_t d, dmin;
};
struct BlockQ3K {
  uint8_t hmask[32];   // the third bit (set: +0, clear: -4)
  uint8_t qs[64];      // the low two bits
  uint8_t scales[12];  // 16 six-bit scales, offset by 32
  uint16_t d;
};
struct BlockQ4K {
  uint16_t d, dmin;
  uint8_t scales[12];  // 8 six-bit scales and 8 six-bit mins, one of each per 32 elements
  uint8_t qs[128];
};
struct BlockQ5K {
  uint16_t d, dmin;
  uint8_t scales[12];
  uint8_t qh[32];
  uint8_t qs[128];
};
struct BlockQ6K {
  uint8_t ql[128];
  uint8_t qh[64];
  int8_t scales[16];
  uint16_t d;
};
static_assert(sizeof(BlockQ4_1) == 20 && sizeof(BlockQ5_0) == 22 && sizeof(BlockQ5_1) == 24,
              "ggml's 32-element blocks");
static_assert(sizeof(BlockQ2K) == 84 && sizeof(BlockQ3K) == 110 && sizeof(BlockQ4K) == 144 &&
                  sizeof(BlockQ5K) == 176 && sizeof(BlockQ6K) == 210,
              "ggml's K-quant super-blocks");

}  // namespace corelm
