#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "corelm/tokenizer.h"
#include "test_support.h"

extern char** environ;

namespace corelm::test {

namespace fs = std::filesystem;

std::string data_dir() {
  const char* env = std::getenv("CORELM_TEST_DATA");
  std::string dir = env && *env ? env : CORELM_DEFAULT_TEST_DATA;
  if (!fs::is_directory(dir)) {
    ADD_FAILURE() << "test data folder '" << dir
                  << "' is missing: put ../shared beside the checkout or set CORELM_TEST_DATA";
    throw std::runtime_error("missing test data: " + dir);
  }
  return dir;
}

std::string data_path(const std::string& relative) {
  std::string p = data_dir() + "/" + relative;
  if (!fs::exists(p)) {
    ADD_FAILURE() << "test data file '" << p << "' is missing";
    throw std::runtime_error("missing test data: " + p);
  }
  return p;
}

std::string read_data(const std::string& relative) {
  std::ifstream in(data_path(relative), std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string fixture_path(const std::string& name) {
  std::string p = std::string(CORELM_TEST_FIXTURES) + "/" + name;
  if (!fs::exists(p)) {
    ADD_FAILURE() << "test fixture '" << p << "' is missing";
    throw std::runtime_error("missing test fixture: " + p);
  }
  return p;
}

std::string read_fixture(const std::string& name) {
  std::ifstream in(fixture_path(name), std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string lora_fixture(const std::string& name) {
  std::string p = std::string(CORELM_LORA_FIXTURES) + "/" + name;
  if (!fs::exists(p)) {
    ADD_FAILURE() << "LoRA fixture '" << p
                  << "' is missing: the build makes it (target corelm_lora_fixtures)";
    throw std::runtime_error("missing LoRA fixture: " + p);
  }
  return p;
}

std::string ggml_fixture(const std::string& name) {
  std::string p = std::string(CORELM_GGML_FIXTURES) + "/" + name;
  if (!fs::exists(p)) {
    ADD_FAILURE() << "GGML block fixture '" << p
                  << "' is missing: the build makes it (target corelm_ggml_fixtures)";
    throw std::runtime_error("missing GGML block fixture: " + p);
  }
  return p;
}

namespace {
struct TempDir {
  std::string path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "corelm-test-XXXXXX").string();
    path = mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};
}  // namespace

std::string temp_dir() {
  static TempDir dir;
  return dir.path;
}

std::string copy_to_temp(const std::string& path, const std::string& name) {
  std::string dst = temp_dir() + "/" + name;
  fs::copy_file(path, dst, fs::copy_options::overwrite_existing);
  return dst;
}

namespace {
std::string drain(int fd) {
  std::string s;
  char buf[65536];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof(buf))) > 0) s.append(buf, static_cast<size_t>(n));
  return s;
}
}  // namespace

std::vector<std::string> cli_command(const std::vector<std::string>& args) {
  std::vector<std::string> argv_s;
#ifdef CORELM_CLI_EMULATOR
  // Cross builds run the tests under an emulator (qemu-aarch64): the CLI needs it too. Its
  // command line comes from CMAKE_CROSSCOMPILING_EMULATOR, words joined with '|'.
  std::string emulator = CORELM_CLI_EMULATOR;
  for (size_t b = 0, e; b <= emulator.size(); b = e + 1) {
    e = std::min(emulator.find('|', b), emulator.size());
    if (e > b) argv_s.push_back(emulator.substr(b, e - b));
  }
#endif
  argv_s.push_back(CORELM_BINARY_DIR "/corelm");
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  return argv_s;
}

std::shared_ptr<Tokenizer> mistral_tokenizer(const std::string& version) {
  static std::map<std::string, std::shared_ptr<Tokenizer>> cache;
  auto& t = cache[version];
  if (t) return t;
  if (version == "v1")
    t = Tokenizer::from_path(data_path("mistral-7b-v0.1-hf/tokenizer.json"));
  else if (version == "v2")
    t = Tokenizer::from_path(
        data_path("mistral-spm-models/mistral_instruct_tokenizer_240216.model.v2"));
  else if (version == "v3")
    t = Tokenizer::from_path(
        data_path("mistral-spm-models/mistral_instruct_tokenizer_240323.model.v3"));
  else
    ADD_FAILURE() << "no Mistral tokenizer '" << version << "'";
  return t;
}

CliResult run_cli(const std::vector<std::string>& args) {
  std::vector<std::string> argv_s = cli_command(args);
  std::vector<char*> argv;
  for (auto& s : argv_s) argv.push_back(s.data());
  argv.push_back(nullptr);
  int out_pipe[2], err_pipe[2];
  if (pipe(out_pipe) != 0 || pipe(err_pipe) != 0) throw std::runtime_error("pipe failed");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err_pipe[1], 2);
  posix_spawn_file_actions_addclose(&fa, out_pipe[0]);
  posix_spawn_file_actions_addclose(&fa, err_pipe[0]);
  pid_t pid;
  int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (rc != 0) throw std::runtime_error("cannot start " + argv_s[0]);
  CliResult r;
  std::thread err_reader([&] { r.err = drain(err_pipe[0]); });
  r.out = drain(out_pipe[0]);
  err_reader.join();
  close(out_pipe[0]);
  close(err_pipe[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

}  // namespace corelm::test
