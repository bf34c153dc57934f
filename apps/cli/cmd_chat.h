// `corelm chat`'s options and loop, shared with `corelm run` (which pulls the model first).
#pragma once

#include <CLI/CLI.hpp>

#include <string>

#include "generation_flags.h"

namespace corelm::cli {

struct ChatArgs {
  GenerationFlags flags;  // flags.model: a path or a cached ORG/NAME[@REV]
  std::string system, template_file;
};

// --system, --chat-template and the generation flags.
void add_chat_options(CLI::App* cmd, ChatArgs& args);
// The conversation: interactive in a terminal, one answer per input line otherwise.
int run_chat(const ChatArgs& args);

}  // namespace corelm::cli
