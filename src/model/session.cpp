// Session: the stateful forward pass. Every buffer is sized in the constructor; forward() only
// reads weights, writes the preallocated activations and the KV cache slots [past, past + q).
// The layer loop reads like the architecture: norm -> attention -> residual -> norm -> MLP ->
// residual.
#include <algorithm>
#include <cmath>
#include <limits>

#include "backend/backend.h"
#include "base/boundary.h"
#include "base/check.h"
#include "base/memory_info.h"
#include "model/activation_observer.h"
#include "model/engine.h"
#include "model/kv_cache.h"
#include "model/model_impl.h"
#include "model/rope.h"
#include "tensor/ops.h"

namespace corelm {

namespace {
constexpr const char* kComponent = "model";
constexpr float kNegInf = -std::numeric_limits<float>::infinity();
// Everything a Session allocates, summed before any of it is: a context that cannot fit is a
// clear error up front, not an allocation failure (or an OOM kill) midway.
void check_session_memory(const ModelConfig& c, const SessionOptions& o, int n_threads) {
  const double tokens = static_cast<double>(o.max_batch) * o.max_chunk, ctx = o.max_context;
  const double threads = n_threads;
  const double elem = o.kv_cache == KvCacheType::kF32   ? 4.0
                      : o.kv_cache == KvCacheType::kF16 ? 2.0
                                                        : 1.0;
  const double slots =
      static_cast<double>(o.max_batch) * c.num_hidden_layers * c.num_key_value_heads * ctx;
  const double kv =
      2.0 * slots * (c.head_dim * elem + (o.kv_cache == KvCacheType::kQ8 ? 4.0 : 0.0));
  const double q_dim = static_cast<double>(c.num_attention_heads) * c.head_dim;
  const double kv_dim = static_cast<double>(c.num_key_value_heads) * c.head_dim;
  const double activations =
      4.0 * tokens *
          (2.0 * c.hidden_size + std::max(2.0 * q_dim + 2.0 * kv_dim, 2.0 * c.intermediate_size)) +
      40.0 / 32.0 * tokens *
          std::max<double>({static_cast<double>(c.hidden_size),
                            static_cast<double>(c.intermediate_size), q_dim});
  // Attention's per-thread tile (ops.cpp: a block of 64 keys and values and a few rows, not sized
  // by the context) and the RoPE tables.
  const double attention =
      threads * 4.0 * (2.0 * 64 * c.head_dim + 2.0 * 64 + 2.0 * 128 + c.head_dim) +
      4.0 * ctx * c.head_dim;
  const double logits = 4.0 * (o.all_logits ? tokens : o.max_batch) * c.vocab_size;
  const double need = kv + activations + attention + logits + 4.0 * o.max_batch * ctx;
  const uint64_t available = available_memory_bytes();
  if (available > 0 && need > static_cast<double>(available))
    fail(ErrorCode::kResourceExhausted, kComponent,
         "a session with a {} KV cache for {} tokens needs {} ({} for the cache) but only {} of "
         "memory is available "
         "(lower --max-context or use --kv-cache q8)",
         kv_cache_type_name(o.kv_cache), o.max_context, format_mem(need), format_mem(kv),
         format_mem(static_cast<double>(available)));
}

}  // namespace

// One sequence of a forward call, resolved: its slot, its rows in the activations, its start.
struct SequenceRun {
  int slot;
  size_t first_row, q_len, past;
  const float* mask;  // [q_len, past + q_len] additive, or null for the standard causal mask
};

struct Session::Impl {
  std::shared_ptr<const Model> model;
  const ModelConfig& cfg;
  const Weights& w;
  Engine& engine;
  SessionOptions opt;
  int max_context;
  size_t max_tokens;  // max_batch * max_chunk
  size_t q_dim, kv_dim;
  std::unique_ptr<Backend> backend;  // the ops of the forward pass (CPU today)
  KvCache cache;
  RopeTable rope;
  std::vector<int> pasts;  // tokens in the cache, per slot
  // The function each slot runs: an index into w.functions (-1: the base model), and the factor
  // on its adapters' scales.
  std::vector<int> slot_function;
  std::vector<float> slot_scale;
  // LoRA scratch (allocated only when the model has functions): A x of up to three projections
  // at once, [3][max_tokens, max rank].
  AlignedBuffer<float> lora_low;

