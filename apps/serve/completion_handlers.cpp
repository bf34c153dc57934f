// POST /v1/chat/completions and /v1/completions: a request becomes a prompt (through the chat
// template for chat), a SlotRequest for the scheduler, and a response: one JSON object, or
// server-sent events as tokens come. Mistral tool calls are parsed from the output.
#include <fmt/format.h>
#include <httplib.h>

#include <chrono>
#include <random>

#include "base/json_access.h"
#include "corelm/chat.h"
#include "corelm/error.h"
#include "corelm/tokenizer.h"
#include "serve/server_internal.h"
#include "serve/sse_writer.h"

namespace corelm::serve {

namespace {
using namespace std::chrono_literals;

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string random_alnum(std::mt19937_64& rng, size_t n) {
  static constexpr char kChars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::string s;
  for (size_t i = 0; i < n; ++i) s += kChars[rng() % (sizeof(kChars) - 1)];
  return s;
}
}  // namespace

nlohmann::json parse_body(std::string_view body) {
  try {
    auto j = parse_json(body, "serve", "the request body");
    if (!j.is_object())
      throw ApiException({400, "the request body must be a JSON object", "invalid_request_error",
                          "", "invalid_json"});
    return j;
  } catch (const Error& e) {
    throw ApiException({400, fmt::format("the request body is not valid JSON: {}", e.what()),
                        "invalid_request_error", "", "invalid_json"});
  }
}

std::vector<int32_t> parse_token_ids(const nlohmann::json& body, const char* field) {
  std::vector<int32_t> ids;
  if (!body.contains(field) || !body[field].is_array())
    throw ApiException({400, fmt::format("'{}' must be a list of token ids", field),
                        "invalid_request_error", field, ""});
  for (const auto& v : body[field]) {
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > INT32_MAX)
      throw ApiException({400, fmt::format("'{}' must hold non-negative integer token ids", field),
                          "invalid_request_error", field, ""});
    ids.push_back(static_cast<int32_t>(v.get<int64_t>()));
  }
  return ids;
}

// Whether the request's tools go to the template (and tool calls are looked for in the answer).
static bool renders_tools(const ChatRequest& r) {
  return !r.tools.is_null() && r.tool_choice != "none";
}

struct Server::Job {
  bool chat = true;
  SamplingRequest params;
  std::vector<int32_t> prompt;
  bool tools = false;    // parse Mistral tool calls from the output
  std::string echo;      // completions with echo: the prompt's text first
  std::string function;  // the package function ("model": "MODEL:NAME"); "" for the base
};

std::string Server::render_prompt(const ChatRequest& r) const {
  const Tokenizer& tok = model_->tokenizer();
  ChatTemplateOptions o;
  o.add_generation_prompt = true;
  o.bos_token = tok.bos_token();
  o.eos_token = tok.eos_token();
  if (renders_tools(r)) o.tools_json = r.tools.dump();
  try {
    return ChatTemplate::compile(chat_template_)->render(r.messages.dump(), o);
  } catch (const Error& e) {
    throw ApiException(
        {400, fmt::format("the model's chat template refused the conversation: {}", e.what()),
         "invalid_request_error", "messages", ""});
  }
}

std::string Server::require_model(const std::string& name) const {
  if (name.empty() || name == model_name_) return options_.function;  // the default
  const std::string prefix = model_name_ + ":";
  if (name.compare(0, prefix.size(), prefix) == 0) {
    const std::string function = name.substr(prefix.size());
    if (function == "main") return "";
    for (const FunctionInfo& f : model_->info().functions)
      if (f.name == function) return function;
  }
  std::string names = "'" + model_name_ + "'";
  for (const FunctionInfo& f : model_->info().functions)
    names += fmt::format(", '{}:{}'", model_name_, f.name);
  throw ApiException(
      {404, fmt::format("the model '{}' does not exist (this server has {})", name, names),
       "invalid_request_error", "model", "model_not_found"});
}

void Server::chat_completions(const httplib::Request& req, httplib::Response& res) {
  ChatRequest r = parse_chat_request(req.body);
  std::string function = require_model(r.model);
  std::string text = render_prompt(r);
  const Tokenizer& tok = model_->tokenizer();
  // Templates that write the BOS text themselves get none added; others (ChatML) get the
  // tokenizer's, as the model saw in training.
  const bool add_bos =
      tok.adds_bos() && !(tok.bos_token().size() > 0 &&
                          text.compare(0, tok.bos_token().size(), tok.bos_token()) == 0);
  Job job;
  job.chat = true;
  job.prompt = tok.encode(text, add_bos);
  job.tools = renders_tools(r);
  job.params = r;
  job.function = std::move(function);
  respond(std::move(job), res);
}

