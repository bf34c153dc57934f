// KV cache quality (report only): logits and greedy ids with the int8 KV cache against the f16
// one, teacher-forced along the f16 greedy path.
//   build/bench/kv_quality MODEL.clm [TOKENS=256]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "corelm/model.h"

using namespace corelm;

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: kv_quality MODEL [TOKENS]\n");
    return 2;
  }
  const int n = argc > 2 ? std::atoi(argv[2]) : 256;
  auto model = Model::load(argv[1]);
  const size_t vocab = static_cast<size_t>(model->config().vocab_size);
  auto greedy = [&](KvCacheType kv, std::vector<int32_t>* path, std::vector<float>* logits) {
    SessionOptions o;
    o.kv_cache = kv;
    o.max_context = n + 1;
    Session s(model, o);
    std::vector<int32_t> ids;
    std::vector<int32_t> cur{1};
    for (int i = 0; i < n; ++i) {
      if (path && !path->empty()) cur[0] = i == 0 ? 1 : (*path)[static_cast<size_t>(i - 1)];
      auto l = s.forward(cur, 1, 1).span<float>();
      if (logits) logits->insert(logits->end(), l.begin(), l.end());
      int32_t next = static_cast<int32_t>(std::max_element(l.begin(), l.end()) - l.begin());
      ids.push_back(next);
      if (!path || path->empty()) cur[0] = next;
    }
    return ids;
  };
  // The f32 cache is the reference; f16 (the default) and q8 are compared with it along the
  // f32 greedy path, and free-running.
  std::vector<float> ref_logits;
  std::vector<int32_t> none;
  auto ref_ids = greedy(KvCacheType::kF32, &none, &ref_logits);
  for (KvCacheType kv : {KvCacheType::kF16, KvCacheType::kQ8}) {
    std::vector<float> logits;
    greedy(kv, &ref_ids, &logits);
    auto free_ids = greedy(kv, &none, nullptr);
    size_t agree = 0, prefix = 0;
    double max_err = 0.0, sum = 0.0, scale = 0.0;
    for (int p = 0; p < n; ++p) {
      const float* a = &ref_logits[static_cast<size_t>(p) * vocab];
      const float* b = &logits[static_cast<size_t>(p) * vocab];
      agree += std::max_element(a, a + vocab) - a == std::max_element(b, b + vocab) - b;
      for (size_t v = 0; v < vocab; ++v) {
        max_err = std::max(max_err, static_cast<double>(std::fabs(a[v] - b[v])));
        sum += std::fabs(a[v] - b[v]);
        scale += std::fabs(a[v]);
      }
    }
    while (prefix < ref_ids.size() && ref_ids[prefix] == free_ids[prefix]) ++prefix;
    std::printf(
        "%s: %s vs f32 KV over %d tokens: top-1 agreement %.4f, max |logit error| %.4f, mean %.5f "
        "(mean |logit| %.4f), free-running greedy equal for %zu tokens\n",
        argv[1], kv_cache_type_name(kv), n, static_cast<double>(agree) / n, max_err,
        sum / (static_cast<double>(n) * vocab), scale / (static_cast<double>(n) * vocab), prefix);
  }
  return 0;
}
