// corelm pull / run / list / rm and model ids, against tests/e2e/hub_server.py: a stand-in for
// the Hugging Face Hub serving a repository made from tiny-models/stories260K-hf (no network).
// Expected values come from outside corelm: the server's Python hashlib (commit, sha256, git
// blob ids), the original files' bytes, and the package `corelm convert` writes from the folder.
#ifdef CORELM_HAVE_HUB

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "test_support.h"

extern char** environ;

namespace corelm {
namespace {

namespace fs = std::filesystem;

const char* kRepo = "test-org/stories260K";
const std::vector<std::string> kPulledFiles = {"config.json", "generation_config.json",
                                               "model.safetensors", "tokenizer.json",
                                               "tokenizer_config.json"};

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool contains(const std::string& text, const std::string& what) {
  return text.find(what) != std::string::npos;
}

std::string stories_file(const std::string& name) {
  return test::data_path("tiny-models/stories260K-hf/" + name);
}

// The server, started with `knobs` (hub_server.py's flags), stopped when this goes.
class HubServer {
 public:
  explicit HubServer(const std::vector<std::string>& knobs) {
    dir_ = test::temp_dir() + "/hub-server-" + std::to_string(counter_++);
    fs::create_directories(dir_);
    std::vector<std::string> args = {"/usr/bin/python3",
                                     std::string(CORELM_SOURCE_DIR) + "/tests/e2e/hub_server.py",
                                     "--model",
                                     test::data_path("tiny-models/stories260K-hf"),
                                     "--log",
                                     dir_ + "/requests.jsonl",
                                     "--info",
                                     dir_ + "/info.json"};
    args.insert(args.end(), knobs.begin(), knobs.end());
    std::vector<char*> argv;
    for (auto& s : args) argv.push_back(s.data());
    argv.push_back(nullptr);
    int out[2];
    if (pipe(out) != 0) throw std::runtime_error("pipe");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_addclose(&fa, out[0]);
    const int rc = posix_spawn(&pid_, argv[0], &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    close(out[1]);
    if (rc != 0) throw std::runtime_error("cannot start /usr/bin/python3");
    std::string got;
    pollfd p{out[0], POLLIN, 0};
    while (got.find("READY\n") == std::string::npos && poll(&p, 1, 30000) > 0) {
      char buf[256];
      ssize_t n = read(out[0], buf, sizeof buf);
      if (n <= 0) break;
      got.append(buf, static_cast<size_t>(n));
    }
    close(out[0]);
    if (got.find("READY\n") == std::string::npos) throw std::runtime_error("hub_server.py failed");
    info_ = nlohmann::json::parse(slurp(dir_ + "/info.json"));
  }
  ~HubServer() { stop(); }
  void stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(int(info_["port"])); }
  std::string commit(const std::string& repo = kRepo) const {
    return info_["repos"][repo]["commit"];
  }
  std::string etag(const std::string& file, const std::string& repo = kRepo) const {
    return info_["repos"][repo]["etags"][file];
  }
  std::vector<nlohmann::json> requests() const {
    std::vector<nlohmann::json> v;
    std::istringstream in(slurp(dir_ + "/requests.jsonl"));
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) v.push_back(nlohmann::json::parse(line));
    return v;
  }
  // Requests whose path starts with `prefix` ("/api/", "/cdn/", "/test-org/stories260K/resolve").
  size_t count(const std::string& prefix, const std::string& method = "GET") const {
    size_t n = 0;
    for (const auto& r : requests())
      if (r["method"] == method && std::string(r["path"]).rfind(prefix, 0) == 0) ++n;
    return n;
  }