void Server::completions(const httplib::Request& req, httplib::Response& res) {
  CompletionRequest r = parse_completion_request(req.body);
  Job job;
  job.function = require_model(r.model);
  job.chat = false;
  const Tokenizer& tok = model_->tokenizer();
  job.prompt = r.prompt_is_ids ? r.prompt_ids : tok.encode(r.prompt, true);
  if (r.echo) job.echo = r.prompt_is_ids ? tok.decode(r.prompt_ids) : r.prompt;
  job.params = r;
  respond(std::move(job), res);
}

void Server::respond(Job job, httplib::Response& res) {
  const Tokenizer& tok = model_->tokenizer();
  const SamplingRequest& p = job.params;
  const int vocab = model_->config().vocab_size;
  const int context = scheduler_->max_context();
  if (job.prompt.empty())
    throw ApiException({400, "the prompt is empty", "invalid_request_error", "prompt", ""});
  for (int32_t id : job.prompt)
    if (id >= vocab)
      throw ApiException(
          {400, fmt::format("prompt token id {} is outside the vocabulary [0, {})", id, vocab),
           "invalid_request_error", "prompt", ""});
  if (job.prompt.size() >= static_cast<size_t>(context))
    throw ApiException(
        {400,
         fmt::format("the prompt is {} tokens but the context holds {} (at least one more is "
                     "needed for the answer): shorten the conversation or restart the server "
                     "with a larger --max-context",
                     job.prompt.size(), context),
         "invalid_request_error", job.chat ? "messages" : "prompt", "context_length_exceeded"});
  SlotRequest sr;
  sr.function = job.function;
  sr.function_scale =
      !job.function.empty() && job.function == options_.function ? options_.function_scale : 1.0f;
  sr.prompt = job.prompt;
  sr.sampling = p.sampling;
  sr.stop = p.stop;
  sr.ignore_eos = p.ignore_eos;
  sr.top_logprobs = p.logprobs ? p.top_logprobs : -1;
  for (const auto& [id, bias] : p.logit_bias) {
    if (id >= vocab)
      throw ApiException(
          {400, fmt::format("logit_bias: token id {} is outside the vocabulary [0, {})", id, vocab),
           "invalid_request_error", "logit_bias", ""});
    sr.logit_bias.emplace_back(id, bias);
  }
  const int64_t room = context - static_cast<int64_t>(job.prompt.size());
  sr.max_new_tokens = static_cast<int>(p.max_tokens ? std::min(*p.max_tokens, room) : room);
  if (draining_)
    throw ApiException({503, "the server is shutting down", "server_error", "", "shutting_down"});
  std::shared_ptr<RequestStream> stream;
  try {
    stream = scheduler_->submit(std::move(sr));
  } catch (const Error& e) {
    if (draining_)
      throw ApiException({503, "the server is shutting down", "server_error", "", "shutting_down"});
    throw ApiException({400, e.what(), "invalid_request_error", "", ""});
  }
  if (!stream) {
    res.set_header("Retry-After", "1");
    throw ApiException({503,
                        fmt::format("every slot is busy and {} requests are waiting; retry later",
                                    options_.queue_limit),
                        "server_error", "", "server_busy"});
  }

  // Ids: a per-request generator seeded from the server's random seed and a request counter.
  auto rng = std::make_shared<std::mt19937_64>(id_seed_ + next_id_.fetch_add(1));
  const std::string id = (job.chat ? "chatcmpl-" : "cmpl-") + random_alnum(*rng, 24);
  const int64_t created = unix_now();
  // The id the request asked for ("MODEL:NAME" for a function), echoed in every response.
  const std::string model_id =
      job.function.empty() ? model_name_ : model_name_ + ":" + job.function;
  auto next_call_id = [rng] { return random_alnum(*rng, 9); };
  if (!p.stream) {
    // The whole answer as one JSON object. Within the first second it is sent with its status
    // (200, or 500 if generation failed); a longer answer goes out chunked, led by a space every
    // second (JSON allows leading whitespace) so that a client that left is noticed and its slot
    // freed, as in a stream.
    const int32_t last_prompt_id = job.prompt.back();
    const bool chat = job.chat, tools = job.tools, want_logprobs = p.logprobs;
    const std::string echo = job.echo;
    auto body_of = [&tok, last_prompt_id, chat, tools, want_logprobs, echo, id, created,
                    next_call_id,
                    model_id](const std::vector<TokenOutput>& tokens, const RequestFinal& fin) {
      if (fin.finish_reason == "error")
        return error_body({500, "generation failed: " + fin.error, "server_error", "", ""});
      std::vector<TokenLogprob> logprobs;
      int32_t prev = last_prompt_id;
      for (const auto& t : tokens) {
        logprobs.push_back(token_logprob(tok, prev, t));
        prev = t.id;
      }
      const auto* lp = want_logprobs ? &logprobs : nullptr;
      Usage usage{static_cast<int64_t>(fin.prompt_tokens), static_cast<int64_t>(fin.ids.size()),
                  static_cast<int64_t>(fin.cached_tokens)};
      std::string finish = openai_finish_reason(fin.finish_reason);
      if (!chat)
        return text_completion(id, created, model_id, echo + fin.text, finish, usage, lp,
                               echo.size());
      AssistantOutput out;
      out.content = fin.text;
      if (tools) {
        AssistantOutput parsed = parse_assistant_output(tok.decode(fin.ids, false), next_call_id);
        if (!parsed.tool_calls.empty()) {
          out = std::move(parsed);
          finish = "tool_calls";
        }
      }
      return chat_completion(id, created, model_id, out, finish, usage, lp);
    };
    struct Waiting {
      std::shared_ptr<RequestStream> stream;
      std::vector<TokenOutput> tokens;
      std::chrono::steady_clock::time_point last_write = std::chrono::steady_clock::now();
    };
    auto w = std::make_shared<Waiting>();
    w->stream = stream;
    const auto start = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() - start < 1s) {
      auto u = stream->wait(100ms);
      for (auto& t : u.tokens) w->tokens.push_back(std::move(t));
      if (u.final) {
        if (u.final->finish_reason == "error") res.status = 500;
        res.set_content(json_text(body_of(w->tokens, *u.final)), "application/json");
        return;
      }
    }
    ++active_responses_;
    res.set_chunked_content_provider(
        "application/json",
        [w, body_of](size_t, httplib::DataSink& sink) {
          auto u = w->stream->wait(250ms);
          for (auto& t : u.tokens) w->tokens.push_back(std::move(t));
          if (u.final) {
            std::string body = json_text(body_of(w->tokens, *u.final));
            if (!sink.write(body.data(), body.size())) return false;
            sink.done();
            return true;
          }
          if (std::chrono::steady_clock::now() - w->last_write >= 1s) {
            if (!sink.write(" ", 1)) {
              w->stream->cancel();
              return false;
            }
            w->last_write = std::chrono::steady_clock::now();
          }
          return true;
        },
        [this, w](bool success) {
          if (!success) w->stream->cancel();
          --active_responses_;
        });
    return;
  }

  // Streaming: one provider call per wait; the connection's thread stays with the request.
  StreamSpec spec;
  spec.chat = job.chat;
  spec.tools = job.tools;
  spec.logprobs = p.logprobs;
  spec.include_usage = p.include_usage;
  spec.id = id;
  spec.created = created;
  spec.model = model_id;
  spec.echo = job.echo;
  spec.last_prompt_id = job.prompt.back();
  struct State {
    std::shared_ptr<RequestStream> stream;
    SseWriter writer;
    bool started = false;
    std::chrono::steady_clock::time_point last_write = std::chrono::steady_clock::now();
  };
  auto st = std::make_shared<State>(State{stream, SseWriter(tok, spec, next_call_id)});
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  ++active_responses_;
  res.set_chunked_content_provider(
      "text/event-stream",
      [st](size_t, httplib::DataSink& sink) {
        std::string out;
        if (!st->started) {
          st->started = true;
          out += st->writer.begin();
        }
        auto u = st->stream->wait(100ms);
        out += st->writer.tokens(u.tokens);
        // A comment line now and then: a client that left is noticed even while the request
        // waits in the queue or prefills.
        if (out.empty() && std::chrono::steady_clock::now() - st->last_write >= 1s)
          out = ": ping\n\n";
        if (!out.empty()) st->last_write = std::chrono::steady_clock::now();
        if (u.final) {
          out += st->writer.end(*u.final);
          if (!sink.write(out.data(), out.size())) return false;
          sink.done();
          return true;
        }
        if (!out.empty() && !sink.write(out.data(), out.size())) {
          st->stream->cancel();  // the client went away: free its slot
          return false;
        }
        return true;
      },
      [this, st](bool success) {
        if (!success) st->stream->cancel();
        --active_responses_;
      });
}

}  // namespace corelm::serve
