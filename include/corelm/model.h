// Public model API: ModelConfig (Hugging Face names), Model (an immutable, memory-mapped package
// shared by any number of Sessions, with the one thread pool they all use) and Session (a
// stateful KV cache of max_batch sequence slots plus scratch buffers, allocated once and reused
// for every call).
//
// Ownership: a Model is held by shared_ptr; each Session keeps its Model alive. A Session is not
// thread-safe; different Sessions may be used from different threads on one Model (their forward
// calls take turns on the Model's thread pool; batch sequences into one call to run them together).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "corelm/tensor.h"

namespace corelm {

class Tokenizer;

// Hyper-parameters of a Llama/Mistral decoder, with transformers' field names.
struct ModelConfig {
  std::string architecture;  // "LlamaForCausalLM" or "MistralForCausalLM"
  std::string model_type;    // "llama" or "mistral"
  int hidden_size = 0;
  int intermediate_size = 0;
  int num_hidden_layers = 0;
  int num_attention_heads = 0;
  int num_key_value_heads = 0;
  int head_dim = 0;  // defaults to hidden_size / num_attention_heads
  int vocab_size = 0;
  int max_position_embeddings = 0;
  float rms_norm_eps = 1e-6f;
  float rope_theta = 10000.0f;
  // rope_scaling: "" (none), "linear" or "llama3" with their factors.
  std::string rope_scaling_type;
  float rope_scaling_factor = 1.0f;
  float rope_low_freq_factor = 1.0f;
  float rope_high_freq_factor = 4.0f;
  int rope_original_max_position = 8192;
  std::optional<int> sliding_window;
  bool tie_word_embeddings = false;
  int bos_token_id = -1;
  std::vector<int> eos_token_ids;

  // Parses a Hugging Face config.json; throws Error naming the bad or unsupported field.
  static ModelConfig from_hf_json(const std::string& json_text);
  // Serialises to config.json form (round-trips through from_hf_json).
  std::string to_hf_json() const;
  // Checks internal consistency (positive sizes, heads dividing evenly); throws Error.
  void validate() const;
};

enum class KvCacheType { kF32, kF16, kQ8 };
const char* kv_cache_type_name(KvCacheType type);
std::optional<KvCacheType> kv_cache_type_from_name(const std::string& name);

struct SessionOptions {
  int max_context = 0;  // tokens the KV cache holds; 0: the package's default
  int max_batch = 1;    // sequence slots (each with its own position in the cache)
  int max_chunk = 128;  // tokens per sequence per forward call (prefill chunk); a call takes at
                        // most max_batch * max_chunk tokens in all. Sizes the scratch.
  KvCacheType kv_cache = KvCacheType::kF16;
  bool all_logits = false;  // keep logits of every position (else the last of each sequence)
  // The function every slot starts with ("" or "main": the base model) and the factor on its
  // adapters' scales (set_function changes them per slot).
  std::string function;
  float function_scale = 1.0f;
};

struct LoadOptions {
  int n_threads = 0;  // threads of the pool every Session of the Model shares; 0: one per core
};

// A function of a package (the seed's multifunction models): a named set of LoRA adapters over
// the shared base weights, chosen per Session slot (Session::set_function).
struct FunctionInfo {
  std::string name;
  size_t adapters = 0;  // adapted matrices
  size_t max_rank = 0;
  uint64_t bytes = 0;        // of its adapter tensors
  std::string details_json;  // what the package records of it: rank, alpha, target_modules, ...
};

// Where a model came from and how it was stored (from the package header).
struct ModelInfo {
  std::string path;
  std::string format;           // "clm" or "gguf"
  std::string source_model_id;  // the seed's co.huggingface.exporters.name
  std::string quantization;     // the default weight dtype, e.g. "q4s32"
  int default_max_context = 2048;
  uint64_t file_bytes = 0;
  uint64_t weight_bytes = 0;
  uint64_t parameter_count = 0;
  std::string generation_config_json;   // generation_config.json as converted ("" if none)
  std::string chat_template;            // "" if none
  std::vector<FunctionInfo> functions;  // the package's functions ("main", the base, not listed)
};

class Model {
 public:
  // Opens a .clm package or a .gguf file read-only and memory-mapped. Everything is validated
  // before this returns; throws Error on any problem.
  static std::shared_ptr<Model> load(const std::string& path, const LoadOptions& options = {});
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const ModelConfig& config() const;
  const ModelInfo& info() const;
  const Tokenizer& tokenizer() const;
  // Threads of the shared pool (started by the first Session, or by this call).
  int threads() const;

