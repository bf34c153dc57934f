// The server's set-up: routes, API key, CORS, error bodies, metrics, the web page and shutdown.
// The two completion endpoints are in completion_handlers.cpp.
#include "serve/server.h"

#include <fmt/format.h>
#include <httplib.h>

#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <thread>

#include "base/check.h"
#include "chat_prompt.h"
#include "corelm/chat.h"
#include "corelm/error.h"
#include "corelm/tokenizer.h"
#include "serve/openai_api.h"
#include "serve/server_internal.h"
#ifdef CORELM_HAVE_WEB
#include "web_assets.h"
#endif

namespace corelm::serve {

namespace {
constexpr const char* kComponent = "serve";

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Endpoints /metrics counts by name; anything else is "other" (so a scan of random paths cannot
// grow the table).
std::string endpoint_label(const std::string& path) {
  static const char* const known[] = {
      "/v1/chat/completions", "/v1/completions", "/v1/models",  "/health", "/metrics",
      "/apply-template",      "/tokenize",       "/detokenize", "/"};
  for (const char* k : known)
    if (path == k) return k;
  if (path.rfind("/v1/models/", 0) == 0) return "/v1/models";
  return "other";
}
}  // namespace

void send_error(httplib::Response& res, const ApiError& error) {
  res.status = error.status;
  res.set_content(json_text(error_body(error)), "application/json");
}

Server::Server(std::shared_ptr<const Model> model, const ServerOptions& options)
    : model_(std::move(model)), options_(options), counters_(std::make_unique<Counters>()) {
  if (options_.port < 0 || options_.port > 65535)
    fail(ErrorCode::kInvalidArgument, kComponent, "--port must be 0 .. 65535, got {}",
         options_.port);
  model_name_ = options_.model_name;
  if (model_name_.empty()) model_name_ = std::filesystem::path(model_->info().path).stem().string();
  if (!options_.function.empty()) {
    const auto& functions = model_->info().functions;
    if (std::none_of(functions.begin(), functions.end(),
                     [&](const FunctionInfo& f) { return f.name == options_.function; }))
      fail(ErrorCode::kNotFound, "serve", "the model has no function '{}' (--function)",
           options_.function);
  }
  auto chosen = cli::choose_chat_template(*model_, options_.chat_template_file);
  chat_template_ = chosen.source;
  template_origin_ = chosen.origin;
  ChatTemplate::compile(chat_template_);  // a template that does not parse fails here, not later
  SchedulerOptions so;
  so.slots = options_.parallel;
  so.max_context = options_.max_context;
  so.max_chunk = options_.max_chunk;
  so.prefill_budget = options_.prefill_budget;
  so.queue_limit = options_.queue_limit;
  so.kv_cache = options_.kv_cache;
  scheduler_ = std::make_unique<Scheduler>(model_, so);
  started_ = unix_now();
  id_seed_ = (static_cast<uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}();
  http_ = std::make_unique<httplib::Server>();
  // Threads: one per slot and queued request, so a waiting request holds a connection, not a
  // slot; a few more for /health and /metrics while everything is busy.
  const size_t threads =
      std::min<size_t>(static_cast<size_t>(options_.parallel + options_.queue_limit + 4), 512);
  http_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  http_->set_payload_max_length(options_.max_body_bytes);
  http_->set_keep_alive_max_count(1000);
  http_->set_keep_alive_timeout(2);  // an idle connection holds a thread
  http_->set_read_timeout(30, 0);
  http_->set_write_timeout(30, 0);
  routes();
}

Server::~Server() {
  if (stopper_.joinable()) {
    run_returned_ = true;  // a stop() whose run() never came ends its wait
    stopper_.join();
  }
  if (scheduler_) scheduler_->shutdown();
}

int Server::bind() {
  // Debian's cpp-httplib listens with a backlog of 5: a burst of clients would see connections
  // reset. The socket is remembered here and its backlog raised once it listens.
  int listen_fd = -1;
  http_->set_socket_options([&listen_fd](int fd) {
    int yes = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    listen_fd = fd;
  });
  if (options_.port == 0) {
    port_ = http_->bind_to_any_port(options_.host);
    if (port_ < 0) port_ = 0;
  } else if (http_->bind_to_port(options_.host, options_.port)) {
    port_ = options_.port;
  }
  if (port_ <= 0)
    fail(ErrorCode::kIo, kComponent, "cannot listen on {}:{} (in use, or not an address here)",
         options_.host, options_.port);
  if (listen_fd >= 0) ::listen(listen_fd, 1024);
  return port_;
}

void Server::run() {
  if (!draining_) http_->listen_after_bind();
  run_returned_ = true;
  scheduler_->shutdown();
}

void Server::stop() {
  if (draining_.exchange(true)) return;
  // Stop accepting now; running answers get grace_seconds, then the scheduler ends them (their
  // streams close with what they have) and run() returns once every connection is done.
  stopper_ = std::thread([this] {
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(options_.grace_seconds);
    while (std::chrono::steady_clock::now() < deadline) {
      auto st = scheduler_->stats();
      if (st.busy_slots == 0 && st.queued == 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    scheduler_->shutdown();
    // Streams end with their last chunks and [DONE]: give their writers a moment to send them.
    for (int i = 0; i < 200 && active_responses_ > 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    // httplib's stop() does nothing before listening has begun (a signal during start-up).
    while (!http_->is_running() && !run_returned_)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    http_->stop();
  });
}

bool Server::authorized(const httplib::Request& req, httplib::Response& res) const {
  if (options_.api_key.empty()) return true;
  const std::string& path = req.path;
  const bool open = path == "/" || path == "/health" || req.method == "OPTIONS" ||
                    (path.rfind("/v1/", 0) != 0 && path != "/metrics" &&
                     path != "/apply-template" && path != "/tokenize" && path != "/detokenize");
  if (open) return true;
  const std::string auth = req.get_header_value("Authorization");
  if (auth == "Bearer " + options_.api_key) return true;
  send_error(res, {401,
                   auth.empty() ? "missing API key: send it as 'Authorization: Bearer KEY'"
                                : "invalid API key",
                   "authentication_error", "", "invalid_api_key"});
  return false;
}

void Server::routes() {
  auto& h = *http_;
  h.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (!options_.cors_origin.empty()) {
      res.set_header("Access-Control-Allow-Origin", options_.cors_origin);
      res.set_header("Access-Control-Allow-Headers", "Authorization, Content-Type");
      res.set_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
      if (req.method == "OPTIONS") {
        res.status = 204;
        return httplib::Server::HandlerResponse::Handled;
      }
    }
    if (!authorized(req, res)) return httplib::Server::HandlerResponse::Handled;
    return httplib::Server::HandlerResponse::Unhandled;
  });
  // Statuses without a body of their own (404 of an unknown path, 413 of httplib's size check,
  // 400 of an unparsable request line) get OpenAI's error object.
  h.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    ApiError e;
    e.status = res.status;
    if (res.status == 404) {
      e.message = fmt::format("no such endpoint: {} {}", req.method, req.path);
      e.code = "not_found";
    } else if (res.status == 413) {
      e.message = fmt::format("the request body is larger than the limit of {} bytes",
                              options_.max_body_bytes);
      e.code = "request_too_large";
    } else if (res.status == 405) {
      e.message = fmt::format("{} is not allowed on {}", req.method, req.path);
    } else {
      e.message = fmt::format("the request could not be handled (HTTP {})", res.status);
      if (res.status >= 500) e.type = "server_error";
    }
    send_error(res, e);
  });
  h.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        ApiError e{500, "internal error", "server_error", "", ""};
        try {
          std::rethrow_exception(ep);
        } catch (const ApiException& a) {
          e = a.error();
        } catch (const std::exception& x) {
          e.message = fmt::format("internal error: {}", x.what());
        } catch (...) {
        }
        send_error(res, e);
      });
  h.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    counters_->count(endpoint_label(req.path), res.status);
    if (options_.verbose)
      std::fprintf(stderr, "%s %s -> %d\n", req.method.c_str(), req.path.c_str(), res.status);
  });

  h.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
    chat_completions(req, res);
  });
  h.Post("/v1/completions",
         [this](const httplib::Request& req, httplib::Response& res) { completions(req, res); });
  // The model, or one of its functions ("MODEL:NAME", a LoRA adapter set of the package).
  auto model_object = [this](const std::string& function = "") {
    const auto& info = model_->info();
    const std::string id = function.empty() ? model_name_ : model_name_ + ":" + function;
    nlohmann::json m = {
        {"id", id}, {"object", "model"}, {"created", started_}, {"owned_by", "corelm"}};
    m["meta"] = {{"source_model", info.source_model_id},
                 {"format", info.format},
                 {"quantization", info.quantization},
                 {"parameters", info.parameter_count},
                 {"context_per_slot", scheduler_->max_context()},
                 {"slots", options_.parallel},
                 {"chat_template", template_origin_}};
    if (!function.empty()) {
      m["parent"] = model_name_;
      for (const FunctionInfo& f : info.functions)
        if (f.name == function)
          m["meta"]["function"] = {{"name", f.name},
                                   {"adapters", f.adapters},
                                   {"max_rank", f.max_rank},
                                   {"bytes", f.bytes}};
    }
    return m;
  };
  h.Get("/v1/models", [this, model_object](const httplib::Request&, httplib::Response& res) {
    nlohmann::json data = nlohmann::json::array({model_object()});
    for (const FunctionInfo& f : model_->info().functions) data.push_back(model_object(f.name));
    nlohmann::json body = {{"object", "list"}, {"data", data}};
    res.set_content(json_text(body), "application/json");
  });
  h.Get(R"(/v1/models/(.+))",
        [this, model_object](const httplib::Request& req, httplib::Response& res) {
          res.set_content(json_text(model_object(require_model(req.matches[1].str()))),
                          "application/json");
        });
  h.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    auto st = scheduler_->stats();
    nlohmann::json body = {{"status", draining_ ? "shutting_down" : "ok"},
                           {"slots_idle", st.slots - st.busy_slots},
                           {"slots_processing", st.busy_slots},
                           {"queued", st.queued}};
    if (draining_) res.status = 503;
    res.set_content(json_text(body), "application/json");
  });
  h.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_text(), "text/plain; version=0.0.4; charset=utf-8");
  });
  h.Post("/apply-template", [this](const httplib::Request& req, httplib::Response& res) {
    ChatRequest r = parse_chat_request(req.body);
    res.set_content(json_text({{"prompt", render_prompt(r)}}), "application/json");
  });
  h.Post("/tokenize", [this](const httplib::Request& req, httplib::Response& res) {
    auto body = parse_body(req.body);
    if (!body.contains("content") || !body["content"].is_string())
      throw ApiException(
          {400, "'content' must be a string", "invalid_request_error", "content", ""});
    bool special = body.value("add_special", false);
    auto ids = model_->tokenizer().encode(body["content"].get<std::string>(), special);
    res.set_content(json_text({{"tokens", ids}}), "application/json");
  });
  h.Post("/detokenize", [this](const httplib::Request& req, httplib::Response& res) {
    auto body = parse_body(req.body);
    std::vector<int32_t> ids = parse_token_ids(body, "tokens");
    const int vocab = model_->config().vocab_size;
    for (int32_t id : ids)
      if (id >= vocab)
        throw ApiException({400,
                            fmt::format("token id {} is outside the vocabulary [0, {})", id, vocab),
                            "invalid_request_error", "tokens", ""});
    res.set_content(json_text({{"content", model_->tokenizer().decode(ids, false)}}),
                    "application/json");
  });
