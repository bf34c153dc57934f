// Fuzz target: a .safetensors file from bytes (header length, JSON header, data). Opens it and
// reads every tensor's elements count and its first and last data bytes.
#include <cstddef>
#include <cstdint>

#include "convert/safetensors.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string path = corelm::fuzz::write_temp_file(data, size, ".safetensors");
  try {
    auto reader = corelm::SafetensorsReader::open_file(path);
    volatile uint8_t sink = 0;
    for (const auto& [name, t] : reader->tensors()) {
      (void)t.elements();
      if (t.bytes > 0) sink = sink + t.data[0] + t.data[t.bytes - 1];
      (void)reader->find(name);
    }
  } catch (const corelm::Error& e) {
    corelm::fuzz::note(e);
  }
  return 0;
}
