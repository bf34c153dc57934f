// corelm serve: an OpenAI-compatible HTTP server (cpp-httplib) over the continuous-batching
// Scheduler, with the web chat page at "/". See docs/server.md for the API, flags and metrics.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "corelm/model.h"
#include "serve/openai_api.h"
#include "serve/scheduler.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace corelm::serve {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                  // 0: any free port (see Server::port())
  int parallel = 4;                 // slots decoding together
  int max_context = 0;              // positions per slot; 0: the package's default
  int max_chunk = 128;              // prompt tokens a slot feeds per step
  int prefill_budget = 0;           // prompt tokens all slots feed per step; 0: max_chunk
  int queue_limit = 64;             // requests waiting for a slot; beyond: 503
  size_t max_body_bytes = 8 << 20;  // larger request bodies: 413
  std::string api_key;              // non-empty: /v1/* needs "Authorization: Bearer KEY"
  std::string cors_origin;          // non-empty: CORS headers for this origin ("*" for any)
  std::string chat_template_file;   // overrides the model's template
  std::string model_name;           // the id /v1/models lists; default: the file's stem
  // The function (LoRA adapters of the package) of requests that name the model alone ("" or
  // no "model"); "MODEL:NAME" picks another, "MODEL:main" the base.
  std::string function;
  float function_scale = 1.0f;  // the default function's scale (corelm serve --function N:S)
  KvCacheType kv_cache = KvCacheType::kF16;
  int grace_seconds = 10;  // on stop(): how long running answers may go on
  bool verbose = false;    // one log line per request on stderr
};

class Server {
 public:
  Server(std::shared_ptr<const Model> model, const ServerOptions& options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds the listening socket (throws Error when it cannot); returns the port.
  int bind();
  // Serves until stop(); returns then, after running answers ended.
  void run();
  // Thread- and signal-handler-thread-safe: stop accepting, let running answers finish for up to
  // grace_seconds, then end them (finish_reason "length" never; they end as they are).
  void stop();
  int port() const { return port_; }
  const std::string& model_name() const { return model_name_; }

 private:
  struct Counters;
  void routes();
  bool authorized(const httplib::Request& req, httplib::Response& res) const;
  void chat_completions(const httplib::Request& req, httplib::Response& res);
  void completions(const httplib::Request& req, httplib::Response& res);
  std::string metrics_text() const;
  // A request naming another model than this one is a 404 (model_not_found).
  // The function a request's "model" names: the default (--function) for the server's model
  // itself (or no name), "NAME" for "MODEL:NAME" (a function of the package), "" for
  // "MODEL:main"; otherwise a 404 ApiException.
  std::string require_model(const std::string& name) const;
  // The conversation through the chat template (tools unless tool_choice is "none"); a template
  // that refuses it (raise_exception) is a 400.
  std::string render_prompt(const ChatRequest& request) const;
  // Runs one generation request and writes its response (JSON or an SSE stream).
  struct Job;
  void respond(Job job, httplib::Response& res);

  std::shared_ptr<const Model> model_;
  ServerOptions options_;
  std::string model_name_;
  std::string chat_template_;
  std::string template_origin_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<httplib::Server> http_;
  std::unique_ptr<Counters> counters_;
  std::atomic<bool> draining_{false};
  std::atomic<bool> run_returned_{false};
  std::atomic<int> active_responses_{0};
  std::thread stopper_;  // stop()'s drain, joined by the destructor  // generation responses not
                         // yet fully written
  std::atomic<uint64_t> next_id_{1};
  uint64_t id_seed_ = 0;  // random, per server
  int64_t started_ = 0;   // Unix seconds
  int port_ = 0;
};

}  // namespace corelm::serve
