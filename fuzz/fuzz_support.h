// Helpers shared by the fuzz targets (fuzz_*.cpp). Each target catches corelm::Error only: any
// other exception escaping LLVMFuzzerTestOneInput is a finding (libFuzzer reports it as a crash,
// and the replay tests fail on it).
#pragma once

#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "corelm/error.h"
#include "corelm/tokenizer.h"
#include "source/model_source.h"

namespace corelm::fuzz {

// Prints a caught error when CORELM_FUZZ_VERBOSE is set (to see how far a seed gets).
inline void note(const corelm::Error& e) {
  static const bool verbose = std::getenv("CORELM_FUZZ_VERBOSE") != nullptr;
  if (verbose) std::fprintf(stderr, "corelm::Error: %s\n", e.what());
}

// Runs f, catching (and noting) corelm::Error only.
template <class F>
void attempt(F&& f) {
  try {
    f();
  } catch (const corelm::Error& e) {
    note(e);
  }
}

// The readers take paths (and map them): the input goes to a file private to this process, under
// $TMPDIR (or /tmp), rewritten for every input.
inline std::string write_temp_file(const uint8_t* data, size_t size, const char* suffix) {
  const char* dir = std::getenv("TMPDIR");
  std::string path = std::string(dir && *dir ? dir : "/tmp") + "/corelm-fuzz-" +
                     std::to_string(::getpid()) + suffix;
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();
  if (size && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
  return path;
}

// A multi-part input: main | part 1 | ... | part n | len n | ... | len 1, each length a 16-bit
// little-endian count at the end of the input (clamped to what is there). The main part comes
// first so that a seed stays readable (a JSON document, a template, a .model file).
struct Parts {
  std::string_view main;
  std::vector<std::string_view> parts;
};

inline Parts split_parts(const uint8_t* data, size_t size, size_t n) {
  std::string_view all(reinterpret_cast<const char*>(data), size);
  Parts out;
  std::vector<size_t> lengths;
  for (size_t i = 0; i < n; ++i) {
    if (all.size() < 2) {
      lengths.push_back(0);
      continue;
    }
    size_t len = static_cast<uint8_t>(all[all.size() - 2]) |
                 (static_cast<size_t>(static_cast<uint8_t>(all[all.size() - 1])) << 8);
    all.remove_suffix(2);
    lengths.push_back(len);
  }
  out.parts.resize(n);
  for (size_t i = n; i-- > 0;) {
    size_t len = std::min(lengths[i], all.size());
    out.parts[i] = all.substr(all.size() - len);
    all.remove_suffix(len);
  }
  out.main = all;
  return out;
}

// Encodes and decodes text with a tokenizer the way an application does: both encode modes,
// decode of the result (raw and not, with and without specials), a streaming decode, and the
// token lookups; then decodes the text's own bytes taken as ids (out-of-range ids included).
inline void exercise_tokenizer(const Tokenizer& tok, std::string_view text) {
  std::vector<int32_t> ids = tok.encode(text, true);
  (void)tok.encode(text, false);
  (void)tok.decode(ids, true);
  (void)tok.decode(ids, false);
  (void)tok.decode_raw(ids, false);
  StreamDecoder stream(tok);
  for (int32_t id : ids) (void)stream.push(id);
  (void)stream.flush();
  for (int32_t id : ids) {
    (void)tok.id_to_token(id);
    (void)tok.is_special(id);
  }
  (void)tok.token_to_id(text);
  (void)tok.vocab_size();
  (void)tok.bos_token();
  (void)tok.eos_token();
  (void)tok.adds_bos();
  (void)tok.chat_template();
  std::vector<int32_t> raw;
  for (size_t i = 0; i + 2 <= text.size() && raw.size() < 64; i += 2)
    raw.push_back(static_cast<int16_t>(static_cast<uint8_t>(text[i]) |
                                       (static_cast<uint8_t>(text[i + 1]) << 8)));
  try {
    (void)tok.decode(raw, false);
    (void)tok.decode_raw(raw, true);
    for (int32_t id : raw) (void)tok.id_to_token(id);
  } catch (const corelm::Error& e) {
    note(e);
  }
}

// Reads the first and last row of every tensor of a model source as floats (the path weights
// take to the kernels: dequantization, GGUF's interleaved rotary rows).
inline void read_first_and_last_rows(const corelm::ModelSource& source) {
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

}  // namespace corelm::fuzz
