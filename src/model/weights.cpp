#include "model/weights.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <string_view>

#include "base/check.h"
#include "base/half.h"
#include "kernels/isa.h"
#include "tensor/layout.h"
#include "tensor/quant.h"

namespace corelm {

namespace {
constexpr const char* kComponent = "model";

// "model.layers.N.self_attn.q_proj" -> (N, kQ); nullopt for anything else.
std::optional<std::pair<int, Projection>> parse_module(const std::string& module, int layers) {
  // The tensor names of llama_tensors.h, in Projection order.
  static const LayerTensor kTensors[kProjections] = {
      LayerTensor::kQ,    LayerTensor::kK,  LayerTensor::kV,   LayerTensor::kO,
      LayerTensor::kGate, LayerTensor::kUp, LayerTensor::kDown};
  constexpr std::string_view kPrefix = "model.layers.";
  if (module.rfind(kPrefix, 0) != 0) return std::nullopt;
  size_t i = kPrefix.size(), end = i;
  while (end < module.size() && end - i < 9 && module[end] >= '0' && module[end] <= '9') ++end;
  if (end == i || (module[i] == '0' && end - i > 1)) return std::nullopt;
  const int layer = std::stoi(module.substr(i, end - i));
  if (layer >= layers) return std::nullopt;
  for (size_t p = 0; p < kProjections; ++p)
    if (module + ".weight" == layer_tensor_name(layer, kTensors[p]))
      return std::make_pair(layer, static_cast<Projection>(p));
  return std::nullopt;
}

const Linear& projection(const LayerWeights& l, Projection p) {
  switch (p) {
    case Projection::kQ:
      return l.q_proj;
    case Projection::kK:
      return l.k_proj;
    case Projection::kV:
      return l.v_proj;
    case Projection::kO:
      return l.o_proj;
    case Projection::kGate:
      return l.gate_proj;
    case Projection::kUp:
      return l.up_proj;
    case Projection::kDown:
      return l.down_proj;
  }
  return l.q_proj;
}

// Each function's adapters, checked against the matrices they adapt.
void bind_functions(const ModelConfig& c, const ModelSource& source, Weights& w) {
  for (const FunctionRef& f : source.functions()) {
    FunctionWeights fw;
    fw.name = f.name;
    fw.layers.resize(static_cast<size_t>(c.num_hidden_layers));
    for (const AdapterRef& a : f.adapters) {
      auto target = parse_module(a.module, c.num_hidden_layers);
      if (!target)
        fail(ErrorCode::kCorrupt, kComponent,
             "function '{}' adapts '{}', which is not a projection of this model", f.name,
             a.module);
      const auto [layer, p] = *target;
      if (w.rope_interleaved && (p == Projection::kQ || p == Projection::kK))
        fail(ErrorCode::kUnsupported, kComponent,
             "function '{}' adapts '{}' of a model whose q/k rows are rotary-interleaved", f.name,
             a.module);
      const Linear& base = projection(w.layers[static_cast<size_t>(layer)], p);
      const uint64_t rank = a.a.rows();
      if (a.a.cols() != base.cols() || a.b.rows() != base.rows() || a.b.cols() != rank)
        fail(ErrorCode::kCorrupt, kComponent,
             "function '{}' module '{}': lora_A [{}, {}] and lora_B [{}, {}] do not fit the base "
             "matrix [{}, {}]",
             f.name, a.module, a.a.rows(), a.a.cols(), a.b.rows(), a.b.cols(), base.rows(),
             base.cols());
      auto linear = [&](const TensorRef& t, const char* which) {
        if (!t.dtype() || t.layout != Layout::kRows || t.bytes != t.rows() * t.row_bytes())
          fail(ErrorCode::kCorrupt, kComponent, "function '{}' {} of '{}' has type {} in {} bytes",
               f.name, which, a.module, t.type->name, t.bytes);
        return Linear(t.name, *t.dtype(), Layout::kRows, t.data, t.rows(), t.cols());
      };
      const Linear b = linear(a.b, "lora_B");
      // B transposed into memory the Weights own: f16 stays f16 (exact), others become f32.
      const DType bt_dtype = b.dtype() == DType::kF16 ? DType::kF16 : DType::kF32;
      const size_t out = b.rows();
      auto buffer =
          std::make_unique<AlignedBuffer<uint8_t>>(rank * out * dtype_traits(bt_dtype).block_bytes);
      std::vector<float> row(rank);
      for (size_t o = 0; o < out; ++o) {
        b.read_row(o, row.data());
        for (size_t r = 0; r < rank; ++r) {
          if (bt_dtype == DType::kF16)
            reinterpret_cast<uint16_t*>(buffer->data())[r * out + o] = float_to_fp16(row[r]);
          else
            reinterpret_cast<float*>(buffer->data())[r * out + o] = row[r];
        }
      }
      const void* bt = buffer->data();
      w.owned.push_back(std::move(buffer));
      fw.layers[static_cast<size_t>(layer)][static_cast<size_t>(p)] =
          LoraWeights{linear(a.a, "lora_A"), bt, bt_dtype, rank, a.scale};
      fw.max_rank = std::max<size_t>(fw.max_rank, rank);
      fw.bytes += a.a.bytes + a.b.bytes;
      ++fw.adapters;
    }
    w.max_lora_rank = std::max(w.max_lora_rank, fw.max_rank);
    w.functions.push_back(std::move(fw));
  }
}

}  // namespace

Weights bind_weights(const ModelConfig& c, const ModelSource& source) {
  Weights w;
  auto get = [&](const std::string& name) -> TensorRef {
    auto t = source.tensor(name);
    if (!t) fail(ErrorCode::kCorrupt, kComponent, "the model lacks tensor '{}'", name);
    w.bytes += t->bytes;
    uint64_t n = 1;
    for (auto d : t->shape) n *= d;
    w.parameters += n;
    return *t;
  };
  // A tensor whose type does not run directly is converted once: vectors to f32, matrices to
  // q8_0 (f16 when rows do not fill its blocks).
  auto convert = [&](const TensorRef& t, DType to) -> const uint8_t* {
    if (t.type->to_float == nullptr)
      fail(ErrorCode::kUnsupported, kComponent, "tensor '{}' has type {}, which corelm cannot read",
           t.name, t.type->name);
    const uint64_t rows = t.rows(), cols = t.cols(), out_row = dtype_row_bytes(to, cols);
    auto buffer = std::make_unique<AlignedBuffer<uint8_t>>(rows * out_row);
    std::vector<float> tmp(cols);
    for (uint64_t r = 0; r < rows; ++r) {
      t.type->to_float(t.data + r * t.row_bytes(), tmp.data(), cols);  // the source's row order
      quantize_row(to, tmp.data(), buffer->data() + r * out_row, cols);
    }
    const uint8_t* data = buffer->data();
    w.owned.push_back(std::move(buffer));
    ++w.converted;
    return data;
  };
  std::optional<bool> interleaved;  // the rotary order of the q/k rows (kept when converted)
  // `rotary`: a q/k projection, whose rows the rope op reads in the source's rotary order.
  auto matrix = [&](const std::string& name, uint64_t rows, uint64_t cols, bool rotary = false,
                    bool embedding = false) -> Linear {
    TensorRef t = get(name);
    if (t.shape.size() != 2 || t.shape[0] != rows || t.shape[1] != cols)
      fail(ErrorCode::kCorrupt, kComponent,
           "tensor '{}' has shape [{}] but the config needs [{}, {}]", name,
           fmt::join(t.shape, ", "), rows, cols);
    // Rows, or the layout's tiles and tables (a package's interleaved8 or lut_g matrix).
    const uint64_t expect_bytes =
        t.dtype() ? layout_matrix_bytes(*t.dtype(), t.layout, rows, cols) : t.row_bytes() * rows;
    if (cols % t.type->block_elements != 0 || expect_bytes != t.bytes)
      fail(ErrorCode::kCorrupt, kComponent, "tensor '{}' holds {} bytes, not {} rows of {} {}",
           name, t.bytes, rows, cols, t.type->name);
    if (rotary) {
      if (interleaved && *interleaved != t.rotary_interleaved)
        fail(ErrorCode::kCorrupt, kComponent, "tensor '{}' has another rotary layout than the rest",
             name);
      interleaved = t.rotary_interleaved;
    }
    if (!t.dtype()) {
      const DType to =
          cols % dtype_traits(DType::kQ8_0).block_elements == 0 ? DType::kQ8_0 : DType::kF16;
      return Linear(name, to, Layout::kRows, convert(t, to), rows, cols);
    }
    // Row matrices whose kernels run several times faster in another layout are repacked once:
    // q4 rows (GGUF's Q4_0) into interleaved8 always; q8 rows (GGUF's Q8_0, q8s32 packages) into
    // interleaved8 and Q4_K rows into interleaved16 tiles when this process's kernel table says
    // it pays. The values are the same, only their order changes (and Q4_K's scales are
    // unpacked), so the results do not. The file's pages of the tensor are dropped afterwards, so
    // resident memory holds one copy.
    const DType d = *t.dtype();
    const KernelTable& table = active_kernels();
    const Layout to = dtype_traits(d).q4_blocks || (q8_blocks(d) && table.interleave_q8)
                          ? Layout::kInterleaved8
                      : d == DType::kQ4_K && table.interleave_q4_k ? Layout::kInterleaved16
                                                                   : Layout::kRows;
    if (!embedding && t.layout == Layout::kRows && to != Layout::kRows &&
        layout_fits(d, to, rows, cols)) {
      auto buffer =
          std::make_unique<AlignedBuffer<uint8_t>>(layout_matrix_bytes(d, to, rows, cols));
      buffer->advise_huge_pages();  // streamed every token: a few % faster decode on Zen 4
      repack_rows(d, to, t.data, rows, cols, buffer->data());
      if (t.file) t.file->drop_pages(t.file_offset, t.bytes);
      const uint8_t* data = buffer->data();
      w.owned.push_back(std::move(buffer));
      ++w.repacked;
      return Linear(name, d, to, data, rows, cols);
    }
    return Linear(name, *t.dtype(), t.layout, t.data, rows, cols);
  };
  auto vector = [&](const std::string& name, uint64_t n) -> const float* {
    TensorRef t = get(name);
    uint64_t elements = 1;
    for (auto d : t.shape) elements *= d;
    if (elements != n || n % t.type->block_elements != 0 ||
        t.bytes != n / t.type->block_elements * t.type->block_bytes)
      fail(ErrorCode::kCorrupt, kComponent, "tensor '{}' must be {} f32 values (has {} {})", name,
           n, elements, t.type->name);
    if (t.dtype() == DType::kF32) return reinterpret_cast<const float*>(t.data);
    return reinterpret_cast<const float*>(convert(t, DType::kF32));
  };

  const uint64_t hidden = c.hidden_size, inter = c.intermediate_size;
  const uint64_t q_dim = static_cast<uint64_t>(c.num_attention_heads) * c.head_dim;
  const uint64_t kv_dim = static_cast<uint64_t>(c.num_key_value_heads) * c.head_dim;
  // The embedding is looked up a row at a time: it stays as stored (unless tied, when the output
  // projection reads it too).
  w.embed_tokens =
      matrix("model.embed_tokens.weight", c.vocab_size, hidden, false, !c.tie_word_embeddings);
  // An untied embedding table is read a row per token: do not let it pile up in memory, and keep
  // the OS from reading its neighbours ahead (unless it is also the output projection).
  if (auto e = source.tensor("model.embed_tokens.weight");
      e && e->file && e->dtype() && !c.tie_word_embeddings) {
    w.embed_tokens.release_after_lookup = true;
    e->file->advise_random(e->file_offset, e->bytes);
  }
  for (int i = 0; i < c.num_hidden_layers; ++i) {
    LayerWeights l;
    l.input_layernorm = vector(layer_tensor_name(i, LayerTensor::kInputNorm), hidden);
    l.q_proj = matrix(layer_tensor_name(i, LayerTensor::kQ), q_dim, hidden, true);
    l.k_proj = matrix(layer_tensor_name(i, LayerTensor::kK), kv_dim, hidden, true);
    l.v_proj = matrix(layer_tensor_name(i, LayerTensor::kV), kv_dim, hidden);
    l.o_proj = matrix(layer_tensor_name(i, LayerTensor::kO), hidden, q_dim);
    l.post_attention_layernorm = vector(layer_tensor_name(i, LayerTensor::kPostNorm), hidden);
    l.gate_proj = matrix(layer_tensor_name(i, LayerTensor::kGate), inter, hidden);
    l.up_proj = matrix(layer_tensor_name(i, LayerTensor::kUp), inter, hidden);
    l.down_proj = matrix(layer_tensor_name(i, LayerTensor::kDown), hidden, inter);
    w.layers.push_back(std::move(l));
  }
  w.norm = vector("model.norm.weight", hidden);
  if (c.tie_word_embeddings) {
    w.lm_head = w.embed_tokens;
    if (source.tensor("lm_head.weight"))
      fail(ErrorCode::kCorrupt, kComponent,
           "tie_word_embeddings is true but the model also has 'lm_head.weight'");
  } else {
    w.lm_head = matrix("lm_head.weight", c.vocab_size, hidden);
  }
  w.rope_interleaved = interleaved.value_or(false);
  bind_functions(c, source, w);
  return w;
}

}  // namespace corelm
