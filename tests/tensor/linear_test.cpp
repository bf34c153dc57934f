// Linear: every (dtype, layout) implementation reads rows as the registry's scalar converters do,
// multiplies as a float reference computed from those rows (within the activation quantization
// the kernels use), under every kernel table, and fused projections equal separate ones.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "kernels/isa.h"
#include "tensor/layout.h"
#include "tensor/linear.h"
#include "tensor/lut.h"
#include "tensor/ops.h"
#include "tensor/quant.h"
#include "test_support.h"

namespace corelm {
namespace {

struct Matrix {
  std::vector<uint8_t> bytes;
  std::vector<float> rows;  // dequantized, [r, c]: the reference
  Linear linear;
};

// A random [r, c] matrix stored as (dtype, layout); the reference rows come from the plain
// rows through the registry's converter.
Matrix make_matrix(DType dtype, Layout layout, size_t r, size_t c, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 0.5f);
  std::vector<float> x(r * c);
  for (auto& v : x) v = dist(rng);
  if (lut_group_rows(layout) > 0) {  // palettized: whole groups; rows read back by the layout
    Matrix m;
    m.bytes.resize(layout_matrix_bytes(dtype, layout, r, c));
    quantize_lut_matrix(dtype, layout, x.data(), r, c, nullptr, m.bytes.data());
    m.rows.resize(r * c);
    for (size_t i = 0; i < r; ++i)
      dequantize_matrix_row(dtype, layout, m.bytes.data(), i, c, &m.rows[i * c]);
    m.linear = Linear("w", dtype, layout, m.bytes.data(), r, c);
    return m;
  }
  const size_t row_bytes = dtype_row_bytes(dtype, c);
  std::vector<uint8_t> plain(r * row_bytes);
  if (dtype_traits(dtype).from_float == nullptr)  // a run-only GGUF type: random blocks
    plain = test::random_rows(dtype, r, c, seed);
  Matrix m;
  m.rows.resize(r * c);
  for (size_t i = 0; i < r; ++i) {
    if (dtype_traits(dtype).from_float != nullptr)
      quantize_row(dtype, &x[i * c], plain.data() + i * row_bytes, c);
    dtype_traits(dtype).to_float(plain.data() + i * row_bytes, &m.rows[i * c], c);
  }
  m.bytes.resize(layout_matrix_bytes(dtype, layout, r, c));
  repack_rows(dtype, layout, plain.data(), r, c, m.bytes.data());
  m.linear = Linear("w", dtype, layout, m.bytes.data(), r, c);
  return m;
}

// Every kernel table this CPU can run (the ISA registry's supported entries).
std::vector<const KernelTable*> tables() {
  std::vector<const KernelTable*> t;
  for (const IsaEntry* e : supported_isas()) t.push_back(&e->table());
  return t;
}

TEST(Linear, EveryDTypeAndLayoutReadsAndMultipliesLikeTheReference) {
  const KernelTable& original = active_kernels();
  const size_t n = 3;
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (size_t d = 0; d < kNumDTypes; ++d) {
    // Rows of 96 (three blocks of 32), or of 512 for the K-quants' super-blocks of 256.
    const size_t cols = dtype_traits(static_cast<DType>(d)).block_elements == 256 ? 512 : 96;
    std::vector<float> x(n * cols);
    for (auto& v : x) v = dist(rng);
    for (Layout layout : {Layout::kRows, Layout::kInterleaved8, Layout::kInterleaved16,
                          Layout::kLutG8, Layout::kLutG16, Layout::kLutG32}) {
      const DType dtype = static_cast<DType>(d);
      if (linear_impl(dtype, layout) == nullptr) continue;
      const size_t rows = layout == Layout::kInterleaved16 ? 80 : 72;
      SCOPED_TRACE(std::string(dtype_name(dtype)) + " " + layout_name(layout));
      Matrix m = make_matrix(dtype, layout, rows, cols, static_cast<uint32_t>(d));
      std::vector<float> row(cols);
      for (size_t r : {size_t{0}, size_t{5}, size_t{8}, rows - 1}) {
        m.linear.read_row(r, row.data());
        for (size_t c = 0; c < cols; ++c) ASSERT_EQ(row[c], m.rows[r * cols + c]) << r << " " << c;
      }
      for (const KernelTable* table : tables()) {
        set_active_kernels(*table);
        ThreadPool pool(2);
        ComputeContext ctx(pool, n, cols, 8);
        std::vector<float> y(n * rows);
        ops::linear(ctx, m.linear, x.data(), n, y.data());
        for (size_t t = 0; t < n; ++t)
          for (size_t r = 0; r < rows; ++r) {
            double ref = 0.0, mag = 0.0;
            for (size_t c = 0; c < cols; ++c) {
              ref += static_cast<double>(m.rows[r * cols + c]) * x[t * cols + c];
              mag += std::fabs(m.rows[r * cols + c]);
            }
            // int8 activations (scale max|x| / 127 per block of 32, or of 256 for the
            // K-quants; |x| <= 1): at most half a step per element; f32/f16/bf16 kernels only
            // reorder the sum.
            const double tol = mag * (1.0 / 127.0) * 0.5 * 1.01 + 1e-4;
            ASSERT_NEAR(y[t * rows + r], ref, tol) << table->name << " " << t << " " << r;
          }
      }
    }
  }
  set_active_kernels(original);
}

TEST(Linear, FusedProjectionsEqualSeparateOnes) {
  const KernelTable& original = active_kernels();
  const size_t cols = 64, n = 5;
  Matrix a = make_matrix(DType::kQ4S32, Layout::kInterleaved8, 64, cols, 1);
  Matrix b = make_matrix(DType::kQ4S32, Layout::kRows, 32, cols, 2);
  Matrix c = make_matrix(DType::kF16, Layout::kRows, 40, cols, 3);  // another activation format
  std::vector<float> x(n * cols);
  std::mt19937 rng(9);
  std::normal_distribution<float> dist;
  for (auto& v : x) v = dist(rng);
  for (const KernelTable* table : tables()) {
    set_active_kernels(*table);
    ThreadPool pool(2);
    ComputeContext ctx(pool, n, cols, 8);
    std::vector<float> ya(n * 64), yb(n * 32), yc(n * 40), sa(ya.size()), sb(yb.size()),
        sc(yc.size());
    ops::linear_multi(ctx, x.data(), n, a.linear, ya.data(), &b.linear, yb.data(), &c.linear,
                      yc.data());
    ops::linear(ctx, a.linear, x.data(), n, sa.data());
    ops::linear(ctx, b.linear, x.data(), n, sb.data());
    ops::linear(ctx, c.linear, x.data(), n, sc.data());
    EXPECT_EQ(ya, sa) << table->name;
    EXPECT_EQ(yb, sb) << table->name;
    EXPECT_EQ(yc, sc) << table->name;
  }
  set_active_kernels(original);
}

// The q8 interleaved8 byte map of tensor/layout.h, written out by hand: block b of a group is the
// 8 rows' scales, then byte 4 r + m of 32-byte chunk c is element 4 c + m of row r.
TEST(Linear, Q8InterleavedByteMap) {
  const size_t blocks = 2;
  std::vector<BlockQ8> rows(8 * blocks);
  for (size_t r = 0; r < 8; ++r)
    for (size_t b = 0; b < blocks; ++b) {
      rows[r * blocks + b].scale = static_cast<uint16_t>(0x3C00 + 16 * r + b);
      for (size_t e = 0; e < 32; ++e)
        rows[r * blocks + b].qs[e] =
            static_cast<int8_t>(static_cast<int>((r * 32 + e + b) % 256) - 128);
    }
  const BlockQ8* ptrs[8];
  for (size_t r = 0; r < 8; ++r) ptrs[r] = &rows[r * blocks];
  std::vector<uint8_t> group(blocks * kInterleavedQ8BlockBytes);
  interleave_q8_group(ptrs, blocks, group.data());
  for (size_t b = 0; b < blocks; ++b) {
    const uint8_t* blk = group.data() + b * 272;
    for (size_t r = 0; r < 8; ++r) {
      EXPECT_EQ(blk[2 * r] | (blk[2 * r + 1] << 8), 0x3C00 + 16 * r + b);
      for (size_t c = 0; c < 8; ++c)
        for (size_t m = 0; m < 4; ++m)
          ASSERT_EQ(static_cast<int8_t>(blk[16 + 32 * c + 4 * r + m]),
                    static_cast<int>((r * 32 + 4 * c + m + b) % 256) - 128);
    }
    for (size_t r = 0; r < 8; ++r) {
      BlockQ8 back[2];
      deinterleave_q8_row(group.data(), blocks, r, back);
      EXPECT_EQ(std::memcmp(back, &rows[r * blocks], sizeof(back)), 0) << r;
    }
  }
}

// The reference's interleaved8 kernels compute what its row kernels compute, bit for bit (the
// same exact integer sums, the same order of float additions).
TEST(Linear, ReferenceInterleavedKernelsEqualRowKernels) {
  const size_t rows = 24, cols = 96, n = 5;
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> x(n * cols);
  for (auto& v : x) v = dist(rng);
  std::vector<BlockQ8A> q(n * cols / kQuantBlock);
  for (size_t t = 0; t < n; ++t) quantize_row_q8a(&x[t * cols], &q[t * cols / kQuantBlock], cols);
  for (DType d : {DType::kQ4S32, DType::kQ4_0, DType::kQ8S32, DType::kQ8_0}) {
    Matrix plain = make_matrix(d, Layout::kRows, rows, cols, 11);
    Matrix inter = make_matrix(d, Layout::kInterleaved8, rows, cols, 11);
    std::vector<float> a(n * rows), b(n * rows);
    const size_t stride = cols / kQuantBlock * sizeof(BlockQ8A);
    reference_kernels().matmul_for(d, Layout::kRows)(plain.bytes.data(), plain.linear.row_bytes(),
                                                     q.data(), stride, n, cols, a.data(), rows, 0,
                                                     rows);
    reference_kernels().matmul_for(d, Layout::kInterleaved8)(
        inter.bytes.data(), inter.linear.row_bytes(), q.data(), stride, n, cols, b.data(), rows, 0,
        rows);
    EXPECT_EQ(a, b) << dtype_name(d);
  }
  // Q4_K: interleaved16 tiles against the file's rows, BlockQ8K activations.
  const size_t kcols = 512, krows = 32;
  std::vector<float> xk(n * kcols);
  for (auto& v : xk) v = dist(rng);
  std::vector<BlockQ8K> qk(n * kcols / kSuperBlock);
  for (size_t t = 0; t < n; ++t)
    quantize_row_q8k(&xk[t * kcols], &qk[t * kcols / kSuperBlock], kcols);
  Matrix plain = make_matrix(DType::kQ4_K, Layout::kRows, krows, kcols, 12);
  Matrix tiles = make_matrix(DType::kQ4_K, Layout::kInterleaved16, krows, kcols, 12);
  std::vector<float> a(n * krows), b(n * krows);
  const size_t stride = kcols / kSuperBlock * sizeof(BlockQ8K);
  reference_kernels().matmul_for(DType::kQ4_K, Layout::kRows)(
      plain.bytes.data(), plain.linear.row_bytes(), qk.data(), stride, n, kcols, a.data(), krows, 0,
      krows);
  reference_kernels().matmul_for(DType::kQ4_K, Layout::kInterleaved16)(
      tiles.bytes.data(), tiles.linear.row_bytes(), qk.data(), stride, n, kcols, b.data(), krows, 0,
      krows);
  EXPECT_EQ(a, b);
}

// Fused matrices whose row counts are not multiples of the next one's row group (16 for Q4_K
// tiles, 8 for interleaved8): each still gets row ranges its kernel can take, and nothing is
// written past its output.
TEST(Linear, FusedProjectionsWithMisalignedSiblings) {
  const KernelTable& original = active_kernels();
  struct Set {
    std::vector<Matrix> m;
    size_t cols;
  };
  std::vector<Set> sets;
  sets.push_back({{}, 512});
  sets.back().m.push_back(make_matrix(DType::kQ6_K, Layout::kRows, 72, 512, 21));
  sets.back().m.push_back(make_matrix(DType::kQ4_K, Layout::kInterleaved16, 128, 512, 22));
  sets.back().m.push_back(make_matrix(DType::kQ4_K, Layout::kRows, 40, 512, 23));
  sets.push_back({{}, 96});
  sets.back().m.push_back(make_matrix(DType::kQ8_0, Layout::kRows, 12, 96, 24));
  sets.back().m.push_back(make_matrix(DType::kQ8_0, Layout::kInterleaved8, 72, 96, 25));
  sets.back().m.push_back(make_matrix(DType::kQ4_0, Layout::kInterleaved8, 24, 96, 26));
  for (const auto& set : sets) {
    for (size_t n : {size_t{1}, size_t{5}}) {
      std::vector<float> x(n * set.cols);
      std::mt19937 rng(static_cast<uint32_t>(n));
      std::normal_distribution<float> dist;
      for (auto& v : x) v = dist(rng);
      for (const KernelTable* table : tables()) {
        set_active_kernels(*table);
        ThreadPool pool(2);
        ComputeContext ctx(pool, n, set.cols, 8);
        std::vector<std::vector<float>> fused(3), apart(3);
        for (size_t i = 0; i < 3; ++i) {
          fused[i].assign(n * set.m[i].linear.rows() + 8, -7.0f);  // 8 canaries past the end
          apart[i].assign(n * set.m[i].linear.rows(), 0.0f);
          ops::linear(ctx, set.m[i].linear, x.data(), n, apart[i].data());
        }
        ops::linear_multi(ctx, x.data(), n, set.m[0].linear, fused[0].data(), &set.m[1].linear,
                          fused[1].data(), &set.m[2].linear, fused[2].data());
        for (size_t i = 0; i < 3; ++i) {
          SCOPED_TRACE(std::string(table->name) + " " + set.m[i].linear.name() + " " +
                       dtype_name(set.m[i].linear.dtype()) + " n=" + std::to_string(n));
          for (size_t j = 0; j < apart[i].size(); ++j)
            ASSERT_NEAR(fused[i][j], apart[i][j], 1e-5f * (1.0f + std::fabs(apart[i][j]))) << j;
          for (size_t j = apart[i].size(); j < fused[i].size(); ++j) ASSERT_EQ(fused[i][j], -7.0f);
        }
      }
    }
  }
  set_active_kernels(original);
}

TEST(Linear, ImpossiblePairsAreRefused) {
  std::vector<uint8_t> bytes(8 * 64 * 4);
  test::expect_error([&] { Linear("f", DType::kF32, Layout::kInterleaved8, bytes.data(), 8, 64); },
                     ErrorCode::kCorrupt, "cannot be stored as f32 in layout interleaved8",
                     "model");
  test::expect_error([&] { Linear("q", DType::kQ4S32, Layout::kRows, bytes.data(), 8, 40); },
                     ErrorCode::kCorrupt, "cannot be stored as q4s32", "model");
  EXPECT_EQ(linear_impl(DType::kF16, Layout::kInterleaved8), nullptr);
  EXPECT_EQ(linear_impl(DType::kQ4_K, Layout::kInterleaved8), nullptr);
  EXPECT_EQ(linear_impl(DType::kQ6_K, Layout::kInterleaved16), nullptr);
  test::expect_error(
      [&] { Linear("k", DType::kQ4_K, Layout::kInterleaved16, bytes.data(), 8, 256); },
      ErrorCode::kCorrupt, "cannot be stored as q4_k in layout interleaved16", "model");
}

TEST(Linear, EmbeddingLookupReadsRows) {
  Matrix m = make_matrix(DType::kQ4S32, Layout::kInterleaved8, 16, 64, 4);
  ThreadPool pool(1);
  ComputeContext ctx(pool, 4, 64, 8);
  std::vector<int32_t> ids{3, 15, 8};
  std::vector<float> out(ids.size() * 64);
  ops::embed(ctx, m.linear, ids, out.data());
  for (size_t t = 0; t < ids.size(); ++t)
    for (size_t c = 0; c < 64; ++c)
      ASSERT_EQ(out[t * 64 + c], m.rows[static_cast<size_t>(ids[t]) * 64 + c]);
  std::vector<int32_t> bad{16};
  test::expect_error([&] { ops::embed(ctx, m.linear, bad, out.data()); }, ErrorCode::kOutOfRange,
                     "token id 16 is outside the vocabulary", "model");
}

}  // namespace
}  // namespace corelm
