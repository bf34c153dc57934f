#include "convert/adapter_reader.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <optional>
#include <regex>
#include <set>

#include "base/check.h"
#include "base/file_util.h"
#include "base/json_access.h"
#include "convert/safetensors.h"
#include "gguf/gguf_file.h"
#include "source/llama_tensors.h"

namespace corelm {

namespace {

constexpr const char* kComponent = "adapter";
namespace fs = std::filesystem;
using nlohmann::json;

// The seven projections with the block they live in (transformers' module paths).
const std::vector<std::pair<std::string, std::string>>& projections() {
  static const std::vector<std::pair<std::string, std::string>> kProj = {
      {"q_proj", "self_attn"}, {"k_proj", "self_attn"}, {"v_proj", "self_attn"},
      {"o_proj", "self_attn"}, {"gate_proj", "mlp"},    {"up_proj", "mlp"},
      {"down_proj", "mlp"}};
  return kProj;
}

bool is_unsupported_target(const std::string& name) {
  return name == "lm_head" || name.ends_with("embed_tokens") || name.ends_with(".lm_head");
}

// Checks a module name against the base model: its layer exists and it is one of the seven
// projections. Returns the base weight's shape [out, in] and the sort key.
struct ModuleSlot {
  std::vector<uint64_t> shape;
  int layer = 0, proj = 0;
};

ModuleSlot locate_module(const std::string& module, const ModelSource& base) {
  if (is_unsupported_target(module))
    fail(ErrorCode::kUnsupported, kComponent,
         "adapting '{}' is not supported (only the attention and MLP projections: {})", module,
         fmt::join(lora_projection_names(), ", "));
  static const std::regex kPattern(R"(model\.layers\.(\d+)\.(self_attn|mlp)\.([a-z_]+))");
  std::smatch m;
  const auto& proj = projections();
  auto it = proj.end();
  if (std::regex_match(module, m, kPattern))
    it = std::find_if(proj.begin(), proj.end(),
                      [&](const auto& p) { return p.first == m[3] && p.second == m[2]; });
  if (it == proj.end())
    fail(
        ErrorCode::kInvalidArgument, kComponent,
        "module '{}' is not a projection of {} (expected model.layers.N.self_attn.{{q,k,v,o}}_proj "
        "or model.layers.N.mlp.{{gate,up,down}}_proj)",
        module, base.config().architecture);
  const std::string layer_text = m[1];
  const int layers = base.config().num_hidden_layers;
  if (layer_text.size() > 6 || std::stoi(layer_text) >= layers)
    fail(ErrorCode::kInvalidArgument, kComponent, "module '{}' names layer {} but the model has {}",
         module, layer_text, layers);
  ModuleSlot slot;
  slot.layer = std::stoi(layer_text);
  slot.proj = static_cast<int>(it - proj.begin());
  const std::string weight = module + ".weight";
  for (const auto& e : expected_tensors(base.config(), false))
    if (e.name == weight) slot.shape = e.shape;
  return slot;
}

// Converts `rows` rows of `cols` values of registry type `type` to float.
std::vector<float> to_float(const TypeTraits& type, const uint8_t* data, uint64_t rows,
                            uint64_t cols, const std::string& what) {
  if (!type.to_float || cols % type.block_elements != 0)
    fail(ErrorCode::kUnsupported, kComponent, "{} has type {}, which corelm cannot read", what,
         type.name);
  std::vector<float> out(rows * cols);
  const uint64_t row_bytes = cols / type.block_elements * type.block_bytes;
  for (uint64_t r = 0; r < rows; ++r) type.to_float(data + r * row_bytes, &out[r * cols], cols);
  return out;
}

// Shapes against the base matrix [out, in] and the ranks against each other and `expected_rank`
// (0: any). Throws naming the module and the values.
void check_module(const LoadedModule& m, const std::vector<uint64_t>& w_shape, uint64_t a_rows,
                  uint64_t b_cols, uint64_t expected_rank) {
  if (a_rows != b_cols)
    fail(ErrorCode::kInvalidArgument, kComponent,
         "rank mismatch in '{}': lora_A has rank {} but lora_B has rank {}", m.module, a_rows,
         b_cols);
  if (a_rows == 0) fail(ErrorCode::kInvalidArgument, kComponent, "'{}' has rank 0", m.module);
  if (expected_rank && a_rows != expected_rank)
    fail(ErrorCode::kInvalidArgument, kComponent,
         "rank mismatch in '{}': its tensors have rank {} but the config says r = {}", m.module,
         a_rows, expected_rank);
  if (m.in != w_shape[1] || m.out != w_shape[0])
    fail(ErrorCode::kInvalidArgument, kComponent,
         "shapes of '{}' do not fit the base model: lora_A is [{}, {}] and lora_B [{}, {}] but "
         "{}.weight is [{}, {}] (lora_A must be [r, {}], lora_B [{}, r])",
         m.module, a_rows, m.in, m.out, b_cols, m.module, w_shape[0], w_shape[1], w_shape[1],
         w_shape[0]);
}

// PEFT's get_pattern_key: the first key of rank_pattern / alpha_pattern that matches the end of
// the module name at a dot boundary.
std::optional<double> pattern_value(const json& patterns, const std::string& module,
                                    const JsonReader& r, const char* field) {
  if (patterns.is_null()) return std::nullopt;
  for (const auto& [key, value] : r.as_object(patterns, field).items()) {
    bool match = false;
    try {
      match = std::regex_match(module, std::regex("(.*\\.)?(" + key + ")"));
    } catch (const std::regex_error&) {
      fail(ErrorCode::kInvalidArgument, kComponent, "{} key '{}' is not a regular expression",
           field, key);
    }
    if (match) return r.as_number(value, fmt::format("{}['{}']", field, key));
  }
  return std::nullopt;
}

void refuse(bool bad, const char* field, const json& value) {
  if (bad)
    fail(ErrorCode::kUnsupported, kComponent,
         "adapter_config.json: {} = {} is not supported (corelm applies plain LoRA on the "
         "projections only)",
         field, value.dump());
}

LoadedAdapter read_peft(const std::string& dir, const ModelSource& base) {
  const std::string config_path = (fs::path(dir) / "adapter_config.json").string();
  const std::string weights_path = (fs::path(dir) / "adapter_model.safetensors").string();
  std::error_code ec;
  if (!fs::is_regular_file(config_path, ec))
    fail(ErrorCode::kNotFound, kComponent, "'{}' has no adapter_config.json", dir);
  if (!fs::is_regular_file(weights_path, ec)) {
    if (fs::exists(fs::path(dir) / "adapter_model.bin", ec))
      fail(ErrorCode::kUnsupported, kComponent,
           "'{}' holds adapter_model.bin (a pickle): save the adapter with safe_serialization "
           "to get adapter_model.safetensors",
           dir);
    fail(ErrorCode::kNotFound, kComponent, "'{}' has no adapter_model.safetensors", dir);
  }
  const json cfg = parse_json(read_file(config_path, kComponent), kComponent, config_path);
  const JsonReader r(kComponent, "adapter_config.json");
  r.as_object(cfg, "adapter_config.json");
  const std::string peft_type = r.str(cfg, "peft_type", "LORA");
  if (peft_type != "LORA")
    fail(ErrorCode::kUnsupported, kComponent,
         "adapter_config.json: peft_type = \"{}\" is not supported (only LORA)", peft_type);
  auto field = [&](const char* key) { return cfg.contains(key) ? cfg[key] : json(nullptr); };
  refuse(r.boolean(cfg, "use_dora", false), "use_dora", field("use_dora"));
  refuse(r.boolean(cfg, "lora_bias", false), "lora_bias", field("lora_bias"));
  refuse(r.str(cfg, "bias", "none") != "none", "bias", field("bias"));
  for (const char* key : {"modules_to_save", "layer_replication", "target_parameters",
                          "alora_invocation_tokens", "trainable_token_indices"}) {
    const json v = field(key);
    refuse(!v.is_null() && !v.empty(), key, v);
  }
  const int64_t rank = r.required_integer(cfg, "r", 1, 1 << 20);
  const double alpha = r.number(cfg, "lora_alpha", 8.0);
  const bool rslora = r.boolean(cfg, "use_rslora", false);
  // PEFT's lora_A / lora_B are nn.Linear weights in every case; fan_in_fan_out only transposes
  // the merged delta for a Conv1D base ([in, out]), and PEFT resets it to false for nn.Linear
  // bases such as Llama's projections. So it changes nothing here; it is kept in the info.
  const bool fan_in_fan_out = r.boolean(cfg, "fan_in_fan_out", false);

  // target_modules: names (suffixes of module names), one regular expression, or "all-linear".
  std::vector<std::string> targets;
  std::optional<std::regex> target_regex;
  const json target_json = field("target_modules");
  if (target_json.is_string()) {
    const std::string t = target_json;
    if (is_unsupported_target(t))
      fail(ErrorCode::kUnsupported, kComponent, "target module '{}' is not supported", t);
    if (t != "all-linear") {
      try {
        target_regex = std::regex(t);
      } catch (const std::regex_error&) {
        fail(ErrorCode::kInvalidArgument, kComponent,
             "target_modules \"{}\" is not a regular expression", t);
      }
    }
  } else if (!target_json.is_null()) {
    for (const auto& t : r.as_array(target_json, "target_modules")) {
      std::string name = r.as_str(t, "target_modules[]");
      if (is_unsupported_target(name))
        fail(ErrorCode::kUnsupported, kComponent, "target module '{}' is not supported (only {})",
             name, fmt::join(lora_projection_names(), ", "));
      const std::string last = name.substr(name.rfind('.') + 1);
      const auto& names = lora_projection_names();
      if (std::find(names.begin(), names.end(), last) == names.end())
        fail(ErrorCode::kInvalidArgument, kComponent,
             "target module '{}' is not a projection of {} ({})", name, base.config().architecture,
             fmt::join(names, ", "));
      targets.push_back(std::move(name));
    }
  }
  auto targeted = [&](const std::string& module) {
    if (target_regex) return std::regex_match(module, *target_regex);
    if (targets.empty()) return true;
    return std::any_of(targets.begin(), targets.end(), [&](const std::string& t) {
      return module == t || module.ends_with("." + t);
    });
  };

  auto st = SafetensorsReader::open_file(weights_path);
  struct Pair {
    const SafetensorsTensor* a = nullptr;
    const SafetensorsTensor* b = nullptr;
  };
  std::map<std::string, Pair> pairs;
  const std::string prefix = "base_model.model.";
  for (const auto& [key, t] : st->tensors()) {
    if (key.find("lora_magnitude_vector") != std::string::npos)
      fail(ErrorCode::kUnsupported, kComponent, "tensor '{}' is DoRA's, which is not supported",
           key);
    if (key.find("lora_embedding_") != std::string::npos)
      fail(ErrorCode::kUnsupported, kComponent, "tensor '{}': adapted embeddings are not supported",
           key);
    const bool is_a = key.ends_with(".lora_A.weight"), is_b = key.ends_with(".lora_B.weight");
    if (!key.starts_with(prefix) || (!is_a && !is_b))
      fail(ErrorCode::kUnsupported, kComponent,
           "unexpected tensor '{}' (an adapter holds base_model.model.<module>.lora_A.weight and "
           ".lora_B.weight only)",
           key);
    const std::string module = key.substr(
        prefix.size(), key.size() - prefix.size() - std::string(".lora_A.weight").size());
    (is_a ? pairs[module].a : pairs[module].b) = &t;
  }
  if (pairs.empty())
    fail(ErrorCode::kInvalidArgument, kComponent, "'{}' holds no LoRA tensors", weights_path);

  LoadedAdapter out;
  std::set<std::string> short_names;
  std::vector<std::pair<std::pair<int, int>, LoadedModule>> sorted;
  for (const auto& [module, p] : pairs) {
    const ModuleSlot slot = locate_module(module, base);
    if (!p.a || !p.b)
      fail(ErrorCode::kCorrupt, kComponent, "'{}' has {} but no {}", module,
           p.a ? "lora_A" : "lora_B", p.a ? "lora_B" : "lora_A");
    if (!targeted(module))
      fail(ErrorCode::kInvalidArgument, kComponent,
           "'{}' is adapted but target_modules ({}) does not name it", module, target_json.dump());
    if (p.a->shape.size() != 2 || p.b->shape.size() != 2)
      fail(ErrorCode::kCorrupt, kComponent, "'{}': lora_A and lora_B must be matrices", module);
    LoadedModule m;
    m.module = module;
    m.in = p.a->shape[1];
    m.out = p.b->shape[0];
    const uint64_t expected = static_cast<uint64_t>(
        pattern_value(field("rank_pattern"), module, r, "rank_pattern").value_or(rank));
    check_module(m, slot.shape, p.a->shape[0], p.b->shape[1], expected);
    m.rank = expected;
    const double a =
        pattern_value(field("alpha_pattern"), module, r, "alpha_pattern").value_or(alpha);
    m.scale = static_cast<float>(rslora ? a / std::sqrt(static_cast<double>(m.rank))
                                        : a / static_cast<double>(m.rank));
    m.a = to_float(dtype_traits(p.a->dtype), p.a->data, m.rank, m.in, module + ".lora_A");
    m.b = to_float(dtype_traits(p.b->dtype), p.b->data, m.out, m.rank, module + ".lora_B");
    short_names.insert(module.substr(module.rfind('.') + 1));
    sorted.push_back({{slot.layer, slot.proj}, std::move(m)});
  }
  std::sort(sorted.begin(), sorted.end(),
            [](const auto& x, const auto& y) { return x.first < y.first; });
  for (auto& s : sorted) out.modules.push_back(std::move(s.second));

  out.info = {{"format", "peft"},     {"rank", rank},  {"alpha", alpha},
              {"use_rslora", rslora}, {"source", dir}, {"fan_in_fan_out", fan_in_fan_out}};
  if (cfg.contains("base_model_name_or_path") && cfg["base_model_name_or_path"].is_string())
    out.info["base_model"] = cfg["base_model_name_or_path"];
  for (const char* key : {"rank_pattern", "alpha_pattern"})
    if (field(key).is_object() && !field(key).empty()) out.info[key] = field(key);
  out.info["target_modules"] = std::vector<std::string>(short_names.begin(), short_names.end());
  return out;
}

// llama.cpp's convert_lora_to_gguf.py: "blk.N.attn_q.weight.lora_a" holds torch's lora_A
// [r, in] (GGUF dims [in, r]) and ".lora_b" lora_B [out, r] (dims [r, out]), so GGUF's
// reversed dims give transformers' [rows, cols] directly. The q and k lora_b rows went through
// the model's rotary permutation like the base weights; they are put back in rotate-half order.
// llama.cpp scales by alpha / rank (rank = lora_b's columns), or 1 when alpha is 0.
LoadedAdapter read_gguf(const std::string& path, const ModelSource& base) {
  gguf::GgufFile f(path);
  const std::string type = f.get_string("general.type").value_or("");
  if (type != "adapter")
    fail(ErrorCode::kInvalidArgument, kComponent,
         "'{}' is a GGUF with general.type \"{}\", not a LoRA adapter (\"adapter\")", path, type);
  const std::string adapter_type = f.get_string("adapter.type").value_or("");
  if (adapter_type != "lora")
    fail(ErrorCode::kUnsupported, kComponent,
         "'{}' is a GGUF adapter of type \"{}\"; only \"lora\" is supported", path, adapter_type);
  const std::string arch = f.get_string("general.architecture").value_or("");
  if (arch != "llama")
    fail(ErrorCode::kUnsupported, kComponent,
         "'{}' is an adapter for architecture \"{}\"; only llama is supported", path, arch);
  if (f.find("adapter.alora_invocation_tokens"))
    fail(ErrorCode::kUnsupported, kComponent,
         "'{}' is an activated LoRA (adapter.alora_invocation_tokens), which is not supported",
         path);
  const double alpha = f.get_float("adapter.lora.alpha").value_or(0.0);

  std::map<std::string, std::pair<const gguf::TensorInfo*, const gguf::TensorInfo*>> pairs;
  for (const auto& t : f.tensors()) {
    const bool is_a = t.name.ends_with(".lora_a"), is_b = t.name.ends_with(".lora_b");
    const std::string base_name = t.name.substr(0, t.name.size() - (is_a || is_b ? 7 : 0));
    const std::string hf = hf_tensor_name(base_name);
    if (!is_a && !is_b)
      fail(ErrorCode::kUnsupported, kComponent,
           "tensor '{}' of '{}' is not a lora_a / lora_b matrix", t.name, path);
    if (hf.empty() || !hf.ends_with(".weight"))
      fail(ErrorCode::kInvalidArgument, kComponent,
           "tensor '{}' of '{}' adapts unknown tensor '{}'", t.name, path, base_name);
    const std::string module = hf.substr(0, hf.size() - 7);
    (is_a ? pairs[module].first : pairs[module].second) = &t;
  }
  if (pairs.empty())
    fail(ErrorCode::kInvalidArgument, kComponent, "'{}' holds no LoRA tensors", path);

  LoadedAdapter out;
  std::set<std::string> short_names;
  std::set<uint64_t> ranks;
  std::vector<std::pair<std::pair<int, int>, LoadedModule>> sorted;
  const uint64_t head_dim = static_cast<uint64_t>(base.config().head_dim);
  for (const auto& [module, p] : pairs) {
    const ModuleSlot slot = locate_module(module, base);
    if (!p.first || !p.second)
      fail(ErrorCode::kCorrupt, kComponent, "'{}' has {} but no {}", module,
           p.first ? "lora_a" : "lora_b", p.first ? "lora_b" : "lora_a");
    const gguf::TensorInfo& a = *p.first;
    const gguf::TensorInfo& b = *p.second;
    if (a.dims.size() != 2 || b.dims.size() != 2)
      fail(ErrorCode::kCorrupt, kComponent, "'{}': lora_a and lora_b must be matrices", module);
    LoadedModule m;
    m.module = module;
    m.in = a.cols();
    m.out = b.rows();
    check_module(m, slot.shape, a.rows(), b.cols(), 0);
    m.rank = a.rows();
    m.scale = alpha != 0.0 ? static_cast<float>(alpha / static_cast<double>(m.rank)) : 1.0f;
    const TypeTraits* ta = ggml_type(a.type);
    const TypeTraits* tb = ggml_type(b.type);
    m.a = to_float(*ta, a.data, m.rank, m.in, a.name);
    std::vector<float> b_rows = to_float(*tb, b.data, m.out, m.rank, b.name);
    const bool rotary = slot.proj <= 1;  // q_proj, k_proj
    m.b.resize(b_rows.size());
    for (uint64_t row = 0; row < m.out; ++row) {
      const uint64_t from = rotary ? interleaved_rotary_row(row, head_dim) : row;
      std::copy_n(&b_rows[from * m.rank], m.rank, &m.b[row * m.rank]);
    }
    ranks.insert(m.rank);
    short_names.insert(module.substr(module.rfind('.') + 1));
    sorted.push_back({{slot.layer, slot.proj}, std::move(m)});
  }
  std::sort(sorted.begin(), sorted.end(),
            [](const auto& x, const auto& y) { return x.first < y.first; });
  for (auto& s : sorted) out.modules.push_back(std::move(s.second));
  out.info = {{"format", "gguf"}, {"alpha", alpha}, {"use_rslora", false}, {"source", path}};
  out.info["rank"] = ranks.size() == 1 ? json(*ranks.begin()) : json(ranks);
  out.info["target_modules"] = std::vector<std::string>(short_names.begin(), short_names.end());
  return out;
}

}  // namespace

const std::vector<std::string>& lora_projection_names() {
  static const std::vector<std::string> kNames = [] {
    std::vector<std::string> n;
    for (const auto& p : projections()) n.push_back(p.first);
    return n;
  }();
  return kNames;
}

LoadedAdapter read_adapter(const std::string& path, const ModelSource& base) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) return read_peft(path, base);
  if (gguf::is_gguf_file(path)) return read_gguf(path, base);
  if (fs::exists(path, ec))
    fail(ErrorCode::kInvalidArgument, kComponent,
         "'{}' is neither a PEFT adapter folder nor a LoRA GGUF file", path);
  fail(ErrorCode::kNotFound, kComponent, "adapter '{}' does not exist", path);
}

}  // namespace corelm
