#include "source/model_source.h"

#include "base/check.h"
#include "tensor/layout.h"

namespace corelm {

uint64_t interleaved_rotary_row(uint64_t r, uint64_t head_dim) {
  const uint64_t head = r / head_dim, within = r % head_dim, half = head_dim / 2;
  const uint64_t j = within / half, i = within % half;  // HF row = head*hd + j*half + i
  return head * head_dim + 2 * i + j;
}

void read_row_as_float(const TensorRef& t, uint64_t hf_row, uint64_t head_dim, float* out) {
  const uint64_t row = t.rotary_interleaved ? interleaved_rotary_row(hf_row, head_dim) : hf_row;
  if (t.layout != Layout::kRows && t.dtype()) {  // a package's interleaved8 q4 matrix
    dequantize_matrix_row(*t.dtype(), t.layout, t.data, row, t.cols(), out);
    return;
  }
  t.type->to_float(t.data + row * t.row_bytes(), out, t.cols());
}

}  // namespace corelm