  // Activations. x and xn [max_tokens, hidden] live through the whole pass; the attention block's
  // q, k, v, attn and the MLP's gate, up are never live at once, so they share one arena.
  AlignedBuffer<float> x, xn, arena;
  float *q = nullptr, *k = nullptr, *v = nullptr,
        *attn = nullptr;                 // [max_tokens, q_dim / kv_dim / kv_dim / q_dim]
  float *gate = nullptr, *up = nullptr;  // [max_tokens, intermediate]
  AlignedBuffer<float> last;             // [max_batch, hidden]: final hidden state of each sequence
  AlignedBuffer<float> logits;           // [max_tokens or max_batch, vocab]
  std::vector<int32_t> positions;
  std::vector<float> mask;  // scratch for forward() with left padding
  // Per-call scratch, sized max_batch once (a forward call allocates nothing).
  std::vector<SequenceRun> runs;
  std::vector<ops::AttentionSequence> attention_sequences;
  std::vector<int32_t> ids;
  std::vector<char> slot_used;

  Impl(std::shared_ptr<const Model> m, const SessionOptions& o, int context)
      : model(std::move(m)),
        cfg(model->config()),
        w(ModelAccess::impl(*model).weights),
        engine(ModelAccess::engine(*model)),
        opt(o),
        max_context(context),
        max_tokens(static_cast<size_t>(o.max_batch) * o.max_chunk),
        q_dim(static_cast<size_t>(cfg.num_attention_heads) * cfg.head_dim),
        kv_dim(static_cast<size_t>(cfg.num_key_value_heads) * cfg.head_dim),
        backend(make_cpu_backend(
            engine.pool(), {max_tokens,
                            std::max<size_t>({static_cast<size_t>(cfg.hidden_size),
                                              static_cast<size_t>(cfg.intermediate_size), q_dim}),
                            static_cast<size_t>(cfg.head_dim)})),
        cache(o.max_batch, cfg.num_hidden_layers, cfg.num_key_value_heads, context, cfg.head_dim,
              o.kv_cache),
        rope(make_rope_table(cfg, context)),
        pasts(static_cast<size_t>(o.max_batch), 0),
        slot_function(static_cast<size_t>(o.max_batch), -1),
        slot_scale(static_cast<size_t>(o.max_batch), 1.0f) {
    const size_t hidden = cfg.hidden_size, inter = cfg.intermediate_size;
    if (!w.functions.empty()) lora_low.allocate(3 * max_tokens * w.max_lora_rank);
    x.allocate(max_tokens * hidden);
    xn.allocate(max_tokens * hidden);
    const size_t attention_floats = max_tokens * (2 * q_dim + 2 * kv_dim),
                 mlp_floats = max_tokens * 2 * inter;
    arena.allocate(std::max(attention_floats, mlp_floats));
    q = arena.data();
    k = q + max_tokens * q_dim;
    v = k + max_tokens * kv_dim;
    attn = v + max_tokens * kv_dim;
    gate = arena.data();
    up = gate + max_tokens * inter;
    last.allocate(static_cast<size_t>(o.max_batch) * hidden);
    logits.allocate((o.all_logits ? max_tokens : static_cast<size_t>(o.max_batch)) *
                    cfg.vocab_size);
    positions.resize(max_tokens);
    // Enough for every decode step (q = 1); a prefill chunk's larger mask may grow it once.
    mask.reserve(static_cast<size_t>(o.max_batch) * static_cast<size_t>(context));
    runs.reserve(o.max_batch);
    attention_sequences.resize(o.max_batch);
    ids.reserve(max_tokens);
    slot_used.resize(o.max_batch);
  }

  void check_slot(int slot) const {
    if (slot < 0 || slot >= opt.max_batch)
      fail(ErrorCode::kInvalidArgument, kComponent, "sequence slot {} is outside [0, {})", slot,
           opt.max_batch);
  }

