// The ISA registry and the once-per-process choice of a kernel table.
#include "kernels/isa.h"

#include <atomic>
#include <cstdlib>

#include "base/check.h"

#if defined(CORELM_KERNELS_X86)
#include "kernels/x86/x86.h"
#endif
#if defined(CORELM_KERNELS_ARM)
#include "kernels/arm/arm.h"
#endif

namespace corelm {

namespace {

bool always() {
  return true;
}

// Worst first. CMake compiles each architecture's kernel folder only for that architecture and
// defines CORELM_KERNELS_<ARCH> when it does; NEON (arm) tables go here too.
constexpr IsaEntry kRegistry[] = {
    {"ref", always, reference_kernels},
#if defined(CORELM_KERNELS_X86)
    {"avx2", cpu_has_avx2, avx2_kernels},
    {"avxvnni", cpu_has_avxvnni, avxvnni_kernels},
    {"avx512", cpu_has_avx512, avx512_kernels},
#endif
#if defined(CORELM_KERNELS_ARM)
    {"neon", cpu_has_neon, neon_kernels}, {"dotprod", cpu_has_dotprod, dotprod_kernels},
    {"i8mm", cpu_has_i8mm, i8mm_kernels},
#endif
};

std::atomic<const KernelTable*>& slot() {
  static std::atomic<const KernelTable*> active{nullptr};
  return active;
}

}  // namespace

std::span<const IsaEntry> isa_registry() {
  return kRegistry;
}

std::vector<const IsaEntry*> supported_isas() {
  std::vector<const IsaEntry*> out;
  for (const IsaEntry& e : kRegistry)
    if (e.supported()) out.push_back(&e);
  return out;
}

std::string available_isas() {
  std::string s;
  for (const IsaEntry* e : supported_isas()) s += (s.empty() ? "" : ", ") + std::string(e->name);
  return s;
}

const KernelTable& select_kernels(std::string_view name) {
  if (name.empty()) return supported_isas().back()->table();
  for (const IsaEntry& e : kRegistry) {
    if (name != e.name) continue;
    if (!e.supported())
      fail(ErrorCode::kUnsupported, "kernels",
           "CORELM_ISA={} needs CPU features this machine lacks (available: {})", name,
           available_isas());
    return e.table();
  }
  fail(ErrorCode::kInvalidArgument, "kernels", "unknown CORELM_ISA '{}' (available: {})", name,
       available_isas());
}

const KernelTable& kernels_from_environment() {
  const char* forced = std::getenv("CORELM_ISA");
  return select_kernels(forced != nullptr ? forced : "");
}

const KernelTable& active_kernels() {
  const KernelTable* t = slot().load(std::memory_order_acquire);
  if (t == nullptr) {
    t = &kernels_from_environment();
    slot().store(t, std::memory_order_release);
  }
  return *t;
}

void set_active_kernels(const KernelTable& table) {
  slot().store(&table, std::memory_order_release);
}

void reset_active_kernels() {
  slot().store(nullptr, std::memory_order_release);
}

std::string describe_isas() {
  return std::string(active_kernels().name) + " (available: " + available_isas() + ")";
}

}  // namespace corelm
