// Linear: one weight matrix [rows, cols] (HF's [out_features, in_features]) with the
// implementation for its (dtype, layout) chosen once, when the weights are bound. The forward
// pass calls ops::linear / ops::linear_multi / ops::embed with it and never looks at the format;
// the implementation picks the kernel of the active KernelTable, the activation format it reads,
// and how one row is read back as floats (the embedding lookup).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include "kernels/kernel_table.h"
#include "tensor/dtype.h"
#include "tensor/layout.h"

namespace corelm {

class Linear;

// One implementation per (dtype, layout). Stateless; shared by every Linear of that pair.
class LinearImpl {
 public:
  virtual ~LinearImpl() = default;
  // The matrix-product kernel in `table`; nullptr when the table has none for this pair.
  virtual MatmulFn matmul(const KernelTable& table) const = 0;
  // The activation format that kernel reads.
  virtual ActivationFormat activation(const KernelTable& table) const = 0;
  // Row `row` of `w` as floats (cols values).
  virtual void read_row(const Linear& w, size_t row, float* out) const = 0;
  // Rows stored together (a lookup touches all of them): 1, 8 for interleaved8, 16 for
  // interleaved16, G for lut_gG.
  virtual size_t row_group() const = 0;
  // The bytes [offset, offset + size) of `w` holding row `row`'s group (what a lookup touches).
  virtual std::pair<size_t, size_t> group_span(const Linear& w, size_t row) const;
};

// The implementation for (dtype, layout); nullptr when the pair cannot exist.
const LinearImpl* linear_impl(DType dtype, Layout layout);

class Linear {
 public:
  Linear() = default;
  // `data` holds rows x cols of `dtype` in `layout` and outlives the Linear. Throws Error
  // (kCorrupt, component "model") when the pair does not fit the shape.
  Linear(std::string name, DType dtype, Layout layout, const uint8_t* data, size_t rows,
         size_t cols);

  const std::string& name() const { return name_; }
  DType dtype() const { return dtype_; }
  Layout layout() const { return layout_; }
  const uint8_t* data() const { return data_; }
  size_t rows() const { return rows_; }
  size_t cols() const { return cols_; }
  // The dtype's bytes per row: an interleaved8 group of 8 rows takes 8 of these; interleaved16
  // tiles take more (layout_matrix_bytes), and its kernels ignore this.
  size_t row_bytes() const { return row_bytes_; }
  size_t bytes() const { return bytes_; }
  const LinearImpl& impl() const { return *impl_; }

  // Row `row` as floats (the embedding lookup).
  void read_row(size_t row, float* out) const { impl_->read_row(*this, row, out); }

  // A lookup table in a read-only file mapping: after a row is copied out, its pages are
  // unmapped from this process (they stay in the page cache), so the table never accumulates
  // in the resident set. Never set on owned (anonymous) memory.
  bool release_after_lookup = false;

 private:
  std::string name_;
  DType dtype_ = DType::kF32;
  Layout layout_ = Layout::kRows;
  const uint8_t* data_ = nullptr;
  size_t rows_ = 0, cols_ = 0, row_bytes_ = 0, bytes_ = 0;
  const LinearImpl* impl_ = nullptr;
};

}  // namespace corelm