 private:
  static inline int counter_ = 0;
  std::string dir_;
  pid_t pid_ = -1;
  nlohmann::json info_;
};

// A fresh HF_HOME, pointing HF_ENDPOINT at `server`, with no token and not offline.
std::string fresh_home(const HubServer* server) {
  static int n = 0;
  const std::string home = test::temp_dir() + "/hf-home-" + std::to_string(n++);
  fs::create_directories(home);
  setenv("HF_HOME", home.c_str(), 1);
  if (server) setenv("HF_ENDPOINT", server->endpoint().c_str(), 1);
  unsetenv("HF_TOKEN");
  unsetenv("HF_HUB_OFFLINE");
  unsetenv("HF_HUB_CACHE");
  return home;
}

std::string repo_dir(const std::string& home) {
  return home + "/hub/models--test-org--stories260K";
}

test::CliResult pull_ok(const std::vector<std::string>& extra = {}) {
  std::vector<std::string> args = {"pull", kRepo};
  args.insert(args.end(), extra.begin(), extra.end());
  test::CliResult r = test::run_cli(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r;
}

test::CliResult pull_fails(const std::string& fragment, const std::string& model = kRepo) {
  test::CliResult r = test::run_cli({"pull", model});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_TRUE(contains(r.err, fragment)) << r.err;
  return r;
}

std::vector<std::string> files_under(const std::string& dir) {
  std::vector<std::string> v;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec))
    v.push_back(it->path().lexically_relative(dir).string());
  std::sort(v.begin(), v.end());
  return v;
}

// The snapshot is exactly the pulled files, each a link to ../../blobs/<etag> holding the
// original bytes, and refs/main names the commit.
void expect_snapshot(const std::string& home, const HubServer& server) {
  const std::string repo = repo_dir(home);
  const std::string snap = repo + "/snapshots/" + server.commit();
  EXPECT_EQ(slurp(repo + "/refs/main"), server.commit());
  EXPECT_EQ(files_under(snap), kPulledFiles);
  for (const auto& f : kPulledFiles) {
    const fs::path link = snap + "/" + f;
    EXPECT_TRUE(fs::is_symlink(link)) << f;
    std::error_code ec;
    EXPECT_EQ(fs::read_symlink(link, ec).string(), "../../blobs/" + server.etag(f)) << f;
    EXPECT_EQ(slurp(link.string()), slurp(stories_file(f))) << f;
  }
  for (const auto& b : files_under(repo + "/blobs")) {
    EXPECT_FALSE(contains(b, ".incomplete")) << b;
  }
}

// corelm with `input` on its stdin (a file: not a terminal).
test::CliResult run_with_input(const std::vector<std::string>& args, const std::string& input) {
  static int n = 0;
  const std::string base = test::temp_dir() + "/pull-input-" + std::to_string(n++);
  std::ofstream(base + ".in") << input;
  std::vector<std::string> argv_s = test::cli_command(args);
  std::vector<char*> argv;
  for (auto& s : argv_s) argv.push_back(s.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, (base + ".in").c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, (base + ".out").c_str(), O_WRONLY | O_CREAT, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, (base + ".err").c_str(), O_WRONLY | O_CREAT, 0644);
  pid_t pid = -1;
  test::CliResult r;
  if (posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ) == 0) {
    int status = 0;
    waitpid(pid, &status, 0);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  posix_spawn_file_actions_destroy(&fa);
  r.out = slurp(base + ".out");
  r.err = slurp(base + ".err");
  return r;
}

