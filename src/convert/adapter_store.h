// Storing LoRA adapters as functions of a package (docs/package-format.md, "Functions (LoRA)"):
// the tensor names and dtypes, the header entry, and writing the rows. The converter and the
// package editor (add_adapter / remove_adapter) both go through here, so a function is laid out
// one way whichever wrote it.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "convert/adapter_reader.h"
#include "package/writer.h"
#include "tensor/dtype.h"

namespace corelm {

// A function to store: its name and the adapter read for it.
struct StoredFunction {
  std::string name;
  LoadedAdapter adapter;
};

// Throws kInvalidArgument unless `name` is [A-Za-z0-9_.-]+ and not "main".
void check_function_name(const std::string& name);
// "f16", "q8s32" or "f32" (kInvalidArgument otherwise).
DType adapter_dtype_from_name(const std::string& name);

// "functions.NAME.<module>.lora_A.weight" / ".lora_B.weight".
std::string lora_tensor_name(const std::string& function, const std::string& module, char which);

// The planned tensors of `f` (per module: lora_A [r, in], then lora_B [out, r]); `dtype` where
// the rows divide into its blocks, f16 elsewhere.
std::vector<PlannedTensor> plan_function(const StoredFunction& f, DType dtype);
// The header's entry: {"name", info..., "dtype", "adapters": [{module, scale, lora_A, lora_B}]}.
nlohmann::json function_header(const StoredFunction& f, DType dtype);
// Writes `f`'s tensors in plan_function's order.
void write_function(PackageWriter& writer, const StoredFunction& f, DType dtype);

// Adds row `row` of scale * B A to `w` ([in] floats): the merge of --merge-adapter.
void add_lora_row(const LoadedModule& m, uint64_t row, float* w);

}  // namespace corelm
