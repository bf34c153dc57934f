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

namespace {

void read_rows(const corelm::PackageSource& source) {
  const corelm::ModelConfig& c = source.config();
  int head_dim = c.head_dim > 0              ? c.head_dim
                 : c.num_attention_heads > 0 ? c.hidden_size / c.num_attention_heads
                                             : 0;
  std::vector<float> row;
  for (const std::string& name : source.tensor_names()) {
    std::optional<corelm::TensorRef> t = source.tensor(name);
    if (!t || t->shape.empty() || t->cols() == 0 || t->cols() > (1u << 20)) continue;
    if (t->rotary_interleaved && head_dim <= 0) continue;
    row.resize(t->cols());
    corelm::read_row_as_float(*t, 0, head_dim, row.data());
    corelm::read_row_as_float(*t, t->rows() - 1, head_dim, row.data());
  }
}

}  // namespace

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
    read_rows(source);
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
