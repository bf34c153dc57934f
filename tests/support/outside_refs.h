// Readers written for the tests, independent of corelm's own: they compute expected values
// straight from the files other programs made (the GGUF header, a safetensors header,
// tokenizer.json's vocabulary), so a test never checks corelm against corelm.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace corelm::test {

struct GgufTensorInfo {
  std::string name;
  std::vector<uint64_t> ne;  // GGUF order: ne[0] is the fastest-moving (column) dimension
  uint32_t type = 0;         // ggml_type: 0 F32, 1 F16, ...
};

struct GgufHeader {
  uint32_t version = 0;
  uint64_t n_kv = 0;
  std::vector<GgufTensorInfo> tensors;
};

// The GGUF header as the format's specification (ggml docs/gguf.md) lays it out.
GgufHeader read_gguf_header(const std::string& path);

struct SafetensorsEntry {
  std::string name, dtype;
  std::vector<uint64_t> shape;
};
// The tensors of a .safetensors file, from its JSON header (8-byte length, then JSON).
std::vector<SafetensorsEntry> read_safetensors_header(const std::string& path);

// SentencePiece-style decoding with tokenizer.json's model.vocab alone: "▁" is a space and
// "<0xNN>" a raw byte.
std::string decode_with_vocab(const nlohmann::json& tokenizer_json, const std::vector<int>& ids);

// Sizes as people read them, powers of 1000: "303.0 KB", "1.2 MB".
std::string decimal_size(uint64_t bytes);

}  // namespace corelm::test
