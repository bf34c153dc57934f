// Palettized weights (lut4): per group of output rows a table of 2^bits fp16 values found by a
// deterministic weighted 1-D k-means, and one index per weight. The layout that stores them is
// tensor/layout.h's lut_g* (table, then the group's rows); docs/package-format.md has the byte
// map and docs/lut-plan.md the algorithm. tests/tools/lut_reference.py implements the same
// definition in NumPy; tests/tensor/lut_test.cpp compares the two bit for bit.
#pragma once

#include <cstddef>
#include <cstdint>

#include "tensor/dtype.h"
#include "tensor/layout.h"

namespace corelm {

// The cap on Lloyd passes. From the optimal start of step 2 below, groups of N(0, 0.02) weights
// with 2048 columns reach the fixed point in 4 / 8 / 10 passes on average at G = 8 / 16 / 32 (at
// most 30, Student-t ones too; bench/lut_kmeans), and groups of up to 2048 distinct values in 2
// (the start is a fixed point, the second pass sees no change). A pass costs O(K log U).
inline constexpr int kLutMaxIterations = 300;
// The most atoms lut_fit_group's start splits (step 2 below): its cost is O(K A log A).
inline constexpr size_t kLutMaxAtoms = 2048;

// One group's palette: `x` holds rows x cols values (row-major), `importance` cols non-negative
// weights of the input columns (nullptr: all 1), used in the centroid update (weighted means).
// Writes the 2^bits fp16 entries to `table` and one index per value to `indices` (rows * cols
// bytes, row-major); `centroids` (2^bits doubles, may be nullptr) gets the centroids before the
// fp16 rounding. Deterministic: the same input gives the same bytes on every machine.
//   1. Each value is rounded to fp16 (nearest even; beyond fp16's range saturated to +-65504,
//      NaN and -0 to +0): the k-means runs on the distinct values u_0 < ... < u_{U-1}, each with
//      its weight W_j = the sum, in row-major order, of the importance of its occurrences (its
//      count when `importance` is nullptr), in double.
//   2. U <= K = 2^bits: the centroids are the distinct values, the last repeated. Otherwise the
//      start is the best split of the distinct values into K contiguous clusters, the split
//      points restricted to the ends of "atoms": runs of distinct values whose fp16 keys (the
//      bits, order-preserving: sign-flipped) agree but for the lowest s bits, s the least shift
//      that leaves at most kLutMaxAtoms atoms (so s = 0, an exact 1-D k-means, for up to 2048
//      distinct values; a larger group keeps its splits to within 2^s fp16 steps). Best means
//      least total weighted squared error, found by tensor/kmeans_1d.h's dynamic programme on
//      the atoms' prefix sums P, Q (below) and R (of the products (W_j u_j) u_j). Each cluster
//      [a, b) of distinct values starts at its mean, as in 3 (u_a when t = 0).
//   3. Lloyd, on centroids c_0 <= ... <= c_{K-1} (ascending; each pass keeps them so): the
//      midpoints m_i = (c_i + c_{i+1}) / 2 (double) split the distinct values into K ranges,
//      u in cluster i when m_{i-1} < u <= m_i (a value on a midpoint goes to the lower one).
//      Stop when no range changed since the previous pass or after `max_passes` passes; else
//      each cluster [a, b) with t = P[b] - P[a] > 0 becomes (Q[b] - Q[a]) / t clamped to
//      [u_a, u_{b-1}], where P and Q are the prefix sums of W_j and of the products W_j u_j
//      (double, P[0] = Q[0] = 0, added one after the other in ascending u); a cluster with no
//      values or t = 0 keeps its centroid. (Prefix-sum differences round differently from
//      direct sums: the clamp keeps a mean within its values.)
//   4. The table is the centroids rounded to fp16; each value takes the index of its nearest
//      table entry (ties to the lower index).
// Returns the number of Lloyd passes (splits computed) before the stop, 0 when U <= K.
int lut_fit_group(int bits, const float* x, size_t rows, size_t cols, const float* importance,
                  uint16_t* table, uint8_t* indices, int max_passes = kLutMaxIterations,
                  double* centroids = nullptr);

// lut4's packing (tensor/layout.h): a group's rows in sets of kLut4SetRows (the matrix's last set
// padded with rows of index 0), each set's indices interleaved by blocks of kLut4Chunk columns so
// a 32-byte load holds 4 columns of 8 rows. `indices` holds `rows` (<= 8) x cols values < 16 (cols
// even), the set's other rows are written as 0; `out` gets 8 * cols / 2 bytes. lut4_byte_offset
// gives where element (r, c) of a set lives (`high`: in the high nibble), lut4_index the index.
inline constexpr size_t kLut4Chunk = 32;
inline constexpr size_t kLut4SetRows = 8;
size_t lut4_byte_offset(size_t r, size_t cols, size_t c, bool* high);
void pack_lut4_set(const uint8_t* indices, size_t rows, size_t cols, uint8_t* out);
uint8_t lut4_index(const uint8_t* set, size_t r, size_t cols, size_t c);

// Quantizes one group (rows <= the layout's G, the last group may be smaller) of a [*, cols]
// matrix into its bytes: the table, then the packed rows (lut_table_bytes + rows * row_bytes).
// Returns the Lloyd passes (as lut_fit_group).
int quantize_lut_group(DType dtype, const float* x, size_t rows, size_t cols,
                       const float* importance, uint8_t* out);
// A whole [rows, cols] matrix into `layout` (layout_matrix_bytes of it).
void quantize_lut_matrix(DType dtype, Layout layout, const float* x, size_t rows, size_t cols,
                         const float* importance, uint8_t* out);

// The integer form of a group's table (any palettized dtype: `entries` = 8, 16 or 64) that every
// matmul kernel multiplies with (kernels take q8 activations: each 32-element block's integer dot
// product is exact, as for q4s32):
//   m = max_j |t_j| over the fp16 entries t_j, inv = 8191 / m (f32),
//   q_j = round_half_even(t_j * inv) (f32 product), clamped to [-8191, 8191], scale = m / 8191,
// so a weight is scale * q_j, off its table value by at most m / 16382 (0 and scale 0 for an
// all-zero table; entries past `entries` are 0). 14 bits split into a 7-bit low part (q & 127)
// and a high part (q >> 7, in [-64, 63]): the x86 kernels look both up with vpshufb and multiply
// them with maddubs.
struct LutIntTable {
  int16_t q[64];
  float scale;
};
using Lut4IntTable = LutIntTable;
LutIntTable lut_int_table(const uint8_t* table, size_t entries);
inline LutIntTable lut4_int_table(const uint8_t* table) {
  return lut_int_table(table, 16);
}
// lut4's last, shorter block of one row (its 2 * half columns stored row by row: byte j holds
// elements j and j + half) against the q8 values `qs`: the exact integer dot product with the
// table's 14-bit entries (the SIMD kernels' tail).
inline int lut4_tail_dot(const LutIntTable& t, const uint8_t* bytes, size_t half,
                         const int8_t* qs) {
  int sum = 0;
  for (size_t j = 0; j < half; ++j)
    sum += t.q[bytes[j] & 0xF] * qs[j] + t.q[bytes[j] >> 4] * qs[j + half];
  return sum;
}

// Any palettized dtype's set of 8 rows (lut4's is the packing above; lut3's and lut6's add bit
// planes, tensor/layout.h): `bits` = lut_bits (3, 4 or 6); a set takes 8 * row_bytes bytes.
// pack_lut_set writes `rows` (<= 8) x cols indices < 2^bits (the other rows 0), lut_index reads
// index (r, c) back. cols must suit the dtype (dtype_fits_row).
void pack_lut_set(int bits, const uint8_t* indices, size_t rows, size_t cols, uint8_t* out);
uint8_t lut_index(int bits, const uint8_t* set, size_t r, size_t cols, size_t c);
// Bytes of one full 32-column block of a set (32 * bits: 96, 128, 192).
inline constexpr size_t lut_block_bytes(int bits) {
  return kLut4Chunk * static_cast<size_t>(bits);
}
// The SIMD kernels' tail for any width: the 14-bit weights of row r's last, shorter block
// (columns 32 * (cols / 32) .. cols - 1, cols % 32 of them) in a set, and their exact integer dot
// product with `n` q8 values.
inline void lut_tail_weights(int bits, const LutIntTable& t, const uint8_t* set, size_t r,
                             size_t cols, int16_t* q) {
  const size_t first = cols / kLut4Chunk * kLut4Chunk;
  for (size_t c = first; c < cols; ++c) q[c - first] = t.q[lut_index(bits, set, r, cols, c)];
}
inline int lut_tail_dot(const int16_t* q, size_t n, const int8_t* qs) {
  int sum = 0;
  for (size_t j = 0; j < n; ++j) sum += q[j] * qs[j];
  return sum;
}

// Row `row` of a lut matrix as floats: table[index] per element.
void dequantize_lut_row(DType dtype, Layout layout, const uint8_t* base, size_t row, size_t cols,
                        float* out);

}  // namespace corelm
