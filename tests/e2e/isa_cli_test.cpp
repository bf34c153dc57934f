// CORELM_ISA through the corelm binary, as a user sets it: each table the host supports is the
// one used (`--version` and `generate --verbose` name it) and generates run.c's greedy text; an
// unknown or unavailable name is a clear "[kernels]" error with exit status 1, never a crash.
// Which tables the host supports is worked out from /proc/cpuinfo (kernels/isa_params.h).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>

#include "../kernels/isa_params.h"
#include "test_support.h"

namespace corelm {
namespace {

using nlohmann::json;

using test::ScopedIsaVariable;

std::string isa_line(const std::string& active) {
  return "isa: " + active + " (available: " + test::join_names(test::expected_isas()) + ")";
}

TEST(IsaCli, VersionNamesTheBestTableByDefault) {
  ScopedIsaVariable unset(nullptr);
  auto r = test::run_cli({"--version"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("corelm 0.1.0"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(isa_line(test::expected_isas().back())), std::string::npos) << r.out;
}

TEST(IsaCli, EachSupportedTableIsUsedWhenForcedAndGeneratesRunCsText) {
  auto ref = json::parse(test::read_data("tiny-models/stories260K/reference_outputs.json"));
  const auto after = ref["greedy_with_prompt"]["ids_after_bos"].get<std::vector<int>>();
  const std::vector<int> expected(after.begin() + 4, after.begin() + 34);
  const std::string package = test::stories_package("f32");
  for (const std::string& name : test::expected_isas()) {
    ScopedIsaVariable isa(name.c_str());
    auto v = test::run_cli({"--version"});
    ASSERT_EQ(v.exit_code, 0) << name << ": " << v.err;
    EXPECT_NE(v.out.find(isa_line(name)), std::string::npos) << v.out;
    auto r = test::run_cli({"generate", "Once upon a time", package, "--max-new-tokens", "30",
                            "--kv-cache", "f32", "--json", "--verbose"});
    ASSERT_EQ(r.exit_code, 0) << name << ": " << r.err;
    EXPECT_NE(r.err.find(isa_line(name)), std::string::npos) << r.err;
    EXPECT_EQ(json::parse(r.out)["ids"].get<std::vector<int>>(), expected) << name;
  }
}

void expect_isa_error(const test::CliResult& r, const std::string& fragment) {
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("error: [kernels] " + fragment), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("(available: " + test::join_names(test::expected_isas()) + ")"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("terminate called"), std::string::npos) << r.err;
}

TEST(IsaCli, UnknownNameIsAClearError) {
  ScopedIsaVariable bogus("bogus");
  expect_isa_error(test::run_cli({"--version"}), "unknown CORELM_ISA 'bogus'");
  expect_isa_error(
      test::run_cli({"generate", "Once upon a time", test::stories_package("f32"), "--json"}),
      "unknown CORELM_ISA 'bogus'");
}

TEST(IsaCli, TablesThisHostCannotRunAreRefused) {
  // avx2 on an ARM build (not compiled in) or on an x86 CPU without it; the ARM tables on x86,
  // dotprod and i8mm on an ARM CPU without those instructions.
  const auto names = test::expected_isas();
  int refused = 0;
  for (const char* name : {"avx2", "neon", "dotprod", "i8mm"}) {
    if (std::find(names.begin(), names.end(), name) != names.end()) continue;
    ScopedIsaVariable isa(name);
    expect_isa_error(test::run_cli({"--version"}), "");
    ++refused;
  }
  EXPECT_GE(refused, 1);
}

}  // namespace
}  // namespace corelm
