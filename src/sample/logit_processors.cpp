// The logit processors on corelm::Tensor operations: topk for the "highest first, ties by id"
// order that top-k, top-p and the draw walk; argmax for greedy (sampler.cpp).
#include "sample/logit_processors.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace corelm::sampling {

namespace {
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

Tensor as_tensor(std::span<const float> logits) {
  return Tensor::view(logits.data(), Shape{static_cast<int64_t>(logits.size())});
}

// Probabilities in the float arithmetic of run.c and of this sampler before it used Tensor ops:
// std::exp, a running f32 sum, one division each. The draw walks their running sum, so the
// kernel softmax would change results: AVX2's exp (within 2 ulp) changed 0.5-2.4% of the draws at
// vocab 32000 (measured against the previous sampler); this keeps them identical.
const Tensor& probabilities(std::span<const float> logits, Tensor& probs) {
  const auto n = static_cast<int64_t>(logits.size());
  if (probs.dtype() != ElementType::kF32 || probs.shape() != Shape{n} || !probs.writable())
    probs = Tensor::zeros({n});
  float* p = probs.mutable_data<float>();
  float m = kNegInf;
  for (float v : logits) m = std::max(m, v);
  float sum = 0.0f;
  for (size_t i = 0; i < logits.size(); ++i) {
    p[i] = logits[i] == kNegInf ? 0.0f : std::exp(logits[i] - m);
    sum += p[i];
  }
  for (size_t i = 0; i < logits.size(); ++i) p[i] /= sum;
  return probs;
}

bool in_vocab(int32_t t, size_t vocab) {
  return t >= 0 && static_cast<size_t>(t) < vocab;
}

// Counts each in-vocab token of `tokens` into `counts` (kept vocab-sized and all zero between
// calls); `apply(token, count)` runs once per distinct token, which resets its count.
template <class F>
void for_each_distinct(std::span<const int32_t> tokens, size_t vocab, std::vector<int32_t>& counts,
                       F apply) {
  if (counts.size() < vocab) counts.resize(vocab, 0);
  for (int32_t t : tokens)
    if (in_vocab(t, vocab)) ++counts[static_cast<size_t>(t)];
  for (int32_t t : tokens) {
    if (!in_vocab(t, vocab)) continue;
    int32_t& c = counts[static_cast<size_t>(t)];
    if (c == 0) continue;  // already applied
    apply(t, c);
    c = 0;
  }
}
}  // namespace

void apply_repetition_penalty(std::span<float> logits, std::span<const int32_t> tokens,
                              float penalty, std::vector<int32_t>& counts) {
  if (penalty == 1.0f) return;
  for_each_distinct(tokens, logits.size(), counts, [&](int32_t t, int32_t) {
    float& v = logits[static_cast<size_t>(t)];
    v = v < 0.0f ? v * penalty : v / penalty;
  });
}

void apply_presence_frequency(std::span<float> logits, std::span<const int32_t> tokens,
                              float presence, float frequency, std::vector<int32_t>& counts) {
  if (presence == 0.0f && frequency == 0.0f) return;
  for_each_distinct(tokens, logits.size(), counts, [&](int32_t t, int32_t c) {
    logits[static_cast<size_t>(t)] -= presence + frequency * static_cast<float>(c);
  });
}

void apply_temperature(std::span<float> logits, float temperature) {
  if (temperature == 1.0f) return;
  for (auto& v : logits) v /= temperature;
}

void apply_top_k(std::span<float> logits, int k, Tensor& values, Tensor& indices) {
  if (k <= 0 || static_cast<size_t>(k) >= logits.size()) return;
  topk(as_tensor(logits), k, values, indices);
  const float kth = values.data<float>()[k - 1];
  for (auto& v : logits)
    if (v < kth) v = kNegInf;  // ties with the k-th value stay, as in transformers
}