std::string generate_text(const std::string& model) {
  test::CliResult r =
      test::run_cli({"generate", "Once upon a time", model, "--max-new-tokens", "16", "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  if (r.exit_code != 0) return "";
  const auto j = nlohmann::json::parse(r.out);  // ids and text (not the speeds)
  return j["ids"].dump() + " " + j["text"].dump();
}

TEST(HubPull, PullsConvertsAndGeneratesByModelId) {
  HubServer server({});
  const std::string home = fresh_home(&server);
  setenv("HF_ENDPOINT", (server.endpoint() + "/").c_str(), 1);  // a trailing '/' is fine
  test::CliResult r = pull_ok();
  const std::string package = repo_dir(home) + "/corelm/" + server.commit() + "-q4s32.clm";
  EXPECT_EQ(r.out, package + "\n");
  EXPECT_TRUE(fs::is_regular_file(package));
  expect_snapshot(home, server);
  // Not a terminal: one plain line per file, no progress bar.
  for (const auto& f : kPulledFiles) {
    EXPECT_TRUE(contains(r.err, "downloaded " + f + " ")) << r.err;
  }
  EXPECT_FALSE(contains(r.err, "\r")) << r.err;
  EXPECT_EQ(server.count("/api/models/test-org/stories260K/revision/main"), 1u);
  EXPECT_EQ(server.count("/cdn/"), 1u);  // the LFS file through its redirect
  // The id runs as the package `corelm convert` makes from the original folder.
  EXPECT_EQ(generate_text(kRepo), generate_text(test::cli_converted("q4s32")));
  EXPECT_EQ(generate_text(std::string(kRepo) + "@" + server.commit()),
            generate_text(test::cli_converted("q4s32")));
}

TEST(HubPull, SecondPullDownloadsNothing) {
  HubServer server({});
  fresh_home(&server);
  pull_ok();
  const size_t requests = server.requests().size();
  test::CliResult r = pull_ok();
  EXPECT_TRUE(contains(r.err, "0 of 5 files downloaded (0 B), up to date")) << r.err;
  const auto log = server.requests();
  ASSERT_EQ(log.size(), requests + 1);  // the revision's listing alone
  EXPECT_EQ(std::string(log.back()["path"]).rfind("/api/models/", 0), 0u);
}

TEST(HubPull, ResumesWithRangeAfterAConnectionCut) {
  HubServer server({"--cut-after", "300000", "--cut-times", "1"});
  const std::string home = fresh_home(&server);
  pull_ok();
  bool resumed = false;
  for (const auto& req : server.requests())
    if (req["range"] == "bytes=300000-" && std::string(req["path"]).rfind("/cdn/", 0) == 0)
      resumed = true;
  EXPECT_TRUE(resumed);
  expect_snapshot(home, server);
}

TEST(HubPull, AnInterruptedPullLeavesAPartialFileTheNextOneResumes) {
  const std::string partial_name = [] {
    HubServer probe({});
    return probe.etag("model.safetensors") + ".incomplete";
  }();
  std::string home;
  uint64_t partial_size = 0;
  {
    HubServer server({"--cut-after", "300000", "--cut-times", "100"});
    home = fresh_home(&server);
    test::CliResult r = pull_fails("interrupted");
    EXPECT_TRUE(contains(r.err, "run the same pull again to resume")) << r.err;
    const std::string partial = repo_dir(home) + "/blobs/" + partial_name;
    ASSERT_TRUE(fs::exists(partial)) << r.err;
    partial_size = fs::file_size(partial);
    EXPECT_GT(partial_size, 0u);
    EXPECT_LT(partial_size, fs::file_size(stories_file("model.safetensors")));
    EXPECT_FALSE(fs::exists(repo_dir(home) + "/snapshots"));
    EXPECT_FALSE(fs::exists(repo_dir(home) + "/refs/main"));
    EXPECT_FALSE(fs::exists(repo_dir(home) + "/corelm"));
  }
  HubServer server({});
  setenv("HF_ENDPOINT", server.endpoint().c_str(), 1);
  pull_ok();
  EXPECT_EQ(server.count("/cdn/"), 1u);
  for (const auto& req : server.requests()) {
    if (std::string(req["path"]).rfind("/cdn/", 0) == 0) {
      EXPECT_EQ(req["range"], "bytes=" + std::to_string(partial_size) + "-");
    }
  }
  expect_snapshot(home, server);
}

TEST(HubPull, ACorruptedByteDiscardsTheFile) {
  for (const std::string file : {"model.safetensors", "tokenizer.json"}) {
    HubServer server({"--corrupt", file});
    const std::string home = fresh_home(&server);
    test::CliResult r = pull_fails("checksum mismatch for " + file);
    EXPECT_TRUE(contains(r.err, file == "model.safetensors" ? "expected sha256 " + server.etag(file)
                                                            : "git blob id " + server.etag(file)))
        << r.err;
    EXPECT_TRUE(contains(r.err, "discarded")) << r.err;
    EXPECT_FALSE(fs::exists(repo_dir(home) + "/blobs/" + server.etag(file)));
    EXPECT_FALSE(fs::exists(repo_dir(home) + "/blobs/" + server.etag(file) + ".incomplete"));
    EXPECT_FALSE(fs::exists(repo_dir(home) + "/snapshots"));
    EXPECT_FALSE(fs::exists(repo_dir(home) + "/refs/main"));
  }
}

TEST(HubPull, AGatedModelNeedsHfToken) {
  HubServer server({"--require-token", "s3cret"});
  const std::string home = fresh_home(&server);
  test::CliResult r = pull_fails("gated model");
  EXPECT_TRUE(contains(r.err, "set HF_TOKEN")) << r.err;
  EXPECT_TRUE(contains(r.err, "HTTP 401")) << r.err;
  setenv("HF_TOKEN", "wrong", 1);
  r = pull_fails("HTTP 403");
  EXPECT_TRUE(contains(r.err, "the HF_TOKEN set was refused")) << r.err;
  EXPECT_FALSE(fs::exists(repo_dir(home) + "/snapshots"));
  setenv("HF_TOKEN", "s3cret", 1);
  pull_ok();
  expect_snapshot(home, server);
  // The token file huggingface-cli login writes works too.
  const std::string home2 = fresh_home(&server);
  { std::ofstream(home2 + "/token") << "s3cret\n"; }
  pull_ok();
  expect_snapshot(home2, server);
}

TEST(HubPull, MissingModelRevisionOrFileIs404) {
  HubServer server({"--missing", "tokenizer.json"});
  const std::string home = fresh_home(&server);
  pull_fails("model test-org/nope@main: no such model (HTTP 404", "test-org/nope");
  pull_fails("no such revision", std::string(kRepo) + "@v9");
  test::CliResult r = pull_fails("file tokenizer.json of test-org/stories260K: no such file");
  EXPECT_FALSE(fs::exists(repo_dir(home) + "/snapshots"));
  r = test::run_cli({"pull", "not a model id"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "is not a Hugging Face model id")) << r.err;
}

TEST(HubPull, MirrorsWithoutBlobMetadataUseHeadRequests) {
  HubServer server({"--no-blobs"});
  const std::string home = fresh_home(&server);
  pull_ok();
  EXPECT_EQ(server.count("/test-org/stories260K/resolve/", "HEAD"), kPulledFiles.size());
  expect_snapshot(home, server);
}

TEST(HubPull, OfflineModeUsesTheCacheAndSaysWhenItIsEmpty) {
  std::string home, commit;
  {
    HubServer server({});
    home = fresh_home(&server);
    pull_ok();
    commit = server.commit();
  }  // the server is gone: nothing to reach
  // Not offline, the Hub unreachable: the cached revision is used, with a warning.
  test::CliResult r = pull_ok();
  EXPECT_EQ(r.out, repo_dir(home) + "/corelm/" + commit + "-q4s32.clm\n");
  EXPECT_TRUE(contains(r.err, "warning: [hub] cannot reach")) << r.err;
  EXPECT_TRUE(contains(r.err, "using the cached snapshot of test-org/stories260K@main")) << r.err;
  r = test::run_cli({"pull", "test-org/other"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "cannot reach")) << r.err;
  setenv("HF_HUB_OFFLINE", "1", 1);
  r = pull_ok();
  EXPECT_EQ(r.out, repo_dir(home) + "/corelm/" + commit + "-q4s32.clm\n");
  // A package in another format is converted from the cached snapshot.
  r = pull_ok({"--quant", "f16"});
  EXPECT_EQ(r.out, repo_dir(home) + "/corelm/" + commit + "-f16.clm\n");
  EXPECT_EQ(generate_text(kRepo), generate_text(test::cli_converted("q4s32")));
  // corelm run with the model cached: no network, the conversation as `corelm chat` has it.
  r = run_with_input({"run", kRepo, "--max-new-tokens", "8"}, "Hello\nOnce\n");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  test::CliResult chat = run_with_input(
      {"chat", test::cli_converted("q4s32"), "--max-new-tokens", "8"}, "Hello\nOnce\n");
  EXPECT_EQ(chat.exit_code, 0) << chat.err;
  EXPECT_EQ(r.out, chat.out);
  EXPECT_FALSE(r.out.empty());
  fresh_home(nullptr);
  setenv("HF_HUB_OFFLINE", "1", 1);
  r = pull_fails("HF_HUB_OFFLINE is set and test-org/stories260K@main is not in the cache");
  unsetenv("HF_HUB_OFFLINE");
}

TEST(HubPull, RunPullsOnlyWhenTheCacheLacksTheModel) {
  HubServer server({});
  const std::string home = fresh_home(&server);
  test::CliResult chat =
      run_with_input({"chat", test::cli_converted("q4s32"), "--max-new-tokens", "8"}, "Hello\n");
  EXPECT_EQ(chat.exit_code, 0) << chat.err;
  test::CliResult r = run_with_input({"run", kRepo, "--max-new-tokens", "8"}, "Hello\n");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.err, "downloaded model.safetensors")) << r.err;
  EXPECT_EQ(r.out, chat.out);
  expect_snapshot(home, server);
  const size_t requests = server.requests().size();
  r = run_with_input({"run", kRepo, "--max-new-tokens", "8"}, "Hello\n");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, chat.out);
  EXPECT_EQ(server.requests().size(), requests);  // cached: no request at all
}

