#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <unordered_map>

#include "base/check.h"
#include "corelm/generate.h"

namespace corelm {

namespace {
constexpr float kNegInf = -std::numeric_limits<float>::infinity();
constexpr const char* kComponent = "sample";

// Probabilities of the finite logits, in float as the reference samplers compute them.
void softmax_into(std::span<const float> logits, std::vector<float>& probs) {
  float m = kNegInf;
  for (float v : logits) m = std::max(m, v);
  probs.resize(logits.size());
  float sum = 0.0f;
  for (size_t i = 0; i < logits.size(); ++i) {
    probs[i] = logits[i] == kNegInf ? 0.0f : std::exp(logits[i] - m);
    sum += probs[i];
  }
  for (auto& p : probs) p /= sum;
}
}  // namespace

uint32_t Rng::next_u32() {
  state_ ^= state_ >> 12;
  state_ ^= state_ << 25;
  state_ ^= state_ >> 27;
  return static_cast<uint32_t>((state_ * 0x2545F4914F6CDD1Dull) >> 32);
}

float Rng::next_float() {
  return static_cast<float>(next_u32() >> 8) / 16777216.0f;
}

Sampler::Sampler(const SamplingOptions& options)
    : options_(options),
      seed_(options.seed ? *options.seed
                         : std::random_device{}() * 0x100000001ull + std::random_device{}()),
      rng_(seed_) {
  if (!(options.temperature >= 0.0f) || !std::isfinite(options.temperature))
    fail(ErrorCode::kInvalidArgument, kComponent, "temperature must be >= 0, got {}",
         options.temperature);
  if (options.top_k < 0)
    fail(ErrorCode::kInvalidArgument, kComponent, "top_k must be >= 0, got {}", options.top_k);
  if (!(options.top_p > 0.0f && options.top_p <= 1.0f))
    fail(ErrorCode::kInvalidArgument, kComponent, "top_p must be in (0, 1], got {}", options.top_p);
  if (!(options.min_p >= 0.0f && options.min_p <= 1.0f))
    fail(ErrorCode::kInvalidArgument, kComponent, "min_p must be in [0, 1], got {}", options.min_p);
  if (!(options.repetition_penalty > 0.0f))
    fail(ErrorCode::kInvalidArgument, kComponent, "repetition_penalty must be > 0, got {}",
         options.repetition_penalty);
}

void Sampler::apply_repetition_penalty(std::span<float> logits, std::span<const int32_t> tokens,
                                       float penalty) {
  if (penalty == 1.0f) return;
  std::vector<bool> seen(logits.size(), false);
  for (int32_t t : tokens) {
    if (t < 0 || static_cast<size_t>(t) >= logits.size() || seen[t]) continue;
    seen[t] = true;
    float& v = logits[t];
    v = v < 0.0f ? v * penalty : v / penalty;
  }
}

void Sampler::apply_presence_frequency(std::span<float> logits, std::span<const int32_t> tokens,
                                       float presence, float frequency) {
  if (presence == 0.0f && frequency == 0.0f) return;
  std::unordered_map<int32_t, int> counts;
  for (int32_t t : tokens)
    if (t >= 0 && static_cast<size_t>(t) < logits.size()) ++counts[t];
  for (auto [t, c] : counts) logits[t] -= presence + frequency * static_cast<float>(c);
}

void Sampler::apply_temperature(std::span<float> logits, float temperature) {
  if (temperature == 1.0f) return;
  for (auto& v : logits) v /= temperature;
}

void Sampler::apply_top_k(std::span<float> logits, int k) {
  if (k <= 0 || static_cast<size_t>(k) >= logits.size()) return;
  std::vector<float> sorted(logits.begin(), logits.end());
  std::nth_element(sorted.begin(), sorted.begin() + (k - 1), sorted.end(), std::greater<float>());
  float kth = sorted[static_cast<size_t>(k) - 1];
  for (auto& v : logits)
    if (v < kth) v = kNegInf;  // ties with the k-th value stay, as in transformers
}

void Sampler::apply_top_p(std::span<float> logits, float p) {
  if (p >= 1.0f) return;
  std::vector<float> probs;
  softmax_into(logits, probs);
  // Tokens below (1 - p) / (n - 1) can never be needed to reach mass p: skip sorting them.
  const float cutoff = (1.0f - p) / static_cast<float>(std::max<size_t>(logits.size() - 1, 1));
  std::vector<std::pair<float, int32_t>> cand;
  for (size_t i = 0; i < probs.size(); ++i)
    if (probs[i] >= cutoff) cand.emplace_back(probs[i], static_cast<int32_t>(i));
  std::sort(cand.begin(), cand.end(), [](auto& a, auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  std::vector<bool> keep(logits.size(), false);
  float cum = 0.0f;
  for (const auto& [prob, id] : cand) {
    keep[id] = true;
    cum += prob;
    if (cum > p) break;
  }
  for (size_t i = 0; i < logits.size(); ++i)
    if (!keep[i]) logits[i] = kNegInf;
}

void Sampler::apply_min_p(std::span<float> logits, float p) {
  if (p <= 0.0f) return;
  std::vector<float> probs;
  softmax_into(logits, probs);
  float top = *std::max_element(probs.begin(), probs.end());
  for (size_t i = 0; i < logits.size(); ++i)
    if (probs[i] < p * top) logits[i] = kNegInf;
}

int32_t Sampler::draw(std::span<const float> logits, float u) {
  std::vector<float> probs;
  softmax_into(logits, probs);
  std::vector<std::pair<float, int32_t>> cand;
  for (size_t i = 0; i < probs.size(); ++i)
    if (probs[i] > 0.0f) cand.emplace_back(probs[i], static_cast<int32_t>(i));
  std::sort(cand.begin(), cand.end(), [](auto& a, auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  float total = 0.0f;
  for (const auto& c : cand) total += c.first;
  float r = u * total, cdf = 0.0f;
  for (const auto& c : cand) {
    cdf += c.first;
    if (r < cdf) return c.second;
  }
  return cand.empty() ? 0 : cand.back().second;  // rounding: the least likely kept token
}

int32_t Sampler::sample(std::span<float> logits, std::span<const int32_t> context,
                        size_t prompt_length) {
  apply_repetition_penalty(logits, context, options_.repetition_penalty);
  if (prompt_length <= context.size())
    apply_presence_frequency(logits, context.subspan(prompt_length), options_.presence_penalty,
                             options_.frequency_penalty);
  if (options_.temperature == 0.0f) {
    // Greedy: the first index of the maximum, as torch.argmax.
    return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  }
  apply_temperature(logits, options_.temperature);
  apply_top_k(logits, options_.top_k);
  apply_top_p(logits, options_.top_p);
  apply_min_p(logits, options_.min_p);
  return draw(logits, rng_.next_float());
}

}  // namespace corelm
