#include "model/rope.h"

#include <cmath>

namespace corelm {

RopeTable make_rope_table(const ModelConfig& c, int positions) {
  const int half = c.head_dim / 2;
  std::vector<float> inv_freq(half);
  for (int i = 0; i < half; ++i) {
    double f = 1.0 / std::pow(static_cast<double>(c.rope_theta), 2.0 * i / c.head_dim);
    if (c.rope_scaling_type == "linear") {
      f /= c.rope_scaling_factor;
    } else if (c.rope_scaling_type == "llama3") {
      const double old_len = c.rope_original_max_position;
      const double low_wavelen = old_len / c.rope_low_freq_factor;
      const double high_wavelen = old_len / c.rope_high_freq_factor;
      const double wavelen = 2.0 * M_PI / f;
      if (wavelen > low_wavelen) {
        f /= c.rope_scaling_factor;
      } else if (wavelen >= high_wavelen) {
        double smooth = (old_len / wavelen - c.rope_low_freq_factor) /
                        (c.rope_high_freq_factor - c.rope_low_freq_factor);
        f = (1.0 - smooth) * f / c.rope_scaling_factor + smooth * f;
      }
    }
    inv_freq[i] = static_cast<float>(f);
  }
  RopeTable t;
  t.cos.resize(static_cast<size_t>(positions) * half);
  t.sin.resize(t.cos.size());
  for (int p = 0; p < positions; ++p) {
    for (int i = 0; i < half; ++i) {
      float angle = static_cast<float>(p) * inv_freq[i];
      t.cos[static_cast<size_t>(p) * half + i] =
          static_cast<float>(std::cos(static_cast<double>(angle)));
      t.sin[static_cast<size_t>(p) * half + i] =
          static_cast<float>(std::sin(static_cast<double>(angle)));
    }
  }
  return t;
}

}  // namespace corelm
