// The CLI's LoRA commands: `corelm convert --adapter/--merge-adapter/--adapter-dtype`,
// `corelm adapter add|remove|list` and the functions `corelm inspect` lists. Figures come from
// the fixture script's adapter configs (tests/tools/make_lora_fixtures.py) and its NumPy merge.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "test_support.h"

namespace corelm {
namespace {

std::string stories() {
  return test::data_path("tiny-models/stories260K-hf");
}

test::CliResult ok(const std::vector<std::string>& args) {
  test::CliResult r = test::run_cli(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r;
}

bool contains(const std::string& text, const std::string& what) {
  return text.find(what) != std::string::npos;
}

TEST(CliAdapter, ConvertListAddRemoveInspect) {
  const std::string pkg = test::temp_dir() + "/cli-functions.clm";
  auto r =
      ok({"convert", stories(), "-o", pkg, "-q", "--adapter", "sql=" + test::lora_fixture("r4"),
          "--adapter", "all=" + test::lora_fixture("r16.gguf"), "--adapter-dtype", "q8s32"});
  EXPECT_TRUE(contains(r.err, "function 'sql': 10 adapted matrices (q8s32)")) << r.err;
  r = ok({"adapter", "list", pkg});
  EXPECT_TRUE(contains(r.out,
                       "sql              rank 4        10 matrices (q_proj, v_proj), "
                       "scale 2"))
      << r.out;
  EXPECT_TRUE(contains(r.out, "all              rank 16       35 matrices")) << r.out;
  ok({"adapter", "add", pkg, "rs=" + test::lora_fixture("rslora")});
  ok({"adapter", "remove", pkg, "sql"});
  r = ok({"inspect", pkg, "--no-tensors"});
  EXPECT_TRUE(contains(r.out, "\nfunctions:\n")) << r.out;
  EXPECT_TRUE(contains(r.out,
                       "rs               rank 16       20 matrices (k_proj, o_proj, q_proj, "
                       "v_proj), scale 2"))
      << r.out;
  EXPECT_FALSE(contains(r.out, "sql ")) << r.out;
}

TEST(CliAdapter, MergedAdapterGeneratesAsTheNumPyMergedModel) {
  const std::string merged = test::temp_dir() + "/cli-merged.clm";
  const std::string reference = test::temp_dir() + "/cli-numpy-merged.clm";
  ok({"convert", stories(), "-o", merged, "-q", "--quant", "f32", "--adapter",
      "m=" + test::lora_fixture("r16"), "--merge-adapter", "m"});
  ok({"convert", test::lora_fixture("merged_r16"), "-o", reference, "-q", "--quant", "f32"});
  auto a = ok({"generate", "Once upon a time", merged, "--max-new-tokens", "24"});
  auto b = ok({"generate", "Once upon a time", reference, "--max-new-tokens", "24"});
  auto base =
      ok({"generate", "Once upon a time", test::stories_package("f32"), "--max-new-tokens", "24"});
  EXPECT_EQ(a.out, b.out);
  EXPECT_NE(a.out, base.out);  // the adapter changes the greedy text
  auto list = ok({"adapter", "list", merged});
  EXPECT_TRUE(contains(list.out, "merged into the weights: m")) << list.out;
}

TEST(CliAdapter, ErrorsNameTheProblem) {
  const std::string pkg = test::copy_to_temp(test::stories_package("q4s32"), "cli-edit.clm");
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::string out = test::temp_dir() + "/never.clm";
  for (const Case& c : std::vector<Case>{
           {{"convert", stories(), "-o", out, "--adapter", "sql"},
            "error: [cli] --adapter takes NAME=PATH, got 'sql'"},
           {{"convert", stories(), "-o", out, "--adapter", "a=" + test::temp_dir() + "/nothing"},
            "does not exist"},
           {{"convert", stories(), "-o", out, "--adapter", "a=" + test::lora_fixture("bad_target")},
            "error: [adapter] target module 'foo_proj' is not a projection"},
           {{"adapter", "remove", pkg, "nope"}, "has no function 'nope'"},
           {{"adapter", "add", pkg, "x=" + test::lora_fixture("modules_to_save")},
            "modules_to_save"},
       }) {
    auto r = test::run_cli(c.args);
    EXPECT_EQ(r.exit_code, 1) << c.message;
    EXPECT_TRUE(contains(r.err, c.message)) << r.err;
  }
}

TEST(CliAdapter, FunctionFlagRunsTheAdapterUnmerged) {
  // --function NAME on a package with the adapter stored: the text of the NumPy-merged model;
  // NAME:0 turns it off (the base model's text).
  const std::string& pkg = test::stories_functions_package();
  const std::string reference = test::temp_dir() + "/cli-function-reference.clm";
  ok({"convert", test::lora_fixture("merged_r4"), "-o", reference, "-q", "--quant", "f32"});
  auto with = ok({"generate", "Once upon a time", pkg, "--max-new-tokens", "30", "--function", "r4",
                  "--kv-cache", "f32"});
  auto merged = ok(
      {"generate", "Once upon a time", reference, "--max-new-tokens", "30", "--kv-cache", "f32"});
  auto off = ok({"generate", "Once upon a time", pkg, "--max-new-tokens", "30", "--function",
                 "r4:0", "--kv-cache", "f32"});
  auto base = ok({"generate", "Once upon a time", test::stories_package("f32"), "--max-new-tokens",
                  "30", "--kv-cache", "f32"});
  EXPECT_EQ(with.out, merged.out);
  EXPECT_EQ(off.out, base.out);
  EXPECT_NE(with.out, base.out);
  auto bad = test::run_cli({"generate", "x", pkg, "--function", "nope"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_TRUE(contains(bad.err, "no function 'nope' (it has: main, r4, r16, rslora")) << bad.err;
  bad = test::run_cli({"generate", "x", pkg, "--function", "r4:abc"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_TRUE(contains(bad.err, "the scale after ':' must be a finite decimal number")) << bad.err;
  bad = test::run_cli({"generate", "x", pkg, "--function", ":2"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_TRUE(contains(bad.err, "a function name comes before ':'")) << bad.err;
}

}  // namespace
}  // namespace corelm
