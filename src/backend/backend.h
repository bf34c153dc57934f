// Backend: the compute a forward pass needs, as whole operations on a Session's buffers —
// embedding lookup, RMSNorm, linear layers (through each weight's Linear), RoPE, KV-cache store,
// attention over the cache, residual add, SiLU·mul. The model code (src/model/session.cpp) calls
// only these and never a kernel. The CPU backend (cpu_backend.cpp) runs them with src/tensor/ops
// on the Model's shared thread pool and the active kernel table; a GPU backend is one more
// implementation of this interface (with its buffers in device memory).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "tensor/linear.h"
#include "tensor/ops.h"

namespace corelm {

class ThreadPool;

// The largest call a backend instance must serve (sizes its scratch once).
struct BackendLimits {
  size_t max_tokens = 0;  // activation rows per call
  size_t max_k = 0;       // the widest weight input
  size_t head_dim = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  // The kernel set in use, e.g. "cpu/avx2".
  virtual const char* name() const = 0;

  // out [ids.size(), table.cols()] = rows of the embedding table; an id outside it is an Error.
  virtual void embed(const Linear& table, std::span<const int32_t> ids, float* out) = 0;
  // y [n, dim] = x / rms(x) * weight.
  virtual void rmsnorm(const float* x, const float* weight, float* y, size_t n, size_t dim,
                       float eps) = 0;
  // y [n, w.rows()] = x [n, w.cols()] · W^T.
  virtual void linear(const Linear& w, const float* x, size_t n, float* y) = 0;
  // Two or three projections of one input (q/k/v, gate/up), prepared once; w2/w3 may be null.
  virtual void linear_multi(const float* x, size_t n, const Linear& w1, float* y1, const Linear* w2,
                            float* y2, const Linear* w3, float* y3) = 0;
  // Rotates x [n_tokens, n_heads * head_dim] in place at positions[t]; cos/sin tables are
  // [positions, head_dim / 2]; `interleaved` pairs (2i, 2i+1), else (i, i + head_dim/2).
  virtual void rope(float* x, size_t n_tokens, size_t n_heads, size_t head_dim,
                    const int32_t* positions, const float* cos_table, const float* sin_table,
                    bool interleaved) = 0;
  // Writes keys/values [n_tokens, n_kv_heads * head_dim] of one sequence at cache slots
  // first_slot, first_slot + 1, ...
  virtual void kv_store(const KvLayerView& cache, const float* k, const float* v, size_t n_tokens,
                        size_t n_kv_heads, size_t head_dim, size_t first_slot) = 0;
  // Scaled dot-product attention of each sequence over its cache slots.
  virtual void attention(const ops::AttentionArgs& args) = 0;
  // y += x
  virtual void add(float* y, const float* x, size_t count) = 0;
  // y += a * x
  virtual void axpy(float a, const float* x, float* y, size_t count) = 0;
  // For each update, y[t, :] += scale * sum_r low[t, r] * bt[r, :] over n rows (LoRA
  // up-projections, bt = B transposed).
  virtual void add_low_rank(std::span<const ops::LowRankUpdate> updates, size_t n) = 0;
  // gate = silu(gate) * up
  virtual void silu_mul(float* gate, const float* up, size_t count) = 0;
};

// The CPU backend on `pool` (shared by every Session of a Model) with the process's active
// kernel table when it is made (a Session keeps the table it started with).
std::unique_ptr<Backend> make_cpu_backend(ThreadPool& pool, const BackendLimits& limits);

}  // namespace corelm
