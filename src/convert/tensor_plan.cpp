#include "convert/tensor_plan.h"

#include <fmt/ranges.h>

#include <set>

#include "base/check.h"
#include "model/weights.h"

namespace corelm {

namespace {
constexpr const char* kComponent = "convert";

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
}  // namespace

TensorPlan make_tensor_plan(const ModelConfig& c, const SourceLookup& lookup,
                            const std::vector<std::string>& all_source_names, DType quant,
                            bool quantize_embeddings, bool interleave) {
  TensorPlan plan;
  const bool with_lm_head = !c.tie_word_embeddings;
  const bool float_quant = !dtype_traits(quant).quantized;
  const uint64_t hidden = c.hidden_size, inter = c.intermediate_size;
  const uint64_t q_dim = static_cast<uint64_t>(c.num_attention_heads) * c.head_dim;
  const uint64_t kv_dim = static_cast<uint64_t>(c.num_key_value_heads) * c.head_dim;

  std::set<std::string> used;
  std::vector<std::string> fallback;  // tensors whose rows do not fill whole blocks
  uint64_t fallback_cols = 0;
  for (const std::string& name : expected_tensor_names(c, with_lm_head)) {
    std::optional<SourceTensor> t = lookup(name);
    if (!t) fail(ErrorCode::kNotFound, kComponent, "the model lacks tensor '{}'", name);
    used.insert(name);
    std::vector<uint64_t> expect;
    DType dtype = quant;
    if (ends_with(name, "norm.weight")) {
      expect = {hidden};
      dtype = DType::kF32;
    } else if (name == "model.embed_tokens.weight") {
      expect = {static_cast<uint64_t>(c.vocab_size), hidden};
      if (!float_quant && !quantize_embeddings) dtype = DType::kF16;
      // A tied table is also the lm_head: keep it as precise as the linear layers then allow.
    } else if (name == "lm_head.weight") {
      expect = {static_cast<uint64_t>(c.vocab_size), hidden};
    } else if (ends_with(name, "q_proj.weight")) {
      expect = {q_dim, hidden};
    } else if (ends_with(name, "k_proj.weight") || ends_with(name, "v_proj.weight")) {
      expect = {kv_dim, hidden};
    } else if (ends_with(name, "o_proj.weight")) {
      expect = {hidden, q_dim};
    } else if (ends_with(name, "gate_proj.weight") || ends_with(name, "up_proj.weight")) {
      expect = {inter, hidden};
    } else if (ends_with(name, "down_proj.weight")) {
      expect = {hidden, inter};
    }
    if (t->shape != expect)
      fail(ErrorCode::kCorrupt, kComponent,
           "tensor '{}' has shape [{}] but config.json implies [{}]", name,
           fmt::join(t->shape, ", "), fmt::join(expect, ", "));
    if (!dtype_fits_row(dtype, expect.back())) {
      fallback.push_back(name);
      fallback_cols = expect.back();
      dtype = DType::kF16;
    }
    Layout layout = interleave && expect.size() == 2 &&
                            layout_fits(dtype, Layout::kInterleaved8, expect[0], expect[1])
                        ? Layout::kInterleaved8
                        : Layout::kRows;
    plan.entries.push_back({name, std::move(*t), dtype, expect, layout});
  }
  if (!fallback.empty())
    plan.notes.push_back(fmt::format(
        "{} tensor(s) kept in f16 because rows of {} values do not divide into blocks of 32: {}{}",
        fallback.size(), fallback_cols, fallback.front(), fallback.size() > 1 ? ", ..." : ""));
  for (const auto& name : all_source_names) {
    if (used.count(name)) continue;
    if (ends_with(name, "rotary_emb.inv_freq")) continue;  // recomputed from rope_theta
    if (name == "lm_head.weight" && c.tie_word_embeddings) {
      plan.notes.push_back("lm_head.weight ignored: tie_word_embeddings is true");
      continue;
    }
    fail(ErrorCode::kUnsupported, kComponent,
         "unexpected tensor '{}' for {} (biases and extra modules are not supported)", name,
         c.architecture);
  }
  return plan;
}

}  // namespace corelm