  void attention_block(int layer, const LayerWeights& lw, size_t n) {
    const size_t hd = cfg.head_dim;
    backend->rmsnorm(x.data(), lw.input_layernorm, xn.data(), n, cfg.hidden_size, cfg.rms_norm_eps);
    observe(layer, ActivationSite::kAttentionInput, xn.data(), n, cfg.hidden_size);
    backend->linear_multi(xn.data(), n, lw.q_proj, q, &lw.k_proj, k, &lw.v_proj, v);
    if (lora_active)
      apply_lora(
          layer,
          {{Projection::kQ, q, q_dim}, {Projection::kK, k, kv_dim}, {Projection::kV, v, kv_dim}},
          xn.data(), cfg.hidden_size);
    backend->rope(q, n, cfg.num_attention_heads, hd, positions.data(), rope.cos.data(),
                  rope.sin.data(), w.rope_interleaved);
    backend->rope(k, n, cfg.num_key_value_heads, hd, positions.data(), rope.cos.data(),
                  rope.sin.data(), w.rope_interleaved);
    for (size_t i = 0; i < runs.size(); ++i) {
      const SequenceRun& r = runs[i];
      backend->kv_store(cache.view(r.slot, layer), k + r.first_row * kv_dim,
                        v + r.first_row * kv_dim, r.q_len, cfg.num_key_value_heads, hd, r.past);
      attention_sequences[i] = {&cache.view(r.slot, layer), r.first_row, r.q_len, r.past + r.q_len,
                                r.mask};
    }
    ops::AttentionArgs a{
        q,
        attn,
        std::span<const ops::AttentionSequence>(attention_sequences.data(), runs.size()),
        static_cast<size_t>(cfg.num_attention_heads),
        static_cast<size_t>(cfg.num_key_value_heads),
        hd,
        1.0f / std::sqrt(static_cast<float>(hd)),
        static_cast<size_t>(cfg.sliding_window.value_or(0))};
    backend->attention(a);
    observe(layer, ActivationSite::kAttentionOutput, attn, n, q_dim);
    backend->linear(lw.o_proj, attn, n, xn.data());
    if (lora_active)
      apply_lora(layer, {{Projection::kO, xn.data(), static_cast<size_t>(cfg.hidden_size)}}, attn,
                 q_dim);
    backend->add(x.data(), xn.data(), n * cfg.hidden_size);
  }

  void mlp_block(int layer, const LayerWeights& lw, size_t n) {
    const size_t inter = cfg.intermediate_size;
    backend->rmsnorm(x.data(), lw.post_attention_layernorm, xn.data(), n, cfg.hidden_size,
                     cfg.rms_norm_eps);
    observe(layer, ActivationSite::kMlpInput, xn.data(), n, cfg.hidden_size);
    backend->linear_multi(xn.data(), n, lw.gate_proj, gate, &lw.up_proj, up, nullptr, nullptr);
    if (lora_active)
      apply_lora(layer, {{Projection::kGate, gate, inter}, {Projection::kUp, up, inter}}, xn.data(),
                 cfg.hidden_size);
    backend->silu_mul(gate, up, n * inter);
    observe(layer, ActivationSite::kMlpHidden, gate, n, inter);
    backend->linear(lw.down_proj, gate, n, xn.data());
    if (lora_active)
      apply_lora(layer, {{Projection::kDown, xn.data(), static_cast<size_t>(cfg.hidden_size)}},
                 gate, inter);
    backend->add(x.data(), xn.data(), n * cfg.hidden_size);
  }

  // One projection a LoRA update may target, with the output it adds to ([n, out]).
  struct LoraTarget {
    Projection projection;
    float* y;
    size_t out;
  };

