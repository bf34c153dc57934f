// The head tiling of the attention block kernels (attn_scores_block, attn_accumulate_block):
// fn(std::integral_constant<int, H>{}, first_head) for tiles of 4 heads, then the 3, 2 or 1
// left. Internal linkage: each SIMD file gets its own copy, built with its own flags.
#pragma once

#include <cstddef>
#include <type_traits>

namespace corelm {
namespace {  // NOLINT(google-build-namespaces): one copy per table

template <typename Fn>
inline void for_head_tiles(size_t heads, Fn&& fn) {
  size_t h = 0;
  for (; h + 4 <= heads; h += 4) fn(std::integral_constant<int, 4>{}, h);
  switch (heads - h) {
    case 3:
      return fn(std::integral_constant<int, 3>{}, h);
    case 2:
      return fn(std::integral_constant<int, 2>{}, h);
    case 1:
      return fn(std::integral_constant<int, 1>{}, h);
    default:
      return;
  }
}

}  // namespace
}  // namespace corelm
