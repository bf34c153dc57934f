// add_adapter / remove_adapter: a package rewritten with one function more or less. Every other
// tensor, blob and header field is copied byte for byte from the mapped original into a new file
// that is renamed over it (PackageWriter), so nothing is re-quantized, the base model's source is
// not needed, and a failure leaves the package as it was.
#include <nlohmann/json.hpp>

#include <set>

#include "base/boundary.h"
#include "base/check.h"
#include "convert/adapter_store.h"
#include "corelm/convert.h"
#include "package/package_source.h"
#include "package/writer.h"

namespace corelm {

namespace {

constexpr const char* kComponent = "adapter";
using nlohmann::json;

// The package rewritten: `keep` says which existing tensors stay; `extra` is appended after them
// (and `write_extra` writes its bytes); `header` replaces the JSON header's fields.
template <typename Keep, typename WriteExtra>
void rewrite(const std::string& path, const PackageReader& reader, const json& header, Keep keep,
             const std::vector<PlannedTensor>& extra, WriteExtra write_extra) {
  json meta = header;
  meta.erase("tensors");
  meta.erase("blobs");
  meta.erase("format");
  meta.erase("format_version");
  std::vector<PlannedTensor> planned;
  std::vector<const PackageTensor*> kept;
  for (const auto& t : reader.tensors()) {
    if (!keep(t.name)) continue;
    planned.push_back({t.name, t.dtype, t.shape, t.layout});
    kept.push_back(&t);
  }
  planned.insert(planned.end(), extra.begin(), extra.end());
  std::vector<PlannedBlob> blobs;
  for (const auto& b : reader.blobs()) blobs.push_back({b.name, std::string(b.view())});
  PackageWriter writer(path, meta, planned, blobs);
  for (const PackageTensor* t : kept) {
    writer.write(t->data, t->bytes);
    writer.end_tensor();
  }
  write_extra(writer);
  writer.commit();
}

const json& functions_of(const json& header) {
  static const json kNone = json::array();
  return header.contains("functions") && header["functions"].is_array() ? header["functions"]
                                                                        : kNone;
}

}  // namespace

void add_adapter(const std::string& package, const std::string& name,
                 const std::string& adapter_path, const std::string& dtype_name_) {
  try {
    check_function_name(name);
    const DType dtype = adapter_dtype_from_name(dtype_name_);
    PackageSource source(package);  // validates the package and its functions
    const PackageReader& reader = source.reader();
    for (const auto& f : functions_of(reader.header()))
      if (f.value("name", "") == name)
        fail(ErrorCode::kInvalidArgument, kComponent,
             "'{}' already has a function named '{}' (remove it first)", package, name);
    StoredFunction f{name, read_adapter(adapter_path, source)};
    json header = reader.header();
    json functions = functions_of(header);
    if (functions.empty()) functions.push_back({{"name", "main"}, {"adapters", json::array()}});
    functions.push_back(function_header(f, dtype));
    header["functions"] = std::move(functions);
    const std::string prefix = "functions." + name + ".";
    for (const auto& t : reader.tensors())
      if (t.name.starts_with(prefix))
        fail(ErrorCode::kCorrupt, kComponent, "'{}' already holds tensor '{}'", package, t.name);
    rewrite(
        package, reader, header, [](const std::string&) { return true; }, plan_function(f, dtype),
        [&](PackageWriter& w) { write_function(w, f, dtype); });
  } catch (...) {
    rethrow_as_error(kComponent);
  }
}

void remove_adapter(const std::string& package, const std::string& name) {
  try {
    PackageSource source(package);
    const PackageReader& reader = source.reader();
    if (name == "main")
      fail(ErrorCode::kInvalidArgument, kComponent,
           "'main' is the base model and cannot be removed");
    const FunctionRef* fn = nullptr;
    for (const auto& f : source.functions())
      if (f.name == name) fn = &f;
    if (!fn) {
      std::string names;
      for (const auto& f : source.functions()) names += (names.empty() ? "" : ", ") + f.name;
      fail(ErrorCode::kNotFound, kComponent, "'{}' has no function '{}' (it has: {})", package,
           name, names.empty() ? "none besides main" : names);
    }
    std::set<std::string> drop;
    for (const auto& a : fn->adapters) drop.insert({a.a.name, a.b.name});
    json header = reader.header();
    json functions = json::array();
    for (const auto& f : functions_of(header))
      if (f.value("name", "") != name) functions.push_back(f);
    header["functions"] = std::move(functions);
    rewrite(
        package, reader, header, [&](const std::string& t) { return !drop.count(t); }, {},
        [](PackageWriter&) {});
  } catch (...) {
    rethrow_as_error(kComponent);
  }
}

}  // namespace corelm
