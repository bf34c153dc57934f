// Writes GGUF v3 files for tests: metadata of every kind and tensors in any ggml type, so tests
// can build quantized models and deliberately broken files.
#pragma once

#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <variant>
#include <vector>

namespace corelm::test {

class GgufWriter {
 public:
  void kv_string(const std::string& k, const std::string& v) {
    key(k, 8);
    str(meta_, v);
  }
  void kv_u32(const std::string& k, uint32_t v) {
    key(k, 4);
    put(meta_, v);
  }
  void kv_i32(const std::string& k, int32_t v) {
    key(k, 5);
    put(meta_, v);
  }
  void kv_f32(const std::string& k, float v) {
    key(k, 6);
    put(meta_, v);
  }
  void kv_bool(const std::string& k, bool v) {
    key(k, 7);
    put(meta_, static_cast<uint8_t>(v));
  }
  void kv_strings(const std::string& k, const std::vector<std::string>& v) {
    key(k, 9);
    put(meta_, uint32_t{8});
    put(meta_, static_cast<uint64_t>(v.size()));
    for (const auto& s : v) str(meta_, s);
  }
  void kv_f32s(const std::string& k, const std::vector<float>& v) {
    key(k, 9);
    put(meta_, uint32_t{6});
    put(meta_, static_cast<uint64_t>(v.size()));
    for (float x : v) put(meta_, x);
  }
  void kv_i32s(const std::string& k, const std::vector<int32_t>& v) {
    key(k, 9);
    put(meta_, uint32_t{5});
    put(meta_, static_cast<uint64_t>(v.size()));
    for (int32_t x : v) put(meta_, x);
  }
  // dims in ggml order (dims[0] = columns); bytes already in the type's layout.
  void tensor(const std::string& name, std::vector<uint64_t> dims, uint32_t type,
              const std::string& bytes) {
    tensors_.push_back({name, std::move(dims), type, bytes});
  }
  std::string bytes(uint32_t version = 3, uint32_t alignment = 32) const {
    std::string out = "GGUF";
    put(out, version);
    put(out, static_cast<uint64_t>(tensors_.size()));
    put(out, static_cast<uint64_t>(n_kv_));
    out += meta_;
    uint64_t offset = 0;
    std::vector<uint64_t> offsets;
    for (const auto& t : tensors_) {
      str(out, t.name);
      put(out, static_cast<uint32_t>(t.dims.size()));
      for (auto d : t.dims) put(out, d);
      put(out, t.type);
      put(out, offset);
      offsets.push_back(offset);
      offset = (offset + t.bytes.size() + alignment - 1) / alignment * alignment;
    }
    out.resize((out.size() + alignment - 1) / alignment * alignment, '\0');
    const size_t data = out.size();
    for (size_t i = 0; i < tensors_.size(); ++i) {
      out.resize(data + offsets[i], '\0');
      out += tensors_[i].bytes;
    }
    return out;
  }
  void write(const std::string& path) const {
    std::string b = bytes();
    std::ofstream(path, std::ios::binary).write(b.data(), static_cast<std::streamsize>(b.size()));
  }

 private:
  struct Tensor {
    std::string name;
    std::vector<uint64_t> dims;
    uint32_t type;
    std::string bytes;
  };
  template <typename T>
  static void put(std::string& out, T v) {
    out.append(reinterpret_cast<const char*>(&v), sizeof(v));
  }
  static void str(std::string& out, const std::string& s) {
    put(out, static_cast<uint64_t>(s.size()));
    out += s;
  }
  void key(const std::string& k, uint32_t type) {
    str(meta_, k);
    put(meta_, type);
    ++n_kv_;
  }
  std::string meta_;
  size_t n_kv_ = 0;
  std::vector<Tensor> tensors_;
};

}  // namespace corelm::test
