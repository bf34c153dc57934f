// Builds small random-weight Llama folders in Hugging Face format for tests that need a model
// of a particular shape (e.g. a 32000-token vocabulary to pair with a real tokenizer).
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <random>

#include "safetensors_writer.h"

namespace corelm::test {

struct TinyShape {
  int hidden = 64, intermediate = 128, layers = 2, heads = 4, kv_heads = 2, vocab = 512;
  bool tied = false;
};

inline void write_tiny_model(const std::string& dir, const TinyShape& s, uint32_t seed = 1) {
  std::filesystem::create_directories(dir);
  nlohmann::json cfg = {{"architectures", {"LlamaForCausalLM"}},
                        {"model_type", "llama"},
                        {"hidden_size", s.hidden},
                        {"intermediate_size", s.intermediate},
                        {"num_hidden_layers", s.layers},
                        {"num_attention_heads", s.heads},
                        {"num_key_value_heads", s.kv_heads},
                        {"vocab_size", s.vocab},
                        {"max_position_embeddings", 256},
                        {"rms_norm_eps", 1e-5},
                        {"rope_theta", 10000.0},
                        {"tie_word_embeddings", s.tied},
                        {"bos_token_id", 1},
                        {"eos_token_id", 2}};
  std::ofstream(dir + "/config.json") << cfg.dump(2);
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.05f);
  auto matrix = [&](int rows, int cols) {
    std::vector<float> v(static_cast<size_t>(rows) * cols);
    for (auto& x : v) x = normal(rng);
    return StTensor{
        "F32", {static_cast<uint64_t>(rows), static_cast<uint64_t>(cols)}, f32_bytes(v)};
  };
  auto ones = [&](int n) {
    return StTensor{"F32", {static_cast<uint64_t>(n)}, f32_bytes(std::vector<float>(n, 1.0f))};
  };
  const int hd = s.hidden / s.heads;
  std::map<std::string, StTensor> t;
  t["model.embed_tokens.weight"] = matrix(s.vocab, s.hidden);
  for (int l = 0; l < s.layers; ++l) {
    std::string p = "model.layers." + std::to_string(l) + ".";
    t[p + "input_layernorm.weight"] = ones(s.hidden);
    t[p + "post_attention_layernorm.weight"] = ones(s.hidden);
    t[p + "self_attn.q_proj.weight"] = matrix(s.heads * hd, s.hidden);
    t[p + "self_attn.k_proj.weight"] = matrix(s.kv_heads * hd, s.hidden);
    t[p + "self_attn.v_proj.weight"] = matrix(s.kv_heads * hd, s.hidden);
    t[p + "self_attn.o_proj.weight"] = matrix(s.hidden, s.heads * hd);
    t[p + "mlp.gate_proj.weight"] = matrix(s.intermediate, s.hidden);
    t[p + "mlp.up_proj.weight"] = matrix(s.intermediate, s.hidden);
    t[p + "mlp.down_proj.weight"] = matrix(s.hidden, s.intermediate);
  }
  t["model.norm.weight"] = ones(s.hidden);
  if (!s.tied) t["lm_head.weight"] = matrix(s.vocab, s.hidden);
  write_safetensors(dir + "/model.safetensors", t);
}

}  // namespace corelm::test
