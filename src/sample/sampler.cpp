#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "base/check.h"
#include "corelm/generate.h"
#include "sample/logit_processors.h"

namespace corelm {

namespace {
constexpr const char* kComponent = "sample";
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

int32_t Sampler::sample(std::span<float> logits, std::span<const int32_t> context,
                        size_t prompt_length) {
  Buffers& b = buffers_;
  sampling::apply_repetition_penalty(logits, context, options_.repetition_penalty, b.counts);
  if (prompt_length <= context.size())
    sampling::apply_presence_frequency(logits, context.subspan(prompt_length),
                                       options_.presence_penalty, options_.frequency_penalty,
                                       b.counts);
  if (logits.empty()) fail(ErrorCode::kInvalidArgument, kComponent, "no logits to sample from");
  if (options_.temperature == 0.0f) {
    // The first index of the maximum, as torch.argmax.
    argmax(Tensor::view(logits.data(), Shape{static_cast<int64_t>(logits.size())}), b.greedy);
    return b.greedy.item<int32_t>();
  }
  sampling::apply_temperature(logits, options_.temperature);
  sampling::apply_top_k(logits, options_.top_k, b.values, b.indices);
  sampling::apply_top_p(logits, options_.top_p, b.probs, b.values, b.indices);
  sampling::apply_min_p(logits, options_.min_p, b.probs);
  return sampling::draw(logits, rng_.next_float(), b.probs, b.values, b.indices);
}

int32_t Sampler::sample(const Tensor& logits, std::span<const int32_t> context,
                        size_t prompt_length) {
  if (logits.dtype() != ElementType::kF32 || logits.shape().size() == 0 ||
      logits.numel() != logits.shape().back())
    fail(ErrorCode::kInvalidArgument, kComponent,
         "logits must be f32 of shape [vocab] (or [1, vocab]), got {} {}",
         element_type_name(logits.dtype()), logits.shape().to_string());
  const auto values = logits.span<float>();
  buffers_.logits.assign(values.begin(), values.end());
  return sample(std::span<float>(buffers_.logits), context, prompt_length);
}

}  // namespace corelm
