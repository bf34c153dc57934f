// The Sampler reuses its buffers: after the first token it allocates nothing vocab-sized, counted
// here by replacing the global operator new in this test program. Also sampling from a Tensor.
// GCC takes operator new/delete for the built-in pair when it inlines std::allocator here; this
// program replaces both (malloc/free), so the pairing is right.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <new>
#include <random>

#include "corelm/error.h"
#include "corelm/generate.h"
#include "corelm/tensor.h"
#include "test_support.h"

namespace {
std::atomic<bool> g_counting{false};
std::atomic<size_t> g_large{0};  // allocations of at least kLarge bytes while counting
std::atomic<size_t> g_all{0};
constexpr size_t kLarge = 4096;
}  // namespace

void* operator new(size_t size) {
  if (g_counting.load(std::memory_order_relaxed)) {
    ++g_all;
    if (size >= kLarge) ++g_large;
  }
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
#include "replaced_delete.h"  // NOLINT: the delete and nothrow forms matching it

namespace corelm {
namespace {

std::vector<float> random_logits(size_t vocab, uint32_t seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  std::vector<float> v(vocab);
  for (auto& x : v) x = normal(gen);
  v[seed % vocab] += 8.0f;
  return v;
}

TEST(SamplerBuffers, NoAllocationPerTokenAfterTheFirst) {
  const size_t vocab = 32000;
  std::vector<std::vector<float>> rows;
  for (uint32_t i = 0; i < 8; ++i) rows.push_back(random_logits(vocab, i + 1));
  std::vector<int32_t> context;
  for (int i = 0; i < 300; ++i) context.push_back((i * 7919) % static_cast<int>(vocab));

  SamplingOptions all;  // every processor on
  all.temperature = 0.8f;
  all.top_k = 50;
  all.top_p = 0.9f;
  all.min_p = 0.02f;
  all.repetition_penalty = 1.1f;
  all.presence_penalty = 0.2f;
  all.frequency_penalty = 0.1f;
  all.seed = 5;
  SamplingOptions plain;  // temperature only: the draw orders the whole vocabulary
  plain.temperature = 1.0f;
  plain.seed = 6;
  SamplingOptions greedy;
  greedy.repetition_penalty = 1.3f;
  for (const SamplingOptions& o : {all, plain, greedy}) {
    Sampler s(o);
    std::vector<float> logits;
    for (int i = 0; i < 2; ++i) {  // warm up: the buffers grow to their size here
      logits = rows[static_cast<size_t>(i)];
      s.sample(logits, context, 100);
    }
    g_large = 0;
    g_all = 0;
    for (size_t i = 0; i < 16; ++i) {
      logits = rows[i % rows.size()];  // the copy reuses `logits`' capacity
      g_counting = true;
      s.sample(logits, context, 100);
      g_counting = false;
    }
    EXPECT_EQ(g_large.load(), 0u) << "temperature " << o.temperature;
    EXPECT_EQ(g_all.load(), 0u) << "temperature " << o.temperature;
  }
}

TEST(SamplerBuffers, SampleFromATensorEqualsSampleFromASpan) {
  const auto logits = random_logits(1000, 3);
  SamplingOptions o;
  o.temperature = 0.9f;
  o.top_p = 0.95f;
  o.seed = 77;
  Sampler a(o), b(o);
  const auto t = Tensor::from_vector(logits, {2, 500}).reshape({1, 1000});
  std::vector<int32_t> ctx{1, 2, 3};
  for (int i = 0; i < 50; ++i) {
    std::vector<float> copy = logits;
    ASSERT_EQ(a.sample(t, ctx), b.sample(copy, ctx)) << i;
  }
  EXPECT_EQ(t.reshape({1000}).to_vector<float>(), logits);  // the tensor is left as it was
  test::expect_error(
      [&] {
        a.sample(Tensor::from_vector(logits, {2, 500}), ctx);
      },
      ErrorCode::kInvalidArgument, "logits must be f32 of shape [vocab]", "sample");
  test::expect_error([&] { a.sample(Tensor::zeros({4}, ElementType::kI32), ctx); },
                     ErrorCode::kInvalidArgument, "got i32 [4]", "sample");
  test::expect_error([&] { a.sample(Tensor(), ctx); }, ErrorCode::kInvalidArgument, "got f32 []",
                     "sample");
}

TEST(SamplerBuffers, ACopiedSamplerContinuesTheSameRandomStream) {
  const auto logits = random_logits(2000, 9);
  SamplingOptions o;
  o.temperature = 1.0f;
  o.seed = 3;
  Sampler a(o);
  std::vector<float> l = logits;
  a.sample(l, {});
  Sampler b = a;  // the same random state (and buffers of its own)
  std::vector<int32_t> from_a, from_b;
  for (int i = 0; i < 20; ++i) {
    l = logits;
    from_a.push_back(a.sample(l, {}));
  }
  for (int i = 0; i < 20; ++i) {
    l = logits;
    from_b.push_back(b.sample(l, {}));
  }
  EXPECT_EQ(from_a, from_b);
}

}  // namespace
}  // namespace corelm

namespace corelm {
namespace {

// The sampler's draw written the slow way from its definition: probabilities in f32 with
// std::exp (run.c's arithmetic), top-p by a stable sort of the candidates, masked logits
// renormalised, then the walk highest first (ties by id) against u * the total.
std::vector<float> reference_probs(const std::vector<float>& logits) {
  const float neg_inf = -std::numeric_limits<float>::infinity();
  float m = neg_inf;
  for (float v : logits) m = std::max(m, v);
  std::vector<float> p(logits.size());
  float sum = 0.0f;
  for (size_t i = 0; i < p.size(); ++i) {
    p[i] = logits[i] == neg_inf ? 0.0f : std::exp(logits[i] - m);
    sum += p[i];
  }
  for (auto& x : p) x /= sum;
  return p;
}

std::vector<int32_t> by_probability(const std::vector<float>& p, float at_least, bool strict) {
  std::vector<int32_t> ids;
  for (size_t i = 0; i < p.size(); ++i)
    if (strict ? p[i] > at_least : p[i] >= at_least) ids.push_back(static_cast<int32_t>(i));
  std::stable_sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) { return p[a] > p[b]; });
  return ids;
}

int32_t reference_sample(std::vector<float> logits, float top_p, float u) {
  if (top_p < 1.0f) {
    const auto p = reference_probs(logits);
    const auto ids = by_probability(p, (1.0f - top_p) / float(logits.size() - 1), false);
    std::vector<float> kept(logits.size(), -std::numeric_limits<float>::infinity());
    float cum = 0.0f;
    for (int32_t id : ids) {
      kept[id] = logits[id];
      cum += p[id];
      if (cum > top_p) break;
    }
    logits = kept;
  }
  const auto p = reference_probs(logits);
  const auto ids = by_probability(p, 0.0f, true);
  float total = 0.0f;
  for (int32_t id : ids) total += p[id];
  const float r = u * total;
  float cdf = 0.0f;
  for (int32_t id : ids) {
    cdf += p[id];
    if (r < cdf) return id;
  }
  return ids.back();
}

TEST(SamplerBuffers, DrawsEqualASlowReferenceAtVocab32000) {
  // A flat distribution over 32000 tokens: many near-equal probabilities, where an exp a few
  // ulp off (AVX2's kernel softmax) reorders tokens: 3 of these 300 top-p draws change with it.
  std::vector<std::vector<float>> rows;
  for (uint32_t i = 0; i < 8; ++i) rows.push_back(random_logits(32000, 100 + i));
  for (float top_p : {1.0f, 0.9f}) {
    SamplingOptions o;
    o.temperature = 1.0f;
    o.top_p = top_p;
    o.seed = 2024;
    Sampler s(o);
    Rng rng(2024);
    int differ = 0;
    for (size_t i = 0; i < (top_p < 1.0f ? 300u : 60u); ++i) {
      auto logits = rows[i % rows.size()];
      const int32_t expected = reference_sample(logits, top_p, rng.next_float());
      differ += s.sample(logits, {}) != expected;
    }
    EXPECT_EQ(differ, 0) << "top_p " << top_p;
  }
}

}  // namespace
}  // namespace corelm
