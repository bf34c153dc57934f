// Sampling and the generation loop shared by the CLI, the server and Python.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "corelm/tensor.h"

namespace corelm {

class Session;
class Tokenizer;

struct SamplingOptions {
  float temperature = 0.0f;         // 0: greedy (argmax after the penalties)
  int top_k = 0;                    // 0: off
  float top_p = 1.0f;               // 1: off
  float min_p = 0.0f;               // 0: off
  float repetition_penalty = 1.0f;  // 1: off (transformers' semantics, over the whole context)
  float presence_penalty = 0.0f;    // OpenAI semantics, over generated tokens
  float frequency_penalty = 0.0f;
  std::optional<uint64_t> seed;  // unset: a random seed
};

// The random source: xorshift64* as in llama2.c's run.c, so a given seed reproduces its samples.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed != 0 ? seed : 0x9E3779B97F4A7C15ull) {}
  uint32_t next_u32();
  float next_float();  // in [0, 1), 24 random bits

 private:
  uint64_t state_;
};

// Sampler: logit processors in transformers' order (repetition penalty, presence/frequency
// penalties, temperature, top-k, top-p, min-p) and a seeded draw, written on the Tensor
// operations (topk, argmax). Its buffers are reused from token to token.
class Sampler {
 public:
  explicit Sampler(const SamplingOptions& options);
  // Picks the next token. `logits` [vocab] is modified in place. `context` holds every token
  // of the sequence so far (prompt and generated); `prompt_length` of them are the prompt.
  int32_t sample(std::span<float> logits, std::span<const int32_t> context,
                 size_t prompt_length = 0);
  // The same from an f32 tensor of shape [vocab] (or [1, ..., 1, vocab]), e.g. the row of
  // Session::forward's logits to continue; `logits` itself is left as it is.
  int32_t sample(const Tensor& logits, std::span<const int32_t> context, size_t prompt_length = 0);
  const SamplingOptions& options() const { return options_; }
  uint64_t seed() const { return seed_; }

 private:
  SamplingOptions options_;
  uint64_t seed_;
  Rng rng_;
  // Reused from token to token, so sampling allocates nothing vocab-sized per token. A copied
  // Sampler starts with its own (Tensor copies would share their elements).
  struct Buffers {
    Buffers() = default;
    Buffers(const Buffers&) {}
    Buffers& operator=(const Buffers&) { return *this; }
    Buffers(Buffers&&) = default;
    Buffers& operator=(Buffers&&) = default;
    Tensor probs, values, indices, greedy;
    std::vector<int32_t> counts;  // vocab-sized, all zero between calls
    std::vector<float> logits;    // the copy sample(const Tensor&) works on
  };
  Buffers buffers_;
};

struct GenerateOptions {
  int max_new_tokens = -1;  // -1: until EOS or the context is full
  int max_length = 0;       // prompt + generated tokens; 0: no limit beyond the context
  SamplingOptions sampling;
  std::vector<std::string> stop_strings;
  bool ignore_eos = false;
  std::vector<int32_t> eos_ids;  // empty: the model's (generation_config + tokenizer EOS)
  // Set to true (from any thread) to stop before the next token, as on_text returning false
  // does (stop_reason "callback"); it is read once per token. Null: none.
  const std::atomic<bool>* cancel = nullptr;
};

struct GenerationStats {
  size_t prompt_tokens = 0;
  size_t generated_tokens = 0;
  size_t reused_tokens = 0;  // prompt tokens already in the KV cache
  double prefill_seconds = 0.0;
  double decode_seconds = 0.0;
  std::string stop_reason;  // "eos", "length", "stop_string", "context", "callback"
  double prefill_tokens_per_s() const;
  double decode_tokens_per_s() const;
};

struct GenerationResult {
  std::vector<int32_t> prompt_ids;
  std::vector<int32_t> ids;  // the continuation only (EOS not included)
  std::string text;          // the continuation's text (stop string not included)
  GenerationStats stats;
};

// Generator: prefill in chunks, then decode token by token on one Session, streaming text.
// It remembers what the Session's cache holds, so a prompt that extends the previous
// conversation only prefills the new tokens.
class Generator {
 public:
  Generator(Session& session, const Tokenizer& tokenizer);
  // `on_text` receives each new piece of text (never a partial UTF-8 character, never part of
  // a stop string); returning false stops generation.
  GenerationResult generate(std::span<const int32_t> prompt_ids, const GenerateOptions& options,
                            const std::function<bool(std::string_view)>& on_text = {});
  GenerationResult generate(std::string_view prompt, const GenerateOptions& options,
                            const std::function<bool(std::string_view)>& on_text = {});
  // The model's default EOS ids (generation_config.json, config.json, tokenizer).
  std::vector<int32_t> default_eos_ids() const;
  void forget_cache();

 private:
  Session& session_;
  const Tokenizer& tokenizer_;
  std::vector<int32_t> cached_;  // ids whose keys/values are in the session's cache
  std::vector<float> logits_;    // [vocab] copy the sampler may modify
};

}  // namespace corelm