TEST(HubPull, ListRemoveAndUnpulledIds) {
  HubServer server({});
  const std::string home = fresh_home(&server);
  test::CliResult r = test::run_cli({"generate", "hi", "test-org/other"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "corelm pull test-org/other")) << r.err;
  r = test::run_cli({"list"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.err, "no models in " + home + "/hub")) << r.err;
  pull_ok();
  r = test::run_cli({"list", "-v"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "test-org/stories260K")) << r.out;
  EXPECT_TRUE(contains(r.out, "ref main -> " + server.commit())) << r.out;
  EXPECT_TRUE(contains(r.out, "corelm/" + server.commit() + "-q4s32.clm")) << r.out;
  EXPECT_TRUE(contains(r.out, "1 model, ")) << r.out;
  r = test::run_cli({"rm", kRepo});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "removed test-org/stories260K (")) << r.out;
  EXPECT_FALSE(fs::exists(repo_dir(home)));
  r = test::run_cli({"rm", kRepo});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "is not in the cache")) << r.err;
}

TEST(HubPull, GgufRepositoriesPickOneFileAndRunIt) {
  const std::string gguf = test::data_path("tiny-models/stories260K-gguf/stories260K.gguf");
  HubServer server(
      {"--gguf", "stories260K-Q8_0.gguf=" + gguf, "--gguf", "stories260K-Q4_K_M.gguf=" + gguf});
  const std::string home = fresh_home(&server);
  const std::string repo = "test-org/stories260K-GGUF";
  const std::string snap =
      home + "/hub/models--test-org--stories260K-GGUF/snapshots/" + server.commit(repo);
  test::CliResult r = test::run_cli({"pull", repo});  // Q4_K_M by default
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, snap + "/stories260K-Q4_K_M.gguf\n");
  r = test::run_cli({"pull", repo, "--gguf", "q8_0"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, snap + "/stories260K-Q8_0.gguf\n");
  EXPECT_EQ(slurp(snap + "/stories260K-Q8_0.gguf"), slurp(gguf));
  EXPECT_EQ(server.count("/cdn/"), 1u);  // one blob: both names hold the same bytes
  r = test::run_cli({"pull", repo, "--gguf", "Q2_K"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "no GGUF file matching --gguf Q2_K")) << r.err;
  EXPECT_EQ(generate_text(repo), generate_text(gguf));
}

}  // namespace
}  // namespace corelm

#endif  // CORELM_HAVE_HUB
