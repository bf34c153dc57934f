// Test parameters from the ISA registry: the kernel tests run once per table the host supports,
// and, where CMake built it (CORELM_TEST_AVX512_SIMDE: x86-64 with SIMDe), once more on the
// avx512 table emulated through SIMDe (simde/), which no registry lists.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/isa.h"

#if defined(CORELM_TEST_AVX512_SIMDE)
#include "simde/avx512_simde.h"
#endif
#if defined(__aarch64__)
#include <sys/auxv.h>
#endif

namespace corelm::test {

// The supported SIMD tables: every supported registry entry but the reference itself, then the
// emulated avx512 table where it is built and the host has AVX2.
inline std::vector<const IsaEntry*> simd_isas() {
  std::vector<const IsaEntry*> out;
  for (const IsaEntry* e : supported_isas())
    if (std::string(e->name) != "ref") out.push_back(e);
#if defined(CORELM_TEST_AVX512_SIMDE)
  if (avx512_simde_entry().supported()) out.push_back(&avx512_simde_entry());
#endif
  return out;
}

// Test names end with the entry's name: SimdKernels/Isa.ElementWise/avx2.
inline std::string isa_param_name(const ::testing::TestParamInfo<const IsaEntry*>& info) {
  return info.param->name;
}

// Sets CORELM_ISA (nullptr: unsets it) for one scope, then restores it. CLI processes started in
// the scope inherit it; in-process, call reset_active_kernels() to make the choice read it again.
class ScopedIsaVariable {
 public:
  explicit ScopedIsaVariable(const char* value) {
    if (const char* old = std::getenv("CORELM_ISA")) old_ = old, had_ = true;
    set(value);
  }
  ~ScopedIsaVariable() { set(had_ ? old_.c_str() : nullptr); }
  ScopedIsaVariable(const ScopedIsaVariable&) = delete;
  ScopedIsaVariable& operator=(const ScopedIsaVariable&) = delete;

 private:
  static void set(const char* value) {
    if (value)
      ::setenv("CORELM_ISA", value, 1);
    else
      ::unsetenv("CORELM_ISA");
  }
  std::string old_;
  bool had_ = false;
};

// The ISA names this host should support, worst first, worked out without the registry: "ref"
// everywhere; on x86-64 builds "avx2" when /proc/cpuinfo lists avx2, fma and f16c (Linux drops
// them there when the OS does not save the YMM registers), then "avxvnni" when it also lists
// avx_vnni, then "avx512" when it also lists avx512f, avx512bw, avx512vl, avx512dq and
// avx512_vnni (dropped when the OS does not save the ZMM state). On aarch64 builds "neon" always
// (Advanced SIMD is mandatory there), "dotprod" when the kernel reports asimddp and "i8mm" when it
// reports asimddp and i8mm: from /proc/cpuinfo's "Features" line, or, when the file has none,
// from the auxiliary vector (qemu-user, as `make test-aarch64` runs it, shows the x86 host's
// /proc/cpuinfo but emulates getauxval for the CPU it models).
inline std::vector<std::string> expected_isas() {
  std::vector<std::string> names{"ref"};
#if defined(__x86_64__)
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line.substr(line.find(':') + 1));
    std::vector<std::string> flags;
    for (std::string w; words >> w;) flags.push_back(w);
    auto has = [&](const char* f) {
      return std::find(flags.begin(), flags.end(), f) != flags.end();
    };
    const bool avx2 = has("avx2") && has("fma") && has("f16c");
    if (avx2) names.push_back("avx2");
    if (avx2 && has("avx_vnni")) names.push_back("avxvnni");
    if (avx2 && has("avx512f") && has("avx512bw") && has("avx512vl") && has("avx512dq") &&
        has("avx512_vnni"))
      names.push_back("avx512");
    break;
  }
#elif defined(__aarch64__)
  names.push_back("neon");
  bool features_line = false, asimddp = false, i8mm = false;
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("Features", 0) != 0) continue;
    features_line = true;
    std::istringstream words(line.substr(line.find(':') + 1));
    for (std::string w; words >> w;) asimddp |= w == "asimddp", i8mm |= w == "i8mm";
    break;
  }
  if (!features_line) {
    asimddp = (getauxval(AT_HWCAP) & (1ul << 20)) != 0;  // HWCAP_ASIMDDP
    i8mm = (getauxval(AT_HWCAP2) & (1ul << 13)) != 0;    // HWCAP2_I8MM
  }
  if (asimddp) names.push_back("dotprod");
  if (asimddp && i8mm) names.push_back("i8mm");
#endif
  return names;
}

// "ref, avx2"
inline std::string join_names(const std::vector<std::string>& names) {
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "" : ", ") + n;
  return s;
}

}  // namespace corelm::test
