// The operations on corelm::Tensor, each along the last axis, row by row: softmax through the
// active kernel table, the rest as plain loops. top-k never sorts a whole row: a heap of the k best
// when k is small next to the row, nth_element and a sort of k elements otherwise.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>

#include "base/check.h"
#include "corelm/tensor.h"
#include "kernels/isa.h"
#include "tensor/tensor_access.h"

namespace corelm {

namespace {
using detail::TensorAccess;
constexpr const char* kComponent = "tensor";
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

struct Rows {
  size_t count;  // rows (the product of every dim but the last)
  size_t n;      // elements per row (the last dim)
};

// Checks that `t` is an f32 tensor with a last axis.
Rows last_axis(const Tensor& t, const char* op) {
  if (t.shape().size() == 0)
    fail(ErrorCode::kInvalidArgument, kComponent, "{} needs a tensor of rank >= 1, got {}", op,
         t.empty() ? "an empty tensor" : "a rank-0 scalar");
  if (t.dtype() != ElementType::kF32)
    fail(ErrorCode::kInvalidArgument, kComponent, "{} needs f32 elements, got {} (shape {})", op,
         element_type_name(t.dtype()), t.shape().to_string());
  return {static_cast<size_t>(t.shape().without_last().numel()),
          static_cast<size_t>(t.shape().back())};
}

// Index-valued operations: the last axis must be non-empty (argmax) and fit int32 indices.
void check_indexable(const Tensor& t, const Rows& r, const char* op, bool allow_empty) {
  if (r.n == 0 && !allow_empty)
    fail(ErrorCode::kInvalidArgument, kComponent, "{} of shape {}: the last axis is empty", op,
         t.shape().to_string());
  if (r.n > static_cast<size_t>(std::numeric_limits<int32_t>::max()))
    fail(ErrorCode::kOutOfRange, kComponent, "{} of shape {}: indices beyond int32", op,
         t.shape().to_string());
}

// The order of positions in a row: larger value first, NaN after every number, ties by lower
// index. A strict total order, so the sorting algorithms are well defined on any input.
struct Better {
  const float* x;
  bool operator()(int32_t a, int32_t b) const {
    const float va = x[a], vb = x[b];
    if (va > vb) return true;
    if (va < vb) return false;
    if (va == vb) return a < b;
    const bool na = std::isnan(va), nb = std::isnan(vb);
    if (na != nb) return nb;
    return a < b;
  }
};

size_t argmax_row(const float* x, size_t n) {
  size_t best = 0;
  while (best + 1 < n && std::isnan(x[best])) ++best;  // NaN never wins: start at a number
  float bv = x[best];
  for (size_t i = best + 1; i < n; ++i) {
    if (x[i] > bv) {  // false for NaN
      best = i;
      bv = x[i];
    }
  }
  return std::isnan(bv) ? 0 : best;
}

// An element of a row for sorting: its value and a key that orders ties by index and puts NaN
// (stored as -inf, key n + index) after every number. Compared directly, without indirection.
struct Ranked {
  float value;
  uint32_t key;
  bool operator<(const Ranked& o) const {  // "ranks before"
    return value > o.value || (value == o.value && key < o.key);
  }
};

void topk_row(const float* x, size_t n, size_t k, float* values, int32_t* indices) {
  if (k == 0) return;
  if (k * 8 <= n) {
    // A heap of the best k so far with the worst on top: most elements lose to it at once.
    const Better better{x};
    for (size_t i = 0; i < k; ++i) indices[i] = static_cast<int32_t>(i);
    std::make_heap(indices, indices + k, better);
    for (size_t i = k; i < n; ++i) {
      if (x[i] < x[indices[0]]) continue;  // the common case, decided without the full order
      const auto id = static_cast<int32_t>(i);
      if (!better(id, indices[0])) continue;
      std::pop_heap(indices, indices + k, better);
      indices[k - 1] = id;
      std::push_heap(indices, indices + k, better);
    }
    std::sort_heap(indices, indices + k, better);  // best first
  } else {
    thread_local std::vector<Ranked> ranked;  // reused: no row-sized allocation per call
    ranked.resize(n);
    for (size_t i = 0; i < n; ++i) {
      const bool nan = std::isnan(x[i]);
      ranked[i] = {nan ? kNegInf : x[i], static_cast<uint32_t>(nan ? n + i : i)};
    }
    const auto kth = ranked.begin() + static_cast<ptrdiff_t>(k);
    if (k < n) std::nth_element(ranked.begin(), kth - 1, ranked.end());
    std::sort(ranked.begin(), kth);
    for (size_t i = 0; i < k; ++i)
      indices[i] = static_cast<int32_t>(ranked[i].key >= n ? ranked[i].key - n : ranked[i].key);
  }
  for (size_t i = 0; i < k; ++i) values[i] = x[indices[i]];
}

void log_softmax_row(const float* x, float* y, size_t n) {
  float m = kNegInf;
  for (size_t i = 0; i < n; ++i) m = std::max(m, x[i]);
  if (m == kNegInf) {  // nothing but -inf: every probability is 0
    std::fill(y, y + n, kNegInf);
    return;
  }
  double s = 0.0;
  for (size_t i = 0; i < n; ++i) s += std::exp(x[i] - m);
  const auto log_s = static_cast<float>(std::log(s));
  for (size_t i = 0; i < n; ++i) y[i] = (x[i] - m) - log_s;
}

Shape with_last(const Shape& s, int64_t last) {
  Shape out = s.without_last();
  out.push_back(last);
  return out;
}
}  // namespace

void softmax(const Tensor& t, Tensor& out) {
  const Tensor in = t;  // `out` may be `t` itself
  const Rows r = last_axis(in, "softmax");
  TensorAccess::prepare_output(out, in.shape(), ElementType::kF32, in, true);
  const float* x = TensorAccess::elements<float>(in);
  float* y = TensorAccess::mutable_elements<float>(out);
  const KernelTable& kernels = active_kernels();
  for (size_t row = 0; row < r.count && r.n > 0; ++row) {
    if (y != x) std::memcpy(y + row * r.n, x + row * r.n, r.n * sizeof(float));
    kernels.softmax(y + row * r.n, r.n);
  }
}

Tensor softmax(const Tensor& t) {
  Tensor out;
  softmax(t, out);
  return out;
}

void log_softmax(const Tensor& t, Tensor& out) {
  const Tensor in = t;
  const Rows r = last_axis(in, "log_softmax");
  TensorAccess::prepare_output(out, in.shape(), ElementType::kF32, in, true);
  const float* x = TensorAccess::elements<float>(in);
  float* y = TensorAccess::mutable_elements<float>(out);
  for (size_t row = 0; row < r.count && r.n > 0; ++row)
    log_softmax_row(x + row * r.n, y + row * r.n, r.n);
}

Tensor log_softmax(const Tensor& t) {
  Tensor out;
  log_softmax(t, out);
  return out;
}

void argmax(const Tensor& t, Tensor& out) {
  const Tensor in = t;
  const Rows r = last_axis(in, "argmax");
  check_indexable(in, r, "argmax", false);
  TensorAccess::prepare_output(out, in.shape().without_last(), ElementType::kI32, in, false);
  const float* x = TensorAccess::elements<float>(in);
  int32_t* y = TensorAccess::mutable_elements<int32_t>(out);
  for (size_t row = 0; row < r.count; ++row)
    y[row] = static_cast<int32_t>(argmax_row(x + row * r.n, r.n));
}

Tensor argmax(const Tensor& t) {
  Tensor out;
  argmax(t, out);
  return out;
}

void topk(const Tensor& t, int k, Tensor& values, Tensor& indices) {
  const Tensor in = t;
  const Rows r = last_axis(in, "topk");
  check_indexable(in, r, "topk", true);
  if (k < 0 || static_cast<size_t>(k) > r.n)
    fail(ErrorCode::kInvalidArgument, kComponent, "topk k={} is outside [0, {}] for shape {}", k,
         r.n, in.shape().to_string());
  const Shape shape = with_last(in.shape(), k);
  TensorAccess::prepare_output(values, shape, ElementType::kF32, in, false);
  TensorAccess::prepare_output(indices, shape, ElementType::kI32, in, false);
  const float* x = TensorAccess::elements<float>(in);
  float* v = TensorAccess::mutable_elements<float>(values);
  int32_t* ix = TensorAccess::mutable_elements<int32_t>(indices);
  const auto kk = static_cast<size_t>(k);
  for (size_t row = 0; row < r.count; ++row)
    topk_row(x + row * r.n, r.n, kk, v + row * kk, ix + row * kk);
}

std::pair<Tensor, Tensor> topk(const Tensor& t, int k) {
  std::pair<Tensor, Tensor> out;
  topk(t, k, out.first, out.second);
  return out;
}

Tensor sum(const Tensor& t) {
  const Rows r = last_axis(t, "sum");
  Tensor out = Tensor::zeros(t.shape().without_last());
  const float* x = TensorAccess::elements<float>(t);
  float* y = TensorAccess::mutable_elements<float>(out);
  for (size_t row = 0; row < r.count; ++row) {
    double s = 0.0;
    for (size_t i = 0; i < r.n; ++i) s += x[row * r.n + i];
    y[row] = static_cast<float>(s);
  }
  return out;
}

Tensor max(const Tensor& t) {
  const Rows r = last_axis(t, "max");
  check_indexable(t, r, "max", false);
  Tensor out = Tensor::zeros(t.shape().without_last());
  const float* x = TensorAccess::elements<float>(t);
  float* y = TensorAccess::mutable_elements<float>(out);
  for (size_t row = 0; row < r.count; ++row) y[row] = x[row * r.n + argmax_row(x + row * r.n, r.n)];
  return out;
}

}  // namespace corelm
