// Fuzz target: a GGUF file from bytes. Parses it (metadata, tensor infos), reads the typed
// getters, then the GGUF model source (config, tensor names, first and last rows as floats) and
// the tokenizer in its metadata (encode/decode a text), and compiles its chat template.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "corelm/chat.h"
#include "fuzz_support.h"
#include "gguf/gguf_file.h"
#include "gguf/gguf_source.h"
#include "tokenizer/tokenizer_data.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string path = corelm::fuzz::write_temp_file(data, size, ".gguf");
  try {
    corelm::gguf::GgufFile file(path);
    for (const auto& entry : file.metadata()) {
      const std::string& key = entry.first;
      corelm::fuzz::attempt([&] { (void)file.get_string(key); });
      corelm::fuzz::attempt([&] { (void)file.get_int(key); });
      corelm::fuzz::attempt([&] { (void)file.get_float(key); });
      corelm::fuzz::attempt([&] { (void)file.get_bool(key); });
    }
    volatile uint8_t sink = 0;
    for (const auto& t : file.tensors())
      if (t.bytes > 0 && t.data) sink = sink + t.data[0] + t.data[t.bytes - 1];
    try {
      auto tok = corelm::tokenizer_from_data(corelm::gguf::tokenizer_data(file));
      corelm::fuzz::exercise_tokenizer(*tok, "Hello world! <s> 12345 \xc3\xa9\xe2\x96\x81");
      if (!tok->chat_template().empty()) (void)corelm::ChatTemplate::compile(tok->chat_template());
    } catch (const corelm::Error& e) {
      corelm::fuzz::note(e);
    }
  } catch (const corelm::Error& e) {
    corelm::fuzz::note(e);
  }
  try {
    corelm::GgufSource source(path);
    corelm::fuzz::read_first_and_last_rows(source);
  } catch (const corelm::Error& e) {
    corelm::fuzz::note(e);
  }
  return 0;
}
