// corelm pull ORG/NAME[@REV] and corelm run ORG/NAME (pull when the cache lacks it, then chat).
// Progress goes to stderr: a redrawn line (file and overall) on a terminal, one plain line per
// downloaded file otherwise.
#include <unistd.h>

#include <chrono>
#include <cstdio>

#include <fmt/ranges.h>

#include "base/check.h"
#include "cmd_chat.h"
#include "commands.h"
#include "corelm/convert.h"
#include "hub_cache.h"
#include "hub_pull.h"

namespace corelm::cli {

namespace {

struct PullArgs {
  std::string model;
  std::vector<std::string> include;
  std::string quant = "q4s32";
  std::string gguf;
  bool quiet = false;
};

class ProgressLine {
 public:
  explicit ProgressLine(bool tty) : tty_(tty), start_(std::chrono::steady_clock::now()) {}

  void draw(const hub::PullProgress& p) {
    const auto now = std::chrono::steady_clock::now();
    if (now - last_ < std::chrono::milliseconds(100) && p.file_done != p.file_total) return;
    last_ = now;
    const double secs = std::chrono::duration<double>(now - start_).count();
    const double frac = p.file_total ? static_cast<double>(p.file_done) / p.file_total : 0.0;
    const int width = 20, filled = static_cast<int>(frac * width);
    std::string bar(static_cast<size_t>(std::max(0, std::min(filled, width))), '#');
    bar.resize(width, '.');
    std::string name = p.file.size() > 32 ? "…" + p.file.substr(p.file.size() - 31) : p.file;
    std::fprintf(stderr, "\r%-32s [%s] %3d%% %9s | all %zu/%zu %9s/%-9s %9s/s ", name.c_str(),
                 bar.c_str(), static_cast<int>(frac * 100),
                 format_bytes(static_cast<double>(p.file_done)).c_str(), p.file_index + 1,
                 p.file_count, format_bytes(static_cast<double>(p.all_done)).c_str(),
                 format_bytes(static_cast<double>(p.all_total)).c_str(),
                 format_bytes(secs > 0 ? static_cast<double>(p.all_done) / secs : 0.0).c_str());
    std::fflush(stderr);
    drawn_ = true;
  }

  void file_done(const std::string& line) {
    if (drawn_) std::fprintf(stderr, "\r\033[K");
    drawn_ = false;
    std::fprintf(stderr, "downloaded %s\n", line.c_str());
    std::fflush(stderr);
  }

  bool tty() const { return tty_; }

 private:
  bool tty_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_, last_{};
};

void add_pull_options(CLI::App* cmd, PullArgs& a) {
  cmd->add_option("--include", a.include,
                  "Also download the repository files matching this glob (repeatable)");
  cmd->add_option("--quant", a.quant,
                  fmt::format("Package weight format: {} (default {})",
                              fmt::join(convert_quant_names(), ", "), a.quant));
  cmd->add_option("--gguf", a.gguf,
                  "In a repository of GGUF files, the one whose name holds this (e.g. Q4_K_M)");
}

hub::ModelId model_id(const std::string& text) {
  auto id = hub::parse_model_id(text);
  if (!id)
    fail(ErrorCode::kInvalidArgument, "cli",
         "'{}' is not a Hugging Face model id ORG/NAME or ORG/NAME@REVISION", text);
  return *id;
}

hub::PullResult do_pull(const PullArgs& a) {
  hub::PullOptions o;
  o.id = model_id(a.model);
  o.include = a.include;
  o.quant = a.quant;
  o.gguf = a.gguf;
  auto line = std::make_shared<ProgressLine>(!a.quiet && isatty(STDERR_FILENO));
  if (line->tty()) o.on_progress = [line](const hub::PullProgress& p) { line->draw(p); };
  if (!a.quiet) {
    o.on_file_done = [line](const std::string& s) { line->file_done(s); };
    o.on_note = [](const std::string& s) { std::fprintf(stderr, "%s\n", s.c_str()); };
  }
  if (!a.quiet)
    std::fprintf(stderr, "pulling %s@%s from %s\n", o.id.repo.c_str(), o.id.revision.c_str(),
                 hub::hub_offline() ? "the cache (HF_HUB_OFFLINE)" : hub::hub_endpoint().c_str());
  hub::PullResult r = hub::pull(o);
  if (!a.quiet)
    std::fprintf(stderr, "%s@%s: commit %s, %zu of %zu files downloaded (%s)%s\n",
                 o.id.repo.c_str(), o.id.revision.c_str(), r.commit.c_str(), r.downloaded_files,
                 r.files, format_bytes(static_cast<double>(r.downloaded_bytes)).c_str(),
                 r.downloaded_files == 0 && !r.converted ? ", up to date" : "");
  return r;
}

}  // namespace

Action add_pull(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "pull", "Download a model from the Hugging Face Hub into its cache and convert it once");
  auto a = std::make_shared<PullArgs>();
  cmd->add_option("model", a->model, "ORG/NAME or ORG/NAME@REVISION (branch, tag or commit)")
      ->required();
  add_pull_options(cmd, *a);
  cmd->add_flag("-q,--quiet", a->quiet, "No progress");
  return [a]() {
    hub::PullResult r = do_pull(*a);
    std::printf("%s\n", r.model_path.c_str());
    return 0;
  };
}

Action add_run(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "run", "Chat with a Hugging Face model, pulling it first when the cache lacks it");
  auto a = std::make_shared<PullArgs>();
  auto chat = std::make_shared<ChatArgs>();
  cmd->add_option("model", a->model, "ORG/NAME or ORG/NAME@REVISION")->required();
  add_pull_options(cmd, *a);
  add_chat_options(cmd, *chat);
  return [a, chat]() {
    const hub::ModelId id = model_id(a->model);
    std::optional<std::string> path;
    if (auto commit = hub::cached_commit(id)) {
      path = hub::cached_model_file(id.repo, *commit, a->quant);
      // A GGUF repository's file runs as it is (no package).
      auto any = hub::cached_model_file(id.repo, *commit);
      if (!path && any && any->size() > 5 && any->substr(any->size() - 5) == ".gguf") path = any;
    }
    if (!path) path = do_pull(*a).model_path;
    ChatArgs args = *chat;
    args.flags.model = *path;
    return run_chat(args);
  };
}

}  // namespace corelm::cli
