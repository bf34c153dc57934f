// Session contracts: chunked prefill equals one-shot, padded batches equal single prompts,
// the KV cache is allocated once and never reallocated, and a decode step allocates nothing.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <new>

#include "corelm/error.h"
#include "corelm/generate.h"
#include "corelm/model.h"
#include "corelm/tokenizer.h"
#include "test_support.h"

#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
// Counts heap allocations made by this test process (to prove decode steps make none).
static std::atomic<long> g_allocations{0};
void* operator new(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
#include "replaced_delete.h"  // NOLINT: the delete and nothrow forms matching it

namespace corelm {
namespace {

// The first 30 ids of BOS + run.c's greedy story (reference_outputs.json).
const std::vector<int32_t> kStory(test::runc_greedy_story().begin(),
                                  test::runc_greedy_story().begin() + 30);

float max_abs_diff(std::span<const float> a, std::span<const float> b) {
  float m = 0.0f;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

TEST(Session, ChunkedPrefillEqualsOneShot) {
  auto model = test::stories_model("q8s32");
  SessionOptions o;
  o.all_logits = true;
  Session one(model, o);
  auto all = one.forward(kStory, 1, static_cast<int>(kStory.size())).span<float>();
  std::vector<float> expected(all.begin(), all.end());
  // Chunks that split the 30-token prompt at different places (13: 13 + 13 + 4).
  for (int chunk : {1, 7, 13}) {
    Session s(model, o);
    std::vector<float> got;
    for (size_t pos = 0; pos < kStory.size(); pos += chunk) {
      size_t n = std::min<size_t>(chunk, kStory.size() - pos);
      auto l = s.forward(std::span<const int32_t>(kStory).subspan(pos, n), 1, static_cast<int>(n))
                   .span<float>();
      got.insert(got.end(), l.begin(), l.end());
    }
    ASSERT_EQ(got.size(), expected.size());
    EXPECT_LT(max_abs_diff(got, expected), 1e-4f) << "chunk " << chunk;
  }
}

TEST(Session, PaddedBatchEqualsEachPromptAlone) {
  auto model = test::stories_model("f32");
  const std::vector<int32_t> a = {1, 403, 407, 261, 378, 432, 383, 286};  // 8 tokens
  const std::vector<int32_t> b = {1, 338, 401, 396, 267};                 // 5 tokens
  SessionOptions o;
  o.kv_cache = KvCacheType::kF32;
  auto alone = [&](const std::vector<int32_t>& p, std::vector<int32_t>& greedy) {
    Session s(model, o);
    auto l = s.forward(p, 1, static_cast<int>(p.size())).span<float>();
    std::vector<float> first(l.begin(), l.end());
    for (int i = 0; i < 6; ++i) {
      int32_t next = static_cast<int32_t>(std::max_element(l.begin(), l.end()) - l.begin());
      greedy.push_back(next);
      l = s.forward(std::vector<int32_t>{next}, 1, 1).span<float>();
    }
    return first;
  };
  std::vector<int32_t> ga, gb;
  std::vector<float> la = alone(a, ga), lb = alone(b, gb);

  // Batch: b is left-padded with 3 pad tokens (id 0) that the mask hides.
  o.max_batch = 2;
  Session s(model, o);
  std::vector<int32_t> ids = a;
  ids.insert(ids.end(), {0, 0, 0});
  ids.insert(ids.end(), b.begin(), b.end());
  const std::vector<int> pad = {0, 3};
  auto l = s.forward(ids, 2, 8, pad).span<float>();
  EXPECT_LT(max_abs_diff(l.subspan(0, 512), la), 1e-4f);
  EXPECT_LT(max_abs_diff(l.subspan(512, 512), lb), 1e-4f);
  std::vector<int32_t> ba, bb;
  for (int i = 0; i < 6; ++i) {
    int32_t na = static_cast<int32_t>(std::max_element(l.begin(), l.begin() + 512) - l.begin());
    int32_t nb =
        static_cast<int32_t>(std::max_element(l.begin() + 512, l.end()) - (l.begin() + 512));
    ba.push_back(na);
    bb.push_back(nb);
    l = s.forward(std::vector<int32_t>{na, nb}, 2, 1, pad).span<float>();
  }
  EXPECT_EQ(ba, ga);
  EXPECT_EQ(bb, gb);
}

TEST(Session, BuiltMaskIsTheCausalMask) {
  // Written out by hand: 3 queries at positions 2, 3, 4 (past 2) over 5 keys; the second
  // sequence has its first key as padding.
  const float o = 0.0f, x = -std::numeric_limits<float>::infinity();
  const std::vector<float> expected = {
      o, o, o, x, x,  // b0 t0: keys 0..2
      o, o, o, o, x,  // b0 t1: keys 0..3
      o, o, o, o, o,  // b0 t2: keys 0..4
      x, o, o, x, x,  // b1 t0: padding slot 0 hidden
      x, o, o, o, x,  //
      x, o, o, o, o,  //
  };
  std::vector<float> mask;
  const std::vector<int> pad = {0, 1};
  Session::build_causal_mask(2, 3, 2, pad, std::nullopt, mask);
  EXPECT_EQ(mask, expected);
}

TEST(Session, ExplicitMaskEqualsBuiltMask) {
  auto model = test::stories_model("f32");
  SessionOptions o;
  Session s1(model, o), s2(model, o);
  const float x = -std::numeric_limits<float>::infinity();
  std::vector<float> mask(25, 0.0f);  // by hand: token t sees keys 0..t
  for (int t = 0; t < 5; ++t)
    for (int j = t + 1; j < 5; ++j) mask[t * 5 + j] = x;
  std::vector<int32_t> ids(kStory.begin(), kStory.begin() + 5);
  auto first = s1.forward(ids, 1, 5, std::span<const float>(mask)).span<float>();
  std::vector<float> a(first.begin(), first.end());
  auto second = s2.forward(ids, 1, 5).span<float>();
  EXPECT_EQ(max_abs_diff(a, second), 0.0f);
}

TEST(Session, SlidingWindowMaskHidesOldSlots) {
  std::vector<float> mask;
  Session::build_causal_mask(1, 1, 9, {}, 4, mask);  // query at position 9, window 4
  ASSERT_EQ(mask.size(), 10u);
  for (int j = 0; j < 10; ++j) EXPECT_EQ(mask[j] == 0.0f, j >= 6 && j <= 9) << j;
}

TEST(Session, KvCacheIsAllocatedOnceAndDecodeAllocatesNothing) {
  auto model = test::stories_model("q4s32");
  SessionOptions o;
  o.max_context = 256;
  Session s(model, o);
  // f16 K and V: 5 layers x 4 KV heads x 256 slots x 8 dims x 2 bytes x 2.
  EXPECT_EQ(s.kv_cache_bytes(), 5u * 4 * 256 * 8 * 2 * 2);
  auto l = s.forward(kStory, 1, static_cast<int>(kStory.size())).span<float>();
  int32_t next = 0;
  std::vector<int32_t> one(1);
  long before = g_allocations.load();
  for (int i = 0; i < 64; ++i) {
    next = static_cast<int32_t>(std::max_element(l.begin(), l.end()) - l.begin());
    one[0] = next;
    l = s.forward(one, 1, 1).span<float>();
  }
  EXPECT_EQ(g_allocations.load() - before, 0) << "decode steps allocated memory";
  EXPECT_EQ(s.past(), static_cast<int>(kStory.size()) + 64);
}

TEST(Session, OverflowAndBadShapesAreErrors) {
  auto model = test::stories_model("q4s32");
  SessionOptions o;
  o.max_context = 16;
  Session s(model, o);
  std::vector<int32_t> ids(10, 5);
  s.forward(ids, 1, 10).span<float>();
  test::expect_error([&] { s.forward(ids, 1, 10).span<float>(); }, ErrorCode::kOutOfRange,
                     "needs 20 positions but the context holds 16");
  EXPECT_EQ(s.past(), 10);  // the failed call changed nothing
  EXPECT_THROW(s.forward(std::vector<int32_t>{1, 2, 3}, 1, 2).span<float>(),
               Error);  // ids vs shape
  EXPECT_THROW(s.forward(std::vector<int32_t>{1, 2}, 2, 1).span<float>(),
               Error);  // batch > max_batch
  std::vector<float> bad_mask(3);
  EXPECT_THROW(
      s.forward(std::vector<int32_t>{1}, 1, 1, std::span<const float>(bad_mask)).span<float>(),
      Error);
  EXPECT_THROW(s.forward(std::vector<int32_t>{600}, 1, 1).span<float>(),
               Error);  // id outside the vocabulary
  o.max_context = 1 << 25;
  EXPECT_THROW(Session(model, o), Error);
}

}  // namespace
}  // namespace corelm
