// corelm: the command-line front end. Errors from the library end here: their message goes to
// stderr and the exit status is 1 (2 for bad command-line usage).
#include <cstdio>
#include <exception>
#include <map>

#include "commands.h"
#include "corelm/error.h"
#include "kernels/isa.h"

int main(int argc, char** argv) {
  CLI::App app{"corelm: run Llama/Mistral models on the CPU from one compact package file"};
  app.require_subcommand(1);
  // The kernel table in use (CORELM_ISA or the best the CPU supports) and the alternatives.
  app.set_version_flag("--version", [] { return "corelm 0.1.0\nisa: " + corelm::describe_isas(); });
  std::map<CLI::App*, corelm::cli::Action> actions;
  auto add = [&](corelm::cli::Action (*fn)(CLI::App&)) {
    size_t before = app.get_subcommands({}).size();
    corelm::cli::Action a = fn(app);
    actions[app.get_subcommands({})[before]] = std::move(a);
  };
  add(corelm::cli::add_convert);
  add(corelm::cli::add_generate);
  add(corelm::cli::add_inspect);
  add(corelm::cli::add_tokenize);
  add(corelm::cli::add_chat_template);
  add(corelm::cli::add_bench);
  add(corelm::cli::add_perplexity);
  add(corelm::cli::add_imatrix);
  add(corelm::cli::add_chat);
  add(corelm::cli::add_adapter_command);
#ifdef CORELM_HAVE_HUB
  add(corelm::cli::add_pull);
  add(corelm::cli::add_run);
#endif
  add(corelm::cli::add_list);
  add(corelm::cli::add_rm);
#ifdef CORELM_HAVE_SERVER
  add(corelm::cli::add_serve);
#endif
  try {
    try {
      app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
      // --help and --version print and succeed; a usage error is one line and exit status 2.
      if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(e);
      std::fprintf(stderr, "error: [cli] %s (see corelm%s --help)\n", e.what(),
                   app.get_subcommands().empty()
                       ? ""
                       : (" " + app.get_subcommands().front()->get_name()).c_str());
      return 2;
    }
    for (auto* sub : app.get_subcommands())
      if (actions.count(sub)) return actions[sub]();
    return 2;
  } catch (const corelm::Error& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "\nerror: %s\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "\nerror: [corelm] out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    // Every input is checked where it is read: reaching this is a bug.
    std::fprintf(stderr,
                 "\nerror: [corelm] an unchecked error (a bug in corelm, please report it): %s\n",
                 e.what());
    return 1;
  }
}
