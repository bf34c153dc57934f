// The C++ side of tests/python/test_predict.py: the logits of Session::forward for one
// sequence of ids (standard causal mask, one call), written as raw float32 [q, vocab], so the
// Python module's predict can be compared with the engine it wraps without going through it.
//   dump_logits MODEL OUT ID...
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "corelm/error.h"
#include "corelm/model.h"

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: dump_logits MODEL OUT ID...\n");
    return 2;
  }
  try {
    std::vector<int32_t> ids;
    for (int i = 3; i < argc; ++i) ids.push_back(static_cast<int32_t>(std::atoi(argv[i])));
    auto model = corelm::Model::load(argv[1]);
    corelm::SessionOptions o;
    o.all_logits = true;
    o.max_chunk = static_cast<int>(ids.size());
    corelm::Session session(model, o);
    corelm::Tensor logits = session.forward(ids, 1, static_cast<int>(ids.size()));
    std::FILE* f = std::fopen(argv[2], "wb");
    if (f == nullptr) return 1;
    const auto values = logits.span<float>();
    const bool ok = std::fwrite(values.data(), sizeof(float), values.size(), f) == values.size();
    return std::fclose(f) == 0 && ok ? 0 : 1;
  } catch (const corelm::Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
