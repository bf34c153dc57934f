// corelm imatrix, run as a user would: its statistics against an independent NumPy computation
// (tests/tools/imatrix_reference.py: llama2.c's stories260K in float64), `corelm convert
// --imatrix` with the file it writes, and bad input ending in a clear error.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "convert/imatrix_file.h"
#include "package/reader.h"
#include "test_support.h"

namespace corelm {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const json& reference() {
  static const json j = json::parse(test::read_fixture("imatrix_stories260K.json"));
  return j;
}

std::string text_path() {
  return test::fixture_path("perplexity_text.txt");
}

// Runs `corelm imatrix` on the first 3 windows of 128 of the test text into `out`.
void run_imatrix(const std::string& model, const std::string& out,
                 std::vector<std::string> more = {}) {
  std::vector<std::string> args{"imatrix", model,      "--text", text_path(), "--ctx",
                                "128",     "--chunks", "3",      "-o",        out};
  args.insert(args.end(), more.begin(), more.end());
  auto r = test::run_cli(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("36 tensors, 384 tokens of perplexity_text.txt"), std::string::npos)
      << r.err;
}

// Every tensor of `got` against the NumPy values within `rel` (relative to the tensor's largest
// value, so columns near 0 are held to the same absolute accuracy).
void expect_reference(const Imatrix& got, double rel) {
  const json& want = reference();
  EXPECT_EQ(got.text_name, "perplexity_text.txt");
  EXPECT_EQ(got.tokens, want["tokens"].get<uint64_t>());
  EXPECT_EQ(got.ctx, 128u);
  EXPECT_EQ(got.chunks, 3u);
  ASSERT_EQ(got.tensors.size(), want["tensors"].size());
  for (const auto& [name, values] : want["tensors"].items()) {
    const ImatrixTensor* t = got.find(name);
    ASSERT_NE(t, nullptr) << name;
    const auto v = values.get<std::vector<double>>();
    ASSERT_EQ(t->values.size(), v.size()) << name;
    double top = 0.0;
    for (double x : v) top = std::max(top, x);
    for (size_t c = 0; c < v.size(); ++c) {
      EXPECT_NEAR(t->values[c], v[c], rel * top) << fmt::format("{} column {}", name, c);
    }
  }
}

TEST(CliImatrix, F32PackageMatchesNumPyReference) {
  // f32 weights, activations and KV cache against float64: float32 rounding, ~1e-6 relative.
  const std::string out = test::temp_dir() + "/f32.clmi";
  run_imatrix(test::cli_converted("f32"), out, {"--kv-cache", "f32", "--batch", "48"});
  expect_reference(read_imatrix(out), 1e-5);
}

TEST(CliImatrix, GgufMatchesNumPyReference) {
  // llama.cpp's GGUF of the same model (interleaved rotary rows) with the default f16 KV cache,
  // which moves the attention outputs (o_proj's input and everything after) by ~1e-3.
  const std::string out = test::temp_dir() + "/gguf.clmi";
  run_imatrix(test::data_path("tiny-models/stories260K-gguf/stories260K.gguf"), out);
  expect_reference(read_imatrix(out), 1e-2);
}

TEST(CliImatrix, ConvertWithItRecordsItAndRuns) {
  const std::string im = test::temp_dir() + "/for-convert.clmi";
  run_imatrix(test::cli_converted("f32"), im);
  for (const char* quant : {"q4s32", "q8s32", "lut4"}) {
    const std::string out = test::temp_dir() + fmt::format("/im-{}.clm", quant);
    auto r = test::run_cli({"convert", test::data_path("tiny-models/stories260K-hf"), "-o", out,
                            "--quant", quant, "--imatrix", im, "-q"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    PackageReader p(out);
    const json& rec = p.header()["quantization"]["imatrix"];
    EXPECT_EQ(rec["text"], "perplexity_text.txt") << quant;
    EXPECT_EQ(rec["tokens"], 384) << quant;
    // The package runs: a perplexity close to the plain quantization's.
    auto g = test::run_cli(
        {"perplexity", out, "--text", text_path(), "--ctx", "64", "--chunks", "4", "--json"});
    ASSERT_EQ(g.exit_code, 0) << g.err;
    const double ppl = json::parse(g.out)["ppl"].get<double>();
    EXPECT_GT(ppl, 20.0) << quant;
    EXPECT_LT(ppl, 80.0) << quant;
  }
}

void expect_failure(const std::vector<std::string>& args, const std::string& fragment,
                    int code = 1) {
  auto r = test::run_cli(args);
  EXPECT_EQ(r.exit_code, code) << r.out << r.err;
  EXPECT_NE(r.err.find(fragment), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("terminate called"), std::string::npos) << r.err;
}

TEST(CliImatrix, BadInputIsAClearError) {
  const std::string model = test::cli_converted("f32");
  const std::string out = test::temp_dir() + "/bad.clmi";
  const std::string dir = test::temp_dir();
  std::ofstream(dir + "/latin1.txt", std::ios::binary) << "caf\xe9 au lait\n";
  std::ofstream(dir + "/short.txt") << "Once upon a time there was a tiny model.\n";
  std::ofstream(dir + "/empty.txt");
  expect_failure({"imatrix", model, "--text", dir + "/missing.txt", "-o", out}, "missing.txt");
  expect_failure({"imatrix", model, "--text", dir + "/latin1.txt", "-o", out}, "not valid UTF-8");
  expect_failure({"imatrix", model, "--text", dir + "/empty.txt", "-o", out}, "is empty");
  expect_failure({"imatrix", model, "--text", dir + "/short.txt", "--ctx", "128", "-o", out},
                 "shorter than one window of --ctx 128");
  expect_failure({"imatrix", model, "--text", text_path(), "--ctx", "4096", "-o", out},
                 "more than the model's context");
  expect_failure({"imatrix", text_path(), "--text", text_path(), "-o", out}, "error:");
  expect_failure({"imatrix", model, "-o", out}, "--text is required", 2);
  EXPECT_FALSE(fs::exists(out));
  // convert refuses a file that is not an imatrix, and leaves no package behind.
  const std::string pkg = dir + "/never.clm";
  expect_failure({"convert", test::data_path("tiny-models/stories260K-hf"), "-o", pkg, "--imatrix",
                  text_path(), "-q"},
                 "not an importance matrix");
  EXPECT_FALSE(fs::exists(pkg));
}

}  // namespace
}  // namespace corelm
