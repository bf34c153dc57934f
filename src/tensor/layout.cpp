#include "tensor/layout.h"

#include <cstring>
#include <vector>

#include "tensor/quant.h"

namespace corelm {

const char* layout_name(Layout layout) {
  return layout == Layout::kRows ? "rows" : "interleaved8";
}

std::optional<Layout> layout_from_name(std::string_view name) {
  if (name == "rows") return Layout::kRows;
  if (name == "interleaved8") return Layout::kInterleaved8;
  return std::nullopt;
}

bool layout_fits(DType dtype, Layout layout, size_t rows, size_t cols) {
  if (!dtype_fits_row(dtype, cols)) return false;
  if (layout == Layout::kRows) return true;
  return (dtype_traits(dtype).q4_blocks || q8_blocks(dtype)) && rows % kInterleaveRows == 0;
}

bool q8_blocks(DType dtype) {
  return dtype == DType::kQ8S32 || dtype == DType::kQ8_0;
}

namespace {
inline int nibble(const BlockQ4& b, size_t e) {
  return e < 16 ? (b.qs[e] & 0xF) : (b.qs[e - 16] >> 4);
}
}  // namespace

void interleave_q4_group(const BlockQ4* const rows[kInterleaveRows], size_t blocks,
                         uint8_t* group) {
  for (size_t b = 0; b < blocks; ++b) {
    uint8_t* out = group + b * kInterleavedBlockBytes;
    for (size_t r = 0; r < kInterleaveRows; ++r) std::memcpy(out + 2 * r, &rows[r][b].scale, 2);
    uint8_t* q = out + 16;
    // Chunk c, byte 4r + m: low nibble = element 4c + m of row r, high nibble = element 16 + 4c +
    // m.
    for (size_t c = 0; c < 4; ++c)
      for (size_t r = 0; r < kInterleaveRows; ++r)
        for (size_t m = 0; m < 4; ++m) {
          const BlockQ4& src = rows[r][b];
          q[32 * c + 4 * r + m] =
              static_cast<uint8_t>(nibble(src, 4 * c + m) | (nibble(src, 16 + 4 * c + m) << 4));
        }
  }
}

void deinterleave_q4_row(const uint8_t* group, size_t blocks, size_t r, BlockQ4* out) {
  for (size_t b = 0; b < blocks; ++b) {
    const uint8_t* in = group + b * kInterleavedBlockBytes;
    std::memcpy(&out[b].scale, in + 2 * r, 2);
    const uint8_t* q = in + 16;
    uint8_t elements[32];
    for (size_t c = 0; c < 4; ++c)
      for (size_t m = 0; m < 4; ++m) {
        uint8_t byte = q[32 * c + 4 * r + m];
        elements[4 * c + m] = byte & 0xF;
        elements[16 + 4 * c + m] = byte >> 4;
      }
    for (size_t i = 0; i < 16; ++i)
      out[b].qs[i] = static_cast<uint8_t>(elements[i] | (elements[i + 16] << 4));
  }
}

void interleave_q8_group(const BlockQ8* const rows[kInterleaveRows], size_t blocks,
                         uint8_t* group) {
  for (size_t b = 0; b < blocks; ++b) {
    uint8_t* out = group + b * kInterleavedQ8BlockBytes;
    for (size_t r = 0; r < kInterleaveRows; ++r) std::memcpy(out + 2 * r, &rows[r][b].scale, 2);
    int8_t* q = reinterpret_cast<int8_t*>(out + 16);
    for (size_t c = 0; c < 8; ++c)
      for (size_t r = 0; r < kInterleaveRows; ++r)
        for (size_t m = 0; m < 4; ++m) q[32 * c + 4 * r + m] = rows[r][b].qs[4 * c + m];
  }
}

void deinterleave_q8_row(const uint8_t* group, size_t blocks, size_t r, BlockQ8* out) {
  for (size_t b = 0; b < blocks; ++b) {
    const uint8_t* in = group + b * kInterleavedQ8BlockBytes;
    std::memcpy(&out[b].scale, in + 2 * r, 2);
    const int8_t* q = reinterpret_cast<const int8_t*>(in + 16);
    for (size_t c = 0; c < 8; ++c)
      for (size_t m = 0; m < 4; ++m) out[b].qs[4 * c + m] = q[32 * c + 4 * r + m];
  }
}

void dequantize_matrix_row(DType dtype, Layout layout, const uint8_t* base, size_t row, size_t cols,
                           float* out) {
  if (layout == Layout::kRows) {
    dequantize_row(dtype, base + row * dtype_row_bytes(dtype, cols), out, cols);
    return;
  }
  const size_t blocks = cols / kQuantBlock;
  if (q8_blocks(dtype)) {
    std::vector<BlockQ8> tmp(blocks);
    const uint8_t* group = base + (row / kInterleaveRows) * blocks * kInterleavedQ8BlockBytes;
    deinterleave_q8_row(group, blocks, row % kInterleaveRows, tmp.data());
    dequantize_row(dtype, reinterpret_cast<const uint8_t*>(tmp.data()), out, cols);
    return;
  }
  std::vector<BlockQ4> tmp(blocks);
  const uint8_t* group = base + (row / kInterleaveRows) * blocks * kInterleavedBlockBytes;
  deinterleave_q4_row(group, blocks, row % kInterleaveRows, tmp.data());
  dequantize_row_q4(tmp.data(), out, cols);
}

}  // namespace corelm
