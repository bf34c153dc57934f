// `corelm chat` run as a user would: through a pseudo-terminal (forkpty: line editing, Ctrl-C,
// Ctrl-D) and with its input piped from a script. The answers are checked against
// `corelm generate --chat` on the same conversation (one prompt, no cache reuse), rendered with
// a ChatML template written here, and the reused-token counts against its prompt and answer ids.
#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <chrono>
#include <fstream>
#include <regex>

#include "base/file_util.h"
#include "test_support.h"

namespace corelm {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

std::string model() {
  return test::data_path("tiny-models/stories260K-gguf/stories260K.gguf");
}

// ChatML as its authors document it (stories260K has no template: corelm falls back to it).
const std::string& chatml_file() {
  static const std::string path = [] {
    std::string p = test::temp_dir() + "/chatml.jinja";
    write_file_atomic(p,
                      "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] "
                      "}}<|im_end|>\n{% endfor %}{% if add_generation_prompt "
                      "%}<|im_start|>assistant\n{% endif %}",
                      "test");
    return p;
  }();
  return path;
}

std::vector<std::string> with_flags(std::vector<std::string> args,
                                    const std::vector<std::string>& flags) {
  args.insert(args.end(), flags.begin(), flags.end());
  return args;
}

// The outside reference: `corelm generate --chat` on a conversation given as one prompt (earlier
// turns written into the user message with ChatML's markers, which are plain text to this
// vocabulary), greedy. Returns its --json line.
json reference(const std::vector<std::pair<std::string, std::string>>& earlier,
               const std::string& message, const std::vector<std::string>& flags,
               const std::string& system = "") {
  std::string prompt;
  for (const auto& [user, assistant] : earlier)
    prompt +=
        user + "<|im_end|>\n<|im_start|>assistant\n" + assistant + "<|im_end|>\n<|im_start|>user\n";
  prompt += message;
  std::vector<std::string> args{"generate",   prompt,        model(), "--chat",
                                "--template", chatml_file(), "--json"};
  if (!system.empty()) args.insert(args.end(), {"--system", system});
  auto r = test::run_cli(with_flags(args, flags));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return json::parse(r.out);
}

std::string reference_text(const json& j) {
  return j["text"].get<std::string>();
}

// The answer as the conversation keeps it (transformers' way: no leading space).
std::string kept(const std::string& answer) {
  return answer.substr(std::min(answer.find_first_not_of(' '), answer.size()));
}

// The command line and environment of a corelm run, made before fork() (the child only execs).
class Exec {
 public:
  Exec(const std::vector<std::string>& args, const std::string& term)
      : argv_s_(test::cli_command(args)) {
    for (char** e = environ; *e; ++e)
      if (std::string_view(*e).rfind("TERM=", 0) != 0) env_s_.push_back(*e);
    if (!term.empty()) env_s_.push_back("TERM=" + term);
    for (auto& s : argv_s_) argv_.push_back(s.data());
    argv_.push_back(nullptr);
    for (auto& s : env_s_) env_.push_back(s.data());
    env_.push_back(nullptr);
  }
  [[noreturn]] void run() {
    execve(argv_[0], argv_.data(), env_.data());
    _exit(127);
  }

