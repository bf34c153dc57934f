// corelm list / corelm rm ORG/NAME: the models in the Hugging Face cache (hub_cache.h), with
// their sizes. Neither touches the network.
#include <cstdio>

#include "base/check.h"
#include "commands.h"
#include "hub_cache.h"

namespace corelm::cli {

Action add_list(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "list", "List the models in the Hugging Face cache ($HF_HOME/hub), with their sizes");
  auto verbose = std::make_shared<bool>(false);
  cmd->add_flag("-v,--verbose", *verbose, "Also list refs and the packages / GGUF files");
  return [verbose]() {
    const auto repos = hub::list_cached_repos();
    if (repos.empty()) {
      std::fprintf(stderr, "no models in %s (corelm pull ORG/NAME adds one)\n",
                   hub::hub_cache_dir().c_str());
      return 0;
    }
    uint64_t total = 0;
    for (const auto& r : repos) {
      std::printf("%-48s %10s  %zu model file%s\n", r.repo.c_str(),
                  format_bytes(static_cast<double>(r.bytes)).c_str(), r.models.size(),
                  r.models.size() == 1 ? "" : "s");
      if (*verbose) {
        for (const auto& ref : r.refs) std::printf("    ref %s\n", ref.c_str());
        for (const auto& m : r.models) std::printf("    %s\n", m.c_str());
      }
      total += r.bytes;
    }
    std::printf("%zu model%s, %s in %s\n", repos.size(), repos.size() == 1 ? "" : "s",
                format_bytes(static_cast<double>(total)).c_str(), hub::hub_cache_dir().c_str());
    return 0;
  };
}

Action add_rm(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "rm", "Remove a model (its downloads and packages) from the Hugging Face cache");
  auto names = std::make_shared<std::vector<std::string>>();
  cmd->add_option("models", *names, "ORG/NAME (repeatable)")->required();
  return [names]() {
    for (const auto& name : *names) {
      auto id = hub::parse_model_id(name);
      if (!id || name.find('@') != std::string::npos)
        fail(ErrorCode::kInvalidArgument, "cli", "'{}' is not a model id ORG/NAME", name);
      const uint64_t bytes = hub::remove_cached_repo(id->repo);
      std::printf("removed %s (%s)\n", id->repo.c_str(),
                  format_bytes(static_cast<double>(bytes)).c_str());
    }
    return 0;
  };
}

}  // namespace corelm::cli