  // y [n, out] += scale * B (A x) for each target, for the rows of each sequence whose slot's
  // function adapts it; x [n, in] is the targets' common input. Neighbouring sequences of one
  // function (and scale) run as one block of rows; the A projections of the targets run in one
  // call, as the base projections did.
  void apply_lora(int layer, std::initializer_list<LoraTarget> targets, const float* xin,
                  size_t in) {
    size_t i = 0;
    while (i < runs.size()) {
      const int fn = slot_function[static_cast<size_t>(runs[i].slot)];
      const float factor = slot_scale[static_cast<size_t>(runs[i].slot)];
      size_t j = i + 1, rows = runs[i].q_len;
      while (j < runs.size() && slot_function[static_cast<size_t>(runs[j].slot)] == fn &&
             slot_scale[static_cast<size_t>(runs[j].slot)] == factor &&
             runs[j].first_row == runs[i].first_row + rows) {
        rows += runs[j].q_len;
        ++j;
      }
      if (fn >= 0 && factor != 0.0f) {
        const auto& adapters =
            w.functions[static_cast<size_t>(fn)].layers[static_cast<size_t>(layer)];
        const size_t first = runs[i].first_row;
        const LoraWeights* used[3] = {};
        const LoraTarget* where[3] = {};
        float* low[3] = {};
        size_t count = 0;
        for (const LoraTarget& t : targets) {
          const auto& adapter = adapters[static_cast<size_t>(t.projection)];
          if (!adapter) continue;
          used[count] = &*adapter;
          where[count] = &t;
          low[count] = lora_low.data() + count * max_tokens * w.max_lora_rank;
          ++count;
        }
        if (count > 0) {
          backend->linear_multi(xin + first * in, rows, used[0]->a, low[0],
                                count > 1 ? &used[1]->a : nullptr, low[1],
                                count > 2 ? &used[2]->a : nullptr, low[2]);
          ops::LowRankUpdate updates[3];
          for (size_t k = 0; k < count; ++k)
            updates[k] = {used[k]->bt,
                          used[k]->bt_dtype,
                          used[k]->rank,
                          where[k]->out,
                          low[k],
                          used[k]->scale * factor,
                          where[k]->y + first * where[k]->out};
          backend->add_low_rank(std::span<const ops::LowRankUpdate>(updates, count), rows);
        }
      }
      i = j;
    }
  }

  // Whether any sequence of the current call runs a function (else the pass is the base's).
  bool lora_active = false;
  // Sees each linear layer's input (corelm imatrix); null for every other Session.
  ActivationObserver* observer = nullptr;

  void observe(int layer, ActivationSite site, const float* rows, size_t n, size_t cols) {
    if (observer != nullptr) observer->observe(layer, site, rows, n, cols);
  }

  void set_function(int slot, int fn, float scale) {
    const size_t s = static_cast<size_t>(slot);
    if (fn < 0) scale = 1.0f;  // the base model has no adapters to scale
    if (slot_function[s] == fn && slot_scale[s] == scale) return;
    slot_function[s] = fn;
    slot_scale[s] = scale;
    pasts[s] = 0;  // its keys and values were computed under another function
  }

  int function_index(const std::string& name) const {
    if (name.empty() || name == "main") return -1;
    for (size_t i = 0; i < w.functions.size(); ++i)
      if (w.functions[i].name == name) return static_cast<int>(i);
    std::string names = "main";
    for (const auto& f : w.functions) names += ", " + f.name;
    fail(ErrorCode::kNotFound, kComponent, "the model has no function '{}' (it has: {})", name,
         names);
  }

  // The call succeeded: each slot now holds its new tokens.
  void advance() {
    for (const SequenceRun& r : runs) pasts[r.slot] = static_cast<int>(r.past + r.q_len);
  }

  // Runs `runs` (validated) over the token ids `ids` (their rows in order).
  std::span<const float> run(std::span<const int32_t> token_ids) {
    const size_t n = token_ids.size();
    for (const SequenceRun& r : runs)
      for (size_t t = 0; t < r.q_len; ++t)
        positions[r.first_row + t] = static_cast<int32_t>(r.past + t);

    lora_active = false;
    for (const SequenceRun& r : runs)
      if (slot_function[static_cast<size_t>(r.slot)] >= 0) lora_active = true;
    std::lock_guard<std::mutex> lock(engine.compute_mutex());
    backend->embed(w.embed_tokens, token_ids, x.data());
    for (int l = 0; l < cfg.num_hidden_layers; ++l) {
      const LayerWeights& lw = w.layers[l];
      attention_block(l, lw, n);
      mlp_block(l, lw, n);
    }

    const size_t hidden = cfg.hidden_size, vocab = cfg.vocab_size;
    if (opt.all_logits) {
      backend->rmsnorm(x.data(), w.norm, xn.data(), n, hidden, cfg.rms_norm_eps);
      observe(-1, ActivationSite::kFinal, xn.data(), n, hidden);
      backend->linear(w.lm_head, xn.data(), n, logits.data());
      advance();
      return {logits.data(), n * vocab};
    }
    const size_t count = runs.size();
    for (size_t i = 0; i < count; ++i) {
      const SequenceRun& r = runs[i];
      std::copy_n(x.data() + (r.first_row + r.q_len - 1) * hidden, hidden,
                  last.data() + i * hidden);
    }
    backend->rmsnorm(last.data(), w.norm, last.data(), count, hidden, cfg.rms_norm_eps);
    observe(-1, ActivationSite::kFinal, last.data(), count, hidden);
    backend->linear(w.lm_head, last.data(), count, logits.data());
    advance();
    return {logits.data(), count * vocab};
  }

