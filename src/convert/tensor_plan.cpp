#include "convert/tensor_plan.h"

#include <fmt/ranges.h>

#include <set>

#include "base/check.h"
#include "source/llama_tensors.h"

namespace corelm {

namespace {
constexpr const char* kComponent = "convert";
}  // namespace

TensorPlan make_tensor_plan(const ModelSource& source, DType quant, bool quantize_embeddings,
                            bool interleave, size_t lut_group) {
  const ModelConfig& c = source.config();
  const bool palettized = dtype_traits(quant).lut_bits > 0;
  if (palettized && !lut_layout_for_group(lut_group))
    fail(ErrorCode::kInvalidArgument, kComponent, "--group-size {} is not 8, 16 or 32", lut_group);
  TensorPlan plan;
  const bool with_lm_head = !c.tie_word_embeddings;
  const bool float_quant = !dtype_traits(quant).quantized;

  std::set<std::string> used;
  std::vector<std::string> fallback;  // tensors whose rows do not fill whole blocks
  uint64_t fallback_cols = 0;
  for (const auto& [name, expect] : expected_tensors(c, with_lm_head)) {
    std::optional<TensorRef> t = source.tensor(name);
    if (!t) fail(ErrorCode::kNotFound, kComponent, "the model lacks tensor '{}'", name);
    if (t->type->to_float == nullptr && t->layout == Layout::kRows)  // a lut matrix reads whole
      fail(ErrorCode::kUnsupported, kComponent, "tensor '{}' has type {}, which corelm cannot read",
           name, t->type->name);
    used.insert(name);
    DType dtype = quant;
    if (expect.size() == 1) dtype = DType::kF32;  // norm weights
    // The embedding table stays f16 unless asked: a tied one is also the output projection.
    if (name == "model.embed_tokens.weight" && !float_quant && !quantize_embeddings)
      dtype = DType::kF16;
    if (t->shape != expect)
      fail(ErrorCode::kCorrupt, kComponent,
           "tensor '{}' has shape [{}] but config.json implies [{}]", name,
           fmt::join(t->shape, ", "), fmt::join(expect, ", "));
    if (!dtype_fits_row(dtype, expect.back())) {
      fallback.push_back(name);
      fallback_cols = expect.back();
      dtype = DType::kF16;
    }
    // Only q4 matrices are written interleaved (q8 ones are interleaved at load when it pays).
    Layout layout = interleave && expect.size() == 2 && dtype_traits(dtype).q4_blocks &&
                            layout_fits(dtype, Layout::kInterleaved8, expect[0], expect[1])
                        ? Layout::kInterleaved8
                        : Layout::kRows;
    if (dtype_traits(dtype).lut_bits > 0) layout = *lut_layout_for_group(lut_group);
    plan.entries.push_back({name, std::move(*t), dtype, expect, layout});
  }
  if (!fallback.empty())
    plan.notes.push_back(fmt::format(
        "{} tensor(s) kept in f16 because rows of {} values do not divide into blocks of {}: {}{}",
        fallback.size(), fallback_cols, dtype_traits(quant).block_elements, fallback.front(),
        fallback.size() > 1 ? ", ..." : ""));
  for (const auto& name : source.tensor_names()) {
    if (used.count(name)) continue;
    if (name.ends_with("rotary_emb.inv_freq")) continue;  // recomputed from rope_theta
    // A package source's LoRA functions: the converter copies them (source.functions()).
    if (name.starts_with("functions.") && !source.functions().empty()) continue;
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
