// KvCache: the stateful key/value store of a Session, allocated once for max_context and
// written in place (never reallocated, never concatenated). Layout per DESIGN:
//   K, V: [batch][n_layers][n_kv_heads][max_context][head_dim]  in f32, f16 or int8
//   q8 scales: [batch][n_layers][n_kv_heads][max_context]       one f32 per (head, slot)
#pragma once

#include <vector>

#include "base/aligned_buffer.h"
#include "corelm/model.h"
#include "tensor/ops.h"

namespace corelm {

class KvCache {
 public:
  KvCache(int batch, int n_layers, int n_kv_heads, int max_context, int head_dim, KvCacheType type);

  // The view of (sequence b, layer l).
  const KvLayerView& view(int b, int layer) const {
    return views_[static_cast<size_t>(layer) * batch_ + b];
  }
  // The views of every sequence for one layer, contiguous.
  const KvLayerView* layer_views(int layer) const {
    return &views_[static_cast<size_t>(layer) * batch_];
  }
  // Sequence `to` gets sequence `from`'s keys and values at positions [0, length), every layer.
  void copy_prefix(int from, int to, size_t length);
  size_t bytes() const { return k_.bytes() + v_.bytes() + k_scale_.bytes() + v_scale_.bytes(); }
  KvCacheType type() const { return type_; }

 private:
  int batch_, n_layers_, n_kv_heads_;
  size_t head_dim_, elem_bytes_;
  KvCacheType type_;
  AlignedBuffer<uint8_t> k_, v_;
  AlignedBuffer<float> k_scale_, v_scale_;
  std::vector<KvLayerView> views_;
};

}  // namespace corelm
