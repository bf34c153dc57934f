// Input for `corelm chat`: lines from the terminal with editing and history (Debian's libedit,
// when it was found at build time) or plain lines from a pipe, and Ctrl-C as a flag the answer
// loop polls instead of the end of the program.
#pragma once

#include <string>

namespace corelm::cli {

class LineReader {
 public:
  // `interactive`: stdin is a terminal (line editing, the prompt shown).
  explicit LineReader(bool interactive);
  ~LineReader();
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  enum class Status { kLine, kInterrupted, kEnd };
  // Reads one line (without its newline or a trailing '\r'). kInterrupted: Ctrl-C while
  // typing (the line is dropped); kEnd: Ctrl-D or the end of the input.
  Status read(const std::string& prompt, std::string& line);

 private:
  bool interactive_;
};

// SIGINT sets a flag instead of ending the program, from now on.
void catch_interrupts();
bool interrupted();
void clear_interrupt();

}  // namespace corelm::cli