 private:
  struct Impl;
  friend struct ModelAccess;
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// One sequence of a forward call: `tokens` continue sequence slot `slot` (0 .. max_batch - 1)
// at that slot's own position, so sequences at different positions share one call.
struct SequenceInput {
  int slot = 0;
  std::span<const int32_t> tokens;
};

class Session {
 public:
  Session(std::shared_ptr<const Model> model, const SessionOptions& options = {});
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // One step of the stateful model, as the seed's Core ML model, for sequence slots 0..batch-1
  // (which must be at the same position `past`):
  //   input_ids   [batch, q]               token ids, row-major
  //   causal_mask [batch, 1, q, past + q]  additive: 0 to attend, -inf to mask (padding, future)
  // New keys/values go to cache slots [past, past + q); RoPE positions are past .. past+q-1.
  // Returns logits [batch, q, vocab] if all_logits, else [batch, vocab] for position q-1 of
  // each sequence: a read-only view of the Session's buffer, valid until the next forward call
  // and while the Session lives (clone() it to keep it). Throws Error on bad shapes or when past +
  // q exceeds max_context.
  Tensor forward(std::span<const int32_t> input_ids, int batch, int q,
                 std::span<const float> causal_mask);
  // The same with the standard causal mask (sliding window applied), sequence b masking its
  // first left_padding[b] cache slots (empty: no padding).
  Tensor forward(std::span<const int32_t> input_ids, int batch, int q,
                 std::span<const int> left_padding = {});
  // Sequences at different positions in one call (continuous batching): each entry continues its
  // slot with its own tokens (any count >= 1; each slot at most once; at most max_batch *
  // max_chunk tokens in all) under the standard causal mask. Returns logits [sequences, vocab]
  // for each sequence's last token, or with all_logits [total tokens, vocab] in input order.
  Tensor forward(std::span<const SequenceInput> sequences);

  // Builds the standard additive causal mask [batch, 1, q, past + q] into `mask`.
  static void build_causal_mask(int batch, int q, int past, std::span<const int> left_padding,
                                std::optional<int> sliding_window, std::vector<float>& mask);

  int past() const;          // tokens in the cache of slot 0
  int past(int slot) const;  // tokens in the cache of one slot
  // Every slot forgets its cache positions [past, ...) (a slot holding fewer keeps them all).
  void truncate(int past);
  // One slot forgets positions [past, ...): reuse a shared prefix, or free the slot (past 0).
  void truncate(int slot, int past);
  // Slot `to` gets the first `length` positions of slot `from` (a shared prompt prefix computed
  // once); its own later positions are forgotten.
  void copy_prefix(int from, int to, int length);
  void reset() { truncate(0); }

  // Slot `slot` runs function `name` (one of ModelInfo::functions; "" or "main": the base model)
  // with its adapters' scales multiplied by `scale` (0 turns them off). Cheap: the adapters are
  // used where they are mapped, nothing is copied. A slot whose function or scale changes forgets
  // its cache (keys and values computed under another function do not apply). Throws Error
  // (kNotFound) for an unknown name, naming the ones there are.
  void set_function(int slot, const std::string& name, float scale = 1.0f);
  // Every slot.
  void set_function(const std::string& name, float scale = 1.0f);
  // The function slot `slot` runs ("" for the base model) and its scale.
  const std::string& function(int slot = 0) const;
  float function_scale(int slot = 0) const;

  const SessionOptions& options() const;
  const Model& model() const;
  int max_context() const;
  int vocab_size() const;
  // Bytes of the KV cache (allocated once, for max_batch x max_context positions).
  size_t kv_cache_bytes() const;

 private:
  struct Impl;
  friend struct SessionAccess;
  std::unique_ptr<Impl> impl_;
};

}  // namespace corelm