 private:
  std::vector<std::string> argv_s_, env_s_;
  std::vector<char*> argv_, env_;
};

// corelm chat with `input` on stdin (a file: not a terminal).
test::CliResult run_piped(const std::vector<std::string>& args, const std::string& input) {
  static int n = 0;
  const std::string base = test::temp_dir() + "/piped" + std::to_string(n++);
  write_file_atomic(base + ".in", input, "test");
  const std::string in_path = base + ".in", out_path = base + ".out", err_path = base + ".err";
  Exec exec(args, "");
  pid_t pid = fork();
  if (pid == 0) {
    int in = open(in_path.c_str(), O_RDONLY);
    int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (in < 0 || out < 0 || err < 0) _exit(126);
    dup2(in, 0);
    dup2(out, 1);
    dup2(err, 2);
    exec.run();
  }
  int status = 0;
  waitpid(pid, &status, 0);
  test::CliResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = read_file(base + ".out", "test");
  r.err = read_file(base + ".err", "test");
  return r;
}

// corelm chat on a pseudo-terminal: what a user types goes in, what the terminal shows comes
// out (without the '\r's the terminal adds).
class Terminal {
 public:
  explicit Terminal(const std::vector<std::string>& args) {
    struct winsize ws {};
    ws.ws_row = 40;
    ws.ws_col = 200;
    Exec exec(args, "xterm");
    pid_ = forkpty(&fd_, nullptr, nullptr, &ws);
    if (pid_ == 0) exec.run();
    EXPECT_GT(pid_, 0);
  }
  ~Terminal() {
    if (pid_ > 0 && !exited_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (fd_ >= 0) close(fd_);
  }
  void type(const std::string& keys) {
    ASSERT_EQ(write(fd_, keys.data(), keys.size()), static_cast<ssize_t>(keys.size()));
  }
  // Waits until the output from `from` on holds `text` (`count` times); false after `seconds`.
  bool wait_for(const std::string& text, size_t from = 0, int count = 1, double seconds = 20) {
    const auto end = Clock::now() + std::chrono::duration<double>(seconds);
    for (;;) {
      int found = 0;
      for (size_t at = output_.find(text, from); at != std::string::npos;
           at = output_.find(text, at + text.size()))
        ++found;
      if (found >= count) return true;
      if (Clock::now() > end || !read_some(50)) return false;
    }
  }
  // Waits for a prompt after `from` and for the line editor to read the keyboard (the terminal
  // out of canonical mode: a Ctrl-D typed before would reach it as a NUL byte).
  bool at_prompt(size_t from, double seconds = 20) {
    if (!wait_for("> ", from, 1, seconds)) return false;
    const auto end = Clock::now() + std::chrono::duration<double>(seconds);
    for (termios tio{}; tcgetattr(fd_, &tio) == 0 && Clock::now() < end; read_some(5))
      if (!(tio.c_lflag & ICANON)) return true;
    return false;
  }
  // Types `keys` at the prompt; the output's length before them.
  size_t enter(const std::string& keys) {
    size_t from = output_.size();
    type(keys);
    return from;
  }
  // Waits for the program to end; its exit status, or -1 if it is still running.
  int wait_exit(double seconds = 20) {
    const auto end = Clock::now() + std::chrono::duration<double>(seconds);
    while (Clock::now() < end) {
      read_some(20);
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
    }
    return -1;
  }
  const std::string& output() const { return output_; }

 private:
  bool read_some(int timeout_ms) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0) return true;
    char buf[4096];
    ssize_t n = read(fd_, buf, sizeof buf);
    if (n <= 0) return false;  // the program ended (EIO)
    for (ssize_t i = 0; i < n; ++i)
      if (buf[i] != '\r') output_ += buf[i];
    return true;
  }
  int fd_ = -1;
  pid_t pid_ = -1;
  bool exited_ = false;
  std::string output_;
};

std::vector<size_t> reused_counts(const std::string& output) {
  std::vector<size_t> counts;
  static const std::regex re("reused (\\d+) tokens");
  for (auto it = std::sregex_iterator(output.begin(), output.end(), re);
       it != std::sregex_iterator(); ++it)
    counts.push_back(std::stoul((*it)[1]));
  return counts;
}

size_t common_prefix(const json& a, const json& b) {
  size_t n = 0;
  while (n < a.size() && n < b.size() && a[n] == b[n]) ++n;
  return n;
}

const std::vector<std::string> kFlags{"--max-new-tokens", "20", "--max-context", "512"};

// Two turns: the second prefills only the new turn. The cache then holds the first prompt and
// the answer, all but its last token (sampled, never fed back): that many tokens are reused.
TEST(ChatTerminal, SecondTurnReusesTheCache) {
  const json ref1 = reference({}, "Tell me a story", kFlags);
  ASSERT_EQ(ref1["stop_reason"], "length");
  const std::string a1 = reference_text(ref1);
  const json ref2 = reference({{"Tell me a story", kept(a1)}}, "And then?", kFlags);
  Terminal t(with_flags({"chat", model(), "-v"}, kFlags));
  ASSERT_TRUE(t.at_prompt(0)) << t.output();
  size_t first = t.enter("Tell me a story\r");
  ASSERT_TRUE(t.at_prompt(first)) << t.output();
  size_t second = t.enter("And then?\r");
  ASSERT_TRUE(t.at_prompt(second)) << t.output();
  EXPECT_NE(t.output().find(a1, first), std::string::npos) << t.output();
  EXPECT_NE(t.output().find(reference_text(ref2), second), std::string::npos) << t.output();
  auto reused = reused_counts(t.output());
  ASSERT_EQ(reused.size(), 2u) << t.output();
  EXPECT_EQ(reused[0], 0u);
  EXPECT_EQ(reused[1], ref1["prompt_ids"].size() + ref1["ids"].size() - 1) << t.output();
  t.enter("\x04");  // Ctrl-D
  EXPECT_EQ(t.wait_exit(), 0) << t.output();
}

