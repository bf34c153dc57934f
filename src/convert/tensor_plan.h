// The tensor plan: which source tensor becomes which package tensor, in what dtype. Shapes are
// checked against the config here, before a byte is written.
#pragma once

#include <string>
#include <vector>

#include "corelm/model.h"
#include "source/model_source.h"
#include "tensor/dtype.h"
#include "tensor/layout.h"

namespace corelm {

struct PlanEntry {
  std::string name;  // HF name, also the package name
  TensorRef source;
  DType dtype;  // stored as
  std::vector<uint64_t> shape;
  Layout layout = Layout::kRows;
};

struct TensorPlan {
  std::vector<PlanEntry> entries;
  std::vector<std::string> notes;
};

// `quant` is the dtype of linear layers; embeddings use it only when `quantize_embeddings` (or
// when it is a float type); norms are always f32. Rows that do not fill whole blocks fall back
// to f16 with a note. Tensors of the source the plan would drop are rejected. q4s32 matrices use
// the interleaved8 layout when `interleave` and their rows allow it; palettized (lut4) matrices
// the lut_g layout of `lut_group` rows (8, 16 or 32; a short last group is allowed).
TensorPlan make_tensor_plan(const ModelSource& source, DType quant, bool quantize_embeddings,
                            bool interleave = true, size_t lut_group = 16);

}  // namespace corelm
