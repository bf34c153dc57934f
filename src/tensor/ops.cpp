#include "tensor/ops.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "base/check.h"
#include "base/half.h"
#include "base/mapped_file.h"
#include "kernels/isa.h"
#include "tensor/layout.h"
#include "tensor/quant.h"

namespace corelm {

namespace {

// Attention's tiles: keys in blocks of kKeyBlock (their f32 copies, 2 * 64 * head_dim floats,
// stay in L1/L2), and at most kMaxTileRows query rows (query tokens x the heads that share a KV
// head) per work item.
constexpr size_t kKeyBlock = 64;
constexpr size_t kMaxTileRows = 128;
constexpr size_t kMaxTileTokens = 16;

// Per thread: keys and values of a block as f32 rows, the keys transposed, the scores of one
// token's heads, a mask row, and per query row a running max, sum and rescale factor.
size_t attention_tile_floats(size_t head_dim) {
  return 3 * kKeyBlock * head_dim + kMaxTileRows * kKeyBlock + kKeyBlock + 3 * kMaxTileRows;
}

}  // namespace

ComputeContext::ComputeContext(ThreadPool& pool, size_t max_tokens, size_t max_k, size_t head_dim)
    : pool_(&pool),
      kernels_(&active_kernels()),
      max_tokens_(max_tokens),
      max_k_(max_k),
      head_dim_(head_dim),
      q8_(max_tokens * ((max_k + kQuantBlock - 1) / kQuantBlock)),
      attention_tile_(static_cast<size_t>(pool.size()) * attention_tile_floats(head_dim)) {}

struct OpsAccess {
  static BlockQ8A* q8(ComputeContext& c) { return c.q8_.data(); }
  static float* attention_tile(ComputeContext& c, int thread) {
    return c.attention_tile_.data() +
           static_cast<size_t>(thread) * attention_tile_floats(c.head_dim_);
  }
  static size_t max_k(const ComputeContext& c) { return c.max_k_; }
  static size_t head_dim(const ComputeContext& c) { return c.head_dim_; }
};

namespace ops {

namespace {

constexpr const char* kComponent = "ops";

struct Prepared {
  const void* data;
  size_t stride;  // bytes between rows
};

// Puts x [n, k] in the activation format `format` (quantizing into the context's buffer).
Prepared prepare(ComputeContext& ctx, ActivationFormat format, const float* x, size_t n, size_t k) {
  if (format == ActivationFormat::kF32) return {x, k * sizeof(float)};
  if (k > OpsAccess::max_k(ctx) || n > ctx.max_tokens() ||
      (k % kQuantBlock != 0 && format != ActivationFormat::kQ8A))
    fail(ErrorCode::kInternal, kComponent, "cannot quantize activations [{}, {}]", n, k);
  auto run = [&](auto&& body) {
    if (n >= 4)
      ctx.pool().parallel_for(n, 1, body);
    else
      body(0, n);
  };
  if (format == ActivationFormat::kQ8K) {
    // The K-quants' super-blocks: 8 BlockQ8A's worth of the buffer holds one BlockQ8K.
    if (k % kSuperBlock != 0)
      fail(ErrorCode::kInternal, kComponent, "cannot quantize activations [{}, {}] per 256", n, k);
    auto* q = reinterpret_cast<BlockQ8K*>(OpsAccess::q8(ctx));
    const size_t blocks = k / kSuperBlock;
    const auto quantize = ctx.kernels().quantize_q8k;
    run([&](size_t t0, size_t t1) {
      for (size_t t = t0; t < t1; ++t) quantize(x + t * k, q + t * blocks, k);
    });
    return {q, blocks * sizeof(BlockQ8K)};
  }
  // q8 blocks of 32; a row whose length 32 does not divide (lut4 takes any even length) ends in
  // a block padded with zeros.
  BlockQ8A* q = OpsAccess::q8(ctx);
  const size_t blocks = q8a_blocks(k);
  const auto quantize = ctx.kernels().quantize_q8a;
  run([&](size_t t0, size_t t1) {
    for (size_t t = t0; t < t1; ++t)
      quantize_row_q8a_padded(x + t * k, q + t * blocks, k, quantize);
  });
  return {q, blocks * sizeof(BlockQ8A)};
}

// Rows per task: a multiple of every layout's row group (8, 16), small enough for dynamic
// balancing.
constexpr size_t kRowGrain = 64;

}  // namespace

void linear(ComputeContext& ctx, const Linear& w, const float* x, size_t n, float* y) {
  linear_multi(ctx, x, n, w, y, nullptr, nullptr, nullptr, nullptr);
}

void linear_multi(ComputeContext& ctx, const float* x, size_t n, const Linear& w1, float* y1,
                  const Linear* w2, float* y2, const Linear* w3, float* y3) {
  const Linear* ws[3] = {&w1, w2, w3};
  float* ys[3] = {y1, y2, y3};
  size_t count = w3 ? 3 : w2 ? 2 : 1;
  const KernelTable& k = ctx.kernels();
  // Each Linear's implementation (chosen at load) names its kernel in this context's table.
  MatmulFn fns[3] = {};
  const ActivationFormat format = w1.impl().activation(k);
  for (size_t i = 0; i < count; ++i) {
    const Linear& w = *ws[i];
    fns[i] = w.impl().matmul(k);
    if (fns[i] == nullptr)
      fail(ErrorCode::kUnsupported, kComponent, "no {} matmul kernel for '{}' in the {} table",
           dtype_name(w.dtype()), w.name(), k.name);
    if (w.cols() != w1.cols())
      fail(ErrorCode::kInternal, kComponent, "'{}' and '{}' take inputs of {} and {}", w1.name(),
           w.name(), w1.cols(), w.cols());
    if (w.impl().activation(k) != format) {
      // Mixed activation formats: run them one by one.
      for (size_t j = 0; j < count; ++j)
        linear_multi(ctx, x, n, *ws[j], ys[j], nullptr, nullptr, nullptr, nullptr);
      return;
    }
  }
  Prepared p = prepare(ctx, format, x, n, w1.cols());
  // The matrices' rows laid end to end, each starting at a multiple of kRowGrain: a task never
  // starts inside a matrix at an offset its layout's row groups (8 or 16) do not divide.
  size_t total = 0;
  size_t first_row[3];
  for (size_t i = 0; i < count; ++i) {
    first_row[i] = total;
    total += (ws[i]->rows() + kRowGrain - 1) / kRowGrain * kRowGrain;
  }
  ctx.pool().parallel_for_dynamic(total, kRowGrain, [&](size_t r0, size_t r1) {
    for (size_t i = 0; i < count; ++i) {
      size_t b = std::max(r0, first_row[i]), e = std::min(r1, first_row[i] + ws[i]->rows());
      if (b >= e) continue;
      const Linear& w = *ws[i];
      fns[i](w.data(), w.row_bytes(), p.data, p.stride, n, w.cols(), ys[i], w.rows(),
             b - first_row[i], e - first_row[i]);
    }
  });
}

void rmsnorm(ComputeContext& ctx, const float* x, const float* weight, float* y, size_t n,
             size_t dim, float eps) {
  const auto fn = ctx.kernels().rmsnorm;
  for (size_t t = 0; t < n; ++t) fn(x + t * dim, weight, y + t * dim, dim, eps);
}

void add(ComputeContext& ctx, float* y, const float* x, size_t count) {
  ctx.kernels().add(y, x, count);
}

void axpy(ComputeContext& ctx, float a, const float* x, float* y, size_t count) {
  ctx.kernels().axpy_f32(a, x, y, count);
}

void add_low_rank(ComputeContext& ctx, std::span<const LowRankUpdate> updates, size_t n) {
  const KernelTable& k = ctx.kernels();
  // Columns [c0, c1) of update u, every row and rank.
  auto columns = [&](const LowRankUpdate& u, size_t c0, size_t c1) {
    for (size_t t = 0; t < n; ++t)
      for (size_t r = 0; r < u.rank; ++r) {
        const float a = u.scale * u.low[t * u.rank + r];
        float* y = u.y + t * u.out + c0;
        if (u.bt_dtype == DType::kF16)
          k.axpy_f16(a, static_cast<const uint16_t*>(u.bt) + r * u.out + c0, y, c1 - c0);
        else
          k.axpy_f32(a, static_cast<const float*>(u.bt) + r * u.out + c0, y, c1 - c0);
      }
  };
  size_t total = 0, work = 0;
  for (const auto& u : updates) {
    total += u.out;
    work += n * u.rank * u.out;
  }
  if (work < (size_t{1} << 15)) {  // a few microseconds: not worth waking the pool
    for (const auto& u : updates) columns(u, 0, u.out);
    return;
  }
  // The updates' columns laid end to end, cut in blocks of 256.
  ctx.pool().parallel_for(total, 256, [&](size_t b, size_t e) {
    size_t base = 0;
    for (const auto& u : updates) {
      const size_t c0 = std::max(b, base), c1 = std::min(e, base + u.out);
      if (c0 < c1) columns(u, c0 - base, c1 - base);
      base += u.out;
    }
  });
}

void silu_mul(ComputeContext& ctx, float* gate, const float* up, size_t count) {
  const auto fn = ctx.kernels().silu_mul;
  if (count < 65536) {
    fn(gate, up, count);
    return;
  }
  ctx.pool().parallel_for(count, 4096, [&](size_t b, size_t e) { fn(gate + b, up + b, e - b); });
}

void embed(ComputeContext& ctx, const Linear& table, std::span<const int32_t> ids, float* out) {
  (void)ctx;
  for (int32_t id : ids)
    if (id < 0 || static_cast<size_t>(id) >= table.rows())
      fail(ErrorCode::kOutOfRange, "model", "token id {} is outside the vocabulary [0, {})", id,
           table.rows());
  const uintptr_t page = system_page_size();
  for (size_t t = 0; t < ids.size(); ++t) {
    const size_t row = static_cast<size_t>(ids[t]);
    table.read_row(row, out + t * table.cols());
    if (!table.release_after_lookup) continue;
    const auto [offset, bytes] = table.impl().group_span(table, row);
    const uintptr_t begin = reinterpret_cast<uintptr_t>(table.data() + offset);
    const uintptr_t end = begin + bytes;
    const uintptr_t first = begin / page * page, last = (end + page - 1) / page * page;
    ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
  }
}

void rope(ComputeContext& ctx, float* x, size_t n_tokens, size_t n_heads, size_t head_dim,
          const int32_t* positions, const float* cos_table, const float* sin_table,
          bool interleaved) {
  (void)ctx;
  const size_t half = head_dim / 2;
  // Each rotated pair: (2i, 2i+1) when interleaved (GGUF/Meta order), else (i, i + half) (HF).
  const size_t step = interleaved ? 2 : 1, partner = interleaved ? 1 : half;
  for (size_t t = 0; t < n_tokens; ++t) {
    const float* c = cos_table + static_cast<size_t>(positions[t]) * half;
    const float* s = sin_table + static_cast<size_t>(positions[t]) * half;
    for (size_t h = 0; h < n_heads; ++h) {
      float* v = x + (t * n_heads + h) * head_dim;
      for (size_t i = 0; i < half; ++i) {
        float& first = v[i * step];
        float& second = v[i * step + partner];
        const float a = first, b = second;
        first = a * c[i] - b * s[i];
        second = b * c[i] + a * s[i];
      }
    }
  }
}

namespace {

// Quantizes one head vector to int8 with a per-vector absmax scale.
void store_q8(const float* src, int8_t* dst, float* scale, size_t n) {
  float amax = 0.0f;
  for (size_t i = 0; i < n; ++i) amax = std::max(amax, std::fabs(src[i]));
  float s = amax / 127.0f;
  float inv = s > 0.0f ? 1.0f / s : 0.0f;
  for (size_t i = 0; i < n; ++i) dst[i] = static_cast<int8_t>(std::nearbyint(src[i] * inv));
  *scale = s;
}

}  // namespace

void kv_store(ComputeContext& ctx, const KvLayerView& cache, const float* k, const float* v,
              size_t n_tokens, size_t n_kv_heads, size_t head_dim, size_t first_slot) {
  const KernelTable& kt = ctx.kernels();
  for (size_t t = 0; t < n_tokens; ++t) {
    size_t slot = first_slot + t;
    for (size_t h = 0; h < n_kv_heads; ++h) {
      const float* ks = k + (t * n_kv_heads + h) * head_dim;
      const float* vs = v + (t * n_kv_heads + h) * head_dim;
      size_t e = h * cache.head_stride + slot * head_dim;
      switch (cache.dtype) {
        case KvDType::kF32:
          std::copy(ks, ks + head_dim, reinterpret_cast<float*>(cache.k) + e);
          std::copy(vs, vs + head_dim, reinterpret_cast<float*>(cache.v) + e);
          break;
        case KvDType::kF16:
          kt.f32_to_f16(ks, reinterpret_cast<uint16_t*>(cache.k) + e, head_dim);
          kt.f32_to_f16(vs, reinterpret_cast<uint16_t*>(cache.v) + e, head_dim);
          break;
        case KvDType::kQ8: {
          size_t si = h * cache.max_context + slot;
          store_q8(ks, reinterpret_cast<int8_t*>(cache.k) + e, cache.k_scale + si, head_dim);
          store_q8(vs, reinterpret_cast<int8_t*>(cache.v) + e, cache.v_scale + si, head_dim);
          break;
        }
      }
    }
  }
}

namespace {

// Keys or values of one KV head, slots [j0, j1), as f32 rows of head_dim.
void kv_to_f32(const KernelTable& kt, const KvLayerView& c, const uint8_t* data,
               const float* scales, size_t kvh, size_t j0, size_t j1, size_t head_dim, float* out) {
  const size_t base = kvh * c.head_stride + j0 * head_dim, n = j1 - j0;
  switch (c.dtype) {
    case KvDType::kF32:
      std::copy_n(reinterpret_cast<const float*>(data) + base, n * head_dim, out);
      break;
    case KvDType::kF16:
      kt.f16_to_f32(reinterpret_cast<const uint16_t*>(data) + base, out, n * head_dim);
      break;
    case KvDType::kQ8: {
      const int8_t* q = reinterpret_cast<const int8_t*>(data) + base;
      const float* s = scales + kvh * c.max_context + j0;
      for (size_t j = 0; j < n; ++j)
        kt.i8_to_f32(q + j * head_dim, s[j], out + j * head_dim, head_dim);
      break;
    }
  }
}

}  // namespace

void attention(ComputeContext& ctx, const AttentionArgs& a) {
  if (a.head_dim > OpsAccess::head_dim(ctx))
    fail(ErrorCode::kInternal, kComponent, "attention head_dim {} exceeds the scratch", a.head_dim);
  for (const AttentionSequence& s : a.sequences)
    if (s.end > s.cache->max_context || s.q_len > s.end)
      fail(ErrorCode::kInternal, kComponent,
           "attention span {} ({} queries) is outside the cache's {} slots", s.end, s.q_len,
           s.cache->max_context);
  const size_t group = a.n_heads / a.n_kv_heads, hd = a.head_dim;
  // More query heads per KV head than a tile holds (multi-query models) go in slices.
  const size_t slice = std::min(group, kMaxTileRows);
  const size_t slices = (group + slice - 1) / slice, kv_items = a.n_kv_heads * slices;
  const KernelTable& kt = ctx.kernels();
  // Work items: (sequence, KV head (and slice of its query heads), chunk of query tokens). The
  // query heads that share a KV head are done together: each block of kKeyBlock keys and values is
  // converted to f32 once per item and serves every query row of the item while it sits in L1/L2,
  // and the softmax runs online (a running max and sum per row, the output rescaled when the max
  // grows), so no row of scores as long as the context is ever built. Items go to threads
  // round-robin: later chunks see more keys, so neighbours share the load.
  const size_t chunk = std::max<size_t>(1, std::min(kMaxTileTokens, kMaxTileRows / slice));
  size_t items = 0;
  for (const AttentionSequence& s : a.sequences)
    items += kv_items * ((s.q_len + chunk - 1) / chunk);
  const float neg_inf = -std::numeric_limits<float>::infinity();
  ctx.pool().run([&](int thread, int n_threads) {
    float* k32 = OpsAccess::attention_tile(ctx, thread);
    float* v32 = k32 + kKeyBlock * hd;
    float* k_t = v32 + kKeyBlock * hd;     // [hd][kKeyBlock]
    float* scores = k_t + kKeyBlock * hd;  // [heads][kKeyBlock]
    float* block_mask = scores + kMaxTileRows * kKeyBlock;
    float* row_max = block_mask + kKeyBlock;
    float* row_sum = row_max + kMaxTileRows;
    float* rescale = row_sum + kMaxTileRows;
    for (size_t item = static_cast<size_t>(thread); item < items;
         item += static_cast<size_t>(n_threads)) {
      // Find the item's sequence (there are few: a linear walk).
      size_t rest = item, si = 0, chunks = 0;
      for (;; ++si) {
        chunks = (a.sequences[si].q_len + chunk - 1) / chunk;
        if (rest < kv_items * chunks) break;
        rest -= kv_items * chunks;
      }
      const AttentionSequence& s = a.sequences[si];
      const size_t c = rest % chunks, kvh = rest / chunks / slices;
      const size_t g0 = rest / chunks % slices * slice, g1 = std::min(group, g0 + slice);
      const size_t heads = g1 - g0;
      const size_t t0 = c * chunk, t1 = std::min(s.q_len, t0 + chunk);
      const size_t first_pos = s.end - s.q_len;
      // Each query's visible keys lie in [lo[t], hi[t]): the causal span (and sliding window),
      // or an explicit mask row up to its last entry that is not -inf. Keys outside are never
      // read.
      size_t lo[kMaxTileTokens], hi[kMaxTileTokens], span_lo = s.end, span_hi = 0;
      for (size_t t = t0; t < t1; ++t) {
        size_t l = 0, h = first_pos + t + 1;
        if (s.mask != nullptr) {
          const float* mask = s.mask + t * s.end;
          h = s.end;
          while (h > 0 && mask[h - 1] == neg_inf) --h;
          while (l < h && mask[l] == neg_inf) ++l;
        } else if (a.sliding_window > 0 && h > a.sliding_window) {
          l = h - a.sliding_window;
        }
        lo[t - t0] = l, hi[t - t0] = h;
        if (l < h) span_lo = std::min(span_lo, l), span_hi = std::max(span_hi, h);
      }
      const size_t rows = (t1 - t0) * heads;
      std::fill(row_max, row_max + rows, neg_inf);
      std::fill(row_sum, row_sum + rows, 0.0f);
      auto out_row = [&](size_t t, size_t g) {
        return a.out + ((s.first_row + t) * a.n_heads + kvh * group + g) * hd;
      };
      for (size_t t = t0; t < t1; ++t)
        for (size_t g = g0; g < g1; ++g) std::fill_n(out_row(t, g), hd, 0.0f);
      for (size_t j0 = span_lo / kKeyBlock * kKeyBlock; j0 < span_hi; j0 += kKeyBlock) {
        const size_t j1 = std::min(span_hi, j0 + kKeyBlock);
        kv_to_f32(kt, *s.cache, s.cache->k, s.cache->k_scale, kvh, j0, j1, hd, k32);
        kv_to_f32(kt, *s.cache, s.cache->v, s.cache->v_scale, kvh, j0, j1, hd, v32);
        // The keys transposed for the scores kernel, columns padded with zeros to 16.
        const size_t padded = (j1 - j0 + 15) / 16 * 16;
        for (size_t d = 0; d < hd; ++d) {
          float* row = k_t + d * kKeyBlock;
          for (size_t j = 0; j < j1 - j0; ++j) row[j] = k32[j * hd + d];
          std::fill(row + (j1 - j0), row + padded, 0.0f);
        }
        for (size_t t = t0; t < t1; ++t) {
          const size_t l = lo[t - t0], h = std::min(hi[t - t0], j1);
          if (h <= j0 || l >= h) continue;  // nothing of this block is visible to query t
          const size_t n = h - j0;
          const float* mask = block_mask;
          if (s.mask != nullptr) {
            mask = s.mask + t * s.end + j0;
          } else {
            const size_t masked = l > j0 ? l - j0 : 0;
            std::fill(block_mask, block_mask + masked, neg_inf);
            std::fill(block_mask + masked, block_mask + n, 0.0f);
          }
          // The token's heads at once: scores, then per head the online softmax step (its
          // probabilities in place, the rescale of what it has summed so far), then the values.
          const size_t first_head = (s.first_row + t) * a.n_heads + kvh * group + g0;
          kt.attn_scores_block(a.q + first_head * hd, heads, k_t, kKeyBlock, n, hd, a.scale, mask,
                               scores, kKeyBlock);
          bool any = false;
          for (size_t g = 0; g < heads; ++g) {
            const size_t r = (t - t0) * heads + g;
            float* p = scores + g * kKeyBlock;
            float block_max = neg_inf;
            for (size_t j = 0; j < n; ++j) block_max = std::max(block_max, p[j]);
            if (block_max == neg_inf) {  // every key of the block masked: nothing to add
              std::fill(p, p + n, 0.0f);
              rescale[g] = 1.0f;
              continue;
            }
            any = true;
            const float new_max = std::max(row_max[r], block_max);
            rescale[g] = std::exp(row_max[r] - new_max);  // 0 for the first block
            row_sum[r] = row_sum[r] * rescale[g] + kt.exp_sum(p, n, new_max);
            row_max[r] = new_max;
          }
          if (any)
            kt.attn_accumulate_block(scores, kKeyBlock, heads, v32, n, hd, rescale,
                                     a.out + first_head * hd);
        }
      }
      // Normalise; a row that saw no visible key stays zero (as softmax over all -inf).
      for (size_t t = t0; t < t1; ++t)
        for (size_t g = g0; g < g1; ++g) {
          const float sum = row_sum[(t - t0) * heads + (g - g0)];
          if (sum > 0.0f) {
            float* out = out_row(t, g);
            const float inv = 1.0f / sum;
            for (size_t d = 0; d < hd; ++d) out[d] *= inv;
          }
        }
    }
  });
}

}  // namespace ops
}  // namespace corelm
