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

namespace corelm::serve {

namespace {
using namespace std::chrono_literals;
constexpr std::string_view kToolCallsToken = "[TOOL_CALLS]";

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The text one token adds after `prev` (raw bytes, special tokens shown): its piece with the
// leading space a SentencePiece decoder drops at the start of a text.
std::string piece_of(const Tokenizer& tok, int32_t prev, int32_t id) {
  const int32_t pair[2] = {prev, id};
  std::string both = tok.decode_raw(std::span<const int32_t>(pair, 2), false);
  std::string first = tok.decode_raw(std::span<const int32_t>(pair, 1), false);
  if (both.compare(0, first.size(), first) == 0) return both.substr(first.size());
  return tok.decode_raw(std::span<const int32_t>(&id, 1), false);
}

std::string openai_finish_reason(const std::string& reason) {
  // "shutdown" and "cancelled" answers were cut short, as by a length limit.
  return reason == "stop" ? "stop" : "length";
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

struct Server::Job {
  bool chat = true;
  SamplingRequest params;
  std::vector<int32_t> prompt;
  bool tools = false;  // parse Mistral tool calls from the output
  std::string echo;    // completions with echo: the prompt's text first
};

std::string Server::render_prompt(const ChatRequest& r) const {
  const Tokenizer& tok = model_->tokenizer();
  ChatTemplateOptions o;
  o.add_generation_prompt = true;
  o.bos_token = tok.bos_token();
  o.eos_token = tok.eos_token();
  if (!r.tools.is_null() && r.tool_choice != "none") o.tools_json = r.tools.dump();
  try {
    return ChatTemplate::compile(chat_template_)->render(r.messages.dump(), o);
  } catch (const Error& e) {
    throw ApiException(
        {400, fmt::format("the model's chat template refused the conversation: {}", e.what()),
         "invalid_request_error", "messages", ""});
  }
}

void Server::chat_completions(const httplib::Request& req, httplib::Response& res) {
  ChatRequest r = parse_chat_request(req.body);
  if (!r.model.empty() && r.model != model_name_)
    throw ApiException(
        {404,
         fmt::format("the model '{}' does not exist (this server has '{}')", r.model, model_name_),
         "invalid_request_error", "model", "model_not_found"});
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
  job.tools = !r.tools.is_null() && r.tool_choice != "none";
  job.params = r;
  respond(std::move(job), res);
}

void Server::completions(const httplib::Request& req, httplib::Response& res) {
  CompletionRequest r = parse_completion_request(req.body);
  if (!r.model.empty() && r.model != model_name_)
    throw ApiException(
        {404,
         fmt::format("the model '{}' does not exist (this server has '{}')", r.model, model_name_),
         "invalid_request_error", "model", "model_not_found"});
  Job job;
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
  auto next_call_id = [rng] { return random_alnum(*rng, 9); };
  auto to_logprob = [&tok](int32_t prev, const TokenOutput& t) {
    TokenLogprob lp;
    lp.token = piece_of(tok, prev, t.id);
    lp.logprob = t.logprob;
    for (const auto& [alt, v] : t.top) lp.top.emplace_back(piece_of(tok, prev, alt), v);
    return lp;
  };

  if (!p.stream) {
    std::vector<TokenOutput> tokens;
    RequestFinal fin;
    while (true) {
      auto u = stream->wait(250ms);
      for (auto& t : u.tokens) tokens.push_back(std::move(t));
      if (u.final) {
        fin = std::move(*u.final);
        break;
      }
    }
    if (fin.finish_reason == "error")
      throw ApiException({500, "generation failed: " + fin.error, "server_error", "", ""});
    std::vector<TokenLogprob> logprobs;
    int32_t prev = job.prompt.back();
    for (const auto& t : tokens) {
      logprobs.push_back(to_logprob(prev, t));
      prev = t.id;
    }
    const auto* lp = p.logprobs ? &logprobs : nullptr;
    Usage usage{static_cast<int64_t>(fin.prompt_tokens), static_cast<int64_t>(fin.ids.size()),
                static_cast<int64_t>(fin.cached_tokens)};
    std::string finish = openai_finish_reason(fin.finish_reason);
    nlohmann::json body;
    if (job.chat) {
      AssistantOutput out;
      out.content = fin.text;
      if (job.tools) {
        AssistantOutput parsed = parse_assistant_output(tok.decode(fin.ids, false), next_call_id);
        if (!parsed.tool_calls.empty()) {
          out = std::move(parsed);
          finish = "tool_calls";
        }
      }
      body = chat_completion(id, created, model_name_, out, finish, usage, lp);
    } else {
      body = text_completion(id, created, model_name_, job.echo + fin.text, finish, usage, lp,
                             job.echo.size());
    }
    res.set_content(json_text(body), "application/json");
    return;
  }

  // Streaming: one provider call per wait; the connection's thread stays with the request.
  struct State {
    enum Mode { kUndecided, kContent, kCalls };
    std::shared_ptr<RequestStream> stream;
    Job job;
    bool started = false;
    Mode mode = kContent;
    std::string held;  // content held while it could still be the start of a tool call
    std::vector<TokenLogprob> held_logprobs;
    std::vector<int32_t> ids;
    int32_t prev = 0;
  };
  auto st = std::make_shared<State>();
  st->stream = stream;
  st->mode = job.tools ? State::kUndecided : State::kContent;
  st->prev = job.prompt.back();
  st->job = std::move(job);
  auto dump = [](const nlohmann::json& j) { return sse_event(j); };
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  res.set_chunked_content_provider(
      "text/event-stream",
      [this, st, id, created, next_call_id, to_logprob, dump, &tok](size_t,
                                                                    httplib::DataSink& sink) {
        const SamplingRequest& p = st->job.params;
        const bool chat = st->job.chat;
        std::string out;
        auto content_event = [&](const std::string& text, std::vector<TokenLogprob> lps) {
          const auto* lp = p.logprobs ? &lps : nullptr;
          if (chat)
            out += dump(chat_chunk(id, created, model_name_, {{"content", text}}, "", lp));
          else
            out += dump(text_chunk(id, created, model_name_, text, "", lp));
        };
        if (!st->started) {
          st->started = true;
          if (chat)
            out += dump(chat_chunk(id, created, model_name_,
                                   {{"role", "assistant"}, {"content", ""}}, "", nullptr));
          else if (!st->job.echo.empty())
            out += dump(text_chunk(id, created, model_name_, st->job.echo, "", nullptr));
        }
        auto u = st->stream->wait(100ms);
        for (const auto& t : u.tokens) {
          st->ids.push_back(t.id);
          TokenLogprob lp = p.logprobs ? to_logprob(st->prev, t) : TokenLogprob{};
          st->prev = t.id;
          if (st->mode == State::kContent) {
            if (!t.text.empty() || p.logprobs) content_event(t.text, {lp});
            continue;
          }
          st->held += t.text;
          st->held_logprobs.push_back(lp);
          if (st->mode == State::kCalls) continue;
          std::string raw = tok.decode(st->ids, false);
          raw.erase(0, raw.find_first_not_of(" \n"));
          if (raw.rfind(kToolCallsToken, 0) == 0) {
            st->mode = State::kCalls;
          } else if (kToolCallsToken.substr(0, raw.size()) != raw) {
            st->mode = State::kContent;
            if (!st->held.empty() || p.logprobs) content_event(st->held, st->held_logprobs);
            st->held.clear();
            st->held_logprobs.clear();
          }
        }
        if (u.final) {
          const RequestFinal& fin = *u.final;
          std::string finish = openai_finish_reason(fin.finish_reason);
          if (fin.finish_reason == "error") {
            out +=
                dump(error_body({500, "generation failed: " + fin.error, "server_error", "", ""}));
          } else {
            std::string tail = fin.tail;
            if (st->mode != State::kContent) {
              AssistantOutput parsed =
                  parse_assistant_output(tok.decode(fin.ids, false), next_call_id);
              if (!parsed.tool_calls.empty()) {
                if (!parsed.content.empty()) content_event(parsed.content, {});
                out += dump(chat_chunk(id, created, model_name_,
                                       {{"tool_calls", tool_calls_delta(parsed.tool_calls)}}, "",
                                       nullptr));
                finish = "tool_calls";
                tail.clear();
              } else {
                tail = st->held + tail;
              }
            }
            if (!tail.empty()) content_event(tail, {});
            if (chat)
              out += dump(
                  chat_chunk(id, created, model_name_, nlohmann::json::object(), finish, nullptr));
            else
              out += dump(text_chunk(id, created, model_name_, "", finish, nullptr));
            if (p.include_usage)
              out += dump(usage_chunk(
                  id, created, model_name_, chat ? "chat.completion.chunk" : "text_completion",
                  {static_cast<int64_t>(fin.prompt_tokens), static_cast<int64_t>(fin.ids.size()),
                   static_cast<int64_t>(fin.cached_tokens)}));
          }
          out += sse_done();
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
      [st](bool success) {
        if (!success) st->stream->cancel();
      });
}

}  // namespace corelm::serve
