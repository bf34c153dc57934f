// LoRA functions in packages: convert --adapter / --merge-adapter, add_adapter, remove_adapter.
// References: the adapters' own safetensors (read here, not through the reader under test) and
// the fixture script's NumPy merges (merged_NAME/).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "convert/safetensors.h"
#include "corelm/convert.h"
#include "package/package_source.h"
#include "package/reader.h"
#include "test_support.h"

namespace corelm {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string stories_dir() {
  return test::data_path("tiny-models/stories260K-hf");
}

ConvertOptions options(const std::string& out, const std::string& quant = "f32") {
  ConvertOptions o;
  o.source = stories_dir();
  o.output = test::temp_dir() + "/" + out;
  o.quant = quant;
  o.n_threads = 2;
  return o;
}

std::vector<float> floats(const uint8_t* data, const TypeTraits& type, uint64_t rows,
                          uint64_t cols) {
  std::vector<float> v(rows * cols);
  const uint64_t row_bytes = cols / type.block_elements * type.block_bytes;
  for (uint64_t r = 0; r < rows; ++r) type.to_float(data + r * row_bytes, &v[r * cols], cols);
  return v;
}

std::vector<float> floats(const TensorRef& t) {
  return floats(t.data, *t.type, t.rows(), t.cols());
}

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Every adapter of `fn` against the PEFT folder's tensors: within f16 rounding (or `rel_rms` of
// each matrix for q8s32), with the PEFT scale alpha / r.
void expect_function_matches(const FunctionRef& fn, const std::string& fixture, double scale,
                             size_t modules, bool q8) {
  auto st =
      SafetensorsReader::open_file(test::lora_fixture(fixture) + "/adapter_model.safetensors");
  ASSERT_EQ(fn.adapters.size(), modules);
  for (const AdapterRef& a : fn.adapters) {
    EXPECT_FLOAT_EQ(a.scale, static_cast<float>(scale)) << a.module;
    for (const auto& [t, which] : {std::pair{&a.a, "A"}, std::pair{&a.b, "B"}}) {
      const std::string key = "base_model.model." + a.module + ".lora_" + which + ".weight";
      const SafetensorsTensor* ref = st->find(key);
      ASSERT_NE(ref, nullptr) << key;
      ASSERT_EQ(t->shape, ref->shape) << key;
      EXPECT_EQ(t->name, "functions." + fn.name + "." + a.module + ".lora_" + which + ".weight");
      const bool fits32 = t->cols() % 32 == 0;
      EXPECT_EQ(t->type->name, std::string(q8 && fits32 ? "q8s32" : "f16")) << key;
      const std::vector<float> got = floats(*t), want = floats(ref->data, dtype_traits(ref->dtype),
                                                               t->rows(), t->cols());
      double err2 = 0.0, ref2 = 0.0;
      for (size_t i = 0; i < got.size(); ++i) {
        if (!(q8 && fits32)) {
          ASSERT_NEAR(got[i], want[i], std::fabs(want[i]) / 2048 + 1e-7) << key;
        }
        err2 += (got[i] - want[i]) * (got[i] - want[i]);
        ref2 += want[i] * want[i];
      }
      EXPECT_LT(std::sqrt(err2 / ref2), 1e-2) << key;
    }
  }
}

TEST(AdapterPackage, ConvertStoresFunctionsThatReadBackAsTheAdapters) {
  ConvertOptions o = options("functions.clm", "q4s32");
  o.adapters = {{"sql", test::lora_fixture("r4")},
                {"all", test::lora_fixture("r16")},
                {"rs", test::lora_fixture("rslora")}};
  ConvertReport r = convert_model(o);
  EXPECT_EQ(r.tensors, 47u + 2 * (10 + 35 + 20));
  PackageSource p(o.output);
  ASSERT_EQ(p.functions().size(), 3u);
  EXPECT_EQ(p.functions()[0].name, "sql");
  EXPECT_EQ(p.functions()[0].info["rank"], 4);
  EXPECT_EQ(p.functions()[0].info["target_modules"], json({"q_proj", "v_proj"}));
  EXPECT_EQ(p.functions()[0].info["dtype"], "f16");
  expect_function_matches(p.functions()[0], "r4", 2.0, 10, false);
  expect_function_matches(p.functions()[1], "r16", 1.0, 35, false);
  expect_function_matches(p.functions()[2], "rslora", 8.0 / 4.0, 20, false);
  EXPECT_EQ(p.reader().header()["functions"][0],
            json({{"name", "main"}, {"adapters", json::array()}}));
}

TEST(AdapterPackage, Q8AdaptersWhereRowsFitBlocks) {
  ConvertOptions o = options("functions-q8.clm", "q8s32");
  o.adapters = {{"all", test::lora_fixture("r16")}};
  o.adapter_dtype = "q8s32";
  convert_model(o);
  PackageSource p(o.output);
  ASSERT_EQ(p.functions().size(), 1u);
  // lora_A of 64 columns: q8s32; lora_B (16 columns) and down_proj's lora_A (172): f16.
  expect_function_matches(p.functions()[0], "r16", 1.0, 35, true);
}

TEST(AdapterPackage, MergedAdapterEqualsTheNumPyMerge) {
  for (const std::string name : {"r4", "r16", "rslora", "fan_in_fan_out"}) {
    SCOPED_TRACE(name);
    ConvertOptions o = options("merged-" + name + ".clm");
    o.adapters = {{"m", test::lora_fixture(name)}, {"kept", test::lora_fixture("r4")}};
    o.merge_adapter = "m";
    convert_model(o);
    PackageSource p(o.output);
    ASSERT_EQ(p.functions().size(), 1u);
    EXPECT_EQ(p.functions()[0].name, "kept");
    EXPECT_EQ(p.reader().header()["merged_adapters"][0]["name"], "m");
    auto merged = SafetensorsReader::open_folder(test::lora_fixture("merged_" + name));
    for (const auto& [tname, t] : merged->tensors()) {
      const std::optional<TensorRef> got = p.tensor(tname);
      ASSERT_TRUE(got) << tname;
      const std::vector<float> g = floats(*got),
                               w = floats(t.data, dtype_traits(t.dtype), got->rows(), got->cols());
      for (size_t i = 0; i < g.size(); ++i)
        ASSERT_NEAR(g[i], w[i], 1e-6 * std::fabs(w[i]) + 1e-9) << tname << " [" << i << "]";
    }
  }
}

TEST(AdapterPackage, MergeIntoAGgufSourceAddsTheSameDelta) {
  // GGUF keeps q/k rows rotary-interleaved; the merge adds the delta in transformers' order, so
  // (merged - unmerged) packages from the GGUF equal (merged_r16 - base) of the NumPy reference.
  ConvertOptions plain = options("gguf-plain.clm"), merged = options("gguf-merged.clm");
  plain.source = merged.source = test::data_path("tiny-models/stories260K-gguf/stories260K.gguf");
  merged.adapters = {{"m", test::lora_fixture("r16")}};
  merged.merge_adapter = "m";
  convert_model(plain);
  convert_model(merged);
  PackageSource p0(plain.output), p1(merged.output);
  auto base = SafetensorsReader::open_folder(stories_dir());
  auto ref = SafetensorsReader::open_folder(test::lora_fixture("merged_r16"));
  for (const std::string name :
       {"model.layers.0.self_attn.q_proj.weight", "model.layers.2.self_attn.k_proj.weight",
        "model.layers.4.mlp.down_proj.weight"}) {
    const std::vector<float> a = floats(*p0.tensor(name)), b = floats(*p1.tensor(name));
    const SafetensorsTensor &w0 = *base->find(name), &w1 = *ref->find(name);
    const std::vector<float> r0 = floats(w0.data, dtype_traits(w0.dtype), w0.shape[0], w0.shape[1]),
                             r1 = floats(w1.data, dtype_traits(w1.dtype), w1.shape[0], w1.shape[1]);
    for (size_t i = 0; i < a.size(); ++i)
      ASSERT_NEAR(b[i] - a[i], r1[i] - r0[i], 1e-6) << name << " [" << i << "]";
  }
}

TEST(AdapterPackage, ConvertingAPackageKeepsItsFunctions) {
  ConvertOptions first = options("reconvert-src.clm", "q4s32");
  first.adapters = {{"sql", test::lora_fixture("r4")}};
  first.adapter_dtype = "q8s32";
  convert_model(first);
  ConvertOptions again = options("reconvert.clm", "q4s32");
  again.source = first.output;
  again.adapters = {{"all", test::lora_fixture("r16")}};
  convert_model(again);
  PackageReader a(first.output), b(again.output);
  // q4s32 values quantize back to the same blocks, so every tensor comes out byte for byte.
  for (const auto& t : a.tensors()) {
    const PackageTensor& u = b.tensor(t.name);
    EXPECT_EQ(u.dtype, t.dtype) << t.name;
    EXPECT_EQ(u.layout, t.layout) << t.name;
    ASSERT_EQ(u.bytes, t.bytes) << t.name;
    EXPECT_EQ(std::memcmp(u.data, t.data, t.bytes), 0) << t.name;
  }
  PackageSource p(again.output);
  ASSERT_EQ(p.functions().size(), 2u);
  EXPECT_EQ(p.functions()[0].name, "sql");
  EXPECT_EQ(p.functions()[0].info["dtype"], "q8s32");
  expect_function_matches(p.functions()[0], "r4", 2.0, 10, true);
  expect_function_matches(p.functions()[1], "r16", 1.0, 35, false);
  again.output = test::temp_dir() + "/reconvert-clash.clm";
  again.adapters = {{"sql", test::lora_fixture("r16")}};
  test::expect_error([&] { convert_model(again); }, ErrorCode::kInvalidArgument,
                     "the source package already has a function named 'sql'");
}

TEST(AdapterPackage, ConvertRefusesBadAdapterOptionsAndWritesNothing) {
  auto expect = [](const ConvertOptions& o, ErrorCode code, const std::string& fragment) {
    test::expect_error([&] { convert_model(o); }, code, fragment);
    EXPECT_FALSE(fs::exists(o.output)) << fragment;
  };
  ConvertOptions o = options("refused.clm");
  o.adapters = {{"a", test::lora_fixture("r4")}, {"a", test::lora_fixture("r16")}};
  expect(o, ErrorCode::kInvalidArgument, "two adapters are named 'a'");
  o.adapters = {{"main", test::lora_fixture("r4")}};
  expect(o, ErrorCode::kInvalidArgument, "'main' is the base model's function");
  o.adapters = {{"a/b", test::lora_fixture("r4")}};
  expect(o, ErrorCode::kInvalidArgument, "function name 'a/b' must be");
  o.adapters = {{"a", test::lora_fixture("r4")}};
  o.merge_adapter = "b";
  expect(o, ErrorCode::kInvalidArgument, "--merge-adapter 'b' is not one of the --adapter names");
  o.merge_adapter = "";
  o.adapter_dtype = "q4s32";
  expect(o, ErrorCode::kInvalidArgument, "adapter dtype 'q4s32' is not f16, q8s32 or f32");
  o.adapter_dtype = "f16";
  o.adapters = {{"a", test::lora_fixture("bad_shape")}};
  expect(o, ErrorCode::kInvalidArgument, "do not fit the base model");
}

TEST(AdapterPackage, AddAndRemoveCopyTheBaseTensorsAsTheyAre) {
  const std::string pkg = test::copy_to_temp(test::stories_package("q4s32"), "edit.clm");
  const std::string original = file_bytes(pkg);
  add_adapter(pkg, "sql", test::lora_fixture("r4"));
  add_adapter(pkg, "all", test::lora_fixture("r16.gguf"), "q8s32");
  {
    PackageReader before(test::stories_package("q4s32")), after(pkg);
    for (const auto& t : before.tensors()) {
      const PackageTensor& u = after.tensor(t.name);
      EXPECT_EQ(u.dtype, t.dtype);
      EXPECT_EQ(u.layout, t.layout);
      ASSERT_EQ(u.bytes, t.bytes);
      EXPECT_EQ(std::memcmp(u.data, t.data, t.bytes), 0) << t.name;
    }
    for (const auto& b : before.blobs()) EXPECT_EQ(after.blob(b.name), b.view());
    json h0 = before.header(), h1 = after.header();
    for (auto* h : {&h0, &h1})
      for (const char* k : {"tensors", "blobs", "functions"}) h->erase(k);
    EXPECT_EQ(h0, h1);
    after.verify_checksums();
    PackageSource p(pkg);
    ASSERT_EQ(p.functions().size(), 2u);
    expect_function_matches(p.functions()[0], "r4", 2.0, 10, false);
    expect_function_matches(p.functions()[1], "r16", 1.0, 35, true);  // the GGUF's f16 values
    EXPECT_EQ(p.functions()[1].info["format"], "gguf");
  }
  remove_adapter(pkg, "all");
  remove_adapter(pkg, "sql");
  // Removing every function gives back the very file that was converted.
  EXPECT_TRUE(file_bytes(pkg) == original);
}

TEST(AdapterPackage, RefusedEditsLeaveThePackageUnchanged) {
  const std::string pkg = test::copy_to_temp(test::stories_package("f32"), "refused-edit.clm");
  add_adapter(pkg, "sql", test::lora_fixture("r4"));
  const std::string before = file_bytes(pkg);
  auto expect = [&](auto f, ErrorCode code, const std::string& fragment) {
    test::expect_error(f, code, fragment, "adapter");
    EXPECT_TRUE(file_bytes(pkg) == before) << fragment;
  };
  expect([&] { add_adapter(pkg, "sql", test::lora_fixture("r16")); }, ErrorCode::kInvalidArgument,
         "already has a function named 'sql'");
  expect([&] { remove_adapter(pkg, "nope"); }, ErrorCode::kNotFound,
         "has no function 'nope' (it has: sql)");
  expect([&] { remove_adapter(pkg, "main"); }, ErrorCode::kInvalidArgument, "'main' is the base");
  expect([&] { add_adapter(pkg, "x", test::lora_fixture("bad_rank")); },
         ErrorCode::kInvalidArgument, "rank mismatch");
  expect([&] { add_adapter(pkg, "x", test::lora_fixture("dora")); }, ErrorCode::kUnsupported,
         "use_dora");
  expect([&] { add_adapter(pkg, "x", test::lora_fixture("r4"), "bf16"); },
         ErrorCode::kInvalidArgument, "adapter dtype 'bf16'");
  expect([&] { add_adapter(pkg, "main", test::lora_fixture("r4")); }, ErrorCode::kInvalidArgument,
         "'main' is the base model's function");
}

}  // namespace
}  // namespace corelm
