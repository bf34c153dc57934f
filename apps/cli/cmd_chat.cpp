// corelm chat MODEL: a conversation in the terminal with the model's chat template. The
// conversation is re-rendered every turn and the Generator prefills only what the Session's KV
// cache does not hold yet; when the context fills, the oldest turns go.
#include <unistd.h>

#include <cstdio>

#include "base/check.h"
#include "base/file_util.h"
#include "base/utf8.h"
#include "chat_history.h"
#include "chat_input.h"
#include "chat_prompt.h"
#include "cmd_chat.h"
#include "commands.h"
#include "corelm/generate.h"
#include "corelm/model.h"
#include "corelm/tokenizer.h"
#include "generation_flags.h"

namespace corelm::cli {

namespace {
constexpr const char* kHelp =
    "/reset          forget the conversation (the system message stays)\n"
    "/system TEXT    set the system message (/system alone shows it)\n"
    "/save FILE      write the conversation as JSON ({\"messages\": [...]})\n"
    "/load FILE      continue a saved conversation\n"
    "/exit           leave (Ctrl-D too); Ctrl-C stops an answer\n"
    "/help           this list\n";

class ChatLoop {
 public:
  ChatLoop(const ChatArgs& args, Session& session, const Tokenizer& tok, std::string source,
           bool interactive)
      : args_(args),
        session_(session),
        history_(tok, std::move(source)),
        generator_(session, tok),
        options_(generate_options(args.flags)),
        info_(interactive ? stdout : stderr) {
    history_.set_system(args.system);
  }

  // Handles a line starting with '/'; false for /exit.
  bool command(const std::string& line) {
    size_t space = line.find(' ');
    std::string name = line.substr(0, space);
    std::string arg = space == std::string::npos ? "" : line.substr(space + 1);
    if (name == "/exit" || name == "/quit") return false;
    if (name == "/help") {
      std::fputs(kHelp, info_);
    } else if (name == "/reset") {
      history_.reset();
      std::fprintf(info_, "(conversation cleared)\n");
    } else if (name == "/system") {
      if (arg.empty()) {
        std::fprintf(info_, "system: %s\n",
                     history_.system().empty() ? "(none)" : history_.system().c_str());
      } else {
        require_utf8(arg, "the system message");
        history_.set_system(arg);
        std::fprintf(info_, "(system message set)\n");
      }
    } else if (name == "/save") {
      if (arg.empty()) fail(ErrorCode::kInvalidArgument, "chat", "/save needs a file name");
      write_file_atomic(arg, history_.to_json(), "chat");
      std::fprintf(info_, "(saved %zu messages to %s)\n", message_count(), arg.c_str());
    } else if (name == "/load") {
      if (arg.empty()) fail(ErrorCode::kInvalidArgument, "chat", "/load needs a file name");
      history_.load_json(read_file(arg, "chat"), arg);
      std::fprintf(info_, "(loaded %zu messages from %s)\n", message_count(), arg.c_str());
    } else {
      fail(ErrorCode::kInvalidArgument, "chat", "unknown command {} (/help lists them)", name);
    }
    std::fflush(info_);
    return true;
  }

  void turn(const std::string& message) {
    require_utf8(message, "the message");
    history_.add_user(message);
    try {
      answer();
    } catch (...) {
      history_.drop_last_user();
      throw;
    }
  }

 private:
  size_t message_count() const {
    return history_.turns().size() + (history_.system().empty() ? 0 : 1);
  }

