// Session: the stateful forward pass. Every buffer is sized in the constructor; forward() only
// reads weights, writes the preallocated activations and the KV cache slots [past, past + q).
// The layer loop reads like the architecture: norm -> attention -> residual -> norm -> MLP ->
// residual.
#include <algorithm>
#include <cmath>
#include <limits>

#include "base/check.h"
#include "base/memory_info.h"
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
void check_session_memory(const ModelConfig& c, const SessionOptions& o) {
  const double tokens = static_cast<double>(o.max_batch) * o.max_chunk, ctx = o.max_context;
  const double threads = o.n_threads > 0 ? o.n_threads : 2.0;
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
  const double attention =
      threads * 4.0 * ctx * (1.0 + 2.0 * c.head_dim) + 4.0 * ctx * c.head_dim;  // scratch + RoPE
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

struct Session::Impl {
  std::shared_ptr<const Model> model;
  const ModelConfig& cfg;
  const Weights& w;
  SessionOptions opt;
  int max_context;
  size_t max_tokens;  // max_batch * max_chunk
  size_t q_dim, kv_dim;
  ComputeContext ctx;
  KvCache cache;
  RopeTable rope;
  int past = 0;

  // Activations. x and xn [max_tokens, hidden] live through the whole pass; the attention block's
  // q, k, v, attn and the MLP's gate, up are never live at once, so they share one arena.
  AlignedBuffer<float> x, xn, arena;
  float *q = nullptr, *k = nullptr, *v = nullptr,
        *attn = nullptr;                 // [max_tokens, q_dim / kv_dim / kv_dim / q_dim]
  float *gate = nullptr, *up = nullptr;  // [max_tokens, intermediate]
  AlignedBuffer<float> last;             // [max_batch, hidden]: final hidden state of each sequence
  AlignedBuffer<float> logits;           // [max_tokens or max_batch, vocab]
  std::vector<int32_t> positions;
  std::vector<float> mask;  // scratch for forward() without a mask

  Impl(std::shared_ptr<const Model> m, const SessionOptions& o, int context)
      : model(std::move(m)),
        cfg(model->config()),
        w(model->impl().weights),
        opt(o),
        max_context(context),
        max_tokens(static_cast<size_t>(o.max_batch) * o.max_chunk),
        q_dim(static_cast<size_t>(cfg.num_attention_heads) * cfg.head_dim),
        kv_dim(static_cast<size_t>(cfg.num_key_value_heads) * cfg.head_dim),
        ctx(o.n_threads, max_tokens,
            std::max<size_t>({static_cast<size_t>(cfg.hidden_size),
                              static_cast<size_t>(cfg.intermediate_size), q_dim}),
            static_cast<size_t>(context), static_cast<size_t>(cfg.head_dim)),
        cache(o.max_batch, cfg.num_hidden_layers, cfg.num_key_value_heads, context, cfg.head_dim,
              o.kv_cache),
        rope(make_rope_table(cfg, context)) {
    const size_t hidden = cfg.hidden_size, inter = cfg.intermediate_size;
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
  }

  void attention_block(int layer, const LayerWeights& lw, size_t batch, size_t q_len) {
    const size_t n = batch * q_len, hd = cfg.head_dim;
    ops::rmsnorm(ctx, x.data(), lw.input_layernorm, xn.data(), n, cfg.hidden_size,
                 cfg.rms_norm_eps);
    ops::linear_multi(ctx, xn.data(), n, lw.q_proj, q, &lw.k_proj, k, &lw.v_proj, v);
    ops::rope(ctx, q, n, cfg.num_attention_heads, hd, positions.data(), rope.cos.data(),
              rope.sin.data(), w.rope_interleaved);
    ops::rope(ctx, k, n, cfg.num_key_value_heads, hd, positions.data(), rope.cos.data(),
              rope.sin.data(), w.rope_interleaved);
    for (size_t b = 0; b < batch; ++b)
      ops::kv_store(ctx, cache.view(static_cast<int>(b), layer), k + b * q_len * kv_dim,
                    v + b * q_len * kv_dim, q_len, cfg.num_key_value_heads, hd,
                    static_cast<size_t>(past));
  }

  void mlp_block(const LayerWeights& lw, size_t n) {
    ops::rmsnorm(ctx, x.data(), lw.post_attention_layernorm, xn.data(), n, cfg.hidden_size,
                 cfg.rms_norm_eps);
    ops::linear_multi(ctx, xn.data(), n, lw.gate_proj, gate, &lw.up_proj, up, nullptr, nullptr);
    ops::silu_mul(ctx, gate, up, n * cfg.intermediate_size);
    ops::linear(ctx, lw.down_proj, gate, n, xn.data());
    ops::add(ctx, x.data(), xn.data(), n * cfg.hidden_size);
  }

  std::span<const float> forward(std::span<const int32_t> ids, int batch_i, int q_i,
                                 std::span<const float> causal_mask) {
    if (batch_i < 1 || batch_i > opt.max_batch)
      fail(ErrorCode::kInvalidArgument, kComponent, "batch {} is outside [1, {}] (max_batch)",
           batch_i, opt.max_batch);
    if (q_i < 1 || q_i > opt.max_chunk)
      fail(ErrorCode::kInvalidArgument, kComponent, "{} tokens per call exceed max_chunk {}", q_i,
           opt.max_chunk);
    const size_t batch = batch_i, q_len = q_i, n = batch * q_len;
    if (ids.size() != n)
      fail(ErrorCode::kInvalidArgument, kComponent, "input_ids has {} ids, expected [{}, {}]",
           ids.size(), batch, q_len);
    if (past + q_i > max_context)
      fail(ErrorCode::kOutOfRange, kComponent,
           "the sequence needs {} positions but the context holds {} (raise --max-context)",
           past + q_i, max_context);
    const size_t end = static_cast<size_t>(past) + q_len;
    if (causal_mask.size() != batch * q_len * end)
      fail(ErrorCode::kInvalidArgument, kComponent,
           "causal_mask has {} values, expected [{}, 1, {}, {}]", causal_mask.size(), batch, q_len,
           end);
    for (size_t b = 0; b < batch; ++b)
      for (size_t t = 0; t < q_len; ++t) positions[b * q_len + t] = past + static_cast<int32_t>(t);

    ops::embed(ctx, w.embed_tokens, ids, x.data());
    for (int l = 0; l < cfg.num_hidden_layers; ++l) {
      const LayerWeights& lw = w.layers[l];
      attention_block(l, lw, batch, q_len);
      ops::AttentionArgs a{q,
                           attn,
                           cache.layer_views(l),
                           causal_mask.data(),
                           batch,
                           q_len,
                           end,
                           static_cast<size_t>(cfg.num_attention_heads),
                           static_cast<size_t>(cfg.num_key_value_heads),
                           static_cast<size_t>(cfg.head_dim),
                           1.0f / std::sqrt(static_cast<float>(cfg.head_dim))};
      ops::attention(ctx, a);
      ops::linear(ctx, lw.o_proj, attn, n, xn.data());
      ops::add(ctx, x.data(), xn.data(), n * cfg.hidden_size);
      mlp_block(lw, n);
    }
    past += q_i;

    const size_t hidden = cfg.hidden_size, vocab = cfg.vocab_size;
    if (opt.all_logits) {
      ops::rmsnorm(ctx, x.data(), w.norm, xn.data(), n, hidden, cfg.rms_norm_eps);
      ops::linear(ctx, w.lm_head, xn.data(), n, logits.data());
      return {logits.data(), n * vocab};
    }
    for (size_t b = 0; b < batch; ++b)
      std::copy_n(x.data() + (b * q_len + q_len - 1) * hidden, hidden, last.data() + b * hidden);
    ops::rmsnorm(ctx, last.data(), w.norm, last.data(), batch, hidden, cfg.rms_norm_eps);
    ops::linear(ctx, w.lm_head, last.data(), batch, logits.data());
    return {logits.data(), batch * vocab};
  }
};

Session::Session(std::shared_ptr<const Model> model, const SessionOptions& options) {
  if (!model) fail(ErrorCode::kInvalidArgument, kComponent, "Session needs a model");
  const ModelConfig& cfg = model->config();
  // The default context stays within what the model was trained for; an explicit max_context
  // may go beyond it (as llama.cpp allows), with whatever quality RoPE gives there.
  int context = options.max_context > 0 ? options.max_context : model->info().default_max_context;
  if (context > (1 << 24))
    fail(ErrorCode::kOutOfRange, kComponent, "max_context {} is beyond any model's reach", context);
  (void)cfg;
  if (options.max_batch < 1 || options.max_chunk < 1)
    fail(ErrorCode::kInvalidArgument, kComponent,
         "max_batch ({}) and max_chunk ({}) must be positive", options.max_batch,
         options.max_chunk);
  SessionOptions o = options;
  o.max_chunk = std::min(o.max_chunk, context);
  o.max_context = context;
  check_session_memory(cfg, o);
  impl_ = std::make_unique<Impl>(std::move(model), o, context);
}

Session::~Session() = default;

std::span<const float> Session::forward(std::span<const int32_t> input_ids, int batch, int q,
                                        std::span<const float> causal_mask) {
  return impl_->forward(input_ids, batch, q, causal_mask);
}

std::span<const float> Session::forward(std::span<const int32_t> input_ids, int batch, int q,
                                        std::span<const int> left_padding) {
  if (!left_padding.empty() && left_padding.size() != static_cast<size_t>(batch))
    fail(ErrorCode::kInvalidArgument, kComponent, "left_padding has {} entries for a batch of {}",
         left_padding.size(), batch);
  build_causal_mask(batch, q, impl_->past, left_padding, impl_->cfg.sliding_window, impl_->mask);
  return impl_->forward(input_ids, batch, q, impl_->mask);
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

int Session::past() const {
  return impl_->past;
}

void Session::truncate(int past) {
  if (past < 0 || past > impl_->past)
    fail(ErrorCode::kInvalidArgument, kComponent, "cannot truncate the cache to {} (it holds {})",
         past, impl_->past);
  impl_->past = past;
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
const void* Session::kv_cache_data() const {
  return impl_->cache.data();
}
size_t Session::kv_cache_bytes() const {
  return impl_->cache.bytes();
}

}  // namespace corelm