#ifdef CORELM_HAVE_WEB
  for (const auto& asset : web::assets()) {
    h.Get(std::string(asset.path), [&asset](const httplib::Request&, httplib::Response& res) {
      res.set_content(asset.body.data(), asset.body.size(), std::string(asset.content_type));
      res.set_header("Cache-Control", "no-cache");
    });
  }
#else
  h.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(
        "<!doctype html><p>corelm serve: this build has no web page; the API is at "
        "/v1/chat/completions.</p>",
        "text/html; charset=utf-8");
  });
#endif
}

std::string Server::metrics_text() const {
  auto st = scheduler_->stats();
  std::string out;
  auto metric = [&](const char* name, const char* type, const char* help, double value) {
    out += fmt::format("# HELP {0} {1}\n# TYPE {0} {2}\n{0} {3}\n", name, help, type, value);
  };
  out +=
      "# HELP corelm_requests_total HTTP requests answered, by endpoint and status.\n"
      "# TYPE corelm_requests_total counter\n";
  for (const auto& [key, n] : counters_->snapshot())
    out += fmt::format("corelm_requests_total{{endpoint=\"{}\",status=\"{}\"}} {}\n", key.first,
                       key.second, n);
  metric("corelm_prompt_tokens_total", "counter", "Prompt tokens of admitted requests.",
         static_cast<double>(st.prompt_tokens));
  metric("corelm_prefilled_tokens_total", "counter",
         "Prompt tokens computed (the rest came from a slot's cache).",
         static_cast<double>(st.prefilled_tokens));
  metric("corelm_generated_tokens_total", "counter", "Tokens generated.",
         static_cast<double>(st.generated_tokens));
  metric("corelm_completions_total", "counter", "Generation requests finished.",
         static_cast<double>(st.requests_finished));
  metric("corelm_decode_steps_total", "counter", "Forward calls of the scheduler.",
         static_cast<double>(st.steps));
  metric("corelm_tokens_per_second", "gauge", "Tokens generated per second (last 10 s).",
         st.generated_tokens_per_s);
  metric("corelm_queue_depth", "gauge", "Requests waiting for a slot.", st.queued);
  metric("corelm_slots_busy", "gauge", "Slots running a request.", st.busy_slots);
  metric("corelm_slots_total", "gauge", "Slots (--parallel).", st.slots);
  return out;
}

}  // namespace corelm::serve
