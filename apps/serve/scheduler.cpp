#include "serve/scheduler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "base/check.h"
#include "corelm/error.h"
#include "corelm/tokenizer.h"
#include "generate/stop_stream.h"

namespace corelm::serve {

namespace {
constexpr const char* kComponent = "serve";
using Clock = std::chrono::steady_clock;

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

size_t common_prefix(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  size_t n = 0;
  while (n < a.size() && n < b.size() && a[n] == b[n]) ++n;
  return n;
}
}  // namespace

// ---- RequestStream ----

RequestStream::Update RequestStream::wait(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  ready_.wait_for(lock, timeout,
                  [&] { return !tokens_.empty() || (final_.has_value() && !final_taken_); });
  Update u;
  u.tokens.swap(tokens_);
  if (final_ && !final_taken_) {
    u.final = std::move(final_);
    final_taken_ = true;
  }
  return u;
}

void RequestStream::cancel() {
  std::lock_guard lock(mutex_);
  cancelled_ = true;
}

bool RequestStream::cancelled() const {
  std::lock_guard lock(mutex_);
  return cancelled_;
}

void RequestStream::push(TokenOutput token) {
  {
    std::lock_guard lock(mutex_);
    tokens_.push_back(std::move(token));
  }
  ready_.notify_all();
}

void RequestStream::finish(RequestFinal final) {
  {
    std::lock_guard lock(mutex_);
    final_ = std::move(final);
  }
  ready_.notify_all();
}

// ---- Scheduler ----

struct Scheduler::Pending {
  std::shared_ptr<RequestStream> stream;
  SlotRequest request;
  Sampler sampler;
  Clock::time_point submitted;
};

struct Scheduler::Slot {
  int index = 0;
  std::vector<int32_t> cached;  // ids whose keys/values this slot's cache holds
  Clock::time_point last_used{};
  uint64_t admitted = 0;  // order of admission (prefill goes first come, first served)
  // The request it runs; stream == nullptr: free.
  std::shared_ptr<RequestStream> stream;
  SlotRequest request;
  std::optional<Sampler> sampler;
  std::optional<StopStringStream> text;
  std::vector<int32_t> sequence;  // prompt + generated: the sampler's context
  std::vector<int32_t> eos;
  size_t prefill_pos = 0;  // next prompt index to feed
  bool decoding = false;
  int32_t next_input = 0;
  int max_new = 0;
  RequestFinal record;
  Clock::time_point submitted{}, first_token{};
};

Scheduler::Scheduler(std::shared_ptr<const Model> model, const SchedulerOptions& options)
    : model_(std::move(model)), options_(options) {
  if (options_.slots < 1 || options_.slots > 256)
    fail(ErrorCode::kInvalidArgument, kComponent, "--parallel must be 1 .. 256, got {}",
         options_.slots);
  if (options_.max_chunk < 1)
    fail(ErrorCode::kInvalidArgument, kComponent, "the prefill chunk must be >= 1");
  if (options_.prefill_budget <= 0) options_.prefill_budget = options_.max_chunk;
  if (options_.queue_limit < 0)
    fail(ErrorCode::kInvalidArgument, kComponent, "the queue limit must be >= 0");
  SessionOptions so;
  so.max_context = options_.max_context;
  so.max_batch = options_.slots;
  so.max_chunk = options_.max_chunk;
  so.kv_cache = options_.kv_cache;
  session_ = std::make_unique<Session>(model_, so);
  {
    Generator g(*session_, model_->tokenizer());
    default_eos_ = g.default_eos_ids();
  }
  logits_.resize(static_cast<size_t>(session_->vocab_size()));
  slots_.resize(static_cast<size_t>(options_.slots));
  for (int i = 0; i < options_.slots; ++i) slots_[static_cast<size_t>(i)].index = i;
  totals_.slots = options_.slots;
  thread_ = std::thread([this] { loop(); });
}

Scheduler::~Scheduler() {
  shutdown();
}

int Scheduler::max_context() const {
  return session_->max_context();
}

std::shared_ptr<RequestStream> Scheduler::submit(SlotRequest request) {
  const int context = session_->max_context();
  if (request.prompt.empty())
    fail(ErrorCode::kInvalidArgument, kComponent, "the prompt is empty (no tokens to start from)");
  if (request.prompt.size() >= static_cast<size_t>(context))
    fail(ErrorCode::kOutOfRange, kComponent,
         "the prompt is {} tokens but a slot's context holds {} (at least one must be left to "
         "generate)",
         request.prompt.size(), context);
  const int vocab = session_->vocab_size();
  for (int32_t id : request.prompt)
    if (id < 0 || id >= vocab)
      fail(ErrorCode::kOutOfRange, kComponent,
           "prompt token id {} is outside the vocabulary [0, {})", id, vocab);
  for (const auto& [id, bias] : request.logit_bias)
    if (id < 0 || id >= vocab || !std::isfinite(bias))
      fail(ErrorCode::kOutOfRange, kComponent, "logit_bias: token id {} is outside [0, {})", id,
           vocab);
  if (request.top_logprobs > 20)
    fail(ErrorCode::kOutOfRange, kComponent, "top_logprobs is at most 20");
  if (request.function == "main") request.function.clear();
  if (request.function.empty()) request.function_scale = 1.0f;  // as Session::set_function
  if (!request.function.empty()) {
    const auto& functions = session_->model().info().functions;
    if (std::none_of(functions.begin(), functions.end(),
                     [&](const FunctionInfo& f) { return f.name == request.function; }))
      fail(ErrorCode::kNotFound, kComponent, "the model has no function '{}'", request.function);
  }
  if (!std::isfinite(request.function_scale))
    fail(ErrorCode::kInvalidArgument, kComponent, "the function scale must be finite");
  Sampler sampler(request.sampling);
  Pending p{std::make_shared<RequestStream>(), std::move(request), std::move(sampler),
            Clock::now()};
  auto stream = p.stream;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) fail(ErrorCode::kInvalidArgument, kComponent, "the server is shutting down");
    const int free_slots = options_.slots - busy_;
    if (static_cast<int>(queue_.size()) >= options_.queue_limit + free_slots) return nullptr;
    queue_.push_back(std::move(p));
  }
  wake_.notify_all();
  return stream;
}

