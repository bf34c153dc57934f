// Every SIMD kernel table the host supports (each entry of the ISA registry but "ref") against
// the scalar reference (the spec) on random inputs with awkward sizes: one row, one block, tails,
// k not a multiple of the vector width. Tolerances are relative to the size of the result (float
// sums in a different order, FMA contraction).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "base/half.h"
#include "isa_params.h"
#include "kernels/isa.h"
#include "tensor/layout.h"
#include "tensor/lut.h"
#include "tensor/quant.h"
#include "test_support.h"

namespace corelm {
namespace {

std::vector<float> random_floats(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = nd(rng);
  return v;
}

void expect_close(const std::vector<float>& a, const std::vector<float>& b, float rel,
                  const std::string& what) {
  ASSERT_EQ(a.size(), b.size());
  float scale = 1e-6f;
  for (float x : b) scale = std::max(scale, std::fabs(x));
  for (size_t i = 0; i < a.size(); ++i)
    ASSERT_NEAR(a[i], b[i], rel * scale) << what << " at " << i << " (scale " << scale << ")";
}

struct Weights {
  std::vector<uint8_t> bytes;
  size_t row_bytes;
};

Weights make_weights(DType dtype, Layout layout, size_t rows, size_t cols, uint32_t seed) {
  Weights w;
  w.row_bytes = dtype_row_bytes(dtype, cols);
  if (lut_group_rows(layout) > 0) {  // palettized: tables and indices from k-means
    const auto values = random_floats(rows * cols, seed, 0.05f);
    w.bytes.resize(layout_matrix_bytes(dtype, layout, rows, cols));
    quantize_lut_matrix(dtype, layout, values.data(), rows, cols, nullptr, w.bytes.data());
    return w;
  }
  // The rows: random blocks for run-only types; q4 quantized from small values; q8 quantized
  // with one -128 per block put in (a GGUF file may hold it; the quantizer never writes it), for
  // the kernels' |w| and w + 128 paths.
  std::vector<uint8_t> plain = test::random_rows(dtype, rows, cols, seed);
  if (dtype_traits(dtype).q4_blocks) {
    const auto values = random_floats(rows * cols, seed, 0.05f);
    for (size_t r = 0; r < rows; ++r)
      quantize_row(dtype, &values[r * cols], &plain[r * w.row_bytes], cols);
  }
  if (q8_blocks(dtype))
    for (size_t b = 0; b < plain.size() / sizeof(BlockQ8); ++b)
      plain[b * sizeof(BlockQ8) + 2 + b % 32] = 0x80;
  if (layout == Layout::kRows) {
    w.bytes = std::move(plain);
    return w;
  }
  w.bytes.resize(layout_matrix_bytes(dtype, layout, rows, cols));
  repack_rows(dtype, layout, plain.data(), rows, cols, w.bytes.data());
  return w;
}

std::vector<float> run_matmul(const KernelTable& k, DType dtype, Layout layout, const Weights& w,
                              const std::vector<float>& x, size_t rows, size_t cols, size_t n,
                              size_t r0, size_t r1) {
  std::vector<float> y(n * rows, 0.0f);
  MatmulFn fn = k.matmul_for(dtype, layout);
  if (k.activation_for(dtype) == ActivationFormat::kQ8K) {
    std::vector<BlockQ8K> q(n * cols / 256);
    for (size_t t = 0; t < n; ++t) quantize_row_q8k(&x[t * cols], &q[t * cols / 256], cols);
    fn(w.bytes.data(), w.row_bytes, q.data(), cols / 256 * sizeof(BlockQ8K), n, cols, y.data(),
       rows, r0, r1);
  } else if (k.activation_for(dtype) == ActivationFormat::kQ8A) {
    // Both tables see the same activation blocks (made by the reference quantizer).
    const size_t blocks = q8a_blocks(cols);  // lut4 rows need not fill the last block
    std::vector<BlockQ8A> q(n * blocks);
    for (size_t t = 0; t < n; ++t) quantize_row_q8a_padded(&x[t * cols], &q[t * blocks], cols);
    fn(w.bytes.data(), w.row_bytes, q.data(), blocks * sizeof(BlockQ8A), n, cols, y.data(), rows,
       r0, r1);
  } else {
    fn(w.bytes.data(), w.row_bytes, x.data(), cols * sizeof(float), n, cols, y.data(), rows, r0,
       r1);
  }
  return y;
}

struct Shape {
  size_t rows, cols, n;
};

// One instance per SIMD table the host supports (test::simd_isas()).
class SimdKernels : public ::testing::TestWithParam<const IsaEntry*> {
 protected:
  const KernelTable& simd() const { return GetParam()->table(); }
};

TEST_P(SimdKernels, MatmulEveryDtypeAndLayout) {
  // Every (dtype, layout) the reference has a kernel for; the SIMD table must have one too.
  struct Case {
    DType dtype;
    Layout layout;
  };
  std::vector<Case> cases;
  for (size_t d = 0; d < kNumDTypes; ++d)
    for (size_t l = 0; l < kNumLayouts; ++l)
      if (reference_kernels().matmul[d][l] != nullptr)
        cases.push_back({static_cast<DType>(d), static_cast<Layout>(l)});
  // f32, f16, bf16, q8s32, q4s32, q4_0, q8_0 rows; q4s32, q4_0, q8s32, q8_0 interleaved8; q4_k
  // interleaved16.
  ASSERT_GE(cases.size(), 12u);
  for (const auto& c : cases) {
    ASSERT_NE(simd().matmul_for(c.dtype, c.layout), nullptr)
        << dtype_name(c.dtype) << "/" << layout_name(c.layout);
    const bool blocked = dtype_traits(c.dtype).quantized;
    const bool super = dtype_traits(c.dtype).block_elements == 256;  // the K-quants
    // One row / one block / tails in rows, columns and tokens. Quantized: every tail of the
    // 4- and 2-token tiles (n = 1, 2, 3, 5, 6, 7, 9), and tokens past the activation chunk of
    // the interleaved kernels (k = 8192: a 256 KiB chunk holds 24 tokens). K-quants: the 8- and
    // 4-token tiles and their tails, rows of one to eight super-blocks; decode (n = 1) over every
    // row count up to 8 (the NEON kernels stream 4 rows, then 2, then 1).
    std::vector<Shape> shapes =
        super     ? std::vector<Shape>{{8, 256, 1},  {16, 512, 3}, {24, 768, 5},  {40, 256, 9},
                                       {8, 2048, 2}, {1, 256, 1},  {3, 512, 4},   {5, 256, 8},
                                       {4, 256, 13}, {40, 256, 1}, {8, 8192, 40}, {2, 256, 1},
                                       {3, 512, 1},  {5, 256, 1},  {6, 768, 1},   {7, 256, 1},
                                       {8, 256, 6},  {5, 512, 7}}
        : blocked ? std::vector<Shape>{{8, 32, 1},   {16, 64, 3}, {24, 96, 5}, {40, 160, 9},
                                       {8, 2048, 2}, {16, 64, 7}, {8, 96, 6},  {8, 8192, 27}}
                  : std::vector<Shape>{{1, 1, 1},  {3, 7, 2},  {5, 17, 3},
                                       {9, 33, 5}, {4, 64, 4}, {13, 100, 1}};
    if (c.layout == Layout::kRows && blocked && !super)
      shapes.push_back({1, 32, 1}), shapes.push_back({3, 64, 4}), shapes.push_back({5, 96, 5});
    if (c.layout == Layout::kInterleaved16)  // rows in groups of 16
      shapes = {{16, 256, 1},   {32, 512, 3},  {48, 768, 5},  {16, 2048, 9},
                {64, 256, 4},   {32, 256, 13}, {16, 256, 2},  {16, 512, 7},
                {32, 8192, 40}, {32, 256, 1},  {16, 8192, 45}};
    if (lut_group_rows(c.layout) > 0)  // any rows (a short last group), even columns (lut3: 8k,
      shapes = {{8, 32, 1},   {20, 38, 3}, {33, 172, 1},  {7, 14, 2},  // lut6: 4k)
                {64, 256, 5}, {1, 2, 1},   {40, 2048, 2}, {16, 8192, 9}, {3, 8, 1},
                {9, 40, 2},   {5, 44, 3},  {17, 56, 5},   {2, 4, 1},     {24, 120, 7}};
    for (const auto& s : shapes) {
      if (!dtype_fits_row(c.dtype, s.cols)) continue;
      auto w = make_weights(c.dtype, c.layout, s.rows, s.cols, 7);
      auto x = random_floats(s.n * s.cols, 9);
      auto ref =
          run_matmul(reference_kernels(), c.dtype, c.layout, w, x, s.rows, s.cols, s.n, 0, s.rows);
      auto got = run_matmul(simd(), c.dtype, c.layout, w, x, s.rows, s.cols, s.n, 0, s.rows);
      expect_close(got, ref, 2e-5f,
                   std::string(dtype_name(c.dtype)) + "/" + layout_name(c.layout) + " " +
                       std::to_string(s.rows) + "x" + std::to_string(s.cols) + "x" +
                       std::to_string(s.n));
      // A sub-range of rows (multiples of the layout's group) leaves the rest untouched.
      const size_t g = c.layout == Layout::kInterleaved16 ? 16 : 8;
      if (s.rows >= 2 * g) {
        auto part = run_matmul(simd(), c.dtype, c.layout, w, x, s.rows, s.cols, s.n, g, 2 * g);
        for (size_t t = 0; t < s.n; ++t)
          for (size_t r = 0; r < s.rows; ++r) {
            if (r >= g && r < 2 * g)
              ASSERT_NEAR(part[t * s.rows + r], ref[t * s.rows + r], 1e-3f);
            else
              ASSERT_EQ(part[t * s.rows + r], 0.0f);
          }
      }
    }
  }
}

// The integer matmuls' tile edges: token counts around the tiles (4 and 8 tokens, their
// remainders), row ranges of odd and even numbers of 8-row groups (the avx512 kernel pairs
// groups), a sub-range starting at an odd group, and a token count that crosses the kernels'
// token chunk (k = 6400: 32 tokens per chunk).
TEST_P(SimdKernels, QuantizedMatmulTileEdges) {
  struct Case {
    DType dtype;
    Layout layout;
  };
  const Case cases[] = {{DType::kQ4S32, Layout::kInterleaved8},
                        {DType::kQ4_0, Layout::kInterleaved8},
                        {DType::kQ8_0, Layout::kInterleaved8},
                        {DType::kQ8S32, Layout::kRows},
                        {DType::kQ4_0, Layout::kRows}};
  std::vector<Shape> shapes;
  for (size_t rows : {8u, 16u, 24u, 64u})
    for (size_t cols : {32u, 96u, 2080u})
      for (size_t n : {1u, 2u, 3u, 4u, 5u, 6u, 7u, 8u, 9u, 17u, 33u})
        shapes.push_back({rows, cols, n});
  shapes.push_back({16, 6400, 41});
  for (const auto& c : cases) {
    for (const auto& s : shapes) {
      if (c.layout == Layout::kRows && s.cols == 2080 && s.n > 9) continue;  // keep it quick
      auto w = make_weights(c.dtype, c.layout, s.rows, s.cols, 17);
      auto x = random_floats(s.n * s.cols, 19);
      const std::string what = std::string(dtype_name(c.dtype)) + "/" + layout_name(c.layout) +
                               " " + std::to_string(s.rows) + "x" + std::to_string(s.cols) + "x" +
                               std::to_string(s.n);
      auto ref =
          run_matmul(reference_kernels(), c.dtype, c.layout, w, x, s.rows, s.cols, s.n, 0, s.rows);
      auto got = run_matmul(simd(), c.dtype, c.layout, w, x, s.rows, s.cols, s.n, 0, s.rows);
      expect_close(got, ref, 2e-5f, what);
      if (s.rows == 64) {  // rows [8, 48): an odd group first, then pairs; the rest untouched
        auto part = run_matmul(simd(), c.dtype, c.layout, w, x, s.rows, s.cols, s.n, 8, 48);
        for (size_t t = 0; t < s.n; ++t)
          for (size_t r = 0; r < s.rows; ++r) {
            if (r >= 8 && r < 48)
              ASSERT_NEAR(part[t * s.rows + r], ref[t * s.rows + r], 1e-3f) << what;
            else
              ASSERT_EQ(part[t * s.rows + r], 0.0f) << what;
          }
      }
    }
  }
}

TEST_P(SimdKernels, ActivationQuantizationIsBitExact) {
  for (size_t k : {32u, 64u, 2048u}) {
    auto x = random_floats(k, 3, 2.0f);
    x[5] = 0.0f;
    std::vector<BlockQ8A> a(k / 32), b(k / 32);
    reference_kernels().quantize_q8a(x.data(), a.data(), k);
    simd().quantize_q8a(x.data(), b.data(), k);
    for (size_t i = 0; i < k / 32; ++i) {
      EXPECT_EQ(a[i].scale, b[i].scale);
      EXPECT_EQ(a[i].qsum, b[i].qsum);
      for (int j = 0; j < 32; ++j)
        ASSERT_EQ(a[i].qs[j], b[i].qs[j]) << "block " << i << " element " << j;
    }
  }
  std::vector<float> zeros(32, 0.0f);
  BlockQ8A z;
  simd().quantize_q8a(zeros.data(), &z, 32);
  EXPECT_EQ(z.scale, 0.0f);
  EXPECT_EQ(z.qsum, 0);
}

TEST_P(SimdKernels, SuperBlockActivationQuantizationIsBitExact) {
  for (size_t k : {256u, 512u, 4096u}) {
    auto x = random_floats(k, 4, 3.0f);
    x[7] = 0.0f;
    std::vector<BlockQ8K> a(k / 256), b(k / 256);
    reference_kernels().quantize_q8k(x.data(), a.data(), k);
    simd().quantize_q8k(x.data(), b.data(), k);
    for (size_t i = 0; i < k / 256; ++i) {
      EXPECT_EQ(a[i].scale, b[i].scale);
      for (int j = 0; j < 16; ++j) EXPECT_EQ(a[i].bsums[j], b[i].bsums[j]) << i << " " << j;
      for (int j = 0; j < 256; ++j)
        ASSERT_EQ(a[i].qs[j], b[i].qs[j]) << "block " << i << " element " << j;
    }
  }
  std::vector<float> zeros(256, 0.0f);
  BlockQ8K z;
  simd().quantize_q8k(zeros.data(), &z, 256);
  EXPECT_EQ(z.scale, 0.0f);
  EXPECT_EQ(z.bsums[3], 0);
}

TEST_P(SimdKernels, ElementWise) {
  const auto& r = reference_kernels();
  const auto& s = simd();
  for (size_t n : {1u, 7u, 8u, 9u, 31u, 64u, 1000u}) {
    auto x = random_floats(n, 11, 3.0f), w = random_floats(n, 12), u = random_floats(n, 13);
    std::vector<float> a(n), b(n);
    r.rmsnorm(x.data(), w.data(), a.data(), n, 1e-5f);
    s.rmsnorm(x.data(), w.data(), b.data(), n, 1e-5f);
    expect_close(b, a, 1e-5f, "rmsnorm " + std::to_string(n));
    a = x, b = x;
    r.silu_mul(a.data(), u.data(), n);
    s.silu_mul(b.data(), u.data(), n);
    expect_close(b, a, 1e-5f, "silu_mul " + std::to_string(n));
    a = x, b = x;
    r.add(a.data(), u.data(), n);
    s.add(b.data(), u.data(), n);
    expect_close(b, a, 0.0f, "add");
    a = x, b = x;
    if (n > 2) a[1] = b[1] = -std::numeric_limits<float>::infinity();
    r.softmax(a.data(), n);
    s.softmax(b.data(), n);
    expect_close(b, a, 1e-6f, "softmax " + std::to_string(n));
    if (n > 2) {
      EXPECT_EQ(b[1], 0.0f);  // masked entries are exactly zero
    }
    a = x, b = x;
    if (n > 2) a[1] = b[1] = -std::numeric_limits<float>::infinity();
    const float shift = *std::max_element(x.begin(), x.end()) + 0.5f;
    const float ref_sum = r.exp_sum(a.data(), n, shift), got_sum = s.exp_sum(b.data(), n, shift);
    expect_close(b, a, 1e-6f, "exp_sum " + std::to_string(n));
    EXPECT_NEAR(got_sum, ref_sum, 1e-6f * n);
    if (n > 2) {
      EXPECT_EQ(b[1], 0.0f);
    }
    EXPECT_NEAR(s.dot_f32(x.data(), u.data(), n), r.dot_f32(x.data(), u.data(), n), 1e-4f * n);
    std::vector<uint16_t> h(n), h2(n);
    r.f32_to_f16(x.data(), h.data(), n);
    s.f32_to_f16(x.data(), h2.data(), n);
    EXPECT_EQ(h, h2) << "f32_to_f16 is bit-exact";
    std::vector<float> back(n), back2(n);
    r.f16_to_f32(h.data(), back.data(), n);
    s.f16_to_f32(h.data(), back2.data(), n);
    EXPECT_EQ(back, back2);
    EXPECT_NEAR(s.dot_f16(h.data(), u.data(), n), r.dot_f16(h.data(), u.data(), n), 1e-4f * n);
    std::vector<int8_t> q(n);
    for (size_t i = 0; i < n; ++i) q[i] = static_cast<int8_t>((i * 37) % 255 - 127);
    EXPECT_NEAR(s.dot_i8(q.data(), u.data(), n), r.dot_i8(q.data(), u.data(), n), 1e-3f * n);
    a = u, b = u;
    r.axpy_f16(0.5f, h.data(), a.data(), n);
    s.axpy_f16(0.5f, h.data(), b.data(), n);
    expect_close(b, a, 1e-6f, "axpy_f16");
    a = u, b = u;
    r.axpy_i8(0.25f, q.data(), a.data(), n);
    s.axpy_i8(0.25f, q.data(), b.data(), n);
    expect_close(b, a, 1e-6f, "axpy_i8");
    EXPECT_NEAR(s.sum_f32(x.data(), n), r.sum_f32(x.data(), n), 1e-4f * n);
    a.assign(n, 0.0f), b.assign(n, 0.0f);
    r.i8_to_f32(q.data(), 0.03f, a.data(), n);
    s.i8_to_f32(q.data(), 0.03f, b.data(), n);
    expect_close(b, a, 0.0f, "i8_to_f32");
  }
}

// Attention over a block of keys for several heads: head counts around the 4-row tiles, key
// counts around the 16-key steps (the transposed keys padded with zeros as ops pads them), head
// dims with and without a tail of 16, masked keys, and a rescale of what was summed before.
TEST_P(SimdKernels, AttentionBlockScoresAndAccumulate) {
  constexpr size_t kLd = 64;
  const float neg_inf = -std::numeric_limits<float>::infinity();
  for (size_t hd : {8u, 44u, 64u, 128u}) {
    for (size_t n : {1u, 3u, 16u, 17u, 63u, 64u}) {
      for (size_t heads : {1u, 2u, 3u, 4u, 5u, 8u}) {
        const std::string what = fmt::format("hd {} keys {} heads {}", hd, n, heads);
        auto q = random_floats(heads * hd, 21), k = random_floats(n * hd, 22),
             v = random_floats(n * hd, 23);
        std::vector<float> kt(hd * kLd, 0.0f);
        for (size_t j = 0; j < n; ++j)
          for (size_t d = 0; d < hd; ++d) kt[d * kLd + j] = k[j * hd + d];
        std::vector<float> mask(n, 0.0f);
        for (size_t j = 0; j < n; j += 3) mask[j] = j % 2 ? -0.25f : neg_inf;
        std::vector<float> a(heads * kLd, 7.0f), b(heads * kLd, 7.0f);
        reference_kernels().attn_scores_block(q.data(), heads, kt.data(), kLd, n, hd, 0.125f,
                                              mask.data(), a.data(), kLd);
        simd().attn_scores_block(q.data(), heads, kt.data(), kLd, n, hd, 0.125f, mask.data(),
                                 b.data(), kLd);
        for (size_t h = 0; h < heads; ++h)
          for (size_t j = 0; j < kLd; ++j) {
            const size_t i = h * kLd + j;
            if (j >= n) {
              ASSERT_EQ(b[i], 7.0f) << what;  // nothing written past the keys
            } else if (mask[j] == neg_inf) {
              ASSERT_EQ(b[i], neg_inf) << what;
            } else {
              ASSERT_NEAR(b[i], a[i], 1e-4f) << what << " " << h << " " << j;
            }
          }
        // Probabilities (unnormalised, as ops makes them), rescale factors including 0 and 1.
        for (size_t h = 0; h < heads; ++h) {
          const float m = *std::max_element(&a[h * kLd], &a[h * kLd] + n);
          reference_kernels().exp_sum(&a[h * kLd], n, m == neg_inf ? 0.0f : m);
        }
        std::vector<float> rescale(heads);
        for (size_t h = 0; h < heads; ++h)
          rescale[h] = h % 3 == 0 ? 1.0f : h % 3 == 1 ? 0.0f : 0.5f;
        auto o1 = random_floats(heads * hd, 24), o2 = o1;
        reference_kernels().attn_accumulate_block(a.data(), kLd, heads, v.data(), n, hd,
                                                  rescale.data(), o1.data());
        simd().attn_accumulate_block(a.data(), kLd, heads, v.data(), n, hd, rescale.data(),
                                     o2.data());
        expect_close(o2, o1, 1e-5f, "accumulate " + what);
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Isa, SimdKernels, ::testing::ValuesIn(test::simd_isas()),
                         test::isa_param_name);
// A host with no SIMD table (an ARM build before issue 14's NEON tables) has nothing to compare.
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(SimdKernels);

}  // namespace
}  // namespace corelm
