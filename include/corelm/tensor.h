// corelm::Tensor: a dense, row-major array of f32 or i32 elements, and the operations an
// application needs on logits (softmax, log_softmax, argmax, topk, sum, max) without hand loops.
//
//   corelm::Tensor logits = session.forward(ids, batch, q);      // a read-only view [batch, vocab]
//   corelm::Tensor probs = corelm::softmax(logits.row(-1));       // [vocab]
//   auto [values, indices] = corelm::topk(probs, 5);              // [5] f32, [5] i32, best first
//   int32_t next = corelm::argmax(logits.row(-1)).item<int32_t>();
//
// A Tensor is a handle: copying one shares its elements (as row() and reshape() views do);
// clone() copies them. It either owns its elements (from_vector, zeros, clone, the results of
// the operations) or views memory that someone else owns (view, mutable_view); `keep_alive` holds
// that owner for as long as any handle to the view lives. Every error is a corelm::Error whose
// message starts with "[tensor]".
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace corelm {

namespace detail {
struct TensorAccess;  // the operations' access to a Tensor's storage (src/tensor/tensor_access.h)
}  // namespace detail

enum class ElementType { kF32, kI32 };

// "f32" or "i32".
const char* element_type_name(ElementType type);

// The C++ type of each ElementType: float for kF32, int32_t for kI32.
template <class T>
inline constexpr bool is_tensor_element_v = std::is_same_v<T, float> || std::is_same_v<T, int32_t>;
template <class T>
constexpr ElementType element_type_of() {
  static_assert(is_tensor_element_v<T>, "corelm::Tensor elements are float or int32_t");
  return std::is_same_v<T, float> ? ElementType::kF32 : ElementType::kI32;
}

// The dimensions of a tensor, outermost first. Rank 0 is a scalar (numel 1).
class Shape {
 public:
  static constexpr size_t kMaxRank = 8;

  Shape() = default;
  Shape(std::initializer_list<int64_t> dims);  // Shape{2, 5}; negative dims or rank > 8 throw
  explicit Shape(std::span<const int64_t> dims);

  size_t size() const { return rank_; }  // the rank
  // dims; a negative i counts from the end (shape[-1] is the last dim); out of range throws.
  int64_t operator[](int64_t i) const;
  int64_t back() const { return (*this)[-1]; }
  int64_t numel() const;  // product of the dims (1 for rank 0)
  void push_back(int64_t dim);
  // The shape without its last dim (rank 0 stays rank 0).
  Shape without_last() const;

  const int64_t* begin() const { return dims_.data(); }
  const int64_t* end() const { return dims_.data() + rank_; }

  bool operator==(const Shape& other) const;
  bool operator!=(const Shape& other) const { return !(*this == other); }
  std::string to_string() const;  // "[2, 5]", "[]" for rank 0

 private:
  std::array<int64_t, kMaxRank> dims_{};
  size_t rank_ = 0;
};

class Tensor {
 public:
  // Empty: rank 0, numel() 0, no elements (unlike a rank-0 scalar, which has one).
  Tensor();

  // Owning tensors. from_vector throws when v.size() differs from s.numel().
  static Tensor from_vector(std::vector<float> v, Shape s);
  static Tensor from_vector(std::vector<int32_t> v, Shape s);
  // from_vector({0.5f, 1.5f}, {2}) and from_vector({1, 2}, {2}) pick f32 and i32.
  static Tensor from_vector(std::initializer_list<float> v, Shape s);
  static Tensor from_vector(std::initializer_list<int32_t> v, Shape s);
  static Tensor zeros(Shape s, ElementType type = ElementType::kF32);

  // A read-only view of memory someone else owns (`keep_alive` may hold the owner).
  static Tensor view(const float* data, Shape s, std::shared_ptr<const void> keep_alive = {});
  static Tensor view(const int32_t* data, Shape s, std::shared_ptr<const void> keep_alive = {});
  // A writable view of memory someone else owns (mutable_data() and the `out` forms write into it).
  static Tensor mutable_view(float* data, Shape s, std::shared_ptr<const void> keep_alive = {});
  static Tensor mutable_view(int32_t* data, Shape s, std::shared_ptr<const void> keep_alive = {});

  const Shape& shape() const { return shape_; }
  ElementType dtype() const { return dtype_; }
  int64_t numel() const { return numel_; }
  bool empty() const { return numel_ == 0; }
  bool writable() const { return writable_; }

  // The elements, row-major. T must match dtype() (float or int32_t), else throws.
  template <class T>
  const T* data() const {
    return static_cast<const T*>(checked_data(element_type_of<T>(), false));
  }
  // Throws on a read-only view as well.
  template <class T>
  T* mutable_data() {
    return static_cast<T*>(const_cast<void*>(checked_data(element_type_of<T>(), true)));
  }
  template <class T>
  std::span<const T> span() const {
    return {data<T>(), static_cast<size_t>(numel_)};
  }

  // Slice i along the first axis: a view (sharing the elements and their read-only-ness) of
  // shape shape()[1:]. A negative i counts from the end (row(-1) is the last row).
  Tensor row(int64_t i) const;
  // The same elements under another shape of equal numel (a view).
  Tensor reshape(Shape s) const;
  // An owning, writable copy.
  Tensor clone() const;

  template <class T>
  std::vector<T> to_vector() const {
    auto s = span<T>();
    return std::vector<T>(s.begin(), s.end());
  }
  // The single element of a tensor with numel() == 1, else throws.
  template <class T>
  T item() const {
    require_single();
    return *data<T>();
  }

  // "Tensor(f32, [2, 3]) [[1, 2, 3], [4, 5, 6]]"; long axes are elided with "...".
  std::string to_string() const;

 private:
  const void* checked_data(ElementType type, bool write) const;
  void require_single() const;
  static Tensor make_view(const void* data, ElementType type, Shape s, bool writable,
                          std::shared_ptr<const void> keep_alive);
  friend struct detail::TensorAccess;

  Shape shape_;
  ElementType dtype_ = ElementType::kF32;
  int64_t numel_ = 0;
  int64_t capacity_ = 0;  // elements writable from data_ on (>= numel_ for owned storage)
  const void* data_ = nullptr;
  bool writable_ = false;
  std::shared_ptr<const void> owner_;  // the storage, or whatever keeps a view's memory alive
};

std::ostream& operator<<(std::ostream& os, const Shape& shape);
std::ostream& operator<<(std::ostream& os, const Tensor& tensor);

// Operations along the last axis of an f32 tensor of rank >= 1; the result is a new tensor.
//
// The `out` forms write the result into `out` instead, reusing its memory when `out` is writable,
// of the result's element type, large enough and not overlapping the input (a tensor made by an
// earlier call qualifies); otherwise `out` is replaced by a new tensor. Passing the same `out`
// from token to token avoids an allocation per call. softmax and log_softmax may also run in
// place (out shares t's elements exactly).

// e^x / sum(e^x); entries equal to -inf get probability 0 (a row of only -inf gives all zeros).
// Computed by the active kernel table (SIMD where the CPU has it): within a few ulp of std::exp.
Tensor softmax(const Tensor& t);
void softmax(const Tensor& t, Tensor& out);
// x - log(sum(e^x)); -inf stays -inf (a row of only -inf stays all -inf).
Tensor log_softmax(const Tensor& t);
void log_softmax(const Tensor& t, Tensor& out);
// The index of the largest element (i32), of shape shape()[:-1]; ties go to the lowest index,
// NaN ranks below every number. An empty last axis throws.
Tensor argmax(const Tensor& t);
void argmax(const Tensor& t, Tensor& out);
// The k largest elements and their indices, shape shape()[:-1] + [k], sorted descending with ties
// by lower index (NaN last). k must be in [0, shape()[-1]].
std::pair<Tensor, Tensor> topk(const Tensor& t, int k);
void topk(const Tensor& t, int k, Tensor& values, Tensor& indices);
// Sum (accumulated in double) and maximum, shape shape()[:-1]. max of an empty axis throws.
Tensor sum(const Tensor& t);
Tensor max(const Tensor& t);

}  // namespace corelm
