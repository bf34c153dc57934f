// Sequences at different positions in one forward call (continuous batching), per-slot truncation
// and prefix copies, and the Model's one thread pool shared by every Session. The expected values
// come from the slower path: each sequence run alone in a Session of its own.
#include <dirent.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <thread>

#include "corelm/error.h"
#include "corelm/generate.h"
#include "corelm/model.h"
#include "kernels/isa.h"
#include "test_support.h"

namespace corelm {
namespace {

// BOS + run.c's greedy ids from BOS: story(i, n) is a real token sequence, and story[i + 1] is the
// reference's greedy choice after story[0..i].
const std::vector<int32_t>& kStory = test::runc_greedy_story();

std::span<const int32_t> story(size_t from, size_t n) {
  return std::span<const int32_t>(kStory).subspan(from, n);
}

// The largest difference relative to the expected logit's size (at least 1). Under the scalar
// reference kernels a batched call is bit-identical to each sequence alone; SIMD matmuls sum a
// 4-token tile in another order than a single token (measured up to 2e-5; held to 1e-4).
float max_rel_diff(std::span<const float> a, std::span<const float> expected) {
  EXPECT_EQ(a.size(), expected.size());
  float m = 0.0f;
  for (size_t i = 0; i < std::min(a.size(), expected.size()); ++i)
    m = std::max(m, std::fabs(a[i] - expected[i]) / std::max(1.0f, std::fabs(expected[i])));
  return m;
}

int32_t argmax(std::span<const float> l) {
  return static_cast<int32_t>(std::max_element(l.begin(), l.end()) - l.begin());
}

// Logits of `tokens` continuing `prefix`, in a Session of its own; all_logits: every position.
std::vector<float> alone(const std::shared_ptr<Model>& model, const SessionOptions& base,
                         std::span<const int32_t> prefix, std::span<const int32_t> tokens) {
  SessionOptions o = base;
  o.max_batch = 1;
  Session s(model, o);
  if (!prefix.empty()) s.forward(prefix, 1, static_cast<int>(prefix.size())).span<float>();
  auto l = s.forward(tokens, 1, static_cast<int>(tokens.size())).span<float>();
  return {l.begin(), l.end()};
}

SessionOptions f32_options() {
  SessionOptions o;
  o.kv_cache = KvCacheType::kF32;
  o.max_context = 64;
  return o;
}

TEST(Sequences, DifferentPositionsInOneCallEqualEachAlone) {
  auto model = test::stories_model("f32");
  const int vocab = model->config().vocab_size;
  for (bool all_logits : {false, true}) {
    SessionOptions o = f32_options();
    o.all_logits = all_logits;
    o.max_batch = 3;
    Session s(model, o);
    // Slot 1 holds 7 tokens, slot 2 holds 30, slot 0 none.
    const SequenceInput prefill[] = {{1, story(0, 7)}, {2, story(0, 30)}};
    s.forward(prefill).span<float>();
    EXPECT_EQ(s.past(0), 0);
    EXPECT_EQ(s.past(1), 7);
    EXPECT_EQ(s.past(2), 30);
    // One call: slot 0 from past 0 (5 tokens), slot 1 from 7 (3 tokens), slot 2 from 30 (1).
    const SequenceInput step[] = {{2, story(30, 1)}, {0, story(0, 5)}, {1, story(7, 3)}};
    auto l = s.forward(step).span<float>();
    const std::vector<float> e2 = alone(model, o, story(0, 30), story(30, 1));
    const std::vector<float> e0 = alone(model, o, {}, story(0, 5));
    const std::vector<float> e1 = alone(model, o, story(0, 7), story(7, 3));
    const size_t rows = all_logits ? 1 + 5 + 3 : 3;
    ASSERT_EQ(l.size(), rows * vocab);
    size_t at = 0;
    for (const auto* e : {&e2, &e0, &e1}) {
      EXPECT_LT(max_rel_diff(l.subspan(at, e->size()), *e), 1e-4f)
          << "all_logits " << all_logits << " sequence at row offset " << at;
      at += e->size();
    }
    EXPECT_EQ(s.past(0), 5);
    EXPECT_EQ(s.past(1), 10);
    EXPECT_EQ(s.past(2), 31);
  }
}

TEST(Sequences, UnderTheReferenceKernelsABatchedCallIsBitIdentical) {
  const KernelTable& before = active_kernels();
  set_active_kernels(reference_kernels());  // Sessions take the table when they are made
  auto model = test::stories_model("f32");
  SessionOptions o = f32_options();
  o.max_batch = 2;
  Session s(model, o);
  s.forward(std::vector<SequenceInput>{{1, story(0, 9)}}).span<float>();
  auto l = s.forward(std::vector<SequenceInput>{{0, story(0, 6)}, {1, story(9, 4)}}).span<float>();
  const size_t v = model->config().vocab_size;
  const std::vector<float> e0 = alone(model, o, {}, story(0, 6));
  const std::vector<float> e1 = alone(model, o, story(0, 9), story(9, 4));
  set_active_kernels(before);
  EXPECT_TRUE(std::equal(e0.begin(), e0.end(), l.begin()));
  EXPECT_TRUE(std::equal(e1.begin(), e1.end(), l.begin() + v));
}

TEST(Sequences, BatchedGreedyDecodeEqualsEachAlone) {
  auto model = test::stories_model("q4s32");
  SessionOptions o;
  o.max_context = 96;
  o.max_batch = 3;
  const size_t lengths[] = {3, 11, 25};
  std::vector<std::vector<int32_t>> expected(3);
  for (size_t i = 0; i < 3; ++i) {
    SessionOptions one = o;
    one.max_batch = 1;
    Session s(model, one);
    auto l = s.forward(story(0, lengths[i]), 1, static_cast<int>(lengths[i])).span<float>();
    for (int step = 0; step < 20; ++step) {
      expected[i].push_back(argmax(l));
      l = s.forward(std::span<const int32_t>(&expected[i].back(), 1), 1, 1).span<float>();
    }
  }
  Session s(model, o);
  std::vector<std::vector<int32_t>> got(3);
  std::vector<int32_t> next(3);
  SequenceInput in[3];
  for (size_t i = 0; i < 3; ++i) in[i] = {static_cast<int>(i), story(0, lengths[i])};
  for (int step = 0; step < 20; ++step) {
    auto l = s.forward(in).span<float>();
    for (size_t i = 0; i < 3; ++i) {
      next[i] = argmax(l.subspan(i * model->config().vocab_size, model->config().vocab_size));
      got[i].push_back(next[i]);
      in[i] = {static_cast<int>(i), std::span<const int32_t>(&next[i], 1)};
    }
  }
  EXPECT_EQ(got, expected);
}

TEST(Sequences, PrefixCopyContinuesLikePrefillingAgain) {
  auto model = test::stories_model("f32");
  for (KvCacheType kv : {KvCacheType::kF32, KvCacheType::kF16, KvCacheType::kQ8}) {
    SessionOptions o = f32_options();
    o.kv_cache = kv;
    o.max_batch = 2;
    Session s(model, o);
    s.forward(std::vector<SequenceInput>{{0, story(0, 20)}}).span<float>();
    // Slot 1 holds something else first, to show the copy replaces it.
    s.forward(std::vector<SequenceInput>{{1, story(20, 9)}}).span<float>();
    s.copy_prefix(0, 1, 12);
    EXPECT_EQ(s.past(1), 12);
    EXPECT_EQ(s.past(0), 20);
    auto l = s.forward(std::vector<SequenceInput>{{1, story(12, 6)}}).span<float>();
    const std::vector<float> expected = alone(model, o, story(0, 12), story(12, 6));
    EXPECT_LT(max_rel_diff(l, expected), 1e-4f) << kv_cache_type_name(kv);
    // Slot 0 was not disturbed.
    auto l0 = s.forward(std::vector<SequenceInput>{{0, story(20, 2)}}).span<float>();
    EXPECT_LT(max_rel_diff(l0, alone(model, o, story(0, 20), story(20, 2))), 1e-4f);
  }
}

TEST(Sequences, TruncatingOneSlotLeavesTheOthers) {
  auto model = test::stories_model("f32");
  SessionOptions o = f32_options();
  o.max_batch = 2;
  Session s(model, o);
  s.forward(std::vector<SequenceInput>{{0, story(0, 10)}, {1, story(0, 16)}}).span<float>();
  s.truncate(1, 4);
  EXPECT_EQ(s.past(0), 10);
  EXPECT_EQ(s.past(1), 4);
  // Slot 1 continues from position 4 with different tokens than it held.
  auto l =
      s.forward(std::vector<SequenceInput>{{1, story(20, 3)}, {0, story(10, 2)}}).span<float>();
  const size_t v = model->config().vocab_size;
  std::vector<int32_t> prefix(kStory.begin(), kStory.begin() + 4);
  EXPECT_LT(max_rel_diff(l.subspan(0, v), alone(model, o, prefix, story(20, 3))), 1e-4f);
  EXPECT_LT(max_rel_diff(l.subspan(v, v), alone(model, o, story(0, 10), story(10, 2))), 1e-4f);
  s.truncate(6);  // every slot: 0 held 12, 1 held 7
  EXPECT_EQ(s.past(0), 6);
  EXPECT_EQ(s.past(1), 6);
}

TEST(Sequences, BadCallsAreErrors) {
  auto model = test::stories_model("f32");
  SessionOptions o = f32_options();
  o.max_batch = 2;
  o.max_chunk = 8;
  Session s(model, o);
  test::expect_error(
      [&] {
        s.forward(std::vector<SequenceInput>{{2, story(0, 1)}}).span<float>();
      },
      ErrorCode::kInvalidArgument, "slot 2 is outside [0, 2)");
  test::expect_error(
      [&] {
        s.forward(std::vector<SequenceInput>{{0, story(0, 1)}, {0, story(1, 1)}}).span<float>();
      },
      ErrorCode::kInvalidArgument, "slot 0 appears twice");
  test::expect_error(
      [&] {
        s.forward(std::vector<SequenceInput>{{1, {}}}).span<float>();
      },
      ErrorCode::kInvalidArgument, "slot 1 has no tokens");
  test::expect_error(
      [&] {
        s.forward(std::vector<SequenceInput>{{0, story(0, 17)}}).span<float>();
      },
      ErrorCode::kInvalidArgument, "17 tokens in one call exceed");
  test::expect_error([&] { s.forward(std::span<const SequenceInput>()).span<float>(); },
                     ErrorCode::kInvalidArgument, "0 sequences");
  s.forward(std::vector<SequenceInput>{{1, story(0, 3)}}).span<float>();
  test::expect_error([&] { s.forward(story(0, 2), 2, 1).span<float>(); },
                     ErrorCode::kInvalidArgument, "sequences 0 and 1 are at positions 0 and 3");
  test::expect_error([&] { s.copy_prefix(1, 0, 4); }, ErrorCode::kInvalidArgument,
                     "cannot copy 4 positions of sequence 1 (it holds 3)");
  test::expect_error([&] { s.truncate(1, 5); }, ErrorCode::kInvalidArgument,
                     "cannot truncate sequence 1 to 5");
  // Context overflow of one slot names it; nothing changed.
  SessionOptions small = o;
  small.max_context = 8;
  Session t(model, small);
  t.forward(std::vector<SequenceInput>{{1, story(0, 6)}}).span<float>();
  test::expect_error(
      [&] {
        t.forward(std::vector<SequenceInput>{{0, story(0, 2)}, {1, story(6, 3)}}).span<float>();
      },
      ErrorCode::kOutOfRange, "sequence 1 needs 9 positions");
  EXPECT_EQ(t.past(0), 0);
  EXPECT_EQ(t.past(1), 6);
}

TEST(Sequences, LogitsComeAsTensorsOfTheDocumentedShape) {
  auto model = test::stories_model("f32");
  const int64_t vocab = model->config().vocab_size;
  SessionOptions o = f32_options();
  o.max_batch = 2;
  Session s(model, o);
  Tensor last = s.forward(story(0, 8), 2, 4);  // [2, 4] ids: two sequences of 4
  EXPECT_EQ(last.shape(), (Shape{2, vocab}));
  EXPECT_FALSE(last.writable());
  Tensor ragged = s.forward(std::vector<SequenceInput>{{1, story(8, 3)}, {0, story(4, 1)}});
  EXPECT_EQ(ragged.shape(), (Shape{2, vocab}));
  o.all_logits = true;
  Session all(model, o);
  EXPECT_EQ(all.forward(story(0, 6), 2, 3).shape(), (Shape{2, 3, vocab}));
  EXPECT_EQ(all.forward(std::vector<SequenceInput>{{0, story(0, 2)}, {1, story(0, 5)}}).shape(),
            (Shape{7, vocab}));
  // The greedy path through the Tensor ops: run.c's first ids from BOS.
  Session one(model, f32_options());
  std::vector<int32_t> ids{1};
  std::vector<int32_t> greedy;
  for (int i = 0; i < 8; ++i) {
    Tensor logits = one.forward(ids, 1, 1);
    ids[0] = argmax(logits).data<int32_t>()[0];
    greedy.push_back(ids[0]);
  }
  // llama2.c's run.c, greedy from BOS: the story's ids after BOS.
  EXPECT_EQ(greedy, std::vector<int32_t>(kStory.begin() + 1, kStory.begin() + 9));
}

TEST(Sequences, GeneratorOnAnAllLogitsSessionTakesTheLastPosition) {
  // A prefill chunk returns every position's logits there; the generator samples from the last.
  auto model = test::stories_model("f32");
  GenerateOptions go;
  go.max_new_tokens = 12;
  std::vector<std::vector<int32_t>> runs;
  for (bool all : {false, true}) {
    SessionOptions o = f32_options();
    o.all_logits = all;
    Session s(model, o);
    Generator g(s, model->tokenizer());
    runs.push_back(g.generate(story(0, 5), go).ids);
  }
  EXPECT_EQ(runs[1], runs[0]);
  // run.c's greedy continuation of BOS + the story's first 4 ids.
  EXPECT_EQ(runs[0], std::vector<int32_t>(kStory.begin() + 5, kStory.begin() + 17));
}

// Threads of this process, counted by the kernel.
int process_threads() {
  int n = 0;
  if (DIR* d = opendir("/proc/self/task")) {
    while (dirent* e = readdir(d))
      if (e->d_name[0] != '.') ++n;
    closedir(d);
  }
  return n;
}

TEST(Engine, SessionsShareTheModelsThreadPool) {
  LoadOptions lo;
  lo.n_threads = 3;
  auto model = Model::load(test::stories_package("q4s32"), lo);
  const int before = process_threads();
  ASSERT_GT(before, 0);
  std::vector<std::unique_ptr<Session>> sessions;
  SessionOptions o;
  o.max_context = 32;
  for (int count : {2, 8}) {
    while (sessions.size() < static_cast<size_t>(count))
      sessions.push_back(std::make_unique<Session>(model, o));
    for (auto& s : sessions) s->forward(story(0, 4), 1, 4);
    // One pool of 3 threads: the caller plus 2 workers, however many sessions.
    EXPECT_EQ(process_threads(), before + 2) << count << " sessions";
  }
  EXPECT_EQ(model->threads(), 3);
}

TEST(Engine, SessionsOnDifferentThreadsGiveTheirOwnResults) {
  auto model = test::stories_model("q4s32");
  SessionOptions o;
  o.max_context = 64;
  std::vector<std::vector<int32_t>> expected(4), got(4);
  auto run = [&](size_t i, std::vector<int32_t>& out) {
    Session s(model, o);
    auto l = s.forward(story(i, 5 + i), 1, static_cast<int>(5 + i)).span<float>();
    for (int step = 0; step < 24; ++step) {
      out.push_back(argmax(l));
      l = s.forward(std::span<const int32_t>(&out.back(), 1), 1, 1).span<float>();
    }
  };
  for (size_t i = 0; i < 4; ++i) run(i, expected[i]);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < 4; ++i) threads.emplace_back([&, i] { run(i, got[i]); });
  for (auto& t : threads) t.join();
  EXPECT_EQ(got, expected);
}

TEST(Engine, BadThreadCountIsAnError) {
  LoadOptions lo;
  lo.n_threads = -1;
  test::expect_error([&] { Model::load(test::stories_package("f32"), lo); },
                     ErrorCode::kInvalidArgument, "-1 threads");
}

}  // namespace
}  // namespace corelm
