#include "outside_refs.h"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <stdexcept>

namespace corelm::test {

namespace {

class Cursor {
 public:
  explicit Cursor(const std::string& path) : in_(path, std::ios::binary) {
    if (!in_) throw std::runtime_error("cannot open " + path);
  }
  template <typename T>
  T pod() {
    T v{};
    in_.read(reinterpret_cast<char*>(&v), sizeof(T));
    if (!in_) throw std::runtime_error("GGUF header ends early");
    return v;
  }
  std::string str() {
    auto n = pod<uint64_t>();
    std::string s(n, '\0');
    in_.read(s.data(), static_cast<std::streamsize>(n));
    return s;
  }
  void skip(uint64_t n) { in_.seekg(static_cast<std::streamoff>(n), std::ios::cur); }

 private:
  std::ifstream in_;
};

// Bytes of a scalar GGUF metadata value type (gguf.md: 0 u8, 1 i8, 2 u16, 3 i16, 4 u32,
// 5 i32, 6 f32, 7 bool, 8 string, 9 array, 10 u64, 11 i64, 12 f64).
uint64_t scalar_bytes(uint32_t type) {
  static const std::map<uint32_t, uint64_t> bytes{{0, 1}, {1, 1}, {2, 2},  {3, 2},  {4, 4}, {5, 4},
                                                  {6, 4}, {7, 1}, {10, 8}, {11, 8}, {12, 8}};
  auto it = bytes.find(type);
  if (it == bytes.end()) throw std::runtime_error("unknown GGUF type " + std::to_string(type));
  return it->second;
}

void skip_value(Cursor& c, uint32_t type) {
  if (type == 8) {
    c.skip(c.pod<uint64_t>());
  } else if (type == 9) {
    auto item = c.pod<uint32_t>();
    auto n = c.pod<uint64_t>();
    if (item == 8 || item == 9)
      for (uint64_t i = 0; i < n; ++i) skip_value(c, item);
    else
      c.skip(n * scalar_bytes(item));
  } else {
    c.skip(scalar_bytes(type));
  }
}

}  // namespace

GgufHeader read_gguf_header(const std::string& path) {
  Cursor c(path);
  if (c.pod<uint32_t>() != 0x46554747u) throw std::runtime_error(path + " is not GGUF");
  GgufHeader h;
  h.version = c.pod<uint32_t>();
  const auto n_tensors = c.pod<uint64_t>();
  h.n_kv = c.pod<uint64_t>();
  for (uint64_t i = 0; i < h.n_kv; ++i) {
    c.str();  // key
    skip_value(c, c.pod<uint32_t>());
  }
  for (uint64_t i = 0; i < n_tensors; ++i) {
    GgufTensorInfo t;
    t.name = c.str();
    const auto dims = c.pod<uint32_t>();
    for (uint32_t d = 0; d < dims; ++d) t.ne.push_back(c.pod<uint64_t>());
    t.type = c.pod<uint32_t>();
    c.pod<uint64_t>();  // offset
    h.tensors.push_back(std::move(t));
  }
  return h;
}

std::vector<SafetensorsEntry> read_safetensors_header(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  uint64_t n = 0;
  in.read(reinterpret_cast<char*>(&n), 8);
  std::string text(n, '\0');
  in.read(text.data(), static_cast<std::streamsize>(n));
  if (!in) throw std::runtime_error("cannot read the safetensors header of " + path);
  std::vector<SafetensorsEntry> out;
  const auto header = nlohmann::json::parse(text);
  for (const auto& [name, info] : header.items()) {
    if (name == "__metadata__") continue;
    out.push_back(
        {name, info["dtype"].get<std::string>(), info["shape"].get<std::vector<uint64_t>>()});
  }
  return out;
}

std::string decode_with_vocab(const nlohmann::json& tokenizer_json, const std::vector<int>& ids) {
  std::map<int, std::string> piece;
  for (const auto& [p, id] : tokenizer_json["model"]["vocab"].items()) piece[id.get<int>()] = p;
  std::string out;
  for (int id : ids) {
    const std::string& p = piece.at(id);
    unsigned byte = 0;
    if (p.size() == 6 && std::sscanf(p.c_str(), "<0x%2X>", &byte) == 1) {
      out += static_cast<char>(byte);
      continue;
    }
    for (size_t i = 0; i < p.size();) {
      if (p.compare(i, 3, "\xE2\x96\x81") == 0) {  // U+2581 ▁
        out += ' ';
        i += 3;
      } else {
        out += p[i++];
      }
    }
  }
  return out;
}

std::string decimal_size(uint64_t bytes) {
  char buf[32];
  const double b = static_cast<double>(bytes);
  if (b < 1e6)
    std::snprintf(buf, sizeof(buf), "%.1f KB", b / 1e3);
  else if (b < 1e9)
    std::snprintf(buf, sizeof(buf), "%.1f MB", b / 1e6);
  else
    std::snprintf(buf, sizeof(buf), "%.1f GB", b / 1e9);
  return buf;
}

}  // namespace corelm::test
