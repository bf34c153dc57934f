// The ISA registry: every kernel table this build has, each with the CPU probe that says whether
// it may run here. Dispatch picks from it (the best supported table, or the one CORELM_ISA
// names) and the tests iterate it, so a new table is one entry in isa.cpp plus its source file
// (see docs/architecture.md, "Adding an ISA").
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/kernel_table.h"

namespace corelm {

struct IsaEntry {
  const char* name;               // as CORELM_ISA spells it; the table's own name
  bool (*supported)();            // the CPU probe: the table is only touched when it says yes
  const KernelTable& (*table)();  // built on first call
};

// Every entry of this build, worst first: "ref" (always), then the architecture's SIMD tables.
std::span<const IsaEntry> isa_registry();
// The entries this CPU supports, worst first: "ref" first, the best last.
std::vector<const IsaEntry*> supported_isas();
// Their names, comma-separated, worst first: "ref, avx2".
std::string available_isas();

// The table a CORELM_ISA value selects: empty -> the best supported entry; else the entry of
// that name. An unknown name, or one this CPU cannot run, is an Error ("[kernels] ...") that
// lists the available names.
const KernelTable& select_kernels(std::string_view name);
// select_kernels($CORELM_ISA), reading the variable now.
const KernelTable& kernels_from_environment();

// The table of this process: kernels_from_environment() on first use, then fixed.
const KernelTable& active_kernels();
// Overrides the process-wide choice (tests). Not thread-safe with running kernels.
void set_active_kernels(const KernelTable& table);
// Forgets the choice: the next active_kernels() reads CORELM_ISA again (tests).
void reset_active_kernels();
// "avx2 (available: ref, avx2)": the active table and the supported ones (CLI output).
std::string describe_isas();

}  // namespace corelm
