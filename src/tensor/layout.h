// Weight layouts. "rows": each row stored contiguously. "interleaved8": rows in groups of 8, each
// 32-column block of a group stored as the 8 rows' fp16 scales, then their values arranged so that
// one 32-byte load gives, for every row of the group, four consecutive weights side by side
// (docs/package-format.md has the byte maps). A kernel then multiplies 8 rows (or 16, two groups
// in a 512-bit register) by one activation block with no horizontal sums.
//   q4 dtypes (BlockQ4 rows): 8 scales, then 128 bytes of nibbles (two masks per load). Chosen at
//     conversion time, or at load for GGUF's Q4_0 rows; the bytes are used as they are.
//   q8 dtypes (BlockQ8 rows): 8 scales, then 256 bytes of int8 values. Made at load, from rows,
//     when the kernel table runs it faster (KernelTable::interleave_q8); never written by convert.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "tensor/dtype.h"
#include "tensor/quant_blocks.h"

namespace corelm {

enum class Layout : uint8_t { kRows, kInterleaved8, kInterleaved16, kLutG8, kLutG16, kLutG32 };
// The number of Layouts (tables indexed by Layout are sized by it); kLutG32 is the last.
inline constexpr size_t kNumLayouts = static_cast<size_t>(Layout::kLutG32) + 1;

// "lut_g8", "lut_g16", "lut_g32" (palettized dtypes only, lut3/4/6; written by convert): the rows
// in groups of G = 8, 16, 32 (the last group holds the rest when G does not divide the rows), each
// group stored as its table of 2^lut_bits fp16 values followed by its G rows of dtype_row_bytes:
//   group g at byte g * (table + G * row_bytes); row r in group r / G, in the set of 8 rows at
//   table + (r % G) / 8 * 8 * row_bytes within it.
// Element c of a row is table[index c]. lut4 stores a group's rows in sets of 8 (the matrix's
// last set padded with rows of index 0, so the matrix takes ceil(rows / G) * table + ceil(rows /
// 8) * 8 * row_bytes bytes); a set is its 32-column blocks, each four 32-byte chunks whose byte
// 4r + m holds column 4c + m of row r (low nibble) and column 16 + 4c + m (high), as q4s32's
// interleaved8, then, when 32 does not divide cols, the last w columns row by row (byte j of a
// row's w / 2 holds columns j and j + w / 2). tensor/lut.h, lut4_byte_offset, is the map.
// lut6 and lut3 keep lut4's sets of 8 rows and split each index into bit planes, so a kernel
// decodes them with the same 32-byte loads (one byte per row and column of 4 columns x 8 rows).
// A set is its full 32-column blocks (32 * bits bytes each), then the w = cols % 32 last columns
// row by row (3 w / 4 or 3 w / 8 bytes per row). With j = c % 32, k = (j % 16) / 4 (lut4's chunk),
// h = j / 16 (lut4's nibble), p = k / 2 and i = 2 (k % 2) + h, element (r, c) of a block is in:
//   lut6 (192 bytes): [0, 128) bits 0-3 exactly as lut4's block; [128, 192) two 32-byte chunks of
//     2-bit fields: bits 4-5 in chunk p, byte 4r + j % 4, bits 2i..2i+1.
//   lut3 (96 bytes): [0, 64) bits 0-1 in chunk p, byte 4r + j % 4, bits 2i..2i+1 (the same map
//     as lut6's high plane); [64, 96) bit 2 in byte 4r + j % 4, bit 2k + h.
// The tail row (columns t = c - cols + w of the row): lut6: w / 2 bytes of nibbles (byte t % (w/2),
// high nibble when t >= w / 2) then w / 4 bytes of 2-bit fields (byte t % (w/4), field t / (w/4));
// lut3: w / 4 bytes of 2-bit fields (byte t % (w/4), field t / (w/4)) then w / 8 bytes of bits
// (byte t % (w/8), bit t / (w/8)). tensor/lut.h, lut_index, reads any of the three.
// The group size of a lut layout (0 for the others), and the layout of group size G (nullopt when
// G is not 8, 16 or 32).
size_t lut_group_rows(Layout layout);
std::optional<Layout> lut_layout_for_group(size_t group_rows);
// Bytes of one group's table for a palettized dtype (2 << lut_bits).
size_t lut_table_bytes(DType dtype);

inline constexpr size_t kInterleaveRows = 8;
inline constexpr size_t kInterleavedBlockBytes =
    8 * 2 + 8 * 16;  // 144: 8 scales + 8 x 16 bytes of nibbles
static_assert(kInterleavedBlockBytes == 8 * sizeof(BlockQ4),
              "an interleaved block holds 8 q4 blocks");
inline constexpr size_t kInterleavedQ8BlockBytes =
    8 * 2 + 8 * 32;  // 272: 8 scales + 8 x 32 int8 values
static_assert(kInterleavedQ8BlockBytes == 8 * sizeof(BlockQ8),
              "an interleaved q8 block holds 8 q8 blocks");

// True for the dtypes of BlockQ8 rows (q8s32, q8_0).
bool q8_blocks(DType dtype);

const char* layout_name(Layout layout);
std::optional<Layout> layout_from_name(std::string_view name);
// True if a [rows, cols] tensor of `dtype` can be stored in `layout`.
bool layout_fits(DType dtype, Layout layout, size_t rows, size_t cols);

// "interleaved16" (Q4_K only; made at load when the kernel table runs it faster,
// KernelTable::interleave_q4_k; never in a package): rows in groups of 16, each super-block of a
// group a tile of kQ4KTileBytes with the scales and mins unpacked to bytes and the values of the
// 16 rows side by side, four per row per 32-bit lane (docs/package-format.md has the byte map):
//   [0, 32) d and [32, 64) dmin of rows 0..15 (fp16);
//   [64, 192) scales: byte 16 g + r = the 6-bit scale of group g (0..7, 32 values) of row r;
//   [192, 320) mins: 32 bytes per pair j of groups (0..3), byte 2 r + e = min of group 2 j + e;
//   [320, 2368) values: 256 bytes per group g, 4 chunks c of 64 bytes: byte 4 r + m holds
//     element 32 g + 4 c + m of row r (low nibble) and element 32 g + 16 + 4 c + m (high).
// 148 bytes per row and super-block where the file has 144 (the scales and mins unpacked).
inline constexpr size_t kInterleave16Rows = 16;
inline constexpr size_t kQ4KTileBytes = 2368;
inline constexpr size_t kQ4KTileScales = 64, kQ4KTileMins = 192, kQ4KTileValues = 320;
// Bytes of a [rows, cols] matrix in `layout` (rows of dtype_row_bytes unless interleaved16 or
// lut_g*: their tiles and tables take more). The package reader and writer size tensors by it.
size_t layout_matrix_bytes(DType dtype, Layout layout, size_t rows, size_t cols);
// Rearranges a [rows, cols] matrix of `dtype` stored as rows (`in`, dtype_row_bytes apart) into
// `layout` at `out` (layout_matrix_bytes of it); requires layout_fits(dtype, layout, rows, cols).
// The one place the loader and the tests build interleaved matrices from rows. Not for the lut
// layouts (a lut dtype has no row form: tensor/lut.h quantizes straight into them).
void repack_rows(DType dtype, Layout layout, const uint8_t* in, size_t rows, size_t cols,
                 uint8_t* out);
// Packs 16 rows of Q4_K super-blocks (rows[r] points at that row's cols/256 blocks) into one
// group of interleaved16 tiles.
void interleave_q4_k_group(const uint8_t* const rows[kInterleave16Rows], size_t blocks,
                           uint8_t* group);
// The integers of row r (0..15) of tile `tile` (quant_ggml.h's DecodedKBlock, as decode_k_block
// gives for the row's own super-block).
struct DecodedKBlock;
void decode_q4_k_tile_row(const uint8_t* tile, size_t r, DecodedKBlock* out);

// Packs 8 rows of q4 blocks (rows[r] points at that row's cols/32 blocks) into one group.
void interleave_q4_group(const BlockQ4* const rows[kInterleaveRows], size_t blocks, uint8_t* group);
// Row r (0..7) of a group as plain q4 blocks.
void deinterleave_q4_row(const uint8_t* group, size_t blocks, size_t r, BlockQ4* out);
// The same for q8 blocks: block b of a group holds the 8 scales, then 8 chunks of 32 bytes where
// byte 4 r + m of chunk c is element 4 c + m of row r.
void interleave_q8_group(const BlockQ8* const rows[kInterleaveRows], size_t blocks, uint8_t* group);
void deinterleave_q8_row(const uint8_t* group, size_t blocks, size_t r, BlockQ8* out);
// Dequantizes row `row` of a matrix stored in `layout` starting at `base`.
void dequantize_matrix_row(DType dtype, Layout layout, const uint8_t* base, size_t row, size_t cols,
                           float* out);

}  // namespace corelm