void apply_top_p(std::span<float> logits, float p, Tensor& probs, Tensor& values, Tensor& indices) {
  if (p >= 1.0f || logits.empty()) return;
  probabilities(logits, probs);
  // Tokens below (1 - p) / (n - 1) can never be needed to reach mass p: leave them out of the
  // sorted candidates.
  const float cutoff = (1.0f - p) / static_cast<float>(std::max<size_t>(logits.size() - 1, 1));
  const auto prob = probs.span<float>();
  const auto candidates =
      std::count_if(prob.begin(), prob.end(), [&](float q) { return q >= cutoff; });
  // Walk the candidates highest first until their mass exceeds p. Usually a few dozen suffice,
  // so take the top 64 first and widen only when they do not reach p (the order is total:
  // each top-k is a prefix of the next).
  int64_t k = std::min<int64_t>(candidates, 64), kept = 0;
  for (;;) {
    topk(probs, static_cast<int>(k), values, indices);
    const float* sorted = values.data<float>();
    float cum = 0.0f;
    bool reached = false;
    for (kept = 0; kept < k && !reached;) {
      cum += sorted[kept++];
      reached = cum > p;
    }
    if (reached || k == candidates) break;
    k = std::min<int64_t>(candidates, k * 8);
  }
  float* sorted = values.mutable_data<float>();
  const int32_t* ids = indices.data<int32_t>();
  // Keep the first `kept` candidates: save their logits, mask everything, put them back.
  for (int64_t j = 0; j < kept; ++j) sorted[j] = logits[static_cast<size_t>(ids[j])];
  std::fill(logits.begin(), logits.end(), kNegInf);
  for (int64_t j = 0; j < kept; ++j) logits[static_cast<size_t>(ids[j])] = sorted[j];
}

void apply_min_p(std::span<float> logits, float p, Tensor& probs) {
  if (p <= 0.0f || logits.empty()) return;
  probabilities(logits, probs);
  const auto prob = probs.span<float>();
  const float top = *std::max_element(prob.begin(), prob.end());
  for (size_t i = 0; i < logits.size(); ++i)
    if (prob[i] < p * top) logits[i] = kNegInf;
}

int32_t draw(std::span<const float> logits, float u, Tensor& probs, Tensor& values,
             Tensor& indices) {
  if (logits.empty()) return 0;
  probabilities(logits, probs);
  const auto prob = probs.span<float>();
  const auto nonzero = std::count_if(prob.begin(), prob.end(), [](float q) { return q > 0.0f; });
  if (nonzero == 0) return 0;
  topk(probs, static_cast<int>(nonzero), values, indices);
  const float* sorted = values.data<float>();
  const int32_t* ids = indices.data<int32_t>();
  float total = 0.0f;
  for (int64_t j = 0; j < nonzero; ++j) total += sorted[j];
  const float r = u * total;
  float cdf = 0.0f;
  for (int64_t j = 0; j < nonzero; ++j) {
    cdf += sorted[j];
    if (r < cdf) return ids[j];
  }
  return ids[nonzero - 1];  // rounding: the least likely kept token
}

void apply_repetition_penalty(std::span<float> logits, std::span<const int32_t> tokens,
                              float penalty) {
  std::vector<int32_t> counts;
  apply_repetition_penalty(logits, tokens, penalty, counts);
}

void apply_presence_frequency(std::span<float> logits, std::span<const int32_t> tokens,
                              float presence, float frequency) {
  std::vector<int32_t> counts;
  apply_presence_frequency(logits, tokens, presence, frequency, counts);
}

void apply_top_k(std::span<float> logits, int k) {
  Tensor values, indices;
  apply_top_k(logits, k, values, indices);
}

void apply_top_p(std::span<float> logits, float p) {
  Tensor probs, values, indices;
  apply_top_p(logits, p, probs, values, indices);
}

void apply_min_p(std::span<float> logits, float p) {
  Tensor probs;
  apply_min_p(logits, p, probs);
}

int32_t draw(std::span<const float> logits, float u) {
  Tensor probs, values, indices;
  return draw(logits, u, probs, values, indices);
}

}  // namespace corelm::sampling
