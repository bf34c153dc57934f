// corelm serve MODEL: the OpenAI-compatible HTTP server with continuous batching and the web
// chat page (apps/serve). SIGINT/SIGTERM stop it: no new requests, running answers get a grace
// period, then exit status 0.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <tuple>

#include "base/check.h"
#include "commands.h"
#include "corelm/model.h"
#include "generation_flags.h"
#include "hub_cache.h"
#include "kernels/isa.h"
#include "serve/server.h"

namespace corelm::cli {

Action add_serve(CLI::App& app) {
  auto* cmd = app.add_subcommand("serve", "Serve MODEL over an OpenAI-compatible HTTP API");
  struct Args {
    std::string model;
    serve::ServerOptions server;
    int threads = 0;
    std::string kv_cache = "f16";
    std::string function;
  };
  auto a = std::make_shared<Args>();
  auto& o = a->server;
  cmd->add_option("model", a->model,
                  "Model package (.clm), GGUF file or pulled model id ORG/NAME[@REV]")
      ->required();
  cmd->add_option("--host", o.host, "Address to listen on")->capture_default_str();
  cmd->add_option("--port", o.port, "Port (0: any free port)")->capture_default_str();
  cmd->add_option("-p,--parallel", o.parallel, "Slots: requests decoded together")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  cmd->add_option("--max-context", o.max_context,
                  "Context per slot in tokens (default: the package's)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--prefill-chunk", o.max_chunk, "Prompt tokens one slot feeds per step")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  cmd->add_option("--queue", o.queue_limit, "Requests that may wait for a slot (beyond: 503)")
      ->capture_default_str()
      ->check(CLI::Range(0, 100000));
  cmd->add_option("--api-key", o.api_key,
                  "Require 'Authorization: Bearer KEY' on /v1/* (default: $CORELM_API_KEY)");
  cmd->add_option("--cors", o.cors_origin, "Allow this origin (CORS; '*' for any)");
  cmd->add_option("--chat-template", o.chat_template_file,
                  "Chat template file (default: the model's, else ChatML)");
  cmd->add_option("--alias", o.model_name, "Model id the API shows (default: the file name)");
  cmd->add_option("--max-body", o.max_body_bytes, "Largest request body in bytes")
      ->capture_default_str();
  cmd->add_option("--grace", o.grace_seconds, "Seconds running answers get when stopping")
      ->capture_default_str()
      ->check(CLI::Range(0, 3600));
  cmd->add_option("-t,--threads", a->threads, "Threads (default: physical cores)");
  cmd->add_option("--kv-cache", a->kv_cache, "KV cache format: f16 (default), q8, f32")
      ->capture_default_str();
  cmd->add_option("--function", a->function,
                  "Function (LoRA adapter) NAME[:SCALE] of requests naming the model alone "
                  "(MODEL:NAME picks another per request, MODEL:main the base)");
  cmd->add_flag("-v,--verbose", o.verbose, "Log each request to stderr");
  return [a]() {
    auto& o = a->server;
    std::tie(o.function, o.function_scale) = parse_function_flag(a->function);
    if (o.function == "main") o.function.clear();
    if (o.api_key.empty())
      if (const char* env = std::getenv("CORELM_API_KEY")) o.api_key = env;
    auto kv = kv_cache_type_from_name(a->kv_cache);
    if (!kv)
      fail(ErrorCode::kInvalidArgument, "cli", "unknown --kv-cache '{}' (f16, q8 or f32)",
           a->kv_cache);
    o.kv_cache = *kv;
    // SIGINT and SIGTERM go to one thread that stops the server; every other thread (httplib's,
    // the scheduler's, the model's pool) inherits the blocked mask.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
    std::signal(SIGPIPE, SIG_IGN);
    LoadOptions lo;
    lo.n_threads = a->threads;
    const std::string path = hub::resolve_model_argument(a->model);
    if (path != a->model && o.model_name.empty()) o.model_name = a->model;  // ORG/NAME
    auto model = Model::load(path, lo);
    serve::Server server(model, o);
    int port = server.bind();
    const int grace = o.grace_seconds;
    std::thread([&server, stop_signals, grace] {
      int sig = 0;
      sigwait(&stop_signals, &sig);
      std::fprintf(stderr, "corelm serve: %s: stopping (running answers get %d s)\n",
                   sig == SIGINT ? "SIGINT" : "SIGTERM", grace);
      server.stop();
      // A second signal does not wait for the grace period.
      sigwait(&stop_signals, &sig);
      std::fprintf(stderr, "corelm serve: second signal: exiting now\n");
      std::_Exit(130);
    }).detach();
    std::fprintf(stderr, "corelm serve: model %s (%s), %d slots, isa %s\n",
                 server.model_name().c_str(), model->info().path.c_str(), o.parallel,
                 describe_isas().c_str());
    std::fprintf(stderr, "corelm serve: listening on http://%s:%d\n", o.host.c_str(), port);
    std::fflush(stderr);
    server.run();
    std::fprintf(stderr, "corelm serve: stopped\n");
    return 0;
  };
}

}  // namespace corelm::cli