  // The logits as a read-only Tensor [leading..., vocab].
  Tensor logits_view(std::span<const float> values, std::initializer_list<int64_t> leading) const {
    Shape shape(leading);
    shape.push_back(cfg.vocab_size);
    return Tensor::view(values.data(), shape);
  }

  void check_shape(int batch, int q) const {
    if (batch < 1 || batch > opt.max_batch)
      fail(ErrorCode::kInvalidArgument, kComponent, "batch {} is outside [1, {}] (max_batch)",
           batch, opt.max_batch);
    if (q < 1 || q > opt.max_chunk)
      fail(ErrorCode::kInvalidArgument, kComponent,
           "{} tokens per call is outside [1, {}] "
           "(max_chunk)",
           q, opt.max_chunk);
  }

  void check_room(int slot, size_t past, size_t q_len) const {
    if (past + q_len > static_cast<size_t>(max_context))
      fail(ErrorCode::kOutOfRange, kComponent,
           "sequence {} needs {} positions but the context holds {} (raise --max-context)", slot,
           past + q_len, max_context);
  }

  // The seed's contract: slots 0..batch-1 at one position, [batch, q] ids, explicit mask.
  std::span<const float> forward(std::span<const int32_t> token_ids, int batch_i, int q_i,
                                 std::span<const float> causal_mask) {
    check_shape(batch_i, q_i);
    const size_t batch = batch_i, q_len = q_i;
    if (token_ids.size() != batch * q_len)
      fail(ErrorCode::kInvalidArgument, kComponent, "input_ids has {} ids, expected [{}, {}]",
           token_ids.size(), batch, q_len);
    const size_t past = static_cast<size_t>(pasts[0]);
    for (size_t b = 1; b < batch; ++b)
      if (static_cast<size_t>(pasts[b]) != past)
        fail(ErrorCode::kInvalidArgument, kComponent,
             "sequences 0 and {} are at positions {} and {}: a [batch, q] call needs one "
             "position (pass SequenceInputs for sequences at different positions)",
             b, past, pasts[b]);
    check_room(0, past, q_len);
    const size_t end = past + q_len;
    if (causal_mask.size() != batch * q_len * end)
      fail(ErrorCode::kInvalidArgument, kComponent,
           "causal_mask has {} values, expected [{}, 1, {}, {}]", causal_mask.size(), batch, q_len,
           end);
    runs.clear();
    for (size_t b = 0; b < batch; ++b)
      runs.push_back(
          {static_cast<int>(b), b * q_len, q_len, past, causal_mask.data() + b * q_len * end});
    return run(token_ids);
  }

