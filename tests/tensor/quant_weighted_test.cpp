// The importance-weighted q4s32 / q8s32 block quantizer (corelm convert --imatrix): bit for bit
// against its NumPy port (tests/tools/q4s32_weighted_reference.py, committed as
// tests/data/quant_weighted_blocks.json), a hand-checked block whose heavy column changes the
// scale, and the ties that must keep coremltools' bytes.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include <array>
#include <random>
#include <string>
#include <vector>

#include "base/half.h"
#include "tensor/quant.h"
#include "test_support.h"

namespace corelm {
namespace {

struct Case {
  std::string name;
  std::array<float, 32> x, imp;
  nlohmann::json q4, q8;
};

std::vector<Case> cases() {
  const auto j = nlohmann::json::parse(test::read_fixture("quant_weighted_blocks.json"));
  std::vector<Case> out;
  for (const auto& c : j["cases"]) {
    Case k{c["name"].get<std::string>(), {}, {}, c["q4s32"], c["q8s32"]};
    const auto bits = c["bits"].get<std::vector<uint32_t>>();
    const auto imp = c["importance_bits"].get<std::vector<uint32_t>>();
    EXPECT_EQ(bits.size(), 32u);
    EXPECT_EQ(imp.size(), 32u);
    for (size_t i = 0; i < 32 && i < bits.size() && i < imp.size(); ++i) {
      k.x[i] = bits_float(bits[i]);
      k.imp[i] = bits_float(imp[i]);
    }
    out.push_back(std::move(k));
  }
  return out;
}

std::array<int, 32> unpack_q4(const BlockQ4& b) {
  std::array<int, 32> q{};
  for (int i = 0; i < 16; ++i) {
    q[i] = (b.qs[i] & 0xF) - 8;
    q[i + 16] = (b.qs[i] >> 4) - 8;
  }
  return q;
}

TEST(QuantWeighted, MatchesNumPyPortBitForBit) {
  const auto all = cases();
  ASSERT_GE(all.size(), 20u);
  size_t q4_moved = 0, q8_moved = 0;
  for (const auto& c : all) {
    BlockQ4 b4;
    quantize_row_q4s32_weighted(c.x.data(), c.imp.data(), &b4, 32);
    EXPECT_EQ(b4.scale, c.q4["scale"].get<uint16_t>()) << c.name;
    const auto q4 = unpack_q4(b4);
    const auto want4 = c.q4["q"].get<std::vector<int>>();
    for (int i = 0; i < 32; ++i) {
      EXPECT_EQ(q4[i], want4[i]) << fmt::format("{} q4 element {}", c.name, i);
    }
    BlockQ8 b8;
    quantize_row_q8s32_weighted(c.x.data(), c.imp.data(), &b8, 32);
    EXPECT_EQ(b8.scale, c.q8["scale"].get<uint16_t>()) << c.name;
    const auto want8 = c.q8["q"].get<std::vector<int>>();
    for (int i = 0; i < 32; ++i) {
      EXPECT_EQ(b8.qs[i], want8[i]) << fmt::format("{} q8 element {}", c.name, i);
    }
    q4_moved += c.q4["k"].get<int>() != 0;
    q8_moved += c.q8["k"].get<int>() != 0;
  }
  // The fixture exercises both outcomes: coremltools' scale kept, and another one chosen.
  EXPECT_GE(q4_moved, 5u);
  EXPECT_GE(q8_moved, 5u);
  EXPECT_LT(q4_moved, all.size());
}

TEST(QuantWeighted, HeavyColumnChangesTheScale) {
  // 7 and 2.625: coremltools' scale is 7 / 7 = 1 and 2.625 rounds to 3 (error 0.375^2 per unit
  // of importance). Scale 0.875 (D = 8) holds 2.625 = 3 x 0.875 exactly and clips 7 to 6.125
  // (error 0.875^2). With importance 1000 on the 2.625 column, 0.875 wins.
  std::array<float, 32> x{}, imp{};
  imp.fill(1.0f);
  x[0] = 7.0f;
  x[1] = 2.625f;
  imp[1] = 1000.0f;
  BlockQ4 plain, weighted;
  quantize_row_q4s32(x.data(), &plain, 32);
  quantize_row_q4s32_weighted(x.data(), imp.data(), &weighted, 32);
  EXPECT_EQ(fp16_to_float(plain.scale), 1.0f);
  EXPECT_EQ(unpack_q4(plain)[1], 3);
  EXPECT_EQ(fp16_to_float(weighted.scale), 0.875f);
  EXPECT_EQ(unpack_q4(weighted)[0], 7);
  EXPECT_EQ(unpack_q4(weighted)[1], 3);
  std::array<float, 32> back{};
  dequantize_row_q4(&weighted, back.data(), 32);
  EXPECT_EQ(back[0], 6.125f);
  EXPECT_EQ(back[1], 2.625f);
}

TEST(QuantWeighted, TiesKeepCoremltoolsBytes) {
  // Integers in [-7, 7] with a 7: coremltools' scale 1 is exact (error 0), nothing beats it
  // under any importance. And zero importance makes every candidate tie: coremltools' bytes on
  // any row, q4s32 and q8s32.
  std::array<float, 32> ints{}, imp{};
  for (int i = 0; i < 32; ++i) {
    ints[i] = static_cast<float>(i % 15 - 7);
    imp[i] = 0.5f + static_cast<float>(i);
  }
  BlockQ4 a, b;
  quantize_row_q4s32(ints.data(), &a, 32);
  quantize_row_q4s32_weighted(ints.data(), imp.data(), &b, 32);
  EXPECT_EQ(0, std::memcmp(&a, &b, sizeof a));

  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 0.05f);
  const size_t n = 32 * 64;
  std::vector<float> row(n), zero(n, 0.0f);
  for (auto& v : row) v = normal(rng);
  std::vector<BlockQ4> p4(n / 32), w4(n / 32);
  quantize_row_q4s32(row.data(), p4.data(), n);
  quantize_row_q4s32_weighted(row.data(), zero.data(), w4.data(), n);
  EXPECT_EQ(0, std::memcmp(p4.data(), w4.data(), p4.size() * sizeof(BlockQ4)));
  std::vector<BlockQ8> p8(n / 32), w8(n / 32);
  quantize_row_q8s32(row.data(), p8.data(), n);
  quantize_row_q8s32_weighted(row.data(), zero.data(), w8.data(), n);
  EXPECT_EQ(0, std::memcmp(p8.data(), w8.data(), p8.size() * sizeof(BlockQ8)));
}

TEST(QuantWeighted, NeverWorseThanCoremltoolsUnderItsImportance) {
  // The search includes coremltools' scale, so per block the weighted error (measured here from
  // the dequantized values) is at most coremltools', and over many blocks clearly smaller.
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 0.05f);
  std::gamma_distribution<float> gamma(0.5f, 2.0f);
  const size_t n = 32 * 256;
  std::vector<float> row(n), imp(n), plain(n), weighted(n);
  for (size_t i = 0; i < n; ++i) row[i] = fp16_to_float(float_to_fp16(normal(rng)));
  for (auto& v : imp) v = gamma(rng);
  std::vector<BlockQ4> p(n / 32), w(n / 32);
  quantize_row_q4s32(row.data(), p.data(), n);
  quantize_row_q4s32_weighted(row.data(), imp.data(), w.data(), n);
  dequantize_row_q4(p.data(), plain.data(), n);
  dequantize_row_q4(w.data(), weighted.data(), n);
  double total_plain = 0.0, total_weighted = 0.0;
  for (size_t b = 0; b < n / 32; ++b) {
    double ep = 0.0, ew = 0.0;
    for (size_t i = b * 32; i < b * 32 + 32; ++i) {
      ep += imp[i] * (static_cast<double>(row[i]) - plain[i]) * (row[i] - plain[i]);
      ew += imp[i] * (static_cast<double>(row[i]) - weighted[i]) * (row[i] - weighted[i]);
    }
    EXPECT_LE(ew, ep * (1.0 + 1e-12)) << "block " << b;
    total_plain += ep;
    total_weighted += ew;
  }
  EXPECT_LT(total_weighted, 0.9 * total_plain);
}

TEST(QuantWeighted, OtherTypesIgnoreImportance) {
  std::vector<float> row(64), imp(64, 1.0f);
  for (size_t i = 0; i < row.size(); ++i) row[i] = 0.01f * static_cast<float>(i) - 0.3f;
  EXPECT_TRUE(has_weighted_quantizer(DType::kQ4S32));
  EXPECT_TRUE(has_weighted_quantizer(DType::kQ8S32));
  EXPECT_FALSE(has_weighted_quantizer(DType::kF16));
  std::vector<uint16_t> a(64), b(64);
  quantize_row(DType::kF16, row.data(), a.data(), 64);
  quantize_row_weighted(DType::kF16, row.data(), imp.data(), b.data(), 64);
  EXPECT_EQ(a, b);
}

}  // namespace
}  // namespace corelm
