// The server's scheduler (continuous batching). Expected values come from the slower path: each
// request generated alone by the Generator on a Session of its own.
#include "serve/scheduler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <thread>

#include "corelm/error.h"
#include "corelm/tokenizer.h"
#include "test_support.h"

namespace corelm::serve {
namespace {

using namespace std::chrono_literals;

struct Alone {
  std::vector<int32_t> ids;
  std::string text;
  std::string stop_reason;
};

Alone generate_alone(const std::shared_ptr<Model>& model, const std::vector<int32_t>& prompt,
                     const GenerateOptions& options) {
  SessionOptions so;
  so.kv_cache = KvCacheType::kF32;
  Session session(model, so);
  Generator g(session, model->tokenizer());
  auto r = g.generate(prompt, options);
  return {r.ids, r.text, r.stats.stop_reason};
}

struct Collected {
  std::vector<TokenOutput> tokens;
  RequestFinal final;
  std::string streamed;
};

Collected collect(RequestStream& stream) {
  Collected c;
  while (true) {
    auto u = stream.wait(1000ms);
    for (auto& t : u.tokens) {
      c.streamed += t.text;
      c.tokens.push_back(std::move(t));
    }
    if (u.final) {
      c.final = std::move(*u.final);
      c.streamed += c.final.tail;
      return c;
    }
  }
}

std::vector<int32_t> prompt_of(const Model& model, const std::string& text) {
  return model.tokenizer().encode(text, true);
}

SchedulerOptions f32_options(int slots, int chunk) {
  SchedulerOptions o;
  o.slots = slots;
  o.max_chunk = chunk;
  o.kv_cache = KvCacheType::kF32;
  return o;
}

const std::vector<std::string> kPrompts = {
    "Once upon a time",
    "Lily and Tom went to the park. They saw a big",
    "The little dog",
    "One day, a girl named Sue found a shiny red ball in the garden. She wanted to show it to "
    "her mom, so she ran inside the house and",
    "Tim had a toy car",
    "The sun was hot and the birds",
    "Ben",
    "Mom said, \"Let's bake a cake!\" The children were happy and they"};

TEST(Scheduler, EightGreedyRequestsOverFourSlotsEqualEachAlone) {
  auto model = test::stories_model("f32");
  // A small prefill chunk: the long prompts take several steps, interleaved with decoding.
  Scheduler scheduler(model, f32_options(4, 8));
  std::vector<SlotRequest> requests;
  std::vector<Alone> expected;
  for (size_t i = 0; i < kPrompts.size(); ++i) {
    SlotRequest r;
    r.prompt = prompt_of(*model, kPrompts[i]);
    r.max_new_tokens = 24 + static_cast<int>(i) * 5;
    if (i == 0) {  // a long answer, so that the others join while it runs
      r.max_new_tokens = 400;
      r.ignore_eos = true;
    }
    requests.push_back(r);
    GenerateOptions g;
    g.max_new_tokens = r.max_new_tokens;
    g.ignore_eos = r.ignore_eos;
    expected.push_back(generate_alone(model, r.prompt, g));
  }
  std::vector<std::shared_ptr<RequestStream>> streams;
  // Three at first; three more once the first is decoding; the last two a little later.
  for (size_t i = 0; i < 3; ++i) streams.push_back(scheduler.submit(requests[i]));
  std::vector<TokenOutput> first_tokens;
  std::optional<RequestFinal> first_final;
  while (first_tokens.size() < 5 && !first_final) {
    auto u = streams[0]->wait(1000ms);
    for (auto& t : u.tokens) first_tokens.push_back(t);
    first_final = std::move(u.final);
  }
  for (size_t i = 3; i < 6; ++i) streams.push_back(scheduler.submit(requests[i]));
  std::this_thread::sleep_for(5ms);
  for (size_t i = 6; i < 8; ++i) streams.push_back(scheduler.submit(requests[i]));
  for (auto& s : streams) ASSERT_NE(s, nullptr);

  for (size_t i = 0; i < streams.size(); ++i) {
    Collected c;
    if (i == 0 && first_final) {
      c.final = std::move(*first_final);
      c.streamed = c.final.tail;
    } else {
      c = collect(*streams[i]);
    }
    if (i == 0) c.tokens.insert(c.tokens.begin(), first_tokens.begin(), first_tokens.end());
    if (i == 0) {
      std::string head;
      for (auto& t : first_tokens) head += t.text;
      c.streamed = head + c.streamed;
    }
    EXPECT_EQ(c.final.ids, expected[i].ids) << "request " << i << ": " << kPrompts[i];
    EXPECT_EQ(c.final.text, expected[i].text) << "request " << i;
    EXPECT_EQ(c.streamed, expected[i].text) << "request " << i;
    EXPECT_EQ(c.tokens.size(), c.final.ids.size());
    EXPECT_EQ(c.final.prompt_tokens, requests[i].prompt.size());
    EXPECT_EQ(c.final.finish_reason, expected[i].stop_reason == "eos" ? "stop" : "length");
  }
  auto st = scheduler.stats();
  EXPECT_EQ(st.busy_slots, 0);
  EXPECT_EQ(st.queued, 0);
  EXPECT_EQ(st.requests_finished, 8u);
  // Batching happened: fewer steps than tokens fed one sequence at a time would need.
  uint64_t alone_steps = 0;
  for (auto& e : expected) alone_steps += e.ids.size();
  EXPECT_LT(st.steps, alone_steps);
}

TEST(Scheduler, AContinuedConversationReusesTheSlotsCache) {
  auto model = test::stories_model("f32");
  Scheduler scheduler(model, f32_options(2, 16));
  SlotRequest a;
  a.prompt = prompt_of(*model, kPrompts[1]);
  a.max_new_tokens = 12;
  Collected first = collect(*scheduler.submit(a));
  EXPECT_EQ(first.final.cached_tokens, 0u);
  // The next turn: the first prompt, its answer and more text.
  SlotRequest b;
  b.prompt = a.prompt;
  b.prompt.insert(b.prompt.end(), first.final.ids.begin(), first.final.ids.end());
  auto more = model->tokenizer().encode(" Then they", false);
  b.prompt.insert(b.prompt.end(), more.begin(), more.end());
  b.max_new_tokens = 20;
  Collected second = collect(*scheduler.submit(b));
  // Everything but the last answer token (sampled, never fed) was in the cache.
  EXPECT_EQ(second.final.cached_tokens, a.prompt.size() + first.final.ids.size() - 1);
  GenerateOptions g;
  g.max_new_tokens = 20;
  EXPECT_EQ(second.final.ids, generate_alone(model, b.prompt, g).ids);
}

TEST(Scheduler, SeededSamplingStopStringsAndBiasMatchTheGenerator) {
  auto model = test::stories_model("f32");
  Scheduler scheduler(model, f32_options(3, 8));
  SlotRequest sampled;
  sampled.prompt = prompt_of(*model, kPrompts[0]);
  sampled.max_new_tokens = 40;
  sampled.sampling.temperature = 0.9f;
  sampled.sampling.top_p = 0.9f;
  sampled.sampling.seed = 42;
  SlotRequest stopped;
  stopped.prompt = prompt_of(*model, kPrompts[0]);
  stopped.max_new_tokens = 100;
  stopped.stop = {"little girl"};
  auto s1 = scheduler.submit(sampled);
  auto s2 = scheduler.submit(stopped);
  Collected c1 = collect(*s1), c2 = collect(*s2);

  GenerateOptions g1;
  g1.max_new_tokens = 40;
  g1.sampling = sampled.sampling;
  auto e1 = generate_alone(model, sampled.prompt, g1);
  EXPECT_EQ(c1.final.ids, e1.ids);
  EXPECT_EQ(c1.streamed, e1.text);
  GenerateOptions g2;
  g2.max_new_tokens = 100;
  g2.stop_strings = stopped.stop;
  auto e2 = generate_alone(model, stopped.prompt, g2);
  ASSERT_EQ(e2.stop_reason, "stop_string");
  EXPECT_EQ(c2.final.text, e2.text);
  EXPECT_EQ(c2.streamed, e2.text);
  EXPECT_EQ(c2.final.finish_reason, "stop");

  // A bias of -100 on the greedy first token makes the greedy choice the runner-up.
  SlotRequest biased;
  biased.prompt = prompt_of(*model, kPrompts[0]);
  biased.max_new_tokens = 1;
  biased.top_logprobs = 2;
  Collected plain = collect(*scheduler.submit(biased));
  ASSERT_EQ(plain.tokens.size(), 1u);
  ASSERT_EQ(plain.tokens[0].top.size(), 2u);
  biased.logit_bias = {{plain.tokens[0].id, -100.0f}};
  Collected after = collect(*scheduler.submit(biased));
  ASSERT_EQ(after.tokens.size(), 1u);
  EXPECT_EQ(after.tokens[0].id, plain.tokens[0].top[1].first);
}

TEST(Scheduler, LogprobsAreTheLogSoftmaxOfTheModelsLogits) {
  auto model = test::stories_model("f32");
  Scheduler scheduler(model, f32_options(1, 32));
  SlotRequest r;
  r.prompt = prompt_of(*model, kPrompts[2]);
  r.max_new_tokens = 1;
  r.top_logprobs = 5;
  Collected c = collect(*scheduler.submit(r));
  ASSERT_EQ(c.tokens.size(), 1u);
  // The reference: the logits of the prompt in a Session of its own, log-softmax in double.
  SessionOptions so;
  so.kv_cache = KvCacheType::kF32;
  Session session(model, so);
  auto logits = session.forward(r.prompt, 1, static_cast<int>(r.prompt.size())).span<float>();
  double mx = *std::max_element(logits.begin(), logits.end()), sum = 0;
  for (float v : logits) sum += std::exp(v - mx);
  auto logprob = [&](int32_t id) { return logits[static_cast<size_t>(id)] - mx - std::log(sum); };
  const auto& t = c.tokens[0];
  ASSERT_EQ(t.top.size(), 5u);
  EXPECT_EQ(t.top[0].first, t.id);  // greedy: the most likely
  EXPECT_NEAR(t.logprob, logprob(t.id), 1e-4);
  for (size_t i = 0; i < t.top.size(); ++i) {
    EXPECT_NEAR(t.top[i].second, logprob(t.top[i].first), 1e-4);
    if (i > 0) {
      EXPECT_LE(t.top[i].second, t.top[i - 1].second);
    }
  }
}

TEST(Scheduler, CancellingFreesTheSlotAndAFullQueueRefuses) {
  auto model = test::stories_model("f32");
  SchedulerOptions o = f32_options(1, 8);
  o.queue_limit = 1;
  o.max_context = 8192;  // a long answer: thousands of steps
  Scheduler scheduler(model, o);
  SlotRequest long_answer;
  long_answer.prompt = prompt_of(*model, kPrompts[0]);
  long_answer.ignore_eos = true;  // runs until the context is full unless cancelled
  // One slot and one place in the queue: whether or not the first has taken the slot yet, the
  // third does not fit.
  auto running = scheduler.submit(long_answer);
  auto queued = scheduler.submit(long_answer);
  ASSERT_NE(running, nullptr);
  ASSERT_NE(queued, nullptr);
  EXPECT_EQ(scheduler.submit(long_answer), nullptr) << "one slot busy, one waiting: full";
  while (running->wait(1000ms).tokens.empty()) {
  }
  EXPECT_EQ(scheduler.stats().queued, 1);
  EXPECT_EQ(scheduler.stats().busy_slots, 1);
  queued->cancel();
  running->cancel();
  EXPECT_EQ(collect(*running).final.finish_reason, "cancelled");
  EXPECT_EQ(collect(*queued).final.finish_reason, "cancelled");
  auto st = scheduler.stats();
  EXPECT_EQ(st.busy_slots, 0);
  EXPECT_EQ(st.queued, 0);
  // The slot serves the next request.
  SlotRequest small;
  small.prompt = prompt_of(*model, kPrompts[0]);
  small.max_new_tokens = 3;
  EXPECT_EQ(collect(*scheduler.submit(small)).final.ids.size(), 3u);
}

TEST(Scheduler, AnAnswerEndsWhenTheSlotsContextIsFull) {
  auto model = test::stories_model("f32");
  SchedulerOptions o = f32_options(2, 8);
  o.max_context = 24;
  Scheduler scheduler(model, o);
  SlotRequest r;
  r.prompt = prompt_of(*model, kPrompts[0]);  // 5 tokens
  r.ignore_eos = true;
  Collected c = collect(*scheduler.submit(r));
  EXPECT_EQ(c.final.finish_reason, "length");
  EXPECT_EQ(c.final.ids.size(), 24u - r.prompt.size());
}

TEST(Scheduler, RequestsThatCanNeverRunAreErrors) {
  auto model = test::stories_model("f32");
  SchedulerOptions o = f32_options(1, 8);
  o.max_context = 16;
  Scheduler scheduler(model, o);
  SlotRequest r;
  test::expect_error([&] { scheduler.submit(r); }, ErrorCode::kInvalidArgument, "empty");
  r.prompt.assign(16, 1);
  test::expect_error([&] { scheduler.submit(r); }, ErrorCode::kOutOfRange, "16 tokens");
  r.prompt = {1, 9999};
  test::expect_error([&] { scheduler.submit(r); }, ErrorCode::kOutOfRange, "9999");
  r.prompt = {1, 2};
  r.logit_bias = {{-1, 1.0f}};
  test::expect_error([&] { scheduler.submit(r); }, ErrorCode::kOutOfRange, "logit_bias");
}

TEST(Scheduler, ShutdownEndsRunningAndQueuedRequests) {
  auto model = test::stories_model("f32");
  Scheduler scheduler(model, f32_options(1, 8));
  SlotRequest r;
  r.prompt = prompt_of(*model, kPrompts[0]);
  r.ignore_eos = true;
  auto a = scheduler.submit(r);
  auto b = scheduler.submit(r);
  scheduler.shutdown();
  EXPECT_EQ(collect(*a).final.finish_reason, "shutdown");
  EXPECT_EQ(collect(*b).final.finish_reason, "shutdown");
  test::expect_error([&] { scheduler.submit(r); }, ErrorCode::kInvalidArgument, "shutting down");
}

}  // namespace
}  // namespace corelm::serve
