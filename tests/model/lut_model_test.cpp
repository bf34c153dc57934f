// lut4 packages end to end: stories260K converted with --quant lut4 at G = 8, 16, 32 stores
// every linear layer as lut4 in its lut_gG layout (embeddings f16), says so in its header, loads,
// reads its matrices back within the format's error, and generates close to the f32 package.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <span>
#include <vector>

#include "corelm/convert.h"
#include "corelm/error.h"
#include "corelm/model.h"
#include "package/reader.h"
#include "tensor/dtype.h"
#include "tensor/layout.h"
#include "test_support.h"

namespace corelm {
namespace {

const std::string& lut_package(int group, const std::string& quant = "lut4") {
  static std::map<std::string, std::string> paths;
  const std::string key = fmt::format("{}-g{}", quant, group);
  auto it = paths.find(key);
  if (it != paths.end()) return it->second;
  ConvertOptions o;
  o.source = test::data_path("tiny-models/stories260K-hf");
  o.output = fmt::format("{}/stories260K-{}.clm", test::temp_dir(), key);
  o.quant = quant;
  o.group_size = group;
  o.n_threads = 1;
  const ConvertReport report = convert_model(o);
  // lut_bits per weight and a table per group of G rows.
  EXPECT_GT(report.bits_per_weight, dtype_traits(*dtype_from_name(quant)).lut_bits);
  EXPECT_LT(report.bits_per_weight, 16.0);  // the f16 embeddings count too
  return paths[key] = o.output;
}

std::vector<int32_t> greedy(std::shared_ptr<Model> model, int steps) {
  Session s(model, {});
  std::vector<int32_t> ids{1}, out;
  auto l = s.forward(ids, 1, 1).span<float>();
  for (int i = 0; i < steps; ++i) {
    const auto next = static_cast<int32_t>(std::max_element(l.begin(), l.end()) - l.begin());
    out.push_back(next);
    l = s.forward(std::vector<int32_t>{next}, 1, 1).span<float>();
  }
  return out;
}

TEST(Lut4Package, StoresEveryLinearLayerInItsGroupLayout) {
  for (int g : {8, 16, 32}) {
    SCOPED_TRACE(fmt::format("G {}", g));
    PackageReader r(lut_package(g));
    const auto& q = r.header()["quantization"];
    EXPECT_EQ(q["default"], "lut4");
    EXPECT_EQ(q["mode"], "palettization");
    EXPECT_EQ(q["group_size"], g);
    EXPECT_EQ(q["embeddings"], "f16");
    const Layout layout = *lut_layout_for_group(static_cast<size_t>(g));
    size_t lut = 0;
    for (const auto& t : r.tensors()) {
      if (t.shape.size() != 2 || t.name == "model.embed_tokens.weight") continue;
      if (t.dtype == DType::kF16) continue;  // rows of an odd length (none in stories260K)
      EXPECT_EQ(t.dtype, DType::kLut4) << t.name;
      EXPECT_EQ(t.layout, layout) << t.name;
      EXPECT_EQ(t.bytes, (t.shape[0] + g - 1) / g * 32 + (t.shape[0] + 7) / 8 * 8 * t.shape[1] / 2)
          << t.name;
      ++lut;
    }
    EXPECT_EQ(lut, 5u * 7u);  // 5 layers of q, k, v, o, gate, up, down
  }
}

TEST(Lut4Package, MatricesReadBackWithinTheFormatsError) {
  // Against the f32 package's weights. 16 levels for a whole group of G rows: the optimal 16-level
  // quantizer of a Gaussian (Lloyd-Max) leaves 0.097 of its RMS, heavier tails more. Measured on
  // stories260K's lut4 matrices: 0.119, 0.117, 0.116 of their RMS for G = 8, 16, 32, the attention
  // matrices 0.12-0.145 each, the MLP ones below 0.12. Bounds: 0.17 per matrix, 0.13 for them all.
  PackageReader f32(test::stories_package("f32"));
  for (int g : {8, 16, 32}) {
    PackageReader lut(lut_package(g));
    double all_err2 = 0.0, all_ref2 = 0.0;
    for (const auto& t : lut.tensors()) {
      if (t.dtype != DType::kLut4) continue;
      const PackageTensor* base = f32.find_tensor(t.name);
      ASSERT_NE(base, nullptr);
      const size_t cols = t.shape[1];
      std::vector<float> row(cols);
      double err2 = 0.0, ref2 = 0.0;
      for (size_t r = 0; r < t.shape[0]; ++r) {
        dequantize_matrix_row(t.dtype, t.layout, t.data, r, cols, row.data());
        const float* ref = reinterpret_cast<const float*>(base->data) + r * cols;
        for (size_t c = 0; c < cols; ++c) {
          err2 += (row[c] - ref[c]) * static_cast<double>(row[c] - ref[c]);
          ref2 += static_cast<double>(ref[c]) * ref[c];
        }
      }
      EXPECT_LT(std::sqrt(err2 / ref2), 0.17) << t.name << " G " << g;
      all_err2 += err2, all_ref2 += ref2;
    }
    EXPECT_LT(std::sqrt(all_err2 / all_ref2), 0.13) << "G " << g;
  }
}

TEST(Lut4Package, GeneratesCloseToF32) {
  const auto ref = greedy(test::stories_model("f32"), 32);
  for (int g : {8, 16, 32}) {
    const auto ids = greedy(Model::load(lut_package(g)), 32);
    size_t same = 0;
    while (same < ids.size() && ids[same] == ref[same]) ++same;
    // The first tokens follow the f32 model; later ones part where its margins are small
    // (measured: the first 25, 20, 35 ids for G = 8, 16, 32; q4s32 38).
    EXPECT_GE(same, 12u) << "G " << g;
  }
}

TEST(Lut4Package, GroupSizesOtherThan8_16_32AreRefused) {
  for (int g : {0, 12, 64}) {
    ConvertOptions o;
    o.source = test::data_path("tiny-models/stories260K-hf");
    o.output = fmt::format("{}/stories260K-lut4-bad-g{}.clm", test::temp_dir(), g);
    o.quant = "lut4";
    o.group_size = g;
    try {
      convert_model(o);
      ADD_FAILURE() << "G " << g << " was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("--group-size"), std::string::npos) << e.what();
    }
  }
}

TEST(Lut36Package, StoresLut3AndLut6WithTheirTables) {
  // G = 16. lut6 takes every linear layer (rows of 4k values: down_proj's 172 too); lut3 needs
  // rows of 8k values, so down_proj (172 columns) falls back to f16 (tensor_plan's note).
  PackageReader f32(test::stories_package("f32"));
  for (const char* quant : {"lut3", "lut6"}) {
    SCOPED_TRACE(quant);
    const DType dtype = *dtype_from_name(quant);
    const size_t table = lut_table_bytes(dtype);
    PackageReader r(lut_package(16, quant));
    EXPECT_EQ(r.header()["quantization"]["default"], quant);
    EXPECT_EQ(r.header()["quantization"]["lut_entries"], size_t{1} << dtype_traits(dtype).lut_bits);
    size_t lut = 0, f16 = 0;
    double all_err2 = 0.0, all_ref2 = 0.0;
    for (const auto& t : r.tensors()) {
      if (t.shape.size() != 2 || t.name == "model.embed_tokens.weight") continue;
      if (t.dtype == DType::kF16) {
        EXPECT_EQ(t.shape[1], 172u) << t.name;
        ++f16;
        continue;
      }
      EXPECT_EQ(t.dtype, dtype) << t.name;
      EXPECT_EQ(t.layout, Layout::kLutG16) << t.name;
      EXPECT_EQ(t.bytes, (t.shape[0] + 15) / 16 * table +
                             (t.shape[0] + 7) / 8 * 8 * dtype_row_bytes(dtype, t.shape[1]))
          << t.name;
      ++lut;
      const PackageTensor* base = f32.find_tensor(t.name);
      ASSERT_NE(base, nullptr);
      std::vector<float> row(t.shape[1]);
      for (size_t i = 0; i < t.shape[0]; ++i) {
        dequantize_matrix_row(t.dtype, t.layout, t.data, i, t.shape[1], row.data());
        const float* ref = reinterpret_cast<const float*>(base->data) + i * t.shape[1];
        for (size_t c = 0; c < t.shape[1]; ++c) {
          all_err2 += (row[c] - ref[c]) * static_cast<double>(row[c] - ref[c]);
          all_ref2 += static_cast<double>(ref[c]) * ref[c];
        }
      }
    }
    EXPECT_EQ(lut, dtype == DType::kLut3 ? 5u * 6u : 5u * 7u);
    EXPECT_EQ(f16, dtype == DType::kLut3 ? 5u : 0u);
    // The optimal 8- and 64-level quantizers of a Gaussian (Lloyd-Max) leave 0.186 and ~0.026 of
    // its RMS; a table per 16 rows does worse (measured over these matrices: lut3 0.209, lut6
    // 0.0616; lut4 0.117). Bounds with some room, and floors that no 8- or 64-entry table reaches.
    const double rel = std::sqrt(all_err2 / all_ref2);
    EXPECT_LT(rel, dtype == DType::kLut3 ? 0.25 : 0.08) << rel;
    EXPECT_GT(rel, dtype == DType::kLut3 ? 0.15 : 0.02) << rel;
  }
}

// The mean over the positions of `ids` (fed one by one after BOS) of KL(base || model), from the
// softmax of each model's logits, in double.
double mean_kl(std::shared_ptr<Model> base, std::shared_ptr<Model> model,
               const std::vector<int32_t>& ids) {
  Session a(base, {}), b(model, {});
  std::vector<int32_t> feed{1};
  feed.insert(feed.end(), ids.begin(), ids.end() - 1);
  double total = 0.0;
  for (const int32_t id : feed) {
    const auto p = a.forward(std::vector<int32_t>{id}, 1, 1).span<float>();
    const auto q = b.forward(std::vector<int32_t>{id}, 1, 1).span<float>();
    const auto log_softmax = [](std::span<const float> l) {
      const double m = *std::max_element(l.begin(), l.end());
      double z = 0.0;
      for (const float v : l) z += std::exp(v - m);
      std::vector<double> out(l.size());
      for (size_t i = 0; i < l.size(); ++i) out[i] = l[i] - m - std::log(z);
      return out;
    };
    const auto lp = log_softmax(p), lq = log_softmax(q);
    for (size_t i = 0; i < lp.size(); ++i) total += std::exp(lp[i]) * (lp[i] - lq[i]);
  }
  return total / static_cast<double>(feed.size());
}

TEST(Lut36Package, GeneratesCloseToF32) {
  const auto f32 = test::stories_model("f32");
  const auto ref = greedy(f32, 32);
  const auto lut6 = Model::load(lut_package(16, "lut6"));
  const auto ids = greedy(lut6, 32);
  size_t same = 0;
  while (same < ids.size() && ids[same] == ref[same]) ++same;
  // Greedy ids part where f32's margins are small (measured: the first 20), so the bound is on the
  // divergence along f32's own ids (measured: lut6 0.0013, lut4 G = 16 0.046, lut3 0.37).
  EXPECT_GE(same, 12u) << "lut6";
  const double kl6 = mean_kl(f32, lut6, ref);
  EXPECT_LT(kl6, 0.01) << "lut6";
  const auto lut3 = Model::load(lut_package(16, "lut3"));
  EXPECT_EQ(greedy(lut3, 32).size(), 32u);  // runs, its own way
  const double kl3 = mean_kl(f32, lut3, ref);
  EXPECT_GT(kl3, kl6) << "lut3 is the coarser table";
  EXPECT_LT(kl3, 1.5) << "lut3";
  const double kl4 = mean_kl(f32, Model::load(lut_package(16)), ref);
  std::printf("mean KL along f32's greedy ids: lut6 %.4f, lut4 %.4f, lut3 %.4f\n", kl6, kl4, kl3);
  EXPECT_GT(kl4, kl6);
  EXPECT_LT(kl4, kl3);
}

}  // namespace
}  // namespace corelm
