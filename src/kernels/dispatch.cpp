// Chooses the kernel table once per process.
#include <atomic>
#include <cstdlib>
#include <string>

#include "base/check.h"
#include "kernels/kernel_table.h"

namespace corelm {

namespace {

const KernelTable& choose() {
  const char* forced = std::getenv("CORELM_ISA");
  if (forced != nullptr && *forced != '\0') {
    std::string isa = forced;
    if (isa == "ref") return reference_kernels();
    if (isa == "avx2") {
      if (const KernelTable* t = avx2_kernels()) return *t;
      fail(ErrorCode::kUnsupported, "kernels",
           "CORELM_ISA=avx2 but this CPU or build lacks AVX2+FMA+F16C (available: {})",
           available_isas());
    }
    fail(ErrorCode::kInvalidArgument, "kernels", "unknown CORELM_ISA '{}' (available: {})", isa,
         available_isas());
  }
  if (const KernelTable* t = avx2_kernels()) return *t;
  return reference_kernels();
}

std::atomic<const KernelTable*>& slot() {
  static std::atomic<const KernelTable*> active{nullptr};
  return active;
}

}  // namespace

const KernelTable& active_kernels() {
  const KernelTable* t = slot().load(std::memory_order_acquire);
  if (t == nullptr) {
    t = &choose();
    slot().store(t, std::memory_order_release);
  }
  return *t;
}

void set_active_kernels(const KernelTable& table) {
  slot().store(&table, std::memory_order_release);
}

const char* available_isas() {
  return avx2_kernels() != nullptr ? "ref, avx2" : "ref";
}

}  // namespace corelm
