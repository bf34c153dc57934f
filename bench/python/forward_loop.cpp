// The C++ half of bench/python/predict_overhead.py: the seed's decode loop on Session::forward
// directly, with the same session options (every position's logits) and the same explicit
// mask that Model.predict passes, so the two differ only by what the Python module adds.
//   forward_loop MODEL N THREADS  ->  prints tokens/s of N-1 timed single-token calls
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "corelm/error.h"
#include "corelm/model.h"
#include "corelm/tensor.h"
#include "corelm/tokenizer.h"

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: forward_loop MODEL N THREADS\n");
    return 2;
  }
  try {
    const int n = std::atoi(argv[2]);
    corelm::LoadOptions lo;
    lo.n_threads = std::atoi(argv[3]);
    auto model = corelm::Model::load(argv[1], lo);
    corelm::SessionOptions o;
    o.all_logits = true;
    o.max_context = std::max(n + 1, 16);
    corelm::Session session(model, o);
    int32_t token = model->tokenizer().bos_id() >= 0 ? model->tokenizer().bos_id() : 1;
    std::vector<float> mask(1, 0.0f);
    corelm::Tensor logits = session.forward({&token, 1}, 1, 1, mask);  // warm-up, untimed
    const auto start = std::chrono::steady_clock::now();
    for (int i = 1; i < n; ++i) {
      token = corelm::argmax(logits.row(0).row(-1)).item<int32_t>();  // logits [1, 1, vocab]
      mask.assign(static_cast<size_t>(session.past()) + 1, 0.0f);
      logits = session.forward({&token, 1}, 1, 1, mask);
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("%.4f\n", (n - 1) / seconds);
    return 0;
  } catch (const corelm::Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
