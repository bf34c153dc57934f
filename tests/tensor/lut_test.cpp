// lut4 palettization: the quantizer bit for bit against the NumPy implementation of the same
// definition (tests/tools/lut_reference.py, its output committed as tests/data/lut4_reference.json:
// G = 8, 16, 32; a group of one value, one of five, values beyond fp16, -0 and subnormals, a last
// group shorter than G, row tails, importance weights, a cluster of weight 0, clamped means, a
// group stopped by the pass cap), the row packing, the lut_g* layouts' sizes, and the reference
// and SIMD kernels against dequantize-then-dot in double.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "base/half.h"
#include "kernels/isa.h"
#include "kernels/kernel_table.h"
#include "tensor/layout.h"
#include "tensor/linear.h"
#include "tensor/lut.h"
#include "tensor/quant.h"
#include "test_support.h"

namespace corelm {
namespace {

// A fixture of tests/tools/lut_reference.py for `dtype` (lut3, lut4 or lut6), bit for bit.
void expect_matches_numpy(DType dtype, const char* fixture) {
  const int bits = dtype_traits(dtype).lut_bits;
  const size_t entries = size_t{1} << bits, digits = bits > 4 ? 2 : 1;
  const auto j = nlohmann::json::parse(test::read_fixture(fixture));
  ASSERT_GE(j["cases"].size(), 10u);
  // The cap of the cases without their own (a changed kLutMaxIterations needs a new fixture).
  ASSERT_EQ(j["default_max_passes"].get<int>(), kLutMaxIterations);
  ASSERT_EQ(j.value("bits", 4), bits);  // the file made for this bit count
  for (const auto& c : j["cases"]) {
    const std::string name = c["name"].get<std::string>();
    SCOPED_TRACE(name);
    const size_t g = c["group_rows"].get<size_t>(), rows = c["rows"].get<size_t>(),
                 cols = c["cols"].get<size_t>();
    const auto values = c["values"].get<std::vector<float>>();
    ASSERT_EQ(values.size(), rows * cols);
    std::vector<float> importance;
    if (!c["importance"].is_null()) importance = c["importance"].get<std::vector<float>>();
    const float* imp = importance.empty() ? nullptr : importance.data();

    // The fit itself: tables, indices, the number of Lloyd passes and the centroids (every bit
    // of the doubles) of every group.
    const int max_passes = c["max_passes"].get<int>();
    const auto tables = c["tables"].get<std::vector<std::vector<uint16_t>>>();
    const auto indices = c["indices"].get<std::vector<std::string>>();
    const auto passes = c["passes"].get<std::vector<int>>();
    const auto centroids = c["centroids"].get<std::vector<std::vector<double>>>();
    ASSERT_EQ(tables.size(), (rows + g - 1) / g);
    ASSERT_EQ(indices.size(), rows);
    for (size_t r0 = 0, grp = 0; r0 < rows; r0 += g, ++grp) {
      const size_t n = std::min(g, rows - r0);
      std::vector<uint16_t> table(entries);
      std::vector<uint8_t> idx(n * cols);
      std::vector<double> centroid(entries);
      const int p = lut_fit_group(bits, &values[r0 * cols], n, cols, imp, table.data(), idx.data(),
                                  max_passes, centroid.data());
      EXPECT_EQ(p, passes[grp]) << "group " << grp;
      EXPECT_EQ(table, tables[grp]) << "group " << grp;
      EXPECT_EQ(centroid, centroids[grp]) << "group " << grp;
      for (size_t r = 0; r < n; ++r) {
        std::string hex;
        for (size_t i = 0; i < cols; ++i) hex += fmt::format("{:0{}x}", idx[r * cols + i], digits);
        EXPECT_EQ(hex, indices[r0 + r]) << "row " << r0 + r;
      }
    }

    // The same through the layout (with kLutMaxIterations): the bytes read back as table[index].
    if (max_passes != kLutMaxIterations) continue;
    const Layout layout = *lut_layout_for_group(g);
    if (!dtype_fits_row(dtype, cols)) continue;  // lut3: rows of 8k values, lut6: 4k
    std::vector<uint8_t> bytes(layout_matrix_bytes(dtype, layout, rows, cols));
    quantize_lut_matrix(dtype, layout, values.data(), rows, cols, imp, bytes.data());
    std::vector<float> row(cols);
    for (size_t r = 0; r < rows; ++r) {
      dequantize_matrix_row(dtype, layout, bytes.data(), r, cols, row.data());
      for (size_t i = 0; i < cols; ++i) {
        const int index = std::stoi(indices[r].substr(i * digits, digits), nullptr, 16);
        ASSERT_EQ(row[i], fp16_to_float(tables[r / g][static_cast<size_t>(index)]))
            << r << " " << i;
      }
    }
  }
}

TEST(Lut4, MatchesTheNumPyReferenceBitForBit) {
  expect_matches_numpy(DType::kLut4, "lut4_reference.json");
}

TEST(Lut3, MatchesTheNumPyReferenceBitForBit) {
  expect_matches_numpy(DType::kLut3, "lut3_reference.json");
}

TEST(Lut6, MatchesTheNumPyReferenceBitForBit) {
  expect_matches_numpy(DType::kLut6, "lut6_reference.json");
}

TEST(Lut4, FewDistinctValuesAreExact) {
  // Up to 16 distinct fp16 values: each is its own table entry, no k-means pass.
  std::vector<float> x(8 * 24);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(static_cast<int>(i % 16) - 7) / 4;
  std::vector<uint16_t> table(16);
  std::vector<uint8_t> idx(x.size());
  EXPECT_EQ(lut_fit_group(4, x.data(), 8, 24, nullptr, table.data(), idx.data()), 0);
  for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(fp16_to_float(table[idx[i]]), x[i]) << i;
}

TEST(Lut4, AFullSizeGroupStopsAtALloydFixedPoint) {
  // A group of the 1.1B shape (16 x 2048, N(0, 0.02)): Lloyd stops before the cap because no
  // cluster changed, so every centroid is the mean of the values nearest to it, which this
  // recomputes directly (not from prefix sums) from the distinct fp16 values.
  std::mt19937 rng(3);
  std::normal_distribution<float> dist(0.0f, 0.02f);
  const size_t rows = 16, cols = 2048;
  std::vector<float> x(rows * cols);
  for (auto& v : x) v = dist(rng);
  std::vector<uint16_t> table(16);
  std::vector<uint8_t> idx(x.size());
  std::vector<double> c(16);
  const int passes = lut_fit_group(4, x.data(), rows, cols, nullptr, table.data(), idx.data(),
                                   kLutMaxIterations, c.data());
  EXPECT_GT(passes, 1);
  EXPECT_LT(passes, kLutMaxIterations);
  std::vector<double> sum(16), weight(16);
  for (float v : x) {
    const double u = fp16_to_float(float_to_fp16(v));
    size_t best = 0;  // nearest centroid, ties to the lower
    for (size_t i = 1; i < 16; ++i)
      if (std::fabs(u - c[i]) < std::fabs(u - c[best])) best = i;
    sum[best] += u;
    weight[best] += 1.0;
  }
  for (size_t i = 0; i < 16; ++i) {
    if (i > 0) {
      EXPECT_LT(c[i - 1], c[i]) << i;
    }
    ASSERT_GT(weight[i], 0.0) << i;
    EXPECT_NEAR(c[i], sum[i] / weight[i], 1e-12) << i;
    // The table entry is an fp16 value nearest to the centroid (its neighbours are no nearer).
    const double t = fp16_to_float(table[i]);
    for (uint16_t nb : {static_cast<uint16_t>(table[i] - 1), static_cast<uint16_t>(table[i] + 1)})
      EXPECT_LE(std::fabs(c[i] - t), std::fabs(c[i] - fp16_to_float(nb))) << i;
  }
}

TEST(Lut4, SetPackingRoundTripsAndInterleavesEightRows) {
  for (size_t rows = 1; rows <= kLut4SetRows; ++rows)
    for (size_t cols = 2; cols <= 70; cols += 2) {
      std::vector<uint8_t> idx(rows * cols), packed(kLut4SetRows * cols / 2, 0xAA);
      for (size_t i = 0; i < idx.size(); ++i) idx[i] = static_cast<uint8_t>((i * 7 + cols) % 16);
      pack_lut4_set(idx.data(), rows, cols, packed.data());
      for (size_t r = 0; r < kLut4SetRows; ++r)
        for (size_t c = 0; c < cols; ++c)
          ASSERT_EQ(lut4_index(packed.data(), r, cols, c), r < rows ? idx[r * cols + c] : 0)
              << rows << " " << cols << " " << r << " " << c;
    }
  // The documented order (docs/package-format.md): in a 32-column block, chunk c's byte 4r + m
  // holds column 4c + m of row r (low nibble) and column 16 + 4c + m (high); a tail of 6 columns
  // follows row by row, byte j holding columns j and j + 3.
  const size_t cols = 38;
  std::vector<uint8_t> idx(8 * cols), packed(8 * cols / 2);
  for (size_t r = 0; r < 8; ++r)
    for (size_t c = 0; c < cols; ++c)
      idx[r * cols + c] = static_cast<uint8_t>((r * 5 + c + c / 16 * 7) % 16);
  pack_lut4_set(idx.data(), 8, cols, packed.data());
  EXPECT_EQ(packed[9], 0x2B);    // chunk 0, row 2, m 1: columns 1 (11) and 17 (2)
  EXPECT_EQ(packed[46], 0xC5);   // chunk 1, row 3, m 2: columns 6 (5) and 22 (12)
  EXPECT_EQ(packed[133], 0x85);  // tail of row 1, byte 2: columns 34 (5) and 37 (8)
}

TEST(Lut4, LayoutsSizeTablesAndRows) {
  EXPECT_EQ(dtype_row_bytes(DType::kLut4, 64), 32u);
  EXPECT_TRUE(dtype_fits_row(DType::kLut4, 172));
  EXPECT_FALSE(dtype_fits_row(DType::kLut4, 7));
  for (size_t g : {8, 16, 32}) {
    const Layout l = *lut_layout_for_group(g);
    EXPECT_EQ(lut_group_rows(l), g);
    EXPECT_EQ(layout_from_name(layout_name(l)), l);
    EXPECT_EQ(layout_name(l), fmt::format("lut_g{}", g));
    // ceil(rows / G) tables of 32 bytes and rows of cols / 2, the rows padded to a multiple of 8.
    EXPECT_EQ(layout_matrix_bytes(DType::kLut4, l, 2 * g, 64), 2 * 32 + 2 * g * 32);
    EXPECT_EQ(layout_matrix_bytes(DType::kLut4, l, g + 3, 64), 2 * 32 + (g + 8) * 32);
    EXPECT_EQ(layout_matrix_bytes(DType::kLut4, l, g + 8, 64), 2 * 32 + (g + 8) * 32);
    EXPECT_TRUE(layout_fits(DType::kLut4, l, 5, 64));
    EXPECT_FALSE(layout_fits(DType::kQ4S32, l, 64, 64));
    EXPECT_NE(linear_impl(DType::kLut4, l), nullptr);
    EXPECT_EQ(linear_impl(DType::kLut4, l)->row_group(), g);
  }
  EXPECT_FALSE(lut_layout_for_group(12).has_value());
  EXPECT_FALSE(layout_fits(DType::kLut4, Layout::kRows, 16, 64));
  EXPECT_FALSE(layout_fits(DType::kLut4, Layout::kInterleaved8, 16, 64));
  EXPECT_EQ(linear_impl(DType::kLut4, Layout::kRows), nullptr);
  EXPECT_EQ(lut_table_bytes(DType::kLut4), 32u);
}

TEST(Lut36, SetPackingRoundTrips) {
  for (DType dtype : {DType::kLut3, DType::kLut6}) {
    const int bits = dtype_traits(dtype).lut_bits;
    const size_t step = dtype_traits(dtype).block_elements;
    for (size_t rows = 1; rows <= kLut4SetRows; ++rows)
      for (size_t cols = step; cols <= 136; cols += step) {
        const size_t set_bytes = kLut4SetRows * dtype_row_bytes(dtype, cols);
        std::vector<uint8_t> idx(rows * cols), packed(set_bytes + 1, 0xAA);
        for (size_t i = 0; i < idx.size(); ++i)
          idx[i] = static_cast<uint8_t>((i * 37 + cols) % (size_t{1} << bits));
        pack_lut_set(bits, idx.data(), rows, cols, packed.data());
        ASSERT_EQ(packed[set_bytes], 0xAA) << "wrote past the set";
        for (size_t r = 0; r < kLut4SetRows; ++r)
          for (size_t c = 0; c < cols; ++c)
            ASSERT_EQ(lut_index(bits, packed.data(), r, cols, c), r < rows ? idx[r * cols + c] : 0)
                << dtype_name(dtype) << " " << rows << " " << cols << " " << r << " " << c;
        // Every bit of the set is used once: all indices 2^bits - 1 fill it with ones.
        std::vector<uint8_t> ones(kLut4SetRows * cols, static_cast<uint8_t>((1 << bits) - 1));
        pack_lut_set(bits, ones.data(), kLut4SetRows, cols, packed.data());
        for (size_t b = 0; b < set_bytes; ++b) ASSERT_EQ(packed[b], 0xFF) << cols << " " << b;
      }
  }
  // lut4's own packing through the general functions.
  std::vector<uint8_t> idx(3 * 38), a(8 * 19), b(8 * 19);
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = static_cast<uint8_t>(i * 5 % 16);
  pack_lut4_set(idx.data(), 3, 38, a.data());
  pack_lut_set(4, idx.data(), 3, 38, b.data());
  EXPECT_EQ(a, b);
}

TEST(Lut36, DocumentedBytes) {
  // By hand from tensor/layout.h's map (j = c % 32, k = (j % 16) / 4, h = j / 16, p = k / 2,
  // i = 2 (k % 2) + h).
  {  // lut3, one block: (2, 17) = 7: j 17, k 0, h 1, p 0, i 1: bits 0-1 (3) in byte 4*2 + 1 = 9
     // at bit 2 -> 0x0C; bit 2 in byte 64 + 9 at bit 2k + h = 1 -> 0x02. (2, 5) = 6: k 1, h 0,
     // i 2: byte 9 bits 4-5 = 2 -> 0x20; byte 73 bit 2 -> 0x04.
    std::vector<uint8_t> idx(3 * 32, 0), set(96);
    idx[2 * 32 + 17] = 7;
    idx[2 * 32 + 5] = 6;
    pack_lut_set(3, idx.data(), 3, 32, set.data());
    std::vector<uint8_t> expect(96, 0);
    expect[9] = 0x2C;
    expect[73] = 0x06;
    EXPECT_EQ(set, expect);
  }
  {  // lut3 tail: 40 columns (w = 8), (2, 37) = 6, t = 5: row 2's tail at 96 + 2 * 3 = 102;
     // bits 0-1 (2) in byte 102 + 5 % 2 = 103, field 5 / 2 = 2 -> 0x20; bit 2 in byte 102 + 2 +
     // 0, bit 5 -> 0x20.
    std::vector<uint8_t> idx(3 * 40, 0), set(8 * 15);
    idx[2 * 40 + 37] = 6;
    pack_lut_set(3, idx.data(), 3, 40, set.data());
    std::vector<uint8_t> expect(8 * 15, 0);
    expect[103] = 0x20;
    expect[104] = 0x20;
    EXPECT_EQ(set, expect);
  }
  {  // lut6, 44 columns (one block, w = 12). (1, 26) = 45 = 0b10'1101: j 26, k 2, h 1, p 1,
     // i 1: low nibble 13 in byte 32 * 2 + 4 + 2 = 70, high -> 0xD0; bits 4-5 (2) in byte
     // 128 + 32 + 6 = 166 at bit 2 -> 0x08. (1, 39) = 45, t = 7: tail of row 1 at 192 + 9 = 201;
     // nibble in byte 201 + 7 % 6 = 202, high (t >= 6) -> 0xD0; bits 4-5 in byte 201 + 6 + 7 % 3
     // = 208, field 7 / 3 = 2 -> 0x20.
    std::vector<uint8_t> idx(2 * 44, 0), set(8 * 33);
    idx[44 + 26] = 45;
    idx[44 + 39] = 45;
    pack_lut_set(6, idx.data(), 2, 44, set.data());
    std::vector<uint8_t> expect(8 * 33, 0);
    expect[70] = 0xD0;
    expect[166] = 0x08;
    expect[202] = 0xD0;
    expect[208] = 0x20;
    EXPECT_EQ(set, expect);
  }
}

TEST(Lut36, LayoutsSizeTablesAndRows) {
  EXPECT_EQ(dtype_row_bytes(DType::kLut3, 64), 24u);
  EXPECT_EQ(dtype_row_bytes(DType::kLut6, 64), 48u);
  EXPECT_EQ(lut_table_bytes(DType::kLut3), 16u);
  EXPECT_EQ(lut_table_bytes(DType::kLut6), 128u);
  EXPECT_TRUE(dtype_fits_row(DType::kLut6, 172));   // stories260K's down_proj
  EXPECT_FALSE(dtype_fits_row(DType::kLut3, 172));  // 3-bit rows are 8k long: f16 in convert
  EXPECT_FALSE(dtype_fits_row(DType::kLut6, 38));
  EXPECT_EQ(dtype_name(DType::kLut3), std::string("lut3"));
  EXPECT_EQ(dtype_from_name("lut6"), DType::kLut6);
  for (size_t g : {8, 16, 32}) {
    const Layout l = *lut_layout_for_group(g);
    // lut6: ceil(rows / G) tables of 128 bytes, rows of 3 cols / 4 padded to a multiple of 8.
    EXPECT_EQ(layout_matrix_bytes(DType::kLut6, l, g + 3, 64), 2 * 128 + (g + 8) * 48);
    EXPECT_EQ(layout_matrix_bytes(DType::kLut3, l, 2 * g, 64), 2 * 16 + 2 * g * 24);
    for (DType d : {DType::kLut3, DType::kLut6}) {
      EXPECT_TRUE(layout_fits(d, l, 5, 64));
      ASSERT_NE(linear_impl(d, l), nullptr);
      EXPECT_EQ(linear_impl(d, l)->row_group(), g);
    }
  }
  EXPECT_FALSE(layout_fits(DType::kLut3, Layout::kRows, 16, 64));
  EXPECT_EQ(linear_impl(DType::kLut6, Layout::kInterleaved8), nullptr);
}

TEST(Lut36, IntTableOfAnySize) {
  // 8 entries by hand: m = 2, inv = 8191 / 2 = 4095.5; -4095.5 rounds to even -4096.
  const float t[8] = {-1.0f, -0.5f, 0.0f, 0.25f, 0.5f, 0.75f, 1.0f, 2.0f};
  uint8_t bytes[16];
  for (size_t j = 0; j < 8; ++j) {
    const uint16_t h = float_to_fp16(t[j]);
    std::memcpy(bytes + 2 * j, &h, 2);
  }
  const LutIntTable q = lut_int_table(bytes, 8);
  const int16_t expect[8] = {-4096, -2048, 0, 1024, 2048, 3072, 4096, 8191};
  for (size_t j = 0; j < 8; ++j) {
    EXPECT_EQ(q.q[j], expect[j]) << j;
  }
  for (size_t j = 8; j < 64; ++j) {
    EXPECT_EQ(q.q[j], 0) << j;
  }
  EXPECT_EQ(q.scale, 2.0f / 8191.0f);
  // 64 entries: the largest is the one at +-8191 wherever it sits.
  std::vector<uint8_t> big(128);
  for (size_t j = 0; j < 64; ++j) {
    const uint16_t h = float_to_fp16(j == 40 ? -3.0f : 0.01f * static_cast<float>(j));
    std::memcpy(big.data() + 2 * j, &h, 2);
  }
  const LutIntTable q64 = lut_int_table(big.data(), 64);
  EXPECT_EQ(q64.q[40], -8191);
  EXPECT_EQ(q64.q[0], 0);
  EXPECT_EQ(q64.scale, 3.0f / 8191.0f);
}

void check_kernel_against_double(const KernelTable& table, DType dtype);

TEST(Lut4, EveryTablesKernelEqualsDequantizeThenDotInDouble) {
  // The reference and each SIMD table this CPU runs (avx2's kernel, inherited by avxvnni/avx512),
  // for lut4 and (Lut36 below) lut3 and lut6.
  std::vector<const KernelTable*> tables{&reference_kernels()};
  for (const IsaEntry* e : supported_isas()) tables.push_back(&e->table());
  for (const KernelTable* table : tables) {
    SCOPED_TRACE(table->name);
    check_kernel_against_double(*table, DType::kLut4);
  }
}

TEST(Lut36, EveryTablesKernelEqualsDequantizeThenDotInDouble) {
  std::vector<const KernelTable*> tables{&reference_kernels()};
  for (const IsaEntry* e : supported_isas()) tables.push_back(&e->table());
  for (DType dtype : {DType::kLut3, DType::kLut6})
    for (const KernelTable* table : tables) {
      SCOPED_TRACE(fmt::format("{} {}", dtype_name(dtype), table->name));
      check_kernel_against_double(*table, dtype);
    }
}

void check_kernel_against_double(const KernelTable& ref, DType dtype) {
  // Kernels take q8 activations (blocks of 32, the last padded with zeros) and the table in 14
  // bits (lut4_int_table): against the exact product of the dequantized weights and the float
  // activations they may be off by the two roundings, per element at most |w| * (block max |x|)
  // / 254 (half a q8 step) plus |x| * (table max) / 16382 (half a 14-bit step), plus float sums.
  EXPECT_EQ(ref.activation_for(dtype), ActivationFormat::kQ8A);
  const size_t entries = size_t{1} << dtype_traits(dtype).lut_bits;
  std::mt19937 rng(11);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  struct Shape {
    size_t rows, cols, n;
  };
  for (size_t g : {8, 16, 32})
    for (const Shape s : {Shape{1, 2, 1}, Shape{7, 14, 2}, Shape{20, 38, 3}, Shape{33, 64, 1},
                          Shape{64, 172, 5}, Shape{40, 256, 2}, Shape{3, 8, 1}, Shape{9, 40, 2},
                          Shape{17, 56, 3}, Shape{5, 44, 2}, Shape{24, 200, 4}}) {
      if (!dtype_fits_row(dtype, s.cols)) continue;  // lut3: 8k columns, lut6: 4k
      const Layout layout = *lut_layout_for_group(g);
      SCOPED_TRACE(fmt::format("G {} rows {} cols {} n {}", g, s.rows, s.cols, s.n));
      std::vector<float> w(s.rows * s.cols), x(s.n * s.cols);
      for (auto& v : w) v = dist(rng) * 0.05f;
      for (auto& v : x) v = dist(rng);
      w[5 % w.size()] = 0.9f;  // an outlier: its own table entry, the table's max
      std::vector<uint8_t> bytes(layout_matrix_bytes(dtype, layout, s.rows, s.cols));
      quantize_lut_matrix(dtype, layout, w.data(), s.rows, s.cols, nullptr, bytes.data());
      const MatmulFn fn = ref.matmul_for(dtype, layout);
      ASSERT_NE(fn, nullptr);
      const size_t blocks = q8a_blocks(s.cols);
      std::vector<BlockQ8A> xq(s.n * blocks);
      for (size_t t = 0; t < s.n; ++t)
        quantize_row_q8a_padded(&x[t * s.cols], &xq[t * blocks], s.cols, ref.quantize_q8a);
      // A sub-range of rows that starts inside a group, then every row.
      const std::pair<size_t, size_t> ranges[] = {{s.rows / 3, s.rows}, {0, s.rows}};
      for (const auto& [r0, r1] : ranges) {
        std::vector<float> y(s.n * s.rows, -7.0f);
        fn(bytes.data(), dtype_row_bytes(dtype, s.cols), xq.data(), blocks * sizeof(BlockQ8A), s.n,
           s.cols, y.data(), s.rows, r0, r1);
        std::vector<float> row(s.cols);
        for (size_t r = 0; r < s.rows; ++r) {
          dequantize_matrix_row(dtype, layout, bytes.data(), r, s.cols, row.data());
          const uint8_t* table =
              bytes.data() + r / g * (2 * entries + g * dtype_row_bytes(dtype, s.cols));
          double table_max = 0.0;
          for (size_t j = 0; j < entries; ++j) {
            uint16_t h;
            std::memcpy(&h, table + 2 * j, 2);
            table_max = std::max(table_max, std::fabs(static_cast<double>(fp16_to_float(h))));
          }
          for (size_t t = 0; t < s.n; ++t) {
            const float* xt = &x[t * s.cols];
            double exact = 0.0, bound = 0.0;
            for (size_t c = 0; c < s.cols; ++c) {
              double block_max = 0.0;
              for (size_t i = c / 32 * 32; i < std::min(s.cols, c / 32 * 32 + 32); ++i)
                block_max = std::max(block_max, std::fabs(static_cast<double>(xt[i])));
              exact += static_cast<double>(row[c]) * xt[c];
              bound += std::fabs(row[c]) * block_max / 254.0 +
                       (std::fabs(xt[c]) + block_max / 254.0) * table_max / 16382.0 +
                       std::fabs(static_cast<double>(row[c]) * xt[c]) * 1e-5;
            }
            const float got = y[t * s.rows + r];
            if (r < r0) {
              ASSERT_EQ(got, -7.0f) << "row " << r << " outside [r0, r1) was written";
            } else {
              ASSERT_NEAR(got, exact, bound) << r << " " << t;
            }
          }
        }
      }
    }
}

TEST(Lut4, ImportanceWeightsPullTheTable) {
  // One heavy column: its values dominate the weighted means, so they are reproduced better.
  std::mt19937 rng(5);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  const size_t rows = 16, cols = 64;
  std::vector<float> x(rows * cols), importance(cols, 1.0f);
  for (auto& v : x) v = dist(rng);
  importance[3] = 1000.0f;
  auto error_on_column = [&](const float* imp) {
    std::vector<uint16_t> table(16);
    std::vector<uint8_t> idx(rows * cols);
    lut_fit_group(4, x.data(), rows, cols, imp, table.data(), idx.data());
    double e = 0.0;
    for (size_t r = 0; r < rows; ++r) {
      const double d = fp16_to_float(table[idx[r * cols + 3]]) - x[r * cols + 3];
      e += d * d;
    }
    return e;
  };
  EXPECT_LT(error_on_column(importance.data()), error_on_column(nullptr));
}

}  // namespace
}  // namespace corelm
