// GgufSource: a GGUF file of architecture "llama" (which covers Mistral) as a ModelSource: the
// config from the llama.* keys, tensors under their Hugging Face names (in place; q and k rows
// flagged rotary_interleaved, as llama.cpp's converter stores them), the tokenizer from the
// tokenizer.ggml.* metadata. Knows nothing of models or sessions.
#include "gguf/gguf_source.h"

#include <algorithm>
#include <filesystem>

#include "base/check.h"
#include "source/llama_tensors.h"

namespace corelm {

namespace gguf {

namespace {
constexpr const char* kComponent = "gguf";

int64_t required_int(const GgufFile& g, const std::string& key) {
  auto v = g.get_int(key);
  if (!v) fail(ErrorCode::kCorrupt, kComponent, "'{}' lacks '{}'", g.file().path(), key);
  if (*v <= 0 || *v > (1ll << 31))
    fail(ErrorCode::kCorrupt, kComponent, "'{}' has {} = {}", g.file().path(), key, *v);
  return *v;
}

// An optional size-like key: absent gives `fallback`; present must lie in [1, 2^31).
int optional_int(const GgufFile& g, const std::string& key, int64_t fallback) {
  int64_t v = g.get_int(key).value_or(fallback);
  if (v <= 0 || v >= (1ll << 31))
    fail(ErrorCode::kCorrupt, kComponent, "'{}' has {} = {}", g.file().path(), key, v);
  return static_cast<int>(v);
}
}  // namespace

std::optional<std::string> gguf_name(const std::string& hf) {
  return gguf_tensor_name(hf);
}

std::string hf_name(const std::string& g) {
  return hf_tensor_name(g);
}

ModelConfig model_config(const GgufFile& g) {
  auto arch = g.get_string("general.architecture");
  if (!arch)
    fail(ErrorCode::kCorrupt, kComponent, "'{}' lacks general.architecture", g.file().path());
  if (*arch != "llama")
    fail(ErrorCode::kUnsupported, kComponent,
         "'{}' has architecture '{}'; corelm runs 'llama' (Llama and Mistral)", g.file().path(),
         *arch);
  ModelConfig c;
  c.architecture = "LlamaForCausalLM";
  c.model_type = "llama";
  c.hidden_size = static_cast<int>(required_int(g, "llama.embedding_length"));
  c.intermediate_size = static_cast<int>(required_int(g, "llama.feed_forward_length"));
  c.num_hidden_layers = static_cast<int>(required_int(g, "llama.block_count"));
  c.num_attention_heads = static_cast<int>(required_int(g, "llama.attention.head_count"));
  if (const Value* kv = g.find("llama.attention.head_count_kv");
      kv && kv->type == ValueType::kArray) {
    if (kv->ints.empty() ||
        std::any_of(kv->ints.begin(), kv->ints.end(), [&](int64_t x) { return x != kv->ints[0]; }))
      fail(ErrorCode::kUnsupported, kComponent, "per-layer KV head counts are not supported");
    if (kv->ints[0] <= 0 || kv->ints[0] >= (1ll << 31))
      fail(ErrorCode::kCorrupt, kComponent, "'{}' has llama.attention.head_count_kv = {}",
           g.file().path(), kv->ints[0]);
    c.num_key_value_heads = static_cast<int>(kv->ints[0]);
  } else {
    c.num_key_value_heads = optional_int(g, "llama.attention.head_count_kv", c.num_attention_heads);
  }
  c.head_dim = optional_int(g, "llama.attention.key_length",
                            std::max(1, c.hidden_size / c.num_attention_heads));
  if (auto rd = g.get_int("llama.rope.dimension_count"); rd && *rd != c.head_dim)
    fail(ErrorCode::kUnsupported, kComponent,
         "partial rotary embeddings (rope dimension {} of head_dim {}) are not supported", *rd,
         c.head_dim);
  c.max_position_embeddings = optional_int(g, "llama.context_length", 2048);
  c.rms_norm_eps =
      static_cast<float>(g.get_float("llama.attention.layer_norm_rms_epsilon").value_or(1e-5));
  c.rope_theta = static_cast<float>(g.get_float("llama.rope.freq_base").value_or(10000.0));
  if (auto type = g.get_string("llama.rope.scaling.type"); type && *type != "none") {
    if (*type != "linear")
      fail(ErrorCode::kUnsupported, kComponent, "rope scaling '{}' is not supported", *type);
    c.rope_scaling_type = "linear";
    c.rope_scaling_factor =
        static_cast<float>(g.get_float("llama.rope.scaling.factor").value_or(1.0));
  }
  const TensorInfo* embd = g.find_tensor("token_embd.weight");
  if (!embd || embd->dims.size() != 2)
    fail(ErrorCode::kCorrupt, kComponent, "'{}' lacks token_embd.weight", g.file().path());
  c.vocab_size = optional_int(g, "llama.vocab_size", static_cast<int64_t>(embd->dims[1]));
  c.tie_word_embeddings = g.find_tensor("output.weight") == nullptr;
  // Token ids outside [0, vocab) are dropped here (llama.cpp ignores them too); the tokenizer's
  // own checks report them.
  auto token_id = [&](const char* key) -> std::optional<int> {
    auto v = g.get_int(key);
    if (v && *v >= 0 && *v < c.vocab_size) return static_cast<int>(*v);
    return std::nullopt;
  };
  c.bos_token_id = token_id("tokenizer.ggml.bos_token_id").value_or(-1);
  if (auto eos = token_id("tokenizer.ggml.eos_token_id")) c.eos_token_ids.push_back(*eos);
  c.validate();
  return c;
}

TokenizerData tokenizer_data(const GgufFile& g) {
  TokenizerData d;
  auto model = g.get_string("tokenizer.ggml.model");
  if (!model)
    fail(ErrorCode::kCorrupt, "tokenizer", "'{}' has no tokenizer (tokenizer.ggml.model)",
         g.file().path());
  d.model = *model;
  auto array = [&](const char* key) -> const Value* {
    const Value* v = g.find(key);
    if (v && v->type != ValueType::kArray)
      fail(ErrorCode::kCorrupt, "tokenizer", "'{}' key '{}' is not an array", g.file().path(), key);
    return v;
  };
  if (const Value* t = array("tokenizer.ggml.tokens")) d.tokens = t->strings;
  if (const Value* s = array("tokenizer.ggml.scores"))
    for (double x : s->floats) d.scores.push_back(static_cast<float>(x));
  if (const Value* t = array("tokenizer.ggml.token_type"))
    for (int64_t x : t->ints) d.token_types.push_back(static_cast<int32_t>(x));
  if (const Value* m = array("tokenizer.ggml.merges")) d.merges = m->strings;
  auto id = [&](const char* key) {
    auto v = g.get_int(key);
    return v && *v >= 0 && *v < (1ll << 31) ? static_cast<int32_t>(*v) : -1;
  };
  d.bos_id = id("tokenizer.ggml.bos_token_id");
  d.eos_id = id("tokenizer.ggml.eos_token_id");
  d.unk_id = id("tokenizer.ggml.unknown_token_id");
  d.pad_id = id("tokenizer.ggml.padding_token_id");
  const bool llama = d.model == "llama";
  d.add_bos = g.get_bool("tokenizer.ggml.add_bos_token").value_or(llama);
  d.add_eos = g.get_bool("tokenizer.ggml.add_eos_token").value_or(false);
  d.add_space_prefix = g.get_bool("tokenizer.ggml.add_space_prefix").value_or(true);
  d.pre = g.get_string("tokenizer.ggml.pre").value_or("gpt-2");
  d.chat_template = g.get_string("tokenizer.chat_template").value_or("");
  d.validate();
  return d;
}

}  // namespace gguf

GgufSource::GgufSource(const std::string& path) : file_(path) {
  config_ = gguf::model_config(file_);
  tokenizer_.data = gguf::tokenizer_data(file_);
  SourceMetadata& m = metadata_;
  m.path = path;
  m.format = "gguf";
  m.file_bytes = file_.file().size();
  m.model_id =
      file_.get_string("general.name").value_or(std::filesystem::path(path).stem().string());
  if (const gguf::TensorInfo* q = file_.find_tensor("blk.0.attn_q.weight"))
    if (const TypeTraits* t = ggml_type(q->type)) m.quantization = t->ggml_name;
  m.generation = nlohmann::json::object();
  if (config_.bos_token_id >= 0) m.generation["bos_token_id"] = config_.bos_token_id;
  if (!config_.eos_token_ids.empty()) m.generation["eos_token_id"] = config_.eos_token_ids[0];
  m.chat_template = tokenizer_.data->chat_template;
}

std::vector<std::string> GgufSource::tensor_names() const {
  std::vector<std::string> names;
  for (const auto& t : file_.tensors()) {
    std::string hf = gguf::hf_name(t.name);
    names.push_back(hf.empty() ? t.name : hf);
  }
  return names;
}

std::optional<TensorRef> GgufSource::tensor(const std::string& hf_name) const {
  auto gname = gguf::gguf_name(hf_name);
  const gguf::TensorInfo* t = gname ? file_.find_tensor(*gname) : nullptr;
  if (!t) return std::nullopt;
  if (t->dims.size() > 2 &&
      std::any_of(t->dims.begin() + 2, t->dims.end(), [](uint64_t d) { return d != 1; }))
    fail(ErrorCode::kCorrupt, "gguf", "tensor '{}' has {} dimensions", t->name, t->dims.size());
  TensorRef r;
  r.name = hf_name;
  r.type = ggml_type(t->type);  // known: the file was validated at open
  r.shape = t->dims.size() == 1 ? std::vector<uint64_t>{t->dims[0]}
                                : std::vector<uint64_t>{t->rows(), t->cols()};
  r.data = t->data;
  r.bytes = t->bytes;
  r.rotary_interleaved =
      hf_name.ends_with("self_attn.q_proj.weight") || hf_name.ends_with("self_attn.k_proj.weight");
  r.file = &file_.file();
  r.file_offset = static_cast<uint64_t>(t->data - file_.file().data());
  return r;
}

}  // namespace corelm
