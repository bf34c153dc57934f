// ActivationObserver: sees the input of every linear layer as a Session's forward pass computes
// it (what `corelm imatrix` collects). Internal: set on a Session with SessionAccess; a Session
// without one pays one null-pointer test per site and layer. Called on the thread of forward(),
// inside the model's compute lock, before the projections that read the rows; the rows are the
// f32 activations [rows, cols] (row-major) the projections multiply, valid during the call.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace corelm {

class Session;

// Where in a layer an activation matrix feeds weight matrices; each site's rows are the input of
// every tensor site_tensor_names lists.
enum class ActivationSite {
  kAttentionInput,   // the attention RMSNorm's output: q_proj, k_proj, v_proj
  kAttentionOutput,  // the heads' output: o_proj
  kMlpInput,         // the MLP RMSNorm's output: gate_proj, up_proj
  kMlpHidden,        // silu(gate) * up: down_proj
  kFinal,            // the final RMSNorm's output (layer -1): lm_head
};
inline constexpr int kActivationSites = 5;

// The Hugging Face names of the weight tensors that read site `site` of layer `layer`
// ("model.layers.3.self_attn.q_proj.weight", ...; "lm_head.weight" for kFinal).
std::vector<std::string> site_tensor_names(int layer, ActivationSite site);

class ActivationObserver {
 public:
  virtual ~ActivationObserver() = default;
  virtual void observe(int layer, ActivationSite site, const float* rows, size_t n_rows,
                       size_t cols) = 0;
};

// The library's access to a Session's internals.
struct SessionAccess {
  // `observer` (not owned; nullptr: none) sees every later forward call of `session`.
  static void set_observer(Session& session, ActivationObserver* observer);
};

}  // namespace corelm