void Scheduler::shutdown() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

SchedulerStats Scheduler::stats() const {
  std::lock_guard lock(mutex_);
  SchedulerStats s = totals_;
  s.busy_slots = busy_;
  s.queued = static_cast<int>(queue_.size());
  if (recent_.size() >= 2) {
    uint64_t tokens = 0;
    for (size_t i = 1; i < recent_.size(); ++i) tokens += recent_[i].second;
    double span = seconds_between(recent_.front().first, recent_.back().first);
    s.generated_tokens_per_s = span > 0.0 ? static_cast<double>(tokens) / span : 0.0;
  }
  return s;
}

void Scheduler::loop() {
  while (true) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty() || busy_ > 0; });
      if (stopping_) break;
      admit(lock);
    }
    step();
  }
  for (auto& slot : slots_)
    if (slot.stream) finish(slot, "shutdown");
  std::deque<Pending> left;
  {
    std::lock_guard lock(mutex_);
    left.swap(queue_);
  }
  for (auto& p : left) {
    RequestFinal f;
    f.finish_reason = "shutdown";
    f.prompt_tokens = p.request.prompt.size();
    p.stream->finish(std::move(f));
  }
}

void Scheduler::admit(std::unique_lock<std::mutex>&) {
  while (!queue_.empty()) {
    Pending& p = queue_.front();
    if (p.stream->cancelled()) {
      RequestFinal f;
      f.finish_reason = "cancelled";
      f.prompt_tokens = p.request.prompt.size();
      p.stream->finish(std::move(f));
      queue_.pop_front();
      continue;
    }
    // The free slot sharing the longest prefix with the prompt; then the least recently used.
    Slot* best = nullptr;
    size_t best_shared = 0;
    for (auto& s : slots_) {
      if (s.stream) continue;
      // Keys and values cached under another function do not apply.
      const bool same_function = session_->function(s.index) == p.request.function &&
                                 session_->function_scale(s.index) == p.request.function_scale;
      size_t shared = same_function ? common_prefix(s.cached, p.request.prompt) : 0;
      if (!best || shared > best_shared ||
          (shared == best_shared && s.last_used < best->last_used)) {
        best = &s;
        best_shared = shared;
      }
    }
    if (!best) return;
    Slot& s = *best;
    // Feed at least the last prompt token: its logits give the first new token.
    const size_t reuse = std::min(best_shared, p.request.prompt.size() - 1);
    session_->set_function(s.index, p.request.function, p.request.function_scale);
    if (reuse == 0) s.cached.clear();  // set_function may have emptied the slot's cache
    session_->truncate(s.index, static_cast<int>(reuse));
    s.cached.resize(reuse);
    s.stream = p.stream;
    s.request = std::move(p.request);
    s.sampler.emplace(std::move(p.sampler));
    s.text.emplace(model_->tokenizer(), s.request.prompt, s.request.stop);
    s.sequence = s.request.prompt;
    s.eos = s.request.eos_ids.empty() ? default_eos_ : s.request.eos_ids;
    s.prefill_pos = reuse;
    s.decoding = false;
    const int room = session_->max_context() - static_cast<int>(s.request.prompt.size());
    s.max_new = s.request.max_new_tokens >= 0 ? std::min(s.request.max_new_tokens, room) : room;
    s.record = RequestFinal{};
    s.record.prompt_tokens = s.request.prompt.size();
    s.record.cached_tokens = reuse;
    s.submitted = p.submitted;
    s.record.queue_seconds = seconds_between(p.submitted, Clock::now());
    s.admitted = admissions_++;
    ++busy_;
    totals_.prompt_tokens += s.request.prompt.size();
    queue_.pop_front();
  }
}