  void answer() {
    const size_t context = static_cast<size_t>(session_.max_context());
    // Room left for the answer before older turns must go.
    size_t reserve = context / 4;
    if (options_.max_new_tokens > 0)
      reserve = std::min(static_cast<size_t>(options_.max_new_tokens), context / 2);
    std::vector<int32_t> ids = history_.prompt_ids();
    const size_t before = history_.turns().size();
    while (ids.size() + reserve > context && history_.drop_oldest_turn())
      ids = history_.prompt_ids();
    if (ids.size() >= context)
      fail(ErrorCode::kOutOfRange, "chat",
           "the message does not fit: with the system message it is {} tokens, the context "
           "holds {} (shorten it or raise --max-context)",
           ids.size(), context);
    if (history_.turns().size() < before) {
      std::fprintf(stderr,
                   "(the context is full: dropped the %zu oldest messages, re-prefilling %zu "
                   "tokens)\n",
                   before - history_.turns().size(), ids.size());
      std::fflush(stderr);
    }
    clear_interrupt();
    GenerationResult r = generator_.generate(ids, options_, [](std::string_view piece) {
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
      return !interrupted();
    });
    std::fputs("\n", stdout);
    std::fflush(stdout);
    const auto& st = r.stats;
    if (st.stop_reason == "callback" || interrupted()) {
      std::fprintf(stderr, "(stopped)\n");
    } else if (st.stop_reason == "context") {
      std::fprintf(stderr, "(the answer filled the context)\n");
    }
    clear_interrupt();
    history_.add_answer(ids, r.ids, r.text);
    if (args_.flags.verbose)
      std::fprintf(stderr,
                   "reused %zu tokens%s | prefill: %zu tokens, %.2f tokens/s | decode: %zu "
                   "tokens, %.2f tokens/s | stop: %s | context: %d of %zu\n",
                   st.reused_tokens, history_.kept_generated_ids() ? " (generated ids kept)" : "",
                   st.prompt_tokens - st.reused_tokens, st.prefill_tokens_per_s(),
                   st.generated_tokens, st.decode_tokens_per_s(), st.stop_reason.c_str(),
                   session_.past(), context);
    std::fflush(stderr);
  }

  const ChatArgs& args_;
  Session& session_;
  ChatHistory history_;
  Generator generator_;
  GenerateOptions options_;
  std::FILE* info_;  // notes on commands: stdout in a terminal, stderr when scripted
};
}  // namespace

void add_chat_options(CLI::App* cmd, ChatArgs& a) {
  cmd->add_option("--system", a.system, "System message");
  cmd->add_option("--chat-template", a.template_file,
                  "Chat template file (default: the model's, else ChatML)");
  add_generation_flags(cmd, a.flags, "Print reused tokens and speeds after each answer");
}

int run_chat(const ChatArgs& args) {
  const ChatArgs* a = &args;
  require_utf8(a->system, "--system");
  generate_options(a->flags);  // checks the flags before the model loads
  auto [model, session] = load_model_and_session(a->flags);
  const Tokenizer& tok = model->tokenizer();
  ChosenTemplate chosen = choose_chat_template(*model, a->template_file);
  const bool interactive = isatty(STDIN_FILENO) != 0;
  ChatLoop loop(*a, *session, tok, chosen.source, interactive);
  if (interactive)
    std::printf(
        "corelm chat: %s, template: %s, context %d tokens. /help for commands, "
        "Ctrl-D to leave.\n",
        a->flags.model.c_str(), chosen.origin.c_str(), session->max_context());
  catch_interrupts();
  LineReader reader(interactive);
  std::string line;
  for (;;) {
    auto status = reader.read(interactive ? "> " : "", line);
    if (status == LineReader::Status::kEnd) break;
    if (status == LineReader::Status::kInterrupted) {
      if (interactive) std::printf("\n");
      continue;
    }
    if (line.empty()) continue;
    try {
      if (line[0] == '/') {
        if (!loop.command(line)) break;
      } else {
        loop.turn(line);
      }
    } catch (const Error& e) {
      std::fflush(stdout);
      std::fprintf(stderr, "error: %s\n", e.what());
      std::fflush(stderr);
    }
  }
  if (interactive) std::printf("\n");
  return 0;
}

Action add_chat(CLI::App& app) {
  auto* cmd = app.add_subcommand("chat", "Chat with MODEL in the terminal (its chat template)");
  auto a = std::make_shared<ChatArgs>();
  cmd->add_option("model", a->flags.model,
                  "Model package (.clm), GGUF file or pulled model id ORG/NAME[@REV]")
      ->required();
  add_chat_options(cmd, *a);
  return [a]() { return run_chat(*a); };
}

}  // namespace corelm::cli