// /reset: the next turn answers as a new conversation would, reusing only the tokens both
// prompts start with (ChatML's "<|im_start|>user\n").
TEST(ChatTerminal, ResetForgetsTheConversation) {
  const json story = reference({}, "Tell me a story", kFlags);
  const json hello = reference({}, "Hello", kFlags);
  const size_t shared = common_prefix(story["prompt_ids"], hello["prompt_ids"]);
  ASSERT_GT(shared, 0u);
  ASSERT_LT(shared + 1, hello["prompt_ids"].size());
  Terminal t(with_flags({"chat", model(), "-v"}, kFlags));
  ASSERT_TRUE(t.at_prompt(0)) << t.output();
  ASSERT_TRUE(t.at_prompt(t.enter("Tell me a story\r"))) << t.output();
  size_t reset = t.enter("/reset\r");
  ASSERT_TRUE(t.at_prompt(reset)) << t.output();
  EXPECT_NE(t.output().find("(conversation cleared)", reset), std::string::npos) << t.output();
  size_t third = t.enter("Hello\r");
  ASSERT_TRUE(t.at_prompt(third)) << t.output();
  EXPECT_NE(t.output().find(reference_text(hello), third), std::string::npos) << t.output();
  auto reused = reused_counts(t.output());
  ASSERT_EQ(reused.size(), 2u) << t.output();
  EXPECT_EQ(reused[1], shared) << t.output();
  t.enter("/exit\r");
  EXPECT_EQ(t.wait_exit(), 0) << t.output();
}

// Ctrl-C during an answer stops the answer, not the program, which answers the next message;
// Ctrl-C while typing drops the line; Ctrl-D at the prompt ends the program with status 0.
TEST(ChatTerminal, CtrlCStopsTheAnswerNotTheProgram) {
  // No end but Ctrl-C: EOS ignored, a context long enough for minutes of story.
  Terminal t({"chat", model(), "-v", "--ignore-eos", "--max-context", "65536"});
  ASSERT_TRUE(t.at_prompt(0)) << t.output();
  size_t first = t.enter("Tell me a story\r");
  ASSERT_TRUE(t.wait_for("Mommy", first)) << t.output();  // the answer is streaming
  t.type("\x03");
  ASSERT_TRUE(t.at_prompt(first)) << t.output();
  EXPECT_NE(t.output().find("(stopped)", first), std::string::npos) << t.output();
  EXPECT_NE(t.output().find("stop: callback", first), std::string::npos) << t.output();
  size_t typing = t.enter("some words\x03");  // dropped: a fresh prompt
  ASSERT_TRUE(t.at_prompt(typing)) << t.output();
  size_t second = t.enter("Hello\r");
  ASSERT_TRUE(t.wait_for("Hello\n", second)) << t.output();
  ASSERT_TRUE(t.wait_for(" ", t.output().size())) << t.output();  // streaming again
  t.type("\x03");
  ASSERT_TRUE(t.at_prompt(second)) << t.output();
  EXPECT_NE(t.output().find("stop: callback", second), std::string::npos) << t.output();
  auto reused = reused_counts(t.output());
  ASSERT_EQ(reused.size(), 2u) << t.output();
  EXPECT_GT(reused[1], 0u);  // the stopped turn stays in the conversation and the cache
  EXPECT_EQ(t.output().find("some words\n"), std::string::npos) << t.output();
  t.enter("\x04");
  EXPECT_EQ(t.wait_exit(), 0) << t.output();
}