bool Scheduler::step() {
  for (auto& s : slots_)
    if (s.stream && s.stream->cancelled()) finish(s, "cancelled");
  std::vector<SequenceInput> seqs;
  std::vector<Slot*> fed_slots;
  std::vector<size_t> fed_counts;
  for (auto& s : slots_) {
    if (!s.stream || !s.decoding) continue;
    seqs.push_back({s.index, std::span<const int32_t>(&s.next_input, 1)});
    fed_slots.push_back(&s);
    fed_counts.push_back(1);
  }
  std::vector<Slot*> prefilling;
  for (auto& s : slots_)
    if (s.stream && !s.decoding) prefilling.push_back(&s);
  std::sort(prefilling.begin(), prefilling.end(),
            [](const Slot* a, const Slot* b) { return a->admitted < b->admitted; });
  size_t budget = static_cast<size_t>(options_.prefill_budget);
  for (Slot* s : prefilling) {
    size_t n = std::min({s->request.prompt.size() - s->prefill_pos,
                         static_cast<size_t>(options_.max_chunk), budget});
    if (n == 0) break;
    seqs.push_back(
        {s->index, std::span<const int32_t>(s->request.prompt).subspan(s->prefill_pos, n)});
    fed_slots.push_back(s);
    fed_counts.push_back(n);
    budget -= n;
  }
  if (seqs.empty()) return false;

  std::span<const float> all;
  Tensor logits;
  try {
    logits = session_->forward(seqs);
    all = logits.span<float>();
  } catch (const std::exception& e) {
    for (Slot* s : fed_slots) {
      session_->truncate(s->index, 0);
      s->cached.clear();
      finish(*s, "error", e.what());
    }
    return true;
  }
  const size_t vocab = static_cast<size_t>(session_->vocab_size());
  uint64_t prefilled = 0, generated = 0;
  for (size_t k = 0; k < fed_slots.size(); ++k) {
    Slot& s = *fed_slots[k];
    auto row = all.subspan(k * vocab, vocab);
    if (s.decoding) {
      s.cached.push_back(s.next_input);
    } else {
      auto fed = std::span<const int32_t>(s.request.prompt).subspan(s.prefill_pos, fed_counts[k]);
      s.cached.insert(s.cached.end(), fed.begin(), fed.end());
      s.prefill_pos += fed_counts[k];
      prefilled += fed_counts[k];
      if (s.prefill_pos < s.request.prompt.size()) continue;
      s.decoding = true;
      s.first_token = Clock::now();
      s.record.first_token_seconds = seconds_between(s.submitted, s.first_token);
    }
    ++generated;
    emit_token(s, row);
  }
  std::lock_guard lock(mutex_);
  ++totals_.steps;
  totals_.prefilled_tokens += prefilled;
  totals_.generated_tokens += generated;
  const auto now = Clock::now();
  recent_.emplace_back(now, generated);
  while (recent_.size() > 2 && seconds_between(recent_.front().first, now) > 10.0)
    recent_.pop_front();
  return true;
}

