// The type registry (tensor/dtype.*): every row agrees with the block structs and with ggml's
// own type table (ids, names and block geometry copied by hand from ggml.h / ggml.c), names
// round-trip, and the converter's --quant choices come from it.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>
#include <set>

#include "corelm/convert.h"
#include "tensor/dtype.h"
#include "tensor/quant.h"
#include "tensor/quant_blocks.h"

namespace corelm {
namespace {

TEST(TypeRegistry, DTypeRowsMatchTheirBlockStructs) {
  // Written from the block definitions: q4 blocks are an fp16 scale + 16 bytes of nibbles for 32
  // weights, q8 blocks an fp16 scale + 32 int8.
  struct Expect {
    DType d;
    size_t elements, bytes;
    bool q4;
  };
  const Expect expect[] = {
      {DType::kF32, 1, sizeof(float), false},
      {DType::kF16, 1, sizeof(uint16_t), false},
      {DType::kBF16, 1, sizeof(uint16_t), false},
      {DType::kQ8S32, 32, sizeof(BlockQ8), false},
      {DType::kQ4S32, 32, sizeof(BlockQ4), true},
      {DType::kQ4_0, 32, sizeof(BlockQ4), true},
      {DType::kQ8_0, 32, sizeof(BlockQ8), false},
      // GGUF's run-only types (ggml-common.h's block structs).
      {DType::kQ4_1, 32, 2 + 2 + 16, false},
      {DType::kQ5_0, 32, 2 + 4 + 16, false},
      {DType::kQ5_1, 32, 2 + 2 + 4 + 16, false},
      {DType::kQ2_K, 256, 256 / 16 + 256 / 4 + 2 + 2, false},
      {DType::kQ3_K, 256, 256 / 8 + 256 / 4 + 12 + 2, false},
      {DType::kQ4_K, 256, 2 + 2 + 12 + 256 / 2, false},
      {DType::kQ5_K, 256, 2 + 2 + 12 + 256 / 8 + 256 / 2, false},
      {DType::kQ6_K, 256, 256 / 2 + 256 / 4 + 256 / 16 + 2, false},
      // Palettized: two 4-bit indices per byte, eight 3-bit ones in 3 bytes, four 6-bit ones in 3;
      // the tables are in the lut_g* layouts.
      {DType::kLut4, 2, 1, false},
      {DType::kLut3, 8, 3, false},
      {DType::kLut6, 4, 3, false},
  };
  ASSERT_EQ(std::size(expect), kNumDTypes);
  for (const auto& e : expect) {
    const TypeTraits& t = dtype_traits(e.d);
    SCOPED_TRACE(t.name);
    ASSERT_TRUE(t.dtype.has_value());
    EXPECT_EQ(*t.dtype, e.d);
    EXPECT_EQ(t.block_elements, e.elements);
    EXPECT_EQ(t.block_bytes, e.bytes);
    EXPECT_EQ(t.quantized, e.elements > 1);
    EXPECT_EQ(t.q4_blocks, e.q4);
    // A palettized row cannot be read alone (its table is the group's): no row converters.
    EXPECT_EQ(t.to_float != nullptr, t.lut_bits == 0);
    EXPECT_EQ(t.lut_bits, e.d == DType::kLut4   ? 4
                          : e.d == DType::kLut3 ? 3
                          : e.d == DType::kLut6 ? 6
                                                : 0);
    // corelm writes its own formats and GGUF's Q4_0 / Q8_0; the other GGUF types only run.
    EXPECT_EQ(t.from_float != nullptr, e.d <= DType::kQ8_0);
    EXPECT_EQ(t.k_quant, e.elements == 256);
    EXPECT_EQ(dtype_row_bytes(e.d, 512), 512 / e.elements * e.bytes);
  }
  EXPECT_EQ(sizeof(BlockQ4), 18u);
  EXPECT_EQ(sizeof(BlockQ8), 34u);
}

TEST(TypeRegistry, RowsConvertToFloatAndBackWithinTheirPrecision) {
  std::mt19937 rng(7);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> x(64), y(64);
  for (auto& v : x) v = dist(rng);
  float amax = 0.0f;
  for (float v : x) amax = std::max(amax, std::fabs(v));
  for (size_t d = 0; d < kNumDTypes; ++d) {
    const TypeTraits& t = dtype_traits(static_cast<DType>(d));
    SCOPED_TRACE(t.name);
    if (t.from_float == nullptr) continue;  // run-only (ggml_types_test.cpp reads them)
    std::vector<uint8_t> bytes(dtype_row_bytes(static_cast<DType>(d), x.size()));
    t.from_float(x.data(), bytes.data(), x.size());
    t.to_float(bytes.data(), y.data(), y.size());
    // Half a quantization step of the coarsest block (scale max|x| / 7 or / 127); Q4_0 maps the
    // largest value to -8, so the other sign may clamp at +7: a whole step of max|x| / 8. fp16
    // and bf16 keep 11 and 8 significant bits.
    const DType dt = static_cast<DType>(d);
    const double bound = dt == DType::kF32    ? 0.0
                         : dt == DType::kF16  ? amax / 2048.0
                         : dt == DType::kBF16 ? amax / 256.0
                         : dt == DType::kQ4_0 ? amax / 8.0 * 1.01
                         : t.q4_blocks        ? amax / 7.0 / 2.0 * 1.01
                                              : amax / 127.0 / 2.0 * 1.01;
    for (size_t i = 0; i < x.size(); ++i) EXPECT_LE(std::fabs(y[i] - x[i]), bound) << i;
  }
}

TEST(TypeRegistry, NamesRoundTrip) {
  std::set<std::string> names;
  for (size_t d = 0; d < kNumDTypes; ++d) {
    const DType dtype = static_cast<DType>(d);
    EXPECT_EQ(dtype_from_name(dtype_name(dtype)), dtype);
    EXPECT_TRUE(names.insert(dtype_name(dtype)).second) << "duplicate " << dtype_name(dtype);
    const TypeTraits& t = dtype_traits(dtype);
    if (t.ggml_id >= 0) {
      ASSERT_EQ(ggml_type(static_cast<uint32_t>(t.ggml_id)), &t);
    }
  }
  for (const char* bad : {"", "Q4_K", "q4", "F32", "q4s32 "}) EXPECT_FALSE(dtype_from_name(bad));
  // The registry holds each name and each GGUF id once.
  std::set<std::string> all;
  std::set<int> ids;
  for (const auto& t : type_registry()) {
    EXPECT_TRUE(all.insert(t.name).second) << t.name;
    if (t.ggml_id >= 0) {
      EXPECT_TRUE(ids.insert(t.ggml_id).second) << t.ggml_id;
    }
  }
}

// ggml.h's enum ggml_type and the block sizes of ggml.c's type_traits (ids 4, 5 and 31..33,
// 36..38 are retired there).
struct GgmlDef {
  uint32_t id;
  const char* name;
  size_t block_elements, block_bytes;
};
constexpr size_t kQK_K = 256, kScaleK = 12;
const GgmlDef kGgml[] = {
    {0, "F32", 1, 4},
    {1, "F16", 1, 2},
    {2, "Q4_0", 32, 2 + 16},
    {3, "Q4_1", 32, 2 + 2 + 16},
    {6, "Q5_0", 32, 2 + 4 + 16},
    {7, "Q5_1", 32, 2 + 2 + 4 + 16},
    {8, "Q8_0", 32, 2 + 32},
    {9, "Q8_1", 32, 2 + 2 + 32},
    {10, "Q2_K", kQK_K, 2 + 2 + kQK_K / 16 + kQK_K / 4},
    {11, "Q3_K", kQK_K, kQK_K / 8 + kQK_K / 4 + 12 + 2},
    {12, "Q4_K", kQK_K, 2 + 2 + kScaleK + kQK_K / 2},
    {13, "Q5_K", kQK_K, 2 + 2 + kScaleK + kQK_K / 8 + kQK_K / 2},
    {14, "Q6_K", kQK_K, kQK_K / 2 + kQK_K / 4 + kQK_K / 16 + 2},
    {15, "Q8_K", kQK_K, 4 + kQK_K + kQK_K / 16 * 2},
    {16, "IQ2_XXS", kQK_K, 2 + kQK_K / 8 * 2},
    {17, "IQ2_XS", kQK_K, 2 + kQK_K / 8 * 2 + kQK_K / 32},
    {18, "IQ3_XXS", kQK_K, 2 + 3 * (kQK_K / 8)},
    {19, "IQ1_S", kQK_K, 2 + kQK_K / 8 + kQK_K / 16},
    {20, "IQ4_NL", 32, 2 + 16},
    {21, "IQ3_S", kQK_K, 2 + kQK_K / 4 + kQK_K / 32 + kQK_K / 8 + kQK_K / 64},
    {22, "IQ2_S", kQK_K, 2 + kQK_K / 4 + kQK_K / 16},
    {23, "IQ4_XS", kQK_K, 2 + 2 + kQK_K / 64 + kQK_K / 2},
    {24, "I8", 1, 1},
    {25, "I16", 1, 2},
    {26, "I32", 1, 4},
    {27, "I64", 1, 8},
    {28, "F64", 1, 8},
    {29, "IQ1_M", kQK_K, kQK_K / 8 + kQK_K / 16 + kQK_K / 32},
    {30, "BF16", 1, 2},
    {34, "TQ1_0", kQK_K, (kQK_K - 4 * kQK_K / 64) / 5 + kQK_K / 64 + 2},
    {35, "TQ2_0", kQK_K, kQK_K / 4 + 2},
    {39, "MXFP4", 32, 1 + 16},
};

TEST(TypeRegistry, EveryGgmlTypeHasARowWithGgmlsGeometry) {
  for (const auto& g : kGgml) {
    const TypeTraits* t = ggml_type(g.id);
    ASSERT_NE(t, nullptr) << g.name;
    EXPECT_STREQ(t->ggml_name, g.name);
    EXPECT_EQ(t->block_elements, g.block_elements) << g.name;
    EXPECT_EQ(t->block_bytes, g.block_bytes) << g.name;
  }
  for (uint32_t retired : {4u, 5u, 31u, 32u, 33u, 36u, 37u, 38u, 40u, 1000u})
    EXPECT_EQ(ggml_type(retired), nullptr) << retired;
}

TEST(TypeRegistry, GgmlTypesCorelmReadsHaveReaders) {
  // Run directly (a DType's row), or dequantized once (a reader), or refused with a clear name.
  const std::map<std::string, std::optional<DType>> runs = {
      {"F32", DType::kF32},   {"F16", DType::kF16},   {"BF16", DType::kBF16},
      {"Q4_0", DType::kQ4_0}, {"Q8_0", DType::kQ8_0}, {"Q4_1", DType::kQ4_1},
      {"Q5_0", DType::kQ5_0}, {"Q5_1", DType::kQ5_1}, {"Q2_K", DType::kQ2_K},
      {"Q3_K", DType::kQ3_K}, {"Q4_K", DType::kQ4_K}, {"Q5_K", DType::kQ5_K},
      {"Q6_K", DType::kQ6_K},
  };
  const std::set<std::string> reads = {};
  for (const auto& g : kGgml) {
    const TypeTraits* t = ggml_type(g.id);
    SCOPED_TRACE(g.name);
    if (auto it = runs.find(g.name); it != runs.end()) {
      EXPECT_EQ(t->dtype, it->second);
      EXPECT_NE(t->to_float, nullptr);
    } else if (reads.count(g.name)) {
      EXPECT_FALSE(t->dtype.has_value());
      EXPECT_NE(t->to_float, nullptr);
    } else {
      EXPECT_FALSE(t->dtype.has_value());
      EXPECT_EQ(t->to_float, nullptr);
    }
  }
}

TEST(TypeRegistry, ConversionChoicesComeFromTheRegistry) {
  const std::vector<std::string> expect = {"f32",   "f16",  "bf16", "q8s32",
                                           "q4s32", "lut4", "lut3", "lut6"};
  EXPECT_EQ(conversion_dtype_names(), expect);
  EXPECT_EQ(convert_quant_names(), expect);
}

}  // namespace
}  // namespace corelm
