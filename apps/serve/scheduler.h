// Scheduler: continuous batching for corelm serve. One Session with N sequence slots over one
// Model; a thread runs steps. Each step, every slot that is decoding feeds its last token and
// slots still prefilling feed a chunk of their prompt (a shared budget per step, so a long prompt
// never stalls the others for long), all in one forward call, each slot at its own position.
// Requests beyond the slots wait in a bounded queue and join between steps; a new request takes
// the free slot whose cache shares the longest prefix with its prompt, and prefills only the rest.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "corelm/generate.h"
#include "corelm/model.h"

namespace corelm::serve {

struct SchedulerOptions {
  int slots = 1;
  int max_context = 0;     // positions per slot; 0: the package's default
  int max_chunk = 128;     // prompt tokens one slot feeds in one step
  int prefill_budget = 0;  // prompt tokens all slots feed in one step; 0: max_chunk
  int queue_limit = 64;    // requests waiting for a slot; beyond it submit() refuses
  KvCacheType kv_cache = KvCacheType::kF16;
};

struct SlotRequest {
  std::vector<int32_t> prompt;  // 1 .. max_context - 1 ids
  int max_new_tokens = -1;      // -1: until EOS or the slot's context is full
  SamplingOptions sampling;
  std::vector<std::pair<int32_t, float>> logit_bias;  // added to the logits before sampling
  std::vector<std::string> stop;
  std::vector<int32_t> eos_ids;  // empty: the model's
  bool ignore_eos = false;
  int top_logprobs = -1;  // < 0: no log-probabilities; else this many alternatives (<= 20)
  // The package function (LoRA adapters) the request runs: "" for the base model. Slots running
  // different functions decode together in one forward call; a slot's cached prefix is reused
  // only by a request of the same function.
  std::string function;
  float function_scale = 1.0f;
};

struct TokenOutput {
  int32_t id = 0;
  std::string text;      // what the token adds to the shown text (may be empty: held back)
  float logprob = 0.0f;  // log-softmax of the (biased) logits, when asked for
  std::vector<std::pair<int32_t, float>> top;
};

struct RequestFinal {
  // "stop" (EOS or a stop string), "length" (max_new_tokens or the context), "cancelled",
  // "error" (message in `error`), "shutdown".
  std::string finish_reason;
  std::string tail;          // text held back until the end
  std::vector<int32_t> ids;  // every generated id (EOS not included)
  std::string text;          // all shown text, tail included
  size_t prompt_tokens = 0;
  size_t cached_tokens = 0;          // prompt tokens reused from the slot's cache
  double queue_seconds = 0.0;        // submit to slot
  double first_token_seconds = 0.0;  // submit to the first token
  double decode_seconds = 0.0;       // first token to the end
  std::string error;
};

// What one request sees: outputs as they come, then the final record. Shared by the scheduler's
// thread (writer) and the client's (reader).
class RequestStream {
 public:
  struct Update {
    std::vector<TokenOutput> tokens;
    std::optional<RequestFinal> final;  // set once, with the last update
  };
  // Waits up to `timeout` for something new; returns what came since the last call.
  Update wait(std::chrono::milliseconds timeout);
  // Asks the scheduler to stop this request (within one step); it then finishes "cancelled".
  void cancel();
  bool cancelled() const;

 private:
  friend class Scheduler;
  void push(TokenOutput token);
  void finish(RequestFinal final);

  mutable std::mutex mutex_;
  std::condition_variable ready_;
  std::vector<TokenOutput> tokens_;
  std::optional<RequestFinal> final_;
  bool final_taken_ = false;
  bool cancelled_ = false;
};

struct SchedulerStats {
  int slots = 0;
  int busy_slots = 0;
  int queued = 0;
  uint64_t requests_finished = 0;
  uint64_t prompt_tokens = 0;     // prompt tokens of finished and running requests
  uint64_t prefilled_tokens = 0;  // prompt tokens fed (prompt_tokens less the reused ones)
  uint64_t generated_tokens = 0;
  uint64_t steps = 0;
  double generated_tokens_per_s = 0.0;  // over the last ~10 s of steps
};

class Scheduler {
 public:
  Scheduler(std::shared_ptr<const Model> model, const SchedulerOptions& options);
  ~Scheduler();  // shutdown()
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues a request: nullptr when the queue is full (the server answers 503). Throws Error for
  // a request that can never run (empty prompt, prompt >= the slot's context, ids outside the
  // vocabulary) — the server checks these first, with the numbers, for its 400.
  std::shared_ptr<RequestStream> submit(SlotRequest request);
  // Running and queued requests finish "shutdown"; the thread ends. Idempotent.
  void shutdown();
  SchedulerStats stats() const;
  int max_context() const;  // positions per slot
  const Model& model() const { return *model_; }

 private:
  struct Slot;
  struct Pending;
  void loop();
  void admit(std::unique_lock<std::mutex>& lock);
  bool step();  // one forward call over every active slot; false when none is active
  void finish(Slot& slot, const std::string& reason, const std::string& error = {});
  void emit_token(Slot& slot, std::span<const float> logits);

  std::shared_ptr<const Model> model_;
  SchedulerOptions options_;
  std::unique_ptr<Session> session_;
  std::vector<int32_t> default_eos_;
  std::vector<Slot> slots_;
  std::vector<float> logits_;  // [vocab] the sampler may modify

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Pending> queue_;
  bool stopping_ = false;
  int busy_ = 0;
  uint64_t admissions_ = 0;
  SchedulerStats totals_;
  std::deque<std::pair<std::chrono::steady_clock::time_point, uint64_t>> recent_;  // step, tokens
  std::thread thread_;
};

}  // namespace corelm::serve
