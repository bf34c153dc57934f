// corelm::Shape and corelm::Tensor: storage, views, checks and printing. The operations on
// tensors are in tensor_ops.cpp.
#include "corelm/tensor.h"

#include <fmt/format.h>

#include <cstring>
#include <limits>
#include <ostream>

#include "base/check.h"
#include "tensor/tensor_access.h"

namespace corelm {

namespace {
constexpr const char* kComponent = "tensor";
constexpr int64_t kMaxElements = int64_t{1} << 48;  // far beyond memory; keeps products exact

size_t element_size(ElementType) {
  return 4;
}  // f32 and i32

// Owned storage: a vector of the element type behind a shared_ptr.
template <class T>
std::shared_ptr<std::vector<T>> make_storage(std::vector<T> v) {
  return std::make_shared<std::vector<T>>(std::move(v));
}
}  // namespace

const char* element_type_name(ElementType type) {
  switch (type) {
    case ElementType::kF32:
      return "f32";
    case ElementType::kI32:
      return "i32";
  }
  return "?";
}

// ---- Shape ---------------------------------------------------------------------------------

Shape::Shape(std::initializer_list<int64_t> dims)
    : Shape(std::span<const int64_t>(dims.begin(), dims.size())) {}

Shape::Shape(std::span<const int64_t> dims) {
  if (dims.size() > kMaxRank)
    fail(ErrorCode::kInvalidArgument, kComponent, "rank {} is above the maximum of {}", dims.size(),
         kMaxRank);
  for (int64_t d : dims) push_back(d);
}

void Shape::push_back(int64_t dim) {
  if (rank_ == kMaxRank)
    fail(ErrorCode::kInvalidArgument, kComponent, "rank {} is above the maximum of {}", rank_ + 1,
         kMaxRank);
  if (dim < 0) fail(ErrorCode::kInvalidArgument, kComponent, "negative dimension {}", dim);
  if (dim > 0 && numel() > kMaxElements / dim)
    fail(ErrorCode::kInvalidArgument, kComponent, "shape {} x {} has too many elements",
         to_string(), dim);
  dims_[rank_++] = dim;
}

int64_t Shape::operator[](int64_t i) const {
  const int64_t rank = static_cast<int64_t>(rank_);
  if (i < -rank || i >= rank)
    fail(ErrorCode::kOutOfRange, kComponent, "dimension {} is out of range for shape {}", i,
         to_string());
  return dims_[static_cast<size_t>(i < 0 ? i + rank : i)];
}

int64_t Shape::numel() const {
  int64_t n = 1;
  for (size_t i = 0; i < rank_; ++i) n *= dims_[i];
  return n;
}

Shape Shape::without_last() const {
  Shape s = *this;
  if (s.rank_ > 0) s.dims_[--s.rank_] = 0;
  return s;
}

bool Shape::operator==(const Shape& other) const {
  if (rank_ != other.rank_) return false;
  for (size_t i = 0; i < rank_; ++i)
    if (dims_[i] != other.dims_[i]) return false;
  return true;
}

std::string Shape::to_string() const {
  std::string s = "[";
  for (size_t i = 0; i < rank_; ++i) s += fmt::format("{}{}", i ? ", " : "", dims_[i]);
  return s + "]";
}

std::ostream& operator<<(std::ostream& os, const Shape& shape) {
  return os << shape.to_string();
}

// ---- Tensor --------------------------------------------------------------------------------

Tensor::Tensor() = default;

Tensor Tensor::make_view(const void* data, ElementType type, Shape s, bool writable,
                         std::shared_ptr<const void> keep_alive) {
  Tensor t;
  t.numel_ = s.numel();
  if (data == nullptr && t.numel_ > 0)
    fail(ErrorCode::kInvalidArgument, kComponent, "view of shape {} over a null pointer",
         s.to_string());
  t.shape_ = s;
  t.dtype_ = type;
  t.capacity_ = t.numel_;
  t.data_ = data;
  t.writable_ = writable;
  t.owner_ = std::move(keep_alive);
  return t;
}

Tensor Tensor::from_vector(std::vector<float> v, Shape s) {
  if (static_cast<int64_t>(v.size()) != s.numel())
    fail(ErrorCode::kInvalidArgument, kComponent, "{} values for shape {} ({} elements)", v.size(),
         s.to_string(), s.numel());
  auto storage = make_storage(std::move(v));
  return make_view(storage->data(), ElementType::kF32, s, true, storage);
}

Tensor Tensor::from_vector(std::vector<int32_t> v, Shape s) {
  if (static_cast<int64_t>(v.size()) != s.numel())
    fail(ErrorCode::kInvalidArgument, kComponent, "{} values for shape {} ({} elements)", v.size(),
         s.to_string(), s.numel());
  auto storage = make_storage(std::move(v));
  return make_view(storage->data(), ElementType::kI32, s, true, storage);
}

Tensor Tensor::from_vector(std::initializer_list<float> v, Shape s) {
  return from_vector(std::vector<float>(v), s);
}

Tensor Tensor::from_vector(std::initializer_list<int32_t> v, Shape s) {
  return from_vector(std::vector<int32_t>(v), s);
}

Tensor Tensor::zeros(Shape s, ElementType type) {
  const auto n = static_cast<size_t>(s.numel());
  if (type == ElementType::kI32) return from_vector(std::vector<int32_t>(n), s);
  return from_vector(std::vector<float>(n), s);
}

Tensor Tensor::view(const float* data, Shape s, std::shared_ptr<const void> keep_alive) {
  return make_view(data, ElementType::kF32, s, false, std::move(keep_alive));
}
Tensor Tensor::view(const int32_t* data, Shape s, std::shared_ptr<const void> keep_alive) {
  return make_view(data, ElementType::kI32, s, false, std::move(keep_alive));
}
Tensor Tensor::mutable_view(float* data, Shape s, std::shared_ptr<const void> keep_alive) {
  return make_view(data, ElementType::kF32, s, true, std::move(keep_alive));
}
Tensor Tensor::mutable_view(int32_t* data, Shape s, std::shared_ptr<const void> keep_alive) {
  return make_view(data, ElementType::kI32, s, true, std::move(keep_alive));
}

const void* Tensor::checked_data(ElementType type, bool write) const {
  if (type != dtype_)
    fail(ErrorCode::kInvalidArgument, kComponent, "tensor {} holds {} elements, not {}",
         shape_.to_string(), element_type_name(dtype_), element_type_name(type));
  if (write && !writable_)
    fail(ErrorCode::kInvalidArgument, kComponent,
         "tensor {} is a read-only view: clone() it to get a writable copy", shape_.to_string());
  return data_;
}

void Tensor::require_single() const {
  if (numel_ != 1)
    fail(ErrorCode::kInvalidArgument, kComponent, "item() of tensor {} with {} elements",
         shape_.to_string(), numel_);
}

Tensor Tensor::row(int64_t i) const {
  if (shape_.size() == 0) fail(ErrorCode::kInvalidArgument, kComponent, "row() of a rank-0 tensor");
  const int64_t rows = shape_[0];
  if (i < -rows || i >= rows)
    fail(ErrorCode::kOutOfRange, kComponent, "row {} is out of range for shape {}", i,
         shape_.to_string());
  if (i < 0) i += rows;
  Shape s(std::span<const int64_t>(shape_.begin() + 1, shape_.end()));
  const int64_t stride = s.numel();
  const auto* base = static_cast<const char*>(data_);
  return make_view(base + static_cast<size_t>(i * stride) * element_size(dtype_), dtype_, s,
                   writable_, owner_);
}

Tensor Tensor::reshape(Shape s) const {
  if (s.numel() != numel_)
    fail(ErrorCode::kInvalidArgument, kComponent, "cannot reshape {} ({} elements) to {}",
         shape_.to_string(), numel_, s.to_string());
  Tensor t = *this;
  t.shape_ = s;
  return t;
}

Tensor Tensor::clone() const {
  Tensor t = zeros(shape_, dtype_);
  if (numel_ > 0)
    std::memcpy(const_cast<void*>(t.data_), data_,
                static_cast<size_t>(numel_) * element_size(dtype_));
  return t;
}

// ---- printing ------------------------------------------------------------------------------

namespace {
constexpr int64_t kPrintEdge = 3;  // axes longer than 2 * kPrintEdge show the first and last 3

template <class T>
void format_axis(std::string& out, const T* data, const Shape& shape, size_t axis) {
  const int64_t n = shape[static_cast<int64_t>(axis)];
  int64_t stride = 1;
  for (size_t a = axis + 1; a < shape.size(); ++a) stride *= shape[static_cast<int64_t>(a)];
  out += '[';
  for (int64_t i = 0; i < n; ++i) {
    if (n > 2 * kPrintEdge && i == kPrintEdge) {
      out += "..., ";
      i = n - kPrintEdge;
    }
    if (axis + 1 == shape.size())
      out += fmt::format("{}", data[i]);
    else
      format_axis(out, data + i * stride, shape, axis + 1);
    if (i + 1 < n) out += ", ";
  }
  out += ']';
}
}  // namespace

std::string Tensor::to_string() const {
  if (numel_ == 0 && shape_.size() == 0) return "Tensor()";  // empty (a scalar has 1 element)
  std::string s = fmt::format("Tensor({}, {}) ", element_type_name(dtype_), shape_.to_string());
  if (shape_.size() == 0) {
    if (dtype_ == ElementType::kF32)
      return s + fmt::format("{}", *static_cast<const float*>(data_));
    return s + fmt::format("{}", *static_cast<const int32_t*>(data_));
  }
  if (dtype_ == ElementType::kF32)
    format_axis(s, static_cast<const float*>(data_), shape_, 0);
  else
    format_axis(s, static_cast<const int32_t*>(data_), shape_, 0);
  return s;
}

std::ostream& operator<<(std::ostream& os, const Tensor& tensor) {
  return os << tensor.to_string();
}

// ---- TensorAccess --------------------------------------------------------------------------

void detail::TensorAccess::prepare_output(Tensor& out, const Shape& shape, ElementType type,
                                          const Tensor& input, bool allow_same) {
  const int64_t n = shape.numel();
  bool reuse = out.writable_ && out.dtype_ == type && out.capacity_ >= n;
  if (reuse && out.data_ != nullptr && input.data_ != nullptr) {
    const auto* o = static_cast<const char*>(out.data_);
    const auto* i = static_cast<const char*>(input.data_);
    const size_t ob = static_cast<size_t>(n) * element_size(type);
    const size_t ib = static_cast<size_t>(input.numel_) * element_size(input.dtype_);
    const bool overlap = o < i + ib && i < o + ob;
    if (overlap && !(allow_same && o == i)) reuse = false;
  }
  if (!reuse) {
    out = Tensor::zeros(shape, type);
    return;
  }
  out.shape_ = shape;
  out.numel_ = n;
}

}  // namespace corelm
