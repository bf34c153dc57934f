// The logit processors the Sampler (corelm/generate.h) chains, in transformers' order:
// repetition penalty, presence/frequency penalties, temperature, top-k, top-p, min-p; then the
// draw. Each works on raw logits [vocab] in place; masked tokens become -inf.
//
// The buffer arguments are reused from call to call (a Sampler owns one set), so sampling a token
// allocates nothing vocab-sized; the overloads without them make fresh buffers (tests).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "corelm/tensor.h"

namespace corelm::sampling {

// `counts` is vocab-sized scratch, all zero between calls (grown and restored here).
void apply_repetition_penalty(std::span<float> logits, std::span<const int32_t> tokens,
                              float penalty, std::vector<int32_t>& counts);
void apply_presence_frequency(std::span<float> logits, std::span<const int32_t> tokens,
                              float presence, float frequency, std::vector<int32_t>& counts);
void apply_temperature(std::span<float> logits, float temperature);
// Keeps the k largest logits and every logit tied with the k-th (as transformers does).
void apply_top_k(std::span<float> logits, int k, Tensor& values, Tensor& indices);
// Keeps the most probable tokens, highest first (ties by id), until their mass exceeds p.
void apply_top_p(std::span<float> logits, float p, Tensor& probs, Tensor& values, Tensor& indices);
// Drops tokens less probable than p times the most probable one.
void apply_min_p(std::span<float> logits, float p, Tensor& probs);
// Draws from softmax(logits) with uniform number u in [0, 1): walking tokens by probability,
// highest first (ties by id), as llama2.c's run.c does.
int32_t draw(std::span<const float> logits, float u, Tensor& probs, Tensor& values,
             Tensor& indices);

// The same with fresh buffers.
void apply_repetition_penalty(std::span<float> logits, std::span<const int32_t> tokens,
                              float penalty);
void apply_presence_frequency(std::span<float> logits, std::span<const int32_t> tokens,
                              float presence, float frequency);
void apply_top_k(std::span<float> logits, int k);
void apply_top_p(std::span<float> logits, float p);
void apply_min_p(std::span<float> logits, float p);
int32_t draw(std::span<const float> logits, float u);

}  // namespace corelm::sampling