void Scheduler::emit_token(Slot& s, std::span<const float> row) {
  std::copy(row.begin(), row.end(), logits_.begin());
  for (const auto& [id, bias] : s.request.logit_bias) logits_[static_cast<size_t>(id)] += bias;
  TokenOutput out;
  std::vector<float> logprobs;
  if (s.request.top_logprobs >= 0) {
    float mx = *std::max_element(logits_.begin(), logits_.end());
    double sum = 0.0;
    for (float v : logits_) sum += std::exp(static_cast<double>(v - mx));
    const float log_z = mx + static_cast<float>(std::log(sum));
    logprobs.resize(logits_.size());
    for (size_t i = 0; i < logits_.size(); ++i) logprobs[i] = logits_[i] - log_z;
  }
  const int32_t id = s.sampler->sample(logits_, s.sequence, s.request.prompt.size());
  if (!s.request.ignore_eos && std::find(s.eos.begin(), s.eos.end(), id) != s.eos.end()) {
    finish(s, "stop");
    return;
  }
  out.id = id;
  if (!logprobs.empty()) {
    out.logprob = logprobs[static_cast<size_t>(id)];
    const size_t k = std::min(static_cast<size_t>(s.request.top_logprobs), logprobs.size());
    std::vector<int32_t> order(logprobs.size());
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(),
                      [&](int32_t a, int32_t b) {
                        return logprobs[static_cast<size_t>(a)] > logprobs[static_cast<size_t>(b)];
                      });
    for (size_t i = 0; i < k; ++i)
      out.top.emplace_back(order[i], logprobs[static_cast<size_t>(order[i])]);
  }
  s.sequence.push_back(id);
  s.record.ids.push_back(id);
  out.text = s.text->push(id);
  s.record.text += out.text;
  s.stream->push(std::move(out));
  if (s.text->stopped()) {
    finish(s, "stop");
  } else if (static_cast<int>(s.record.ids.size()) >= s.max_new ||
             s.cached.size() >= static_cast<size_t>(session_->max_context())) {
    finish(s, "length");
  } else {
    s.next_input = id;
  }
}

void Scheduler::finish(Slot& s, const std::string& reason, const std::string& error) {
  RequestFinal f = std::move(s.record);
  f.finish_reason = reason;
  f.error = error;
  if ((reason == "stop" || reason == "length") && s.text && !s.text->stopped()) {
    f.tail = s.text->finish();
    f.text += f.tail;
  }
  if (s.decoding) f.decode_seconds = seconds_between(s.first_token, Clock::now());
  auto stream = std::move(s.stream);
  s.stream.reset();
  s.sampler.reset();
  s.text.reset();
  s.last_used = Clock::now();
  {
    // Counted before the client hears of it: stats() agree with what a client has seen.
    std::lock_guard lock(mutex_);
    --busy_;
    ++totals_.requests_finished;
  }
  stream->finish(std::move(f));
}

}  // namespace corelm::serve
