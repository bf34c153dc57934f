// Quantized packages against outside references: f16 and q8s32 keep llama2.c's greedy ids;
// q4s32's blocks and logits against an independent NumPy simulation of the format
// (tests/tools/q4s32_reference.py, its output committed as tests/data/q4s32_stories260K.json),
// whose quantizer is the NumPy port of coremltools' in tests/tools/coremltools_quant.py
// (stories260K's float32 weights cast to fp16, then coremltools' fp16 arithmetic).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>

#include "corelm/convert.h"

#include "corelm/model.h"
#include "package/reader.h"
#include "tensor/dtype.h"
#include "test_support.h"

namespace corelm {
namespace {

std::vector<int32_t> reference_ids() {
  auto j = nlohmann::json::parse(test::read_data("tiny-models/stories260K/reference_outputs.json"));
  return j["greedy_from_bos"]["ids"].get<std::vector<int32_t>>();
}

std::vector<int32_t> greedy(const std::string& quant, int steps) {
  Session s(test::stories_model(quant), {});
  std::vector<int32_t> ids{1}, out;
  auto l = s.forward(ids, 1, 1).span<float>();
  for (int i = 0; i < steps; ++i) {
    int32_t next = static_cast<int32_t>(std::max_element(l.begin(), l.end()) - l.begin());
    out.push_back(next);
    l = s.forward(std::vector<int32_t>{next}, 1, 1).span<float>();
  }
  return out;
}

// Teacher-forced along the reference path: logits of every position.
std::vector<float> forced_logits(const std::string& quant, const std::vector<int32_t>& path,
                                 KvCacheType kv) {
  SessionOptions o;
  o.all_logits = true;
  o.kv_cache = kv;
  Session s(test::stories_model(quant), o);
  std::vector<float> all;
  for (size_t pos = 0; pos < path.size(); pos += 128) {
    size_t n = std::min<size_t>(128, path.size() - pos);
    auto l = s.forward(std::span<const int32_t>(path).subspan(pos, n), 1, static_cast<int>(n))
                 .span<float>();
    all.insert(all.end(), l.begin(), l.end());
  }
  return all;
}

TEST(Quantized, F16AndQ8KeepTheGreedyIds) {
  auto ref = reference_ids();
  std::vector<int32_t> first64(ref.begin(), ref.begin() + 64);
  EXPECT_EQ(greedy("f16", 64), first64);
  // q8s32 up to position 61, where run.c's two best logits are 0.071 apart (the smallest margin
  // of the first 64; the float forward of tests/tools/q4s32_reference.py): closer than q8s32's
  // rounding moves logits, so that token follows the rounding (with either quantizer, depending
  // on the KV cache's type) rather than the model.
  std::vector<int32_t> first61(ref.begin(), ref.begin() + 61);
  EXPECT_EQ(greedy("q8s32", 61), first61);
}

const nlohmann::json& numpy_q4s32() {
  static const auto j = nlohmann::json::parse(test::read_fixture("q4s32_stories260K.json"));
  return j;
}

// FNV-1a 64 of `bytes`, as tests/tools/q4s32_reference.py computes it.
std::string fnv1a64(const std::vector<uint8_t>& bytes) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (uint8_t b : bytes) h = (h ^ b) * 0x100000001B3ull;
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(h));
  return hex;
}

TEST(Quantized, Q4S32BlocksAreTheNumPyQuantizationBitForBit) {
  // The row layout as docs/package-format.md defines it, decoded here: 18-byte blocks, fp16
  // scale then 16 bytes; element i < 16 is the low nibble of qs[i], i >= 16 the high nibble of
  // qs[i - 16]; value nibble - 8.
  ConvertOptions o;
  o.source = test::data_path("tiny-models/stories260K-hf");
  o.output = test::temp_dir() + "/stories-q4-rows.clm";
  o.interleave = false;
  convert_model(o);
  PackageReader p(o.output);
  const auto& fx = numpy_q4s32();
  ASSERT_EQ(p.tensors().size(), fx["stored_dtypes"].size());
  size_t q4_tensors = 0;
  for (const auto& [name, dtype] : fx["stored_dtypes"].items()) {
    const PackageTensor& t = p.tensor(name);
    EXPECT_EQ(dtype_name(t.dtype), dtype.get<std::string>()) << name;
    if (dtype != "q4s32") continue;
    ++q4_tensors;
    const size_t rows = t.rows(), blocks = t.cols() / 32;
    ASSERT_EQ(t.bytes, rows * blocks * 18) << name;
    std::vector<uint8_t> scales, q;
    std::vector<uint64_t> histogram(15, 0);
    for (size_t b = 0; b < rows * blocks; ++b) {
      const uint8_t* blk = t.data + b * 18;
      scales.insert(scales.end(), blk, blk + 2);
      for (int i = 0; i < 32; ++i) {
        int nibble = i < 16 ? (blk[2 + i] & 0xF) : (blk[2 + i - 16] >> 4);
        int value = nibble - 8;
        ASSERT_GE(value, -7) << name << ": nibble 0 is never written";
        q.push_back(static_cast<uint8_t>(static_cast<int8_t>(value)));
        ++histogram[static_cast<size_t>(value + 7)];
      }
    }
    const auto& d = fx["q4s32_digests"][name];
    EXPECT_EQ(fnv1a64(scales), d["scales_fnv1a64"].get<std::string>()) << name;
    EXPECT_EQ(fnv1a64(q), d["q_fnv1a64"].get<std::string>()) << name;
    EXPECT_EQ(histogram, d["q_histogram"].get<std::vector<uint64_t>>()) << name;
  }
  EXPECT_EQ(q4_tensors, 30u);
}