  std::span<const float> forward(std::span<const SequenceInput> sequences) {
    if (sequences.empty() || sequences.size() > static_cast<size_t>(opt.max_batch))
      fail(ErrorCode::kInvalidArgument, kComponent, "{} sequences is outside [1, {}] (max_batch)",
           sequences.size(), opt.max_batch);
    std::fill(slot_used.begin(), slot_used.end(), 0);
    size_t total = 0;
    for (const SequenceInput& s : sequences) {
      check_slot(s.slot);
      if (slot_used[s.slot])
        fail(ErrorCode::kInvalidArgument, kComponent, "sequence slot {} appears twice in one call",
             s.slot);
      slot_used[s.slot] = 1;
      if (s.tokens.empty())
        fail(ErrorCode::kInvalidArgument, kComponent, "sequence slot {} has no tokens", s.slot);
      check_room(s.slot, static_cast<size_t>(pasts[s.slot]), s.tokens.size());
      total += s.tokens.size();
    }
    if (total > max_tokens)
      fail(ErrorCode::kInvalidArgument, kComponent,
           "{} tokens in one call exceed max_batch x max_chunk = {}", total, max_tokens);
    runs.clear();
    ids.clear();
    for (const SequenceInput& s : sequences) {
      runs.push_back(
          {s.slot, ids.size(), s.tokens.size(), static_cast<size_t>(pasts[s.slot]), nullptr});
      ids.insert(ids.end(), s.tokens.begin(), s.tokens.end());
    }
    return run(ids);
  }
};

Session::Session(std::shared_ptr<const Model> model, const SessionOptions& options) {
  try {
    if (!model) fail(ErrorCode::kInvalidArgument, kComponent, "Session needs a model");
    const ModelConfig& cfg = model->config();
    // The default context stays within what the model was trained for; an explicit max_context
    // may go beyond it (as llama.cpp allows), with whatever quality RoPE gives there.
    int context = options.max_context > 0 ? options.max_context : model->info().default_max_context;
    if (context > (1 << 24))
      fail(ErrorCode::kOutOfRange, kComponent, "max_context {} is beyond any model's reach",
           context);
    (void)cfg;
    if (options.max_batch < 1 || options.max_chunk < 1)
      fail(ErrorCode::kInvalidArgument, kComponent,
           "max_batch ({}) and max_chunk ({}) must be positive", options.max_batch,
           options.max_chunk);
    SessionOptions o = options;
    o.max_chunk = std::min(o.max_chunk, context);
    o.max_context = context;
    check_session_memory(cfg, o, ModelAccess::engine(*model).threads());
    impl_ = std::make_unique<Impl>(std::move(model), o, context);
    if (!o.function.empty() || o.function_scale != 1.0f) set_function(o.function, o.function_scale);
  } catch (...) {
    rethrow_as_error("model");
  }
}

Session::~Session() = default;

Tensor Session::forward(std::span<const int32_t> input_ids, int batch, int q,
                        std::span<const float> causal_mask) {
  try {
    auto logits = impl_->forward(input_ids, batch, q, causal_mask);
    return impl_->opt.all_logits ? impl_->logits_view(logits, {batch, q})
                                 : impl_->logits_view(logits, {batch});
  } catch (...) {
    rethrow_as_error("model");
  }
}

Tensor Session::forward(std::span<const SequenceInput> sequences) {
  try {
    auto logits = impl_->forward(sequences);
    return impl_->logits_view(logits,
                              {static_cast<int64_t>(logits.size() / impl_->cfg.vocab_size)});
  } catch (...) {
    rethrow_as_error("model");
  }
}

Tensor Session::forward(std::span<const int32_t> input_ids, int batch, int q,
                        std::span<const int> left_padding) {
  try {
    impl_->check_shape(batch, q);
    if (!left_padding.empty() && left_padding.size() != static_cast<size_t>(batch))
      fail(ErrorCode::kInvalidArgument, kComponent, "left_padding has {} entries for a batch of {}",
           left_padding.size(), batch);
    for (int pad : left_padding)
      if (pad < 0 || pad > impl_->pasts[0] + q)
        fail(ErrorCode::kInvalidArgument, kComponent, "left padding {} is outside [0, {}]", pad,
             impl_->pasts[0] + q);
    impl_->check_room(0, static_cast<size_t>(impl_->pasts[0]), static_cast<size_t>(q));
    build_causal_mask(batch, q, impl_->pasts[0], left_padding, impl_->cfg.sliding_window,
                      impl_->mask);
    return forward(input_ids, batch, q, std::span<const float>(impl_->mask));
  } catch (...) {
    rethrow_as_error("model");
  }
}

void Session::build_causal_mask(int batch, int q, int past, std::span<const int> left_padding,
                                std::optional<int> sliding_window, std::vector<float>& mask) {
  const size_t end = static_cast<size_t>(past) + q;
  mask.resize(static_cast<size_t>(batch) * q * end);
  for (int b = 0; b < batch; ++b) {
    const int pad = left_padding.empty() ? 0 : left_padding[b];
    for (int t = 0; t < q; ++t) {
      const int pos = past + t;
      float* row = mask.data() + (static_cast<size_t>(b) * q + t) * end;
      for (size_t j = 0; j < end; ++j) {
        const int jj = static_cast<int>(j);
        bool visible = jj <= pos && jj >= pad && (!sliding_window || pos - jj < *sliding_window);
        row[j] = visible ? 0.0f : kNegInf;
      }
    }
  }
}

void Session::set_function(int slot, const std::string& name, float scale) {
  try {
    impl_->check_slot(slot);
    if (!std::isfinite(scale))
      fail(ErrorCode::kInvalidArgument, kComponent, "function scale {} is not finite", scale);
    impl_->set_function(slot, impl_->function_index(name), scale);
  } catch (...) {
    rethrow_as_error("model");
  }
}

void Session::set_function(const std::string& name, float scale) {
  for (int slot = 0; slot < impl_->opt.max_batch; ++slot) set_function(slot, name, scale);
}

const std::string& Session::function(int slot) const {
  static const std::string kBase;
  impl_->check_slot(slot);
  const int fn = impl_->slot_function[static_cast<size_t>(slot)];
  return fn < 0 ? kBase : impl_->w.functions[static_cast<size_t>(fn)].name;
}

float Session::function_scale(int slot) const {
  impl_->check_slot(slot);
  return impl_->slot_scale[static_cast<size_t>(slot)];
}

int Session::past() const {
  return impl_->pasts[0];
}

int Session::past(int slot) const {
  impl_->check_slot(slot);
  return impl_->pasts[slot];
}

void Session::truncate(int past) {
  const int longest = *std::max_element(impl_->pasts.begin(), impl_->pasts.end());
  if (past < 0 || past > longest)
    fail(ErrorCode::kInvalidArgument, kComponent, "cannot truncate the cache to {} (it holds {})",
         past, longest);
  for (int& p : impl_->pasts) p = std::min(p, past);
}

void Session::truncate(int slot, int past) {
  impl_->check_slot(slot);
  if (past < 0 || past > impl_->pasts[slot])
    fail(ErrorCode::kInvalidArgument, kComponent, "cannot truncate sequence {} to {} (it holds {})",
         slot, past, impl_->pasts[slot]);
  impl_->pasts[slot] = past;
}

void Session::copy_prefix(int from, int to, int length) {
  try {
    impl_->check_slot(from);
    impl_->check_slot(to);
    if (length < 0 || length > impl_->pasts[from])
      fail(ErrorCode::kInvalidArgument, kComponent,
           "cannot copy {} positions of sequence {} (it holds {})", length, from,
           impl_->pasts[from]);
    if (length > 0 && (impl_->slot_function[from] != impl_->slot_function[to] ||
                       impl_->slot_scale[from] != impl_->slot_scale[to]))
      fail(ErrorCode::kInvalidArgument, kComponent,
           "sequences {} and {} run different functions: their caches do not mix", from, to);
    if (from != to) impl_->cache.copy_prefix(from, to, static_cast<size_t>(length));
    impl_->pasts[to] = length;
  } catch (...) {
    rethrow_as_error("model");
  }
}

void SessionAccess::set_observer(Session& session, ActivationObserver* observer) {
  session.impl_->observer = observer;
}

std::vector<std::string> site_tensor_names(int layer, ActivationSite site) {
  switch (site) {
    case ActivationSite::kAttentionInput:
      return {layer_tensor_name(layer, LayerTensor::kQ), layer_tensor_name(layer, LayerTensor::kK),
              layer_tensor_name(layer, LayerTensor::kV)};
    case ActivationSite::kAttentionOutput:
      return {layer_tensor_name(layer, LayerTensor::kO)};
    case ActivationSite::kMlpInput:
      return {layer_tensor_name(layer, LayerTensor::kGate),
              layer_tensor_name(layer, LayerTensor::kUp)};
    case ActivationSite::kMlpHidden:
      return {layer_tensor_name(layer, LayerTensor::kDown)};
    case ActivationSite::kFinal:
      return {"lm_head.weight"};
  }
  return {};
}

const SessionOptions& Session::options() const {
  return impl_->opt;
}
const Model& Session::model() const {
  return *impl_->model;
}
int Session::max_context() const {
  return impl_->max_context;
}
int Session::vocab_size() const {
  return impl_->cfg.vocab_size;
}
size_t Session::kv_cache_bytes() const {
  return impl_->cache.bytes();
}

}  // namespace corelm