// Scripted: one message per line in, one answer per line out, nothing else on stdout; the
// answers are those of `corelm generate --chat` on the same conversations.
TEST(ChatPiped, AnswersAsGenerateChatDoes) {
  const json ref1 = reference({}, "Tell me a story", kFlags);
  const json ref2 =
      reference({{"Tell me a story", kept(reference_text(ref1))}}, "And then?", kFlags);
  auto r = run_piped(with_flags({"chat", model()}, kFlags), "Tell me a story\nAnd then?\n");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, reference_text(ref1) + "\n" + reference_text(ref2) + "\n");
  EXPECT_EQ(r.err.find("error"), std::string::npos) << r.err;
}

TEST(ChatPiped, SystemMessage) {
  const json ref = reference({}, "Hello", kFlags, "You tell stories.");
  auto r = run_piped(with_flags({"chat", model()}, kFlags), "/system You tell stories.\nHello\n");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, reference_text(ref) + "\n");
  auto s =
      run_piped(with_flags({"chat", model(), "--system", "You tell stories."}, kFlags), "Hello\n");
  EXPECT_EQ(s.out, reference_text(ref) + "\n");
}

// /save writes the conversation; /load continues it as if it had never stopped.
TEST(ChatPiped, SaveThenLoadContinuesTheConversation) {
  const std::string file = test::temp_dir() + "/conversation.json";
  const std::string again = test::temp_dir() + "/again.json";
  auto a = run_piped(with_flags({"chat", model()}, kFlags),
                     "Tell me a story\n/save " + file + "\nAnd then?\n");
  ASSERT_EQ(a.exit_code, 0) << a.err;
  const json ref1 = reference({}, "Tell me a story", kFlags);
  const std::string a1 = reference_text(ref1);
  ASSERT_EQ(a.out.rfind(a1 + "\n", 0), 0u) << a.out;
  const std::string a2 = a.out.substr(a1.size() + 1);
  EXPECT_EQ(json::parse(read_file(file, "test")),
            json::parse(json{{"messages",
                              {{{"role", "user"}, {"content", "Tell me a story"}},
                               {{"role", "assistant"}, {"content", kept(a1)}}}}}
                            .dump()));
  auto b = run_piped(with_flags({"chat", model()}, kFlags),
                     "/load " + file + "\nAnd then?\n/save " + again + "\n");
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_EQ(b.out, a2);
  json saved = json::parse(read_file(again, "test"));
  ASSERT_EQ(saved["messages"].size(), 4u);
  EXPECT_EQ(saved["messages"][2]["content"], "And then?");
  EXPECT_EQ(saved["messages"][3]["content"], kept(a2.substr(0, a2.size() - 1)));
  auto bad = run_piped(with_flags({"chat", model()}, kFlags), "/load /nonexistent.json\nHello\n");
  EXPECT_EQ(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("error: [chat]"), std::string::npos) << bad.err;
  EXPECT_EQ(bad.out, reference_text(reference({}, "Hello", kFlags)) + "\n");
}

// A full context drops the oldest turns (and says so): the second answer is then that of a
// conversation holding only the new message.
TEST(ChatPiped, AFullContextDropsTheOldestTurns) {
  const std::vector<std::string> small{"--max-new-tokens", "20", "--max-context", "128"};
  const json ref1 = reference({}, "Tell me a story", small);
  const json alone = reference({}, "And then?", small);
  auto r = run_piped(with_flags({"chat", model()}, small), "Tell me a story\nAnd then?\n");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("(the context is full: dropped the 2 oldest messages, re-prefilling " +
                       std::to_string(alone["prompt_ids"].size()) + " tokens)"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(r.out, reference_text(ref1) + "\n" + reference_text(alone) + "\n");
}

// A message longer than the whole context, and one that is not UTF-8: a clear error each, and
// the chat goes on.
TEST(ChatPiped, BadMessagesAreErrorsAndTheChatGoesOn) {
  const std::vector<std::string> small{"--max-new-tokens", "10", "--max-context", "64"};
  std::string long_message;
  for (int i = 0; i < 100; ++i) long_message += "word ";
  auto r =
      run_piped(with_flags({"chat", model()}, small), long_message + "\n\xff\xfe\nHello\n/bogus\n");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("error: [chat] the message does not fit: with the system message it is "),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("the context holds 64"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("error: [cli] the message is not valid UTF-8 (byte 0xff at offset 0)"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("error: [chat] unknown command /bogus"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, reference_text(reference({}, "Hello", small)) + "\n");
}

}  // namespace
}  // namespace corelm
