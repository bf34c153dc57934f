// q4s32 / q8s32 bit for bit against NumPy's port of coremltools' linear_symmetric per-block
// quantizer (tests/tools/coremltools_quant.py, its output on adversarial blocks committed as
// tests/data/quant_adversarial_blocks.json): exact ties, quotients that round differently in fp16
// and float32, zero and single-value blocks, negative maxima, subnormals, values near fp16's
// maximum (where corelm's documented rule replaces coremltools' infinite scale), and float32
// blocks that are cast to fp16 first or lie beyond its range.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include <array>
#include <string>
#include <vector>

#include "base/half.h"
#include "tensor/quant.h"
#include "test_support.h"

namespace corelm {
namespace {

struct Case {
  std::string name;
  std::array<float, 32> x;
  nlohmann::json q4, q8;
};

std::vector<Case> cases() {
  const auto j = nlohmann::json::parse(test::read_fixture("quant_adversarial_blocks.json"));
  std::vector<Case> out;
  for (const auto& c : j["cases"]) {
    Case k{c["name"].get<std::string>(), {}, c["q4s32"], c["q8s32"]};
    const auto bits = c["bits"].get<std::vector<uint32_t>>();
    EXPECT_EQ(bits.size(), 32u) << k.name;
    const bool f16 = c["input"] == "f16";
    for (size_t i = 0; i < 32 && i < bits.size(); ++i)
      k.x[i] = f16 ? fp16_to_float(static_cast<uint16_t>(bits[i])) : bits_float(bits[i]);
    out.push_back(std::move(k));
  }
  return out;
}

TEST(QuantCoremltools, FixtureCoversTheAdversarialBlocks) {
  const auto all = cases();
  EXPECT_GE(all.size(), 40u);
  size_t f32_division_differs = 0;
  for (const auto& c : all) {
    if (c.q4.value("f32_division_differs", false)) ++f32_division_differs;
  }
  // Blocks where dividing in float32 (corelm's former quantizer) gives another q than fp16 does.
  EXPECT_GE(f32_division_differs, 6u);
}

TEST(QuantCoremltools, Q4S32BlocksAreTheNumPyPortBitForBit) {
  for (const auto& c : cases()) {
    BlockQ4 b;
    quantize_row_q4s32(c.x.data(), &b, 32);
    EXPECT_EQ(b.scale, c.q4["scale"].get<uint16_t>()) << c.name;
    const auto q = c.q4["q"].get<std::vector<int>>();
    for (int i = 0; i < 32; ++i) {
      const int got = (i < 16 ? (b.qs[i] & 0xF) : (b.qs[i - 16] >> 4)) - 8;
      EXPECT_EQ(got, q[static_cast<size_t>(i)]) << fmt::format("{} element {}", c.name, i);
    }
  }
}

TEST(QuantCoremltools, Q8S32BlocksAreTheNumPyPortBitForBit) {
  for (const auto& c : cases()) {
    BlockQ8 b;
    quantize_row_q8s32(c.x.data(), &b, 32);
    EXPECT_EQ(b.scale, c.q8["scale"].get<uint16_t>()) << c.name;
    const auto q = c.q8["q"].get<std::vector<int>>();
    for (int i = 0; i < 32; ++i) {
      EXPECT_EQ(b.qs[i], q[static_cast<size_t>(i)]) << fmt::format("{} element {}", c.name, i);
    }
  }
}

TEST(QuantCoremltools, RowsOfManyBlocksQuantizeEachBlockAlone) {
  // All the cases as one row: the same blocks as one at a time.
  const auto all = cases();
  std::vector<float> row;
  for (const auto& c : all) row.insert(row.end(), c.x.begin(), c.x.end());
  std::vector<BlockQ4> q4(all.size());
  std::vector<BlockQ8> q8(all.size());
  quantize_row_q4s32(row.data(), q4.data(), row.size());
  quantize_row_q8s32(row.data(), q8.data(), row.size());
  for (size_t k = 0; k < all.size(); ++k) {
    EXPECT_EQ(q4[k].scale, all[k].q4["scale"].get<uint16_t>()) << all[k].name;
    EXPECT_EQ(q8[k].scale, all[k].q8["scale"].get<uint16_t>()) << all[k].name;
    const auto q = all[k].q8["q"].get<std::vector<int>>();
    EXPECT_EQ(std::vector<int>(q8[k].qs, q8[k].qs + 32), q) << all[k].name;
  }
}

}  // namespace
}  // namespace corelm
