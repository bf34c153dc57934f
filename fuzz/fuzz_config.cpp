// Fuzz target: a Hugging Face config.json from bytes: parsed, validated, written back and
// parsed again (the round trip must not fail on a config the parser accepted and validated).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "corelm/model.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    corelm::ModelConfig c =
        corelm::ModelConfig::from_hf_json(std::string(reinterpret_cast<const char*>(data), size));
    c.validate();
    std::string again = c.to_hf_json();
    try {
      (void)corelm::ModelConfig::from_hf_json(again);
    } catch (const corelm::Error&) {
      std::abort();  // a valid config must round-trip
    }
  } catch (const corelm::Error& e) {
    corelm::fuzz::note(e);
  }
  return 0;
}
