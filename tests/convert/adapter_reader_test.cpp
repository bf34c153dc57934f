// read_adapter on the fixtures of tests/tools/make_lora_fixtures.py: PEFT folders and llama.cpp
// LoRA GGUFs. The reference is the script's NumPy merge (merged_NAME/): base W + scale * B A from
// what the reader returns must equal it, which checks orientation, scale and rank handling
// against values computed outside corelm.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "base/file_util.h"
#include "convert/adapter_reader.h"
#include "convert/hf_source.h"
#include "convert/safetensors.h"
#include "test_support.h"

namespace corelm {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const ModelSource& stories() {
  static std::unique_ptr<ModelSource> s =
      open_conversion_source(test::data_path("tiny-models/stories260K-hf"));
  return *s;
}

std::vector<float> floats(const SafetensorsTensor& t) {
  std::vector<float> v(t.elements());
  dtype_traits(t.dtype).to_float(t.data, v.data(), v.size());
  return v;
}

// W + scale * B A, in double, against merged_NAME's weights; unadapted projections unchanged.
void expect_matches_merge(const LoadedAdapter& a, const std::string& merged_name, double tol) {
  auto base = SafetensorsReader::open_folder(test::data_path("tiny-models/stories260K-hf"));
  auto merged = SafetensorsReader::open_folder(test::lora_fixture(merged_name));
  size_t adapted = 0;
  for (const auto& [name, t] : merged->tensors()) {
    const std::vector<float> w = floats(*base->find(name)), want = floats(t);
    const LoadedModule* m = nullptr;
    for (const auto& x : a.modules)
      if (x.module + ".weight" == name) m = &x;
    if (!m) {
      EXPECT_EQ(w, want) << name;
      continue;
    }
    ++adapted;
    double err2 = 0.0, ref2 = 0.0;
    for (uint64_t r = 0; r < m->out; ++r)
      for (uint64_t c = 0; c < m->in; ++c) {
        double d = 0.0;
        for (uint64_t k = 0; k < m->rank; ++k)
          d += static_cast<double>(m->b[r * m->rank + k]) * m->a[k * m->in + c];
        const double got = w[r * m->in + c] + m->scale * d, ref = want[r * m->in + c];
        err2 += (got - ref) * (got - ref);
        ref2 += ref * ref;
      }
    EXPECT_LT(std::sqrt(err2 / ref2), tol) << name;
  }
  EXPECT_EQ(adapted, a.modules.size());
}

TEST(AdapterReader, PeftAdaptersMatchTheNumPyMerge) {
  struct Case {
    const char* name;
    size_t modules;
    float scale;
    uint64_t rank;
  };
  for (const Case& c : {Case{"r4", 10, 2.0f, 4}, Case{"r16", 35, 1.0f, 16},
                        Case{"rslora", 20, 2.0f, 16}, Case{"fan_in_fan_out", 10, 2.0f, 8}}) {
    SCOPED_TRACE(c.name);
    LoadedAdapter a = read_adapter(test::lora_fixture(c.name), stories());
    ASSERT_EQ(a.modules.size(), c.modules);
    for (const auto& m : a.modules) {
      EXPECT_FLOAT_EQ(m.scale, c.scale) << m.module;
      EXPECT_EQ(m.rank, c.rank);
      EXPECT_EQ(m.a.size(), m.rank * m.in);
      EXPECT_EQ(m.b.size(), m.out * m.rank);
    }
    EXPECT_EQ(a.info["format"], "peft");
    EXPECT_EQ(a.info["rank"], c.rank);
    EXPECT_EQ(a.info["base_model"], "stories260K");
    expect_matches_merge(a, std::string("merged_") + c.name, 1e-6);
  }
  LoadedAdapter r4 = read_adapter(test::lora_fixture("r4"), stories());
  EXPECT_EQ(r4.modules[0].module, "model.layers.0.self_attn.q_proj");
  EXPECT_EQ(r4.modules[1].module, "model.layers.0.self_attn.v_proj");
  EXPECT_EQ(r4.info["target_modules"], json({"q_proj", "v_proj"}));
  EXPECT_EQ(read_adapter(test::lora_fixture("rslora"), stories()).info["use_rslora"], true);
}

TEST(AdapterReader, LlamaCppGgufAdaptersMatchThePeftOnes) {
  // r4.gguf stores f32 (exact), r16.gguf f16; q/k lora_b rows come back in rotate-half order.
  for (const auto& [name, tol] : {std::pair<std::string, double>{"r4", 0.0}, {"r16", 1e-3}}) {
    SCOPED_TRACE(name);
    LoadedAdapter g = read_adapter(test::lora_fixture(name + ".gguf"), stories());
    LoadedAdapter p = read_adapter(test::lora_fixture(name), stories());
    EXPECT_EQ(g.info["format"], "gguf");
    ASSERT_EQ(g.modules.size(), p.modules.size());
    for (size_t i = 0; i < g.modules.size(); ++i) {
      const auto &x = g.modules[i], &y = p.modules[i];
      EXPECT_EQ(x.module, y.module);
      EXPECT_FLOAT_EQ(x.scale, y.scale);
      ASSERT_EQ(x.a.size(), y.a.size());
      ASSERT_EQ(x.b.size(), y.b.size());
      for (size_t k = 0; k < x.a.size(); ++k)
        ASSERT_NEAR(x.a[k], y.a[k], tol * std::fabs(y.a[k]) + 1e-7) << x.module;
      for (size_t k = 0; k < x.b.size(); ++k)
        ASSERT_NEAR(x.b[k], y.b[k], tol * std::fabs(y.b[k]) + 1e-7) << x.module;
    }
    expect_matches_merge(g, "merged_" + name, name == "r4" ? 1e-6 : 2e-3);
  }
}

// A copy of the r4 folder whose adapter_config.json `edit` changes.
std::string edited_r4(const std::string& name, const std::function<void(json&)>& edit) {
  const std::string dir = test::temp_dir() + "/" + name;
  fs::create_directories(dir);
  fs::copy_file(test::lora_fixture("r4/adapter_model.safetensors"),
                dir + "/adapter_model.safetensors", fs::copy_options::overwrite_existing);
  json cfg = json::parse(read_file(test::lora_fixture("r4/adapter_config.json"), "test"));
  edit(cfg);
  std::ofstream(dir + "/adapter_config.json") << cfg.dump();
  return dir;
}

TEST(AdapterReader, HonoursRankAndAlphaPatterns) {
  LoadedAdapter a = read_adapter(edited_r4("alpha_pattern",
                                           [](json& c) {
                                             c["alpha_pattern"] = {{"q_proj", 16}};
                                           }),
                                 stories());
  for (const auto& m : a.modules)
    EXPECT_FLOAT_EQ(m.scale, m.module.ends_with("q_proj") ? 4.0f : 2.0f) << m.module;
  test::expect_error(
      [&] {
        read_adapter(edited_r4("rank_pattern",
                               [](json& c) {
                                 c["rank_pattern"] = {{"model.layers.1.self_attn.v_proj", 8}};
                               }),
                     stories());
      },
      ErrorCode::kInvalidArgument,
      "'model.layers.1.self_attn.v_proj': its tensors have rank 4 but the config says r = 8",
      "adapter");
}

TEST(AdapterReader, RefusesBadAdaptersNamingTheProblem) {
  auto expect = [](const std::string& path, ErrorCode code, const std::string& fragment) {
    SCOPED_TRACE(path);
    test::expect_error([&] { read_adapter(path, stories()); }, code, fragment, "adapter");
  };
  expect(test::lora_fixture("bad_rank"), ErrorCode::kInvalidArgument,
         "rank mismatch in 'model.layers.1.self_attn.v_proj': lora_A has rank 4 but lora_B has "
         "rank 8");
  expect(test::lora_fixture("bad_target"), ErrorCode::kInvalidArgument,
         "target module 'foo_proj' is not a projection");
  expect(test::lora_fixture("bad_shape"), ErrorCode::kInvalidArgument,
         "lora_A is [4, 65] and lora_B [64, 4] but model.layers.0.self_attn.q_proj.weight is "
         "[64, 64]");
  expect(test::lora_fixture("dora"), ErrorCode::kUnsupported, "use_dora = true is not supported");
  expect(test::lora_fixture("modules_to_save"), ErrorCode::kUnsupported,
         "modules_to_save = [\"lm_head\"] is not supported");
  expect(edited_r4("bias", [](json& c) { c["bias"] = "all"; }), ErrorCode::kUnsupported,
         "bias = \"all\"");
  expect(edited_r4("lm_head",
                   [](json& c) {
                     c["target_modules"] = {"q_proj", "lm_head"};
                   }),
         ErrorCode::kUnsupported, "target module 'lm_head' is not supported");
  expect(edited_r4("only_q", [](json& c) { c["target_modules"] = {"q_proj"}; }),
         ErrorCode::kInvalidArgument, "'model.layers.0.self_attn.v_proj' is adapted but");
  expect(edited_r4("r8", [](json& c) { c["r"] = 8; }), ErrorCode::kInvalidArgument,
         "the config says r = 8");
  expect(edited_r4("loha", [](json& c) { c["peft_type"] = "LOHA"; }), ErrorCode::kUnsupported,
         "peft_type = \"LOHA\"");
  expect(test::temp_dir() + "/no-such-adapter", ErrorCode::kNotFound, "does not exist");
  const std::string empty = test::temp_dir() + "/empty-adapter";
  fs::create_directories(empty);
  expect(empty, ErrorCode::kNotFound, "has no adapter_config.json");
  const std::string no_weights = edited_r4("no_weights", [](json&) {});
  fs::remove(no_weights + "/adapter_model.safetensors");
  expect(no_weights, ErrorCode::kNotFound, "has no adapter_model.safetensors");
  // A model GGUF is not an adapter.
  expect(test::data_path("tiny-models/stories260K-gguf/stories260K.gguf"),
         ErrorCode::kInvalidArgument, "not a LoRA adapter");
}

}  // namespace
}  // namespace corelm
