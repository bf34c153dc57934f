// Operations of the forward pass: shape checks and threading here, arithmetic in the active
// KernelTable. The model code calls these, never a kernel or an intrinsic directly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "base/aligned_buffer.h"
#include "base/thread_pool.h"
#include "kernels/kernel_table.h"
#include "tensor/linear.h"

namespace corelm {

// The threads (shared: the Model's engine owns the pool), kernels and scratch the ops need, sized
// once for the largest call of one Session.
class ComputeContext {
 public:
  // max_tokens: rows of activations per call; max_k: the widest weight input; head_dim: of the
  // attention heads (attention's scratch is sized by it alone, not by the context).
  ComputeContext(ThreadPool& pool, size_t max_tokens, size_t max_k, size_t head_dim = 0);
  ThreadPool& pool() { return *pool_; }
  const KernelTable& kernels() const { return *kernels_; }
  size_t max_tokens() const { return max_tokens_; }

 private:
  friend struct OpsAccess;
  ThreadPool* pool_;
  const KernelTable* kernels_;
  size_t max_tokens_, max_k_;
  size_t head_dim_;
  AlignedBuffer<BlockQ8A> q8_;  // [max_tokens, max_k / 32] quantized activations
  // Per thread, attention's tile (ops::attention): one block of keys and values as f32, the
  // block's scores and mask row, the running max and sum of each query row, one output row.
  AlignedBuffer<float> attention_tile_;
};

enum class KvDType { kF32, kF16, kQ8 };

// One layer's slice of a KV cache for one sequence: keys and values of every KV head,
// [n_kv_heads][max_context][head_dim] in `dtype`, plus for q8 one f32 scale per (head, slot).
struct KvLayerView {
  KvDType dtype;
  uint8_t* k;
  uint8_t* v;
  float* k_scale;  // [n_kv_heads][max_context] (q8 only)
  float* v_scale;
  size_t head_stride;  // elements between heads = max_context * head_dim
  size_t max_context;
};

namespace ops {

// y [n, w.rows] = x [n, w.cols] · W^T.
void linear(ComputeContext& ctx, const Linear& w, const float* x, size_t n, float* y);
// Two or three projections of the same input (q/k/v, gate/up): the activations are prepared
// once. Any of w2/w3 may be null.
void linear_multi(ComputeContext& ctx, const float* x, size_t n, const Linear& w1, float* y1,
                  const Linear* w2, float* y2, const Linear* w3, float* y3);
// y [n, dim] = rmsnorm(x [n, dim]) * weight [dim].
void rmsnorm(ComputeContext& ctx, const float* x, const float* weight, float* y, size_t n,
             size_t dim, float eps);
void add(ComputeContext& ctx, float* y, const float* x, size_t count);
// y += a * x
void axpy(ComputeContext& ctx, float a, const float* x, float* y, size_t count);
// The up-projection of a low-rank (LoRA) update: y[t, :] += scale * sum_r low[t, r] * bt[r, :]
// for t < n, with bt [rank, out] (B transposed: each rank's column of B contiguous, f32 or f16)
// and low [n, rank]. Runs as rank axpys per row over column blocks, which suits B's short rows
// (k = rank) far better than a matmul kernel.
struct LowRankUpdate {
  const void* bt;  // [rank, out]
  DType bt_dtype;
  size_t rank, out;
  const float* low;  // [n, rank]
  float scale;
  float* y;  // [n, out]
};
// Several updates of n rows at once (the targets of one input: q, k, v or gate, up), as one
// parallel region over their columns.
void add_low_rank(ComputeContext& ctx, std::span<const LowRankUpdate> updates, size_t n);
// gate [count] = silu(gate) * up.
void silu_mul(ComputeContext& ctx, float* gate, const float* up, size_t count);
// out [ids.size(), table.cols()] = rows of the embedding table (read through its Linear).
void embed(ComputeContext& ctx, const Linear& table, std::span<const int32_t> ids, float* out);
// Rotates x [n_tokens, n_heads * head_dim] in place. Frequency i of a head rotates the pair
// (x[i], x[i + head_dim/2]) in transformers' rotate-half layout, or (x[2i], x[2i+1]) when
// `interleaved` (GGUF's layout). cos/sin tables are [positions, head_dim / 2]; token t uses row
// positions[t].
void rope(ComputeContext& ctx, float* x, size_t n_tokens, size_t n_heads, size_t head_dim,
          const int32_t* positions, const float* cos_table, const float* sin_table,
          bool interleaved = false);
// Writes keys/values [n_tokens, n_kv_heads * head_dim] of one sequence to cache slots
// first_slot .. first_slot + n_tokens - 1.
void kv_store(ComputeContext& ctx, const KvLayerView& cache, const float* k, const float* v,
              size_t n_tokens, size_t n_kv_heads, size_t head_dim, size_t first_slot);

// One sequence of an attention call: its queries are rows [first_row, first_row + q_len) of the
// call's q/out, its keys and values cache slots [0, end) of `cache`. `mask` is its additive mask
// [q_len, end], or null for the causal mask: query t sits at position end - q_len + t and sees
// the keys at and before it (within `sliding_window` positions when that is non-zero).
struct AttentionSequence {
  const KvLayerView* cache;
  size_t first_row, q_len, end;
  const float* mask;
};

struct AttentionArgs {
  const float* q;  // [rows, n_heads * head_dim]
  float* out;      // [rows, n_heads * head_dim]
  std::span<const AttentionSequence> sequences;
  size_t n_heads, n_kv_heads, head_dim;
  float scale;
  size_t sliding_window = 0;  // 0: none (for sequences without an explicit mask)
};
// Scaled dot-product attention over each sequence's cache slots; slots whose mask is -inf are
// not read.
void attention(ComputeContext& ctx, const AttentionArgs& a);

}  // namespace ops
}  // namespace corelm
