#include "tensor/layout.h"

#include <cstddef>
#include <cstring>
#include <vector>

#include "base/half.h"
#include "tensor/lut.h"
#include "tensor/quant.h"
#include "tensor/quant_ggml.h"

namespace corelm {

const char* layout_name(Layout layout) {
  switch (layout) {
    case Layout::kRows:
      return "rows";
    case Layout::kInterleaved8:
      return "interleaved8";
    case Layout::kInterleaved16:
      return "interleaved16";
    case Layout::kLutG8:
      return "lut_g8";
    case Layout::kLutG16:
      return "lut_g16";
    case Layout::kLutG32:
      return "lut_g32";
  }
  return "?";
}

size_t lut_group_rows(Layout layout) {
  switch (layout) {
    case Layout::kLutG8:
      return 8;
    case Layout::kLutG16:
      return 16;
    case Layout::kLutG32:
      return 32;
    default:
      return 0;
  }
}

std::optional<Layout> lut_layout_for_group(size_t group_rows) {
  for (Layout l : {Layout::kLutG8, Layout::kLutG16, Layout::kLutG32})
    if (lut_group_rows(l) == group_rows) return l;
  return std::nullopt;
}

size_t lut_table_bytes(DType dtype) {
  return size_t{2} << dtype_traits(dtype).lut_bits;
}

std::optional<Layout> layout_from_name(std::string_view name) {
  if (name == "rows") return Layout::kRows;
  if (name == "interleaved8") return Layout::kInterleaved8;
  for (Layout l : {Layout::kLutG8, Layout::kLutG16, Layout::kLutG32})
    if (name == layout_name(l)) return l;
  return std::nullopt;
}

bool layout_fits(DType dtype, Layout layout, size_t rows, size_t cols) {
  if (!dtype_fits_row(dtype, cols)) return false;
  // A palettized dtype lives only in a lut layout (its tables are there), and only it does.
  if ((dtype_traits(dtype).lut_bits > 0) != (lut_group_rows(layout) > 0)) return false;
  if (layout == Layout::kRows || lut_group_rows(layout) > 0) return true;
  if (layout == Layout::kInterleaved16)
    return dtype == DType::kQ4_K && rows % kInterleave16Rows == 0;
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

size_t layout_matrix_bytes(DType dtype, Layout layout, size_t rows, size_t cols) {
  if (layout == Layout::kInterleaved16)
    return rows / kInterleave16Rows * (cols / kSuperBlock) * kQ4KTileBytes;
  if (const size_t g = lut_group_rows(layout); g > 0)
    return (rows + g - 1) / g * lut_table_bytes(dtype) +
           (rows + kLut4SetRows - 1) / kLut4SetRows * kLut4SetRows * dtype_row_bytes(dtype, cols);
  return rows * dtype_row_bytes(dtype, cols);
}

void repack_rows(DType dtype, Layout layout, const uint8_t* in, size_t rows, size_t cols,
                 uint8_t* out) {
  const size_t row_bytes = dtype_row_bytes(dtype, cols);
  if (layout == Layout::kRows) {
    std::memcpy(out, in, rows * row_bytes);
    return;
  }
  if (layout == Layout::kInterleaved16) {
    const size_t blocks = cols / kSuperBlock;
    for (size_t g = 0; g < rows / kInterleave16Rows; ++g) {
      const uint8_t* group_rows[kInterleave16Rows];
      for (size_t r = 0; r < kInterleave16Rows; ++r)
        group_rows[r] = in + (g * kInterleave16Rows + r) * row_bytes;
      interleave_q4_k_group(group_rows, blocks, out + g * blocks * kQ4KTileBytes);
    }
    return;
  }
  const size_t blocks = cols / kQuantBlock;
  for (size_t g = 0; g < rows / kInterleaveRows; ++g) {
    const uint8_t* src = in + g * kInterleaveRows * row_bytes;
    uint8_t* dst = out + g * kInterleaveRows * row_bytes;
    if (q8_blocks(dtype)) {
      const BlockQ8* group_rows[kInterleaveRows];
      for (size_t r = 0; r < kInterleaveRows; ++r)
        group_rows[r] = reinterpret_cast<const BlockQ8*>(src + r * row_bytes);
      interleave_q8_group(group_rows, blocks, dst);
    } else {
      const BlockQ4* group_rows[kInterleaveRows];
      for (size_t r = 0; r < kInterleaveRows; ++r)
        group_rows[r] = reinterpret_cast<const BlockQ4*>(src + r * row_bytes);
      interleave_q4_group(group_rows, blocks, dst);
    }
  }
}

void interleave_q4_k_group(const uint8_t* const rows[kInterleave16Rows], size_t blocks,
                           uint8_t* group) {
  DecodedKBlock dec;
  for (size_t b = 0; b < blocks; ++b) {
    uint8_t* tile = group + b * kQ4KTileBytes;
    for (size_t r = 0; r < kInterleave16Rows; ++r) {
      const uint8_t* blk = rows[r] + b * sizeof(BlockQ4K);
      std::memcpy(tile + 2 * r, blk + offsetof(BlockQ4K, d), 2);
      std::memcpy(tile + 32 + 2 * r, blk + offsetof(BlockQ4K, dmin), 2);
      decode_k_block(DType::kQ4_K, blk, &dec);
      for (size_t g = 0; g < 8; ++g) {
        tile[kQ4KTileScales + 16 * g + r] = static_cast<uint8_t>(dec.sc[2 * g]);
        tile[kQ4KTileMins + 32 * (g / 2) + 2 * r + g % 2] = static_cast<uint8_t>(dec.mn[2 * g]);
        uint8_t* v = tile + kQ4KTileValues + 256 * g;
        for (size_t c = 0; c < 4; ++c)
          for (size_t m = 0; m < 4; ++m)
            v[64 * c + 4 * r + m] = static_cast<uint8_t>(dec.q[32 * g + 4 * c + m] |
                                                         (dec.q[32 * g + 16 + 4 * c + m] << 4));
      }
    }
  }
}

void decode_q4_k_tile_row(const uint8_t* tile, size_t r, DecodedKBlock* out) {
  uint16_t h;
  std::memcpy(&h, tile + 2 * r, 2);
  out->d = fp16_to_float(h);
  std::memcpy(&h, tile + 32 + 2 * r, 2);
  out->dmin = fp16_to_float(h);
  for (size_t g = 0; g < 8; ++g) {
    const uint8_t sc = tile[kQ4KTileScales + 16 * g + r];
    const uint8_t mn = tile[kQ4KTileMins + 32 * (g / 2) + 2 * r + g % 2];
    out->sc[2 * g] = out->sc[2 * g + 1] = sc;
    out->mn[2 * g] = out->mn[2 * g + 1] = mn;
    const uint8_t* v = tile + kQ4KTileValues + 256 * g;
    for (size_t c = 0; c < 4; ++c)
      for (size_t m = 0; m < 4; ++m) {
        const uint8_t byte = v[64 * c + 4 * r + m];
        out->q[32 * g + 4 * c + m] = static_cast<int8_t>(byte & 0xF);
        out->q[32 * g + 16 + 4 * c + m] = static_cast<int8_t>(byte >> 4);
      }
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
  if (lut_group_rows(layout) > 0) {
    dequantize_lut_row(dtype, layout, base, row, cols, out);
    return;
  }
  if (layout == Layout::kInterleaved16) {
    const size_t blocks = cols / kSuperBlock;
    const uint8_t* group = base + (row / kInterleave16Rows) * blocks * kQ4KTileBytes;
    DecodedKBlock dec;
    for (size_t b = 0; b < blocks; ++b) {
      decode_q4_k_tile_row(group + b * kQ4KTileBytes, row % kInterleave16Rows, &dec);
      // As row_q4_k_to_float computes it: d * sc and dmin * mn first, per group of 32.
      for (size_t g = 0; g < 8; ++g) {
        const float d1 = dec.d * static_cast<float>(dec.sc[2 * g]),
                    m1 = dec.dmin * static_cast<float>(dec.mn[2 * g]);
        for (size_t i = 0; i < 32; ++i)
          out[b * kSuperBlock + 32 * g + i] = d1 * static_cast<float>(dec.q[32 * g + i]) - m1;
      }
    }
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
