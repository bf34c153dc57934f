#include "model/kv_cache.h"

#include <algorithm>
#include <cstring>

#include "base/check.h"
#include "base/memory_info.h"

namespace corelm {

KvCache::KvCache(int batch, int n_layers, int n_kv_heads, int max_context, int head_dim,
                 KvCacheType type)
    : batch_(batch),
      n_layers_(n_layers),
      n_kv_heads_(n_kv_heads),
      head_dim_(static_cast<size_t>(head_dim)),
      elem_bytes_(type == KvCacheType::kF32   ? 4
                  : type == KvCacheType::kF16 ? 2
                                              : 1),
      type_(type) {
  const size_t elem = type == KvCacheType::kF32 ? 4 : type == KvCacheType::kF16 ? 2 : 1;
  const size_t head_stride = static_cast<size_t>(max_context) * head_dim;
  const size_t per_layer = static_cast<size_t>(n_kv_heads) * head_stride;
  const size_t total = static_cast<size_t>(batch) * n_layers * per_layer;
  // The cache is committed lazily (zero pages), but it must fit once the context fills up.
  const double need = 2.0 * static_cast<double>(total * elem) +
                      (type == KvCacheType::kQ8
                           ? 8.0 * static_cast<double>(batch) * n_layers * n_kv_heads * max_context
                           : 0.0);
  const uint64_t available = available_memory_bytes();
  if (available > 0 && need > static_cast<double>(available))
    fail(ErrorCode::kResourceExhausted, "model",
         "a {} KV cache for {} tokens needs {} but only {} of memory is available (lower "
         "--max-context or use --kv-cache q8)",
         kv_cache_type_name(type), max_context, format_bytes(need),
         format_bytes(static_cast<double>(available)));
  try {
    k_.allocate(total * elem);
    v_.allocate(total * elem);
    if (type == KvCacheType::kQ8) {
      k_scale_.allocate(static_cast<size_t>(batch) * n_layers * n_kv_heads * max_context);
      v_scale_.allocate(k_scale_.size());
    }
  } catch (const std::bad_alloc&) {
    fail(ErrorCode::kResourceExhausted, "model",
         "cannot allocate a {} KV cache of {} for {} tokens", kv_cache_type_name(type),
         format_bytes(2.0 * static_cast<double>(total * elem)), max_context);
  }
  const KvDType dt = type == KvCacheType::kF32   ? KvDType::kF32
                     : type == KvCacheType::kF16 ? KvDType::kF16
                                                 : KvDType::kQ8;
  views_.resize(static_cast<size_t>(batch) * n_layers);
  for (int l = 0; l < n_layers; ++l) {
    for (int b = 0; b < batch; ++b) {
      size_t seq_layer = static_cast<size_t>(b) * n_layers + l;
      KvLayerView& v = views_[static_cast<size_t>(l) * batch + b];
      v.dtype = dt;
      v.k = k_.data() + seq_layer * per_layer * elem;
      v.v = v_.data() + seq_layer * per_layer * elem;
      v.k_scale = type == KvCacheType::kQ8 ? k_scale_.data() + seq_layer * n_kv_heads * max_context
                                           : nullptr;
      v.v_scale = type == KvCacheType::kQ8 ? v_scale_.data() + seq_layer * n_kv_heads * max_context
                                           : nullptr;
      v.head_stride = head_stride;
      v.max_context = static_cast<size_t>(max_context);
    }
  }
}

void KvCache::copy_prefix(int from, int to, size_t length) {
  for (int l = 0; l < n_layers_; ++l) {
    const KvLayerView &src = view(from, l), &dst = view(to, l);
    for (int h = 0; h < n_kv_heads_; ++h) {
      const size_t offset = static_cast<size_t>(h) * src.head_stride * elem_bytes_;
      const size_t bytes = length * head_dim_ * elem_bytes_;
      std::memcpy(dst.k + offset, src.k + offset, bytes);
      std::memcpy(dst.v + offset, src.v + offset, bytes);
      if (src.k_scale == nullptr) continue;
      const size_t s = static_cast<size_t>(h) * src.max_context;
      std::copy_n(src.k_scale + s, length, dst.k_scale + s);
      std::copy_n(src.v_scale + s, length, dst.v_scale + s);
    }
  }
}

}  // namespace corelm
