// corelm adapter add|remove|list PKG: the LoRA functions of a package (docs/package-format.md,
// "Functions (LoRA)"). add and remove rewrite the package atomically and copy every other tensor
// as it is; the base model's source is not needed.
#include <fmt/ranges.h>

#include <cstdio>
#include <map>
#include <set>

#include "base/check.h"
#include "commands.h"
#include "corelm/convert.h"
#include "package/reader.h"

namespace corelm::cli {

AdapterOption parse_adapter_spec(const std::string& spec) {
  const size_t eq = spec.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size())
    fail(ErrorCode::kInvalidArgument, "cli", "--adapter takes NAME=PATH, got '{}'", spec);
  return {spec.substr(0, eq), spec.substr(eq + 1)};
}

int print_functions(const PackageReader& reader) {
  const auto& h = reader.header();
  std::map<std::string, uint64_t> tensor_bytes;
  for (const auto& t : reader.tensors()) tensor_bytes[t.name] = t.bytes;
  int listed = 0;
  if (h.contains("functions") && h["functions"].is_array()) {
    for (const auto& f : h["functions"]) {
      const std::string name = f.value("name", "");
      if (name == "main" || !f.contains("adapters")) continue;
      std::set<double> scales;
      std::set<std::string> targets;
      std::set<uint64_t> ranks;
      uint64_t bytes = 0;
      for (const auto& a : f["adapters"]) {
        scales.insert(a.value("scale", 0.0));
        const std::string module = a.value("module", "");
        targets.insert(module.substr(module.rfind('.') + 1));
        const std::string la = a.value("lora_A", ""), lb = a.value("lora_B", "");
        bytes += tensor_bytes[la] + tensor_bytes[lb];
        if (const PackageTensor* t = reader.find_tensor(la)) ranks.insert(t->rows());
      }
      std::printf("  %-16s rank %-8s %zu matrices (%s), scale %s, %s %s, from %s\n", name.c_str(),
                  fmt::format("{}", fmt::join(ranks, ",")).c_str(), f["adapters"].size(),
                  fmt::format("{}", fmt::join(targets, ", ")).c_str(),
                  fmt::format("{}", fmt::join(scales, ",")).c_str(),
                  format_bytes(static_cast<double>(bytes)).c_str(), f.value("dtype", "?").c_str(),
                  f.value("source", "?").c_str());
      ++listed;
    }
  }
  if (listed == 0) std::printf("  (none besides main)\n");
  if (h.contains("merged_adapters") && h["merged_adapters"].is_array())
    for (const auto& m : h["merged_adapters"])
      std::printf("  merged into the weights: %s (from %s)\n", m.value("name", "?").c_str(),
                  m.value("source", "?").c_str());
  return listed;
}

Action add_adapter_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("adapter", "Add, remove or list the LoRA functions of a package");
  cmd->require_subcommand(1);
  struct Args {
    std::string package, spec, name, dtype = "f16";
  };
  auto a = std::make_shared<Args>();
  auto* add = cmd->add_subcommand("add", "Add a PEFT folder or LoRA GGUF as function NAME");
  add->add_option("package", a->package, "Package (.clm), rewritten in place")->required();
  add->add_option("adapter", a->spec, "NAME=PATH (a PEFT adapter folder or a LoRA .gguf)")
      ->required();
  add->add_option("--adapter-dtype", a->dtype, "Stored as f16 (default), q8s32 or f32");
  auto* remove = cmd->add_subcommand("remove", "Remove function NAME and its tensors");
  remove->add_option("package", a->package, "Package (.clm), rewritten in place")->required();
  remove->add_option("name", a->name, "Function name")->required();
  auto* list = cmd->add_subcommand("list", "List the functions of a package");
  list->add_option("package", a->package, "Package (.clm)")->required();
  return [=]() {
    if (add->parsed()) {
      const AdapterOption o = parse_adapter_spec(a->spec);
      add_adapter(a->package, o.name, o.path, a->dtype);
      std::fprintf(stderr, "added function '%s' to %s\n", o.name.c_str(), a->package.c_str());
    } else if (remove->parsed()) {
      remove_adapter(a->package, a->name);
      std::fprintf(stderr, "removed function '%s' from %s\n", a->name.c_str(), a->package.c_str());
    } else {
      std::printf("functions of %s:\n", a->package.c_str());
      print_functions(PackageReader(a->package));
    }
    return 0;
  };
}

}  // namespace corelm::cli
