// Greedy generation with corelm's public API only: load a package, tokenize, run the stateful
// forward pass, and pick each next token with corelm::argmax on the returned logits tensor.
//   generate_example MODEL.clm "Once upon a time" 32
// prints the generated ids on one line and the text on the next.
#include <corelm/corelm.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s MODEL PROMPT NEW_TOKENS\n", argv[0]);
    return 2;
  }
  try {
    std::shared_ptr<corelm::Model> model = corelm::Model::load(argv[1]);
    const corelm::Tokenizer& tokenizer = model->tokenizer();
    const int new_tokens = std::atoi(argv[3]);

    corelm::SessionOptions options;
    options.max_context = 512;
    corelm::Session session(model, options);

    std::vector<int32_t> ids = tokenizer.encode(argv[2]);
    corelm::Tensor logits = session.forward(ids, 1, static_cast<int>(ids.size()));  // [1, vocab]
    std::vector<int32_t> generated;
    for (int i = 0; i < new_tokens; ++i) {
      const int32_t next = corelm::argmax(logits).data<int32_t>()[0];
      generated.push_back(next);
      logits = session.forward(std::vector<int32_t>{next}, 1, 1);
    }
    for (size_t i = 0; i < generated.size(); ++i) std::printf("%s%d", i ? " " : "", generated[i]);
    std::printf("\n%s\n", tokenizer.decode(generated).c_str());
  } catch (const corelm::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
