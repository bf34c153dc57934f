#include "convert/adapter_store.h"

#include "base/check.h"
#include "tensor/quant.h"

namespace corelm {

namespace {
constexpr const char* kComponent = "adapter";
using nlohmann::json;

DType row_dtype(DType wanted, uint64_t cols) {
  return dtype_fits_row(wanted, cols) ? wanted : DType::kF16;
}

void write_rows(PackageWriter& writer, const std::vector<float>& m, uint64_t rows, uint64_t cols,
                DType dtype) {
  std::vector<uint8_t> buf(dtype_row_bytes(dtype, cols) * rows);
  for (uint64_t r = 0; r < rows; ++r)
    quantize_row(dtype, &m[r * cols], &buf[r * dtype_row_bytes(dtype, cols)], cols);
  writer.write(buf.data(), buf.size());
  writer.end_tensor();
}
}  // namespace

void check_function_name(const std::string& name) {
  bool ok = !name.empty();
  for (char c : name)
    ok = ok && ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                c == '_' || c == '.' || c == '-');
  if (!ok)
    fail(ErrorCode::kInvalidArgument, kComponent,
         "function name '{}' must be letters, digits, '_', '.' or '-'", name);
  if (name == "main")
    fail(ErrorCode::kInvalidArgument, kComponent,
         "'main' is the base model's function; choose another name for an adapter");
}

DType adapter_dtype_from_name(const std::string& name) {
  if (name == "f16") return DType::kF16;
  if (name == "q8s32") return DType::kQ8S32;
  if (name == "f32") return DType::kF32;  // exact, twice the bytes of f16
  fail(ErrorCode::kInvalidArgument, kComponent, "adapter dtype '{}' is not f16, q8s32 or f32",
       name);
}

std::string lora_tensor_name(const std::string& function, const std::string& module, char which) {
  return fmt::format("functions.{}.{}.lora_{}.weight", function, module, which);
}

std::vector<PlannedTensor> plan_function(const StoredFunction& f, DType dtype) {
  std::vector<PlannedTensor> out;
  for (const auto& m : f.adapter.modules) {
    out.push_back({lora_tensor_name(f.name, m.module, 'A'),
                   row_dtype(dtype, m.in),
                   {m.rank, m.in},
                   Layout::kRows});
    out.push_back({lora_tensor_name(f.name, m.module, 'B'),
                   row_dtype(dtype, m.rank),
                   {m.out, m.rank},
                   Layout::kRows});
  }
  return out;
}

json function_header(const StoredFunction& f, DType dtype) {
  json entry = {{"name", f.name}};
  entry.update(f.adapter.info);
  entry["dtype"] = dtype_name(dtype);
  json adapters = json::array();
  for (const auto& m : f.adapter.modules)
    adapters.push_back({{"module", m.module},
                        {"scale", m.scale},
                        {"lora_A", lora_tensor_name(f.name, m.module, 'A')},
                        {"lora_B", lora_tensor_name(f.name, m.module, 'B')}});
  entry["adapters"] = std::move(adapters);
  return entry;
}

void write_function(PackageWriter& writer, const StoredFunction& f, DType dtype) {
  for (const auto& m : f.adapter.modules) {
    write_rows(writer, m.a, m.rank, m.in, row_dtype(dtype, m.in));
    write_rows(writer, m.b, m.out, m.rank, row_dtype(dtype, m.rank));
  }
}

void add_lora_row(const LoadedModule& m, uint64_t row, float* w) {
  // Accumulated in double and rounded once, as the reference merge does (it costs rank
  // multiply-adds per weight, once, at conversion).
  const float* b = &m.b[row * m.rank];
  for (uint64_t c = 0; c < m.in; ++c) {
    double d = 0.0;
    for (uint64_t k = 0; k < m.rank; ++k)
      d += static_cast<double>(b[k]) * static_cast<double>(m.a[k * m.in + c]);
    w[c] = static_cast<float>(static_cast<double>(w[c]) + static_cast<double>(m.scale) * d);
  }
}

}  // namespace corelm
