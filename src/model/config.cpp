// ModelConfig <-> Hugging Face config.json.
#include <nlohmann/json.hpp>

#include <charconv>
#include <cmath>
#include <string>
#include <vector>

#include "base/check.h"
#include "base/json_access.h"
#include "corelm/model.h"

namespace corelm {

namespace {

using nlohmann::json;

constexpr const char* kComponent = "config";

// The fields of config.json, type- and range-checked: [config] config.json: field 'x' must be ...
const JsonReader& reader() {
  static const JsonReader r(kComponent, "config.json");
  return r;
}

constexpr int64_t kIntMax = (1LL << 31) - 1;

int get_int(const json& j, const char* key, bool required, int fallback = 0) {
  if (required) return static_cast<int>(reader().required_integer(j, key, 0, kIntMax));
  return static_cast<int>(reader().integer(j, key, fallback, 0, kIntMax));
}

float get_float(const json& j, const char* key, float fallback) {
  double v = reader().number(j, key, fallback);
  if (!std::isfinite(static_cast<float>(v)))
    fail(ErrorCode::kCorrupt, kComponent, "config.json: field '{}' is out of range, got {}", key,
         v);
  return static_cast<float>(v);
}

bool get_bool(const json& j, const char* key, bool fallback) {
  return reader().boolean(j, key, fallback);
}

// A token id, or several (eos_token_id may be a list); null or absent gives none.
std::vector<int> get_token_ids(const json& j, const char* key) {
  std::vector<int> ids;
  if (!JsonReader::has(j, key)) return ids;
  const json& v = j[key];
  if (v.is_array()) {
    for (size_t i = 0; i < v.size(); ++i)
      ids.push_back(
          static_cast<int>(reader().as_integer(v[i], fmt::format("{}[{}]", key, i), 0, kIntMax)));
  } else {
    ids.push_back(
        static_cast<int>(reader().as_integer(v, fmt::format("field '{}'", key), 0, kIntMax)));
  }
  return ids;
}

}  // namespace

ModelConfig ModelConfig::from_hf_json(const std::string& json_text) {
  json j = parse_json(json_text, kComponent, "config.json");
  reader().as_object(j, "the document");
  ModelConfig c;
  if (JsonReader::has(j, "architectures")) {
    const json& archs = reader().as_array(j["architectures"], "field 'architectures'");
    if (!archs.empty()) c.architecture = reader().as_str(archs[0], "architectures[0]");
  }
  c.model_type = reader().str(j, "model_type", "");
  if (c.architecture.empty()) {
    if (c.model_type == "llama") c.architecture = "LlamaForCausalLM";
    if (c.model_type == "mistral") c.architecture = "MistralForCausalLM";
  }
  if (c.architecture != "LlamaForCausalLM" && c.architecture != "MistralForCausalLM") {
    fail(ErrorCode::kUnsupported, kComponent,
         "unsupported architecture '{}' (model_type '{}'); corelm runs LlamaForCausalLM and "
         "MistralForCausalLM",
         c.architecture.empty() ? "(none)" : c.architecture, c.model_type);
  }
  if (c.model_type.empty())
    c.model_type = c.architecture == "MistralForCausalLM" ? "mistral" : "llama";

  c.hidden_size = get_int(j, "hidden_size", true);
  c.intermediate_size = get_int(j, "intermediate_size", true);
  c.num_hidden_layers = get_int(j, "num_hidden_layers", true);
  c.num_attention_heads = get_int(j, "num_attention_heads", true);
  c.num_key_value_heads = get_int(j, "num_key_value_heads", false, c.num_attention_heads);
  c.vocab_size = get_int(j, "vocab_size", true);
  c.head_dim = get_int(j, "head_dim", false, 0);
  if (c.head_dim == 0 && c.num_attention_heads > 0)
    c.head_dim = c.hidden_size / c.num_attention_heads;
  c.max_position_embeddings = get_int(j, "max_position_embeddings", false, 2048);
  c.rms_norm_eps = get_float(j, "rms_norm_eps", 1e-6f);
  c.rope_theta = get_float(j, "rope_theta", 10000.0f);
  c.tie_word_embeddings = get_bool(j, "tie_word_embeddings", false);
  if (int w = get_int(j, "sliding_window", false, 0); w > 0) c.sliding_window = w;
  if (get_bool(j, "attention_bias", false))
    fail(ErrorCode::kUnsupported, kComponent, "attention_bias=true is not supported");
  if (get_bool(j, "mlp_bias", false))
    fail(ErrorCode::kUnsupported, kComponent, "mlp_bias=true is not supported");
  std::string act = reader().str(j, "hidden_act", "silu", OnNull::kError);
  if (act != "silu" && act != "swish")
    fail(ErrorCode::kUnsupported, kComponent, "hidden_act '{}' is not supported (only silu)", act);

  if (JsonReader::has(j, "rope_scaling")) {
    const json* it = &reader().as_object(j["rope_scaling"], "field 'rope_scaling'");
    std::string type = reader().str(*it, "rope_type", reader().str(*it, "type", ""));
    if (type == "linear" || type == "llama3") {
      c.rope_scaling_type = type;
      c.rope_scaling_factor = get_float(*it, "factor", 1.0f);
      c.rope_low_freq_factor = get_float(*it, "low_freq_factor", 1.0f);
      c.rope_high_freq_factor = get_float(*it, "high_freq_factor", 4.0f);
      c.rope_original_max_position = get_int(*it, "original_max_position_embeddings", false, 8192);
    } else if (type != "default" && !type.empty()) {
      fail(ErrorCode::kUnsupported, kComponent, "rope_scaling type '{}' is not supported", type);
    }
  }

  c.bos_token_id = static_cast<int>(reader().integer(j, "bos_token_id", -1, 0, kIntMax));
  c.eos_token_ids = get_token_ids(j, "eos_token_id");
  c.validate();
  return c;
}

void ModelConfig::validate() const {
  auto positive = [](const char* name, int v) {
    if (v <= 0) fail(ErrorCode::kCorrupt, kComponent, "'{}' must be positive, got {}", name, v);
  };
  positive("hidden_size", hidden_size);
  positive("intermediate_size", intermediate_size);
  positive("num_hidden_layers", num_hidden_layers);
  positive("num_attention_heads", num_attention_heads);
  positive("num_key_value_heads", num_key_value_heads);
  positive("head_dim", head_dim);
  positive("vocab_size", vocab_size);
  positive("max_position_embeddings", max_position_embeddings);
  if (num_attention_heads % num_key_value_heads != 0)
    fail(ErrorCode::kCorrupt, kComponent,
         "num_attention_heads ({}) must be a multiple of num_key_value_heads ({})",
         num_attention_heads, num_key_value_heads);
  if (head_dim % 2 != 0)
    fail(ErrorCode::kCorrupt, kComponent, "head_dim must be even for RoPE, got {}", head_dim);
  if (hidden_size > (1 << 20) || intermediate_size > (1 << 22) || num_hidden_layers > 4096 ||
      num_attention_heads > 4096 || head_dim > 4096 || vocab_size > (1 << 24))
    fail(ErrorCode::kCorrupt, kComponent,
         "implausible sizes (hidden {}, intermediate {}, layers {}, heads {}, head_dim {}, vocab "
         "{})",
         hidden_size, intermediate_size, num_hidden_layers, num_attention_heads, head_dim,
         vocab_size);
  // RoPE scaling divides by the factor and, for llama3, by (high - low) and the frequency factors.
  if (!rope_scaling_type.empty()) {
    if (!(rope_scaling_factor > 0.0f) || !std::isfinite(rope_scaling_factor))
      fail(ErrorCode::kCorrupt, kComponent, "rope_scaling factor must be positive, got {}",
           rope_scaling_factor);
    if (rope_scaling_type == "llama3" &&
        (!(rope_low_freq_factor > 0.0f) || !(rope_high_freq_factor > rope_low_freq_factor) ||
         !std::isfinite(rope_high_freq_factor) || rope_original_max_position <= 0))
      fail(ErrorCode::kCorrupt, kComponent,
           "llama3 rope_scaling needs 0 < low_freq_factor < high_freq_factor and a positive "
           "original_max_position_embeddings, got {}, {} and {}",
           rope_low_freq_factor, rope_high_freq_factor, rope_original_max_position);
  }
  if (!(rms_norm_eps > 0.0f) || !(rope_theta > 0.0f) || !std::isfinite(rms_norm_eps) ||
      !std::isfinite(rope_theta))
    fail(ErrorCode::kCorrupt, kComponent,
         "rms_norm_eps ({}) and rope_theta ({}) must be positive and finite", rms_norm_eps,
         rope_theta);
}

// A float field as the decimal that config.json had (the shortest that reads back as the same
// float: 1e-05, not the double 9.999999747378752e-06).
static double json_float(float value) {
  const std::string text = fmt::format("{}", value);
  double result = value;
  std::from_chars(text.data(), text.data() + text.size(), result);
  return result;
}

std::string ModelConfig::to_hf_json() const {
  json j;
  j["architectures"] = json::array({architecture});
  j["model_type"] = model_type;
  j["hidden_size"] = hidden_size;
  j["intermediate_size"] = intermediate_size;
  j["num_hidden_layers"] = num_hidden_layers;
  j["num_attention_heads"] = num_attention_heads;
  j["num_key_value_heads"] = num_key_value_heads;
  j["head_dim"] = head_dim;
  j["vocab_size"] = vocab_size;
  j["max_position_embeddings"] = max_position_embeddings;
  j["rms_norm_eps"] = json_float(rms_norm_eps);
  j["rope_theta"] = json_float(rope_theta);
  if (rope_scaling_type.empty()) {
    j["rope_scaling"] = nullptr;
  } else {
    j["rope_scaling"] = {{"rope_type", rope_scaling_type},
                         {"factor", json_float(rope_scaling_factor)},
                         {"low_freq_factor", json_float(rope_low_freq_factor)},
                         {"high_freq_factor", json_float(rope_high_freq_factor)},
                         {"original_max_position_embeddings", rope_original_max_position}};
  }
  j["sliding_window"] = sliding_window ? json(*sliding_window) : json(nullptr);
  j["tie_word_embeddings"] = tie_word_embeddings;
  j["hidden_act"] = "silu";
  if (bos_token_id >= 0) j["bos_token_id"] = bos_token_id;
  if (eos_token_ids.size() == 1) j["eos_token_id"] = eos_token_ids[0];
  if (eos_token_ids.size() > 1) j["eos_token_id"] = eos_token_ids;
  return j.dump(2);
}

const char* kv_cache_type_name(KvCacheType type) {
  switch (type) {
    case KvCacheType::kF32:
      return "f32";
    case KvCacheType::kF16:
      return "f16";
    case KvCacheType::kQ8:
      return "q8";
  }
  return "?";
}

std::optional<KvCacheType> kv_cache_type_from_name(const std::string& name) {
  if (name == "f32") return KvCacheType::kF32;
  if (name == "f16") return KvCacheType::kF16;
  if (name == "q8") return KvCacheType::kQ8;
  return std::nullopt;
}

}  // namespace corelm
