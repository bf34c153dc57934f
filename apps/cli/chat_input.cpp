#include "chat_input.h"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#if defined(CORELM_HAVE_LIBEDIT)
#include <editline/readline.h>
#endif

namespace corelm::cli {

namespace {
volatile std::sig_atomic_t g_interrupted = 0;

extern "C" void on_sigint(int) {
  g_interrupted = 1;
}
}  // namespace

void catch_interrupts() {
  struct sigaction sa {};
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: a blocking read returns, so Ctrl-C at the prompt is seen
  sigaction(SIGINT, &sa, nullptr);
}

bool interrupted() {
  return g_interrupted != 0;
}
void clear_interrupt() {
  g_interrupted = 0;
}

LineReader::LineReader(bool interactive) : interactive_(interactive) {
#if defined(CORELM_HAVE_LIBEDIT)
  if (interactive_) {
    rl_catch_signals = 0;  // our SIGINT handler stays in charge
    rl_initialize();
    using_history();
  }
#endif
}

LineReader::~LineReader() = default;

LineReader::Status LineReader::read(const std::string& prompt, std::string& line) {
  line.clear();
#if defined(CORELM_HAVE_LIBEDIT)
  if (interactive_) {
    clear_interrupt();
    char* got = readline(prompt.c_str());
    if (interrupted()) {
      std::free(got);
      clear_interrupt();
      return Status::kInterrupted;
    }
    if (!got) return Status::kEnd;
    line = got;
    std::free(got);
    if (!line.empty()) add_history(line.c_str());
    return Status::kLine;
  }
#endif
  if (interactive_) {
    std::fputs(prompt.c_str(), stdout);
    std::fflush(stdout);
  }
  clear_interrupt();
  std::cin.clear();
  if (!std::getline(std::cin, line)) {
    if (interrupted() && interactive_) {
      std::cin.clear();
      clear_interrupt();
      return Status::kInterrupted;
    }
    return Status::kEnd;
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return Status::kLine;
}

}  // namespace corelm::cli
