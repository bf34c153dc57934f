// What the tensor operations (tensor_ops.cpp) need beyond the public Tensor interface: raw
// element pointers without the per-call checks, and output tensors that reuse their memory.
#pragma once

#include "corelm/tensor.h"

namespace corelm::detail {

struct TensorAccess {
  template <class T>
  static const T* elements(const Tensor& t) {
    return static_cast<const T*>(t.data_);
  }
  template <class T>
  static T* mutable_elements(Tensor& t) {
    return static_cast<T*>(const_cast<void*>(t.data_));
  }
  // Makes `out` a writable tensor of `shape` and `type`. Its memory is reused when it is
  // writable, of that type, large enough and does not overlap `input` (exactly the same first
  // element is allowed when `allow_same` is set: element-wise in-place operations); otherwise
  // `out` becomes a new zero-filled tensor. The elements are left for the caller to write.
  static void prepare_output(Tensor& out, const Shape& shape, ElementType type, const Tensor& input,
                             bool allow_same);
};

}  // namespace corelm::detail
