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

}  // namespace corelm
