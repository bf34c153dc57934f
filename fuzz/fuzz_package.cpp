// Fuzz target: a .clm package from bytes. Opens it (header, tensor table, blobs), verifies the
// checksums, reads each tensor's first and last row as floats through the model-source view,
// builds the tokenizer it carries, encodes/decodes a text and compiles its chat templates.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "corelm/chat.h"
#include "fuzz_support.h"
#include "package/package_source.h"
#include "package/reader.h"
#include "tokenizer/tokenizer_data.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string path = corelm::fuzz::write_temp_file(data, size, ".clm");
  try {
    corelm::PackageReader reader(path);
    reader.verify_checksums();
    for (const auto& b : reader.blobs()) (void)reader.blob(b.name);
  } catch (const corelm::Error& e) {
    corelm::fuzz::note(e);
  }
  try {
    corelm::PackageSource source(path);
    corelm::fuzz::read_first_and_last_rows(source);
    try {
      auto tok = corelm::tokenizer_from_files(source.tokenizer_files(), path);
      corelm::fuzz::exercise_tokenizer(*tok, "Once upon a time, <s> there was\n\xe2\x96\x81 x");
    } catch (const corelm::Error& e) {
      corelm::fuzz::note(e);
    }
    const auto& m = source.metadata();
    if (!m.chat_template.empty()) (void)corelm::ChatTemplate::compile(m.chat_template);
  } catch (const corelm::Error& e) {
    corelm::fuzz::note(e);
  }
  return 0;
}
