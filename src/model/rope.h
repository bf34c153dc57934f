// RoPE tables: cos and sin of position * inv_freq for every position of a Session, computed once.
// inv_freq follows transformers (theta^(-2i/d), optional "linear" or "llama3" scaling); the angle
// is formed in float32 as transformers does, then cos/sin in double precision.
#pragma once

#include <vector>

#include "corelm/model.h"

namespace corelm {

struct RopeTable {
  std::vector<float> cos, sin;  // [positions, head_dim / 2]
};

RopeTable make_rope_table(const ModelConfig& config, int positions);

}  // namespace corelm
