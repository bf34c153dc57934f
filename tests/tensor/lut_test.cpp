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

TEST(Lut4, MatchesTheNumPyReferenceBitForBit) {
  const auto j = nlohmann::json::parse(test::read_fixture("lut4_reference.json"));
  ASSERT_GE(j["cases"].size(), 10u);
  // The cap of the cases without their own (a changed kLutMaxIterations needs a new fixture).
  ASSERT_EQ(j["default_max_passes"].get<int>(), kLutMaxIterations);
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
      std::vector<uint16_t> table(16);
      std::vector<uint8_t> idx(n * cols);
      std::vector<double> centroid(16);
      const int p = lut_fit_group(4, &values[r0 * cols], n, cols, imp, table.data(), idx.data(),
                                  max_passes, centroid.data());
      EXPECT_EQ(p, passes[grp]) << "group " << grp;
      EXPECT_EQ(table, tables[grp]) << "group " << grp;
      EXPECT_EQ(centroid, centroids[grp]) << "group " << grp;
      for (size_t r = 0; r < n; ++r) {
        std::string hex;
        for (size_t i = 0; i < cols; ++i) hex += fmt::format("{:x}", idx[r * cols + i]);
        EXPECT_EQ(hex, indices[r0 + r]) << "row " << r0 + r;
      }
    }

    // The same through the layout (with kLutMaxIterations): the bytes read back as table[index].
    if (max_passes != kLutMaxIterations) continue;
    const Layout layout = *lut_layout_for_group(g);
    std::vector<uint8_t> bytes(layout_matrix_bytes(DType::kLut4, layout, rows, cols));
    quantize_lut_matrix(DType::kLut4, layout, values.data(), rows, cols, imp, bytes.data());
    std::vector<float> row(cols);
    for (size_t r = 0; r < rows; ++r) {
      dequantize_matrix_row(DType::kLut4, layout, bytes.data(), r, cols, row.data());
      for (size_t i = 0; i < cols; ++i) {
        const int index = std::stoi(indices[r].substr(i, 1), nullptr, 16);
        ASSERT_EQ(row[i], fp16_to_float(tables[r / g][static_cast<size_t>(index)]))
            << r << " " << i;
      }
    }
  }
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

void check_kernel_against_double(const KernelTable& table);

TEST(Lut4, EveryTablesKernelEqualsDequantizeThenDotInDouble) {
  // The reference and each SIMD table this CPU runs (avx2's kernel, inherited by avxvnni/avx512).
  std::vector<const KernelTable*> tables{&reference_kernels()};
  for (const IsaEntry* e : supported_isas()) tables.push_back(&e->table());
  for (const KernelTable* table : tables) {
    SCOPED_TRACE(table->name);
    check_kernel_against_double(*table);
  }
}

void check_kernel_against_double(const KernelTable& ref) {
  // Kernels take q8 activations (blocks of 32, the last padded with zeros) and the table in 14
  // bits (lut4_int_table): against the exact product of the dequantized weights and the float
  // activations they may be off by the two roundings, per element at most |w| * (block max |x|)
  // / 254 (half a q8 step) plus |x| * (table max) / 16382 (half a 14-bit step), plus float sums.
  EXPECT_EQ(ref.activation_for(DType::kLut4), ActivationFormat::kQ8A);
  std::mt19937 rng(11);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  struct Shape {
    size_t rows, cols, n;
  };
  for (size_t g : {8, 16, 32})
    for (const Shape s : {Shape{1, 2, 1}, Shape{7, 14, 2}, Shape{20, 38, 3}, Shape{33, 64, 1},
                          Shape{64, 172, 5}, Shape{40, 256, 2}}) {
      const Layout layout = *lut_layout_for_group(g);
      SCOPED_TRACE(fmt::format("G {} rows {} cols {} n {}", g, s.rows, s.cols, s.n));
      std::vector<float> w(s.rows * s.cols), x(s.n * s.cols);
      for (auto& v : w) v = dist(rng) * 0.05f;
      for (auto& v : x) v = dist(rng);
      w[5 % w.size()] = 0.9f;  // an outlier: its own table entry, the table's max
      std::vector<uint8_t> bytes(layout_matrix_bytes(DType::kLut4, layout, s.rows, s.cols));
      quantize_lut_matrix(DType::kLut4, layout, w.data(), s.rows, s.cols, nullptr, bytes.data());
      const MatmulFn fn = ref.matmul_for(DType::kLut4, layout);
      ASSERT_NE(fn, nullptr);
      const size_t blocks = q8a_blocks(s.cols);
      std::vector<BlockQ8A> xq(s.n * blocks);
      for (size_t t = 0; t < s.n; ++t)
        quantize_row_q8a_padded(&x[t * s.cols], &xq[t * blocks], s.cols, ref.quantize_q8a);
      // A sub-range of rows that starts inside a group, then every row.
      const std::pair<size_t, size_t> ranges[] = {{s.rows / 3, s.rows}, {0, s.rows}};
      for (const auto& [r0, r1] : ranges) {
        std::vector<float> y(s.n * s.rows, -7.0f);
        fn(bytes.data(), dtype_row_bytes(DType::kLut4, s.cols), xq.data(),
           blocks * sizeof(BlockQ8A), s.n, s.cols, y.data(), s.rows, r0, r1);
        std::vector<float> row(s.cols);
        for (size_t r = 0; r < s.rows; ++r) {
          dequantize_matrix_row(DType::kLut4, layout, bytes.data(), r, s.cols, row.data());
          const uint8_t* table = bytes.data() + r / g * (32 + g * s.cols / 2);
          double table_max = 0.0;
          for (size_t j = 0; j < 16; ++j) {
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
