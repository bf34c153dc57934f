// Fuzz target: a Hugging Face tokenizer.json, a text and a tokenizer_config.json, in one input
// (tokenizer.json | text | config | len(config) | len(text): fuzz_support.h's split_parts).
// Builds the tokenizer through the public factory and encodes/decodes the text.
#include <cstddef>
#include <cstdint>

#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  corelm::fuzz::Parts in = corelm::fuzz::split_parts(data, size, 2);
  try {
    auto tok = corelm::Tokenizer::from_hf_json(in.main, in.parts[1]);
    corelm::fuzz::exercise_tokenizer(*tok, in.parts[0]);
  } catch (const corelm::Error& e) {
    corelm::fuzz::note(e);
  }
  return 0;
}
