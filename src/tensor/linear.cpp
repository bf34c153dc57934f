#include "tensor/linear.h"

#include <array>
#include <vector>

#include "base/check.h"
#include "tensor/lut.h"
#include "tensor/quant.h"

namespace corelm {

namespace {

// Rows stored one after another: the table's kernel for the dtype; rows read by the registry's
// converter.
class RowsLinear final : public LinearImpl {
 public:
  explicit RowsLinear(DType dtype) : dtype_(dtype) {}
  MatmulFn matmul(const KernelTable& table) const override {
    return table.matmul_for(dtype_, Layout::kRows);
  }
  ActivationFormat activation(const KernelTable& table) const override {
    return table.activation_for(dtype_);
  }
  void read_row(const Linear& w, size_t row, float* out) const override {
    dtype_traits(dtype_).to_float(w.data() + row * w.row_bytes(), out, w.cols());
  }
  size_t row_group() const override { return 1; }

 private:
  DType dtype_;
};

// BlockQ4 or BlockQ8 rows interleaved in groups of 8 (tensor/layout.h).
class Interleaved8Linear final : public LinearImpl {
 public:
  explicit Interleaved8Linear(DType dtype) : dtype_(dtype) {}
  MatmulFn matmul(const KernelTable& table) const override {
    return table.matmul_for(dtype_, Layout::kInterleaved8);
  }
  ActivationFormat activation(const KernelTable&) const override { return ActivationFormat::kQ8A; }
  void read_row(const Linear& w, size_t row, float* out) const override {
    dequantize_matrix_row(w.dtype(), Layout::kInterleaved8, w.data(), row, w.cols(), out);
  }
  size_t row_group() const override { return kInterleaveRows; }

 private:
  DType dtype_;
};

// Q4_K super-blocks of 16 rows as tiles (tensor/layout.h, interleaved16); always a Q4_K matrix.
class Interleaved16Linear final : public LinearImpl {
 public:
  MatmulFn matmul(const KernelTable& table) const override {
    return table.matmul_for(DType::kQ4_K, Layout::kInterleaved16);
  }
  ActivationFormat activation(const KernelTable&) const override { return ActivationFormat::kQ8K; }
  void read_row(const Linear& w, size_t row, float* out) const override {
    dequantize_matrix_row(DType::kQ4_K, Layout::kInterleaved16, w.data(), row, w.cols(), out);
  }
  size_t row_group() const override { return kInterleave16Rows; }
};

// A palettized dtype in groups of G rows, each led by its table (tensor/layout.h, lut_gG).
class LutLinear final : public LinearImpl {
 public:
  LutLinear(DType dtype, Layout layout) : dtype_(dtype), layout_(layout) {}
  DType dtype() const { return dtype_; }
  MatmulFn matmul(const KernelTable& table) const override {
    return table.matmul_for(dtype_, layout_);
  }
  ActivationFormat activation(const KernelTable& table) const override {
    return table.activation_for(dtype_);
  }
  void read_row(const Linear& w, size_t row, float* out) const override {
    dequantize_lut_row(dtype_, layout_, w.data(), row, w.cols(), out);
  }
  size_t row_group() const override { return lut_group_rows(layout_); }
  std::pair<size_t, size_t> group_span(const Linear& w, size_t row) const override {
    const size_t g = lut_group_rows(layout_);
    const size_t stride = lut_table_bytes(dtype_) + g * w.row_bytes();
    return {row / g * stride, std::min(stride, w.bytes() - row / g * stride)};
  }

 private:
  DType dtype_;
  Layout layout_;
};

struct Impls {
  std::vector<RowsLinear> rows;
  std::vector<Interleaved8Linear> interleaved;
  Interleaved16Linear q4_k_tiles;
  std::vector<LutLinear> lut;  // lut3, lut4, lut6 in lut_g8, lut_g16, lut_g32
  Impls() {
    rows.reserve(kNumDTypes);
    interleaved.reserve(kNumDTypes);
    for (size_t d = 0; d < kNumDTypes; ++d) {
      rows.emplace_back(static_cast<DType>(d));
      interleaved.emplace_back(static_cast<DType>(d));
    }
    for (DType d : {DType::kLut3, DType::kLut4, DType::kLut6})
      for (Layout l : {Layout::kLutG8, Layout::kLutG16, Layout::kLutG32}) lut.emplace_back(d, l);
  }
};

const Impls& impls() {
  static const Impls instance;
  return instance;
}

}  // namespace

std::pair<size_t, size_t> LinearImpl::group_span(const Linear& w, size_t row) const {
  const size_t group = row_group();
  return {row / group * group * w.row_bytes(), group * w.row_bytes()};
}

const LinearImpl* linear_impl(DType dtype, Layout layout) {
  const auto d = static_cast<size_t>(dtype);
  if (d >= kNumDTypes) return nullptr;
  if (dtype_traits(dtype).lut_bits > 0) {
    for (const auto& impl : impls().lut)
      if (impl.row_group() == lut_group_rows(layout) && impl.dtype() == dtype) return &impl;
    return nullptr;
  }
  switch (layout) {
    case Layout::kRows:
      return &impls().rows[d];
    case Layout::kInterleaved8:
      return dtype_traits(dtype).q4_blocks || q8_blocks(dtype) ? &impls().interleaved[d] : nullptr;
    case Layout::kInterleaved16:
      return dtype == DType::kQ4_K ? &impls().q4_k_tiles : nullptr;
    default:
      return nullptr;
  }
  return nullptr;
}

Linear::Linear(std::string name, DType dtype, Layout layout, const uint8_t* data, size_t rows,
               size_t cols)
    : name_(std::move(name)),
      dtype_(dtype),
      layout_(layout),
      data_(data),
      rows_(rows),
      cols_(cols) {
  impl_ = linear_impl(dtype, layout);
  if (impl_ == nullptr || !layout_fits(dtype, layout, rows, cols))
    fail(ErrorCode::kCorrupt, "model", "tensor '{}' ({} x {}) cannot be stored as {} in layout {}",
         name_, rows, cols, dtype_name(dtype), layout_name(layout));
  row_bytes_ = dtype_row_bytes(dtype, cols);
  bytes_ = layout_matrix_bytes(dtype, layout, rows, cols);
}

}  // namespace corelm
