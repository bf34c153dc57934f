// The CPU backend: today's ops and kernels behind the Backend interface.
#include <string>

#include "backend/backend.h"

namespace corelm {

namespace {

class CpuBackend final : public Backend {
 public:
  CpuBackend(ThreadPool& pool, const BackendLimits& l)
      : ctx_(pool, l.max_tokens, l.max_k, l.head_dim),
        name_(std::string("cpu/") + ctx_.kernels().name) {}

  const char* name() const override { return name_.c_str(); }

  void embed(const Linear& table, std::span<const int32_t> ids, float* out) override {
    ops::embed(ctx_, table, ids, out);
  }
  void rmsnorm(const float* x, const float* weight, float* y, size_t n, size_t dim,
               float eps) override {
    ops::rmsnorm(ctx_, x, weight, y, n, dim, eps);
  }
  void linear(const Linear& w, const float* x, size_t n, float* y) override {
    ops::linear(ctx_, w, x, n, y);
  }
  void linear_multi(const float* x, size_t n, const Linear& w1, float* y1, const Linear* w2,
                    float* y2, const Linear* w3, float* y3) override {
    ops::linear_multi(ctx_, x, n, w1, y1, w2, y2, w3, y3);
  }
  void rope(float* x, size_t n_tokens, size_t n_heads, size_t head_dim, const int32_t* positions,
            const float* cos_table, const float* sin_table, bool interleaved) override {
    ops::rope(ctx_, x, n_tokens, n_heads, head_dim, positions, cos_table, sin_table, interleaved);
  }
  void kv_store(const KvLayerView& cache, const float* k, const float* v, size_t n_tokens,
                size_t n_kv_heads, size_t head_dim, size_t first_slot) override {
    ops::kv_store(ctx_, cache, k, v, n_tokens, n_kv_heads, head_dim, first_slot);
  }
  void attention(const ops::AttentionArgs& args) override { ops::attention(ctx_, args); }
  void add(float* y, const float* x, size_t count) override { ops::add(ctx_, y, x, count); }
  void axpy(float a, const float* x, float* y, size_t count) override {
    ops::axpy(ctx_, a, x, y, count);
  }
  void add_low_rank(std::span<const ops::LowRankUpdate> updates, size_t n) override {
    ops::add_low_rank(ctx_, updates, n);
  }
  void silu_mul(float* gate, const float* up, size_t count) override {
    ops::silu_mul(ctx_, gate, up, count);
  }

 private:
  ComputeContext ctx_;
  std::string name_;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(ThreadPool& pool, const BackendLimits& limits) {
  return std::make_unique<CpuBackend>(pool, limits);
}

}  // namespace corelm