TEST(Quantized, Q4S32LogitsMatchTheNumPySimulation) {
  // tests/tools/q4s32_reference.py simulates q4s32 weights and the documented int8 activation
  // blocks in NumPy. Rounding activations to int8 turns float noise into differences of up to
  // a few tenths on single logits; the script measures that reach (its own float32 run against
  // its float64 one) and the bounds here are that, with a margin.
  const auto& fx = numpy_q4s32();
  const auto& noise = fx["q8_activations_float32_vs_float64"];
  const float max_noise = noise["max_abs_error"].get<float>();
  const double mean_noise = noise["mean_abs_error"].get<double>();
  const double worst_position_mean_noise = noise["worst_position_mean_abs_error"].get<double>();
  auto ref = reference_ids();
  std::vector<int32_t> path{1};
  path.insert(path.end(), ref.begin(), ref.end() - 1);  // 256 positions
  ASSERT_EQ(fx["positions"].get<size_t>(), path.size());
  auto f = forced_logits("f32", path, KvCacheType::kF32);
  auto q = forced_logits("q4s32", path, KvCacheType::kF32);

  const auto& sim = fx["q8_activations"];
  const auto positions = sim["logit_positions"].get<std::vector<size_t>>();
  size_t exact = 0;  // positions no activation rounding reached: equal to the fixture's decimals
  for (size_t i = 0; i < positions.size(); ++i) {
    const auto expected = sim["logits"][i].get<std::vector<float>>();
    ASSERT_EQ(expected.size(), 512u);
    float max_diff = 0.0f;
    double sum_diff = 0.0;
    for (size_t v = 0; v < 512; ++v) {
      const float d = std::fabs(q[positions[i] * 512 + v] - expected[v]);
      max_diff = std::max(max_diff, d);
      sum_diff += d;
    }
    std::printf("position %zu: corelm q4s32 vs NumPy max |difference| %.4f, mean %.5f\n",
                positions[i], max_diff, sum_diff / 512);
    EXPECT_LT(max_diff, 1.5f * max_noise) << "position " << positions[i];
    EXPECT_LT(sum_diff / 512, 1.5 * worst_position_mean_noise) << "position " << positions[i];
    exact += max_diff < 2e-3f;
  }
  EXPECT_GE(exact, 1u);

  // Top-1 at every position, wherever NumPy's two best logits are further apart than the noise.
  const auto top1 = sim["top1"].get<std::vector<int32_t>>();
  const auto margin = sim["top1_margin"].get<std::vector<float>>();
  size_t compared = 0, agree = 0;
  float max_err = 0.0f;
  double sum_err = 0.0;
  for (size_t p = 0; p < path.size(); ++p) {
    const float* a = &f[p * 512];
    const float* b = &q[p * 512];
    const int32_t got = static_cast<int32_t>(std::max_element(b, b + 512) - b);
    if (margin[p] > 2 * max_noise) {
      ++compared;
      EXPECT_EQ(got, top1[p]) << "position " << p;
    }
    agree += got == ref[p];  // f32's top-1 along the path is run.c's greedy id
    for (int v = 0; v < 512; ++v) {
      max_err = std::max(max_err, std::fabs(a[v] - b[v]));
      sum_err += std::fabs(a[v] - b[v]);
    }
  }
  EXPECT_GT(compared, 200u);
  // The error q4s32 adds against f32, as NumPy measured it with the same simulation.
  const auto& expected = fx["q8_activations_vs_f32"];
  const double agreement = static_cast<double>(agree) / static_cast<double>(path.size());
  const double mean_err = sum_err / static_cast<double>(f.size());
  std::printf(
      "q4s32 vs f32 on stories260K: top-1 agreement %.4f (NumPy %.4f), max |logit error| %.4f "
      "(NumPy %.4f), mean %.5f (NumPy %.5f)\n",
      agreement, expected["top1_agreement"].get<double>(), max_err,
      expected["max_abs_error"].get<double>(), mean_err, expected["mean_abs_error"].get<double>());
  EXPECT_NEAR(agreement, expected["top1_agreement"].get<double>(), 1.5 / 256);
  EXPECT_NEAR(max_err, expected["max_abs_error"].get<double>(), max_noise);
  EXPECT_NEAR(mean_err, expected["mean_abs_error"].get<double>(), mean_noise / 4);
}

}  // namespace
}  // namespace corelm
