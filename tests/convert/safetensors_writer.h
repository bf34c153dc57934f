// Writes safetensors files for tests (header JSON + raw data), including deliberately wrong ones.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace corelm::test {

struct StTensor {
  std::string dtype;  // "F32", "F16", "BF16"
  std::vector<uint64_t> shape;
  std::string bytes;
};

inline void write_safetensors(const std::string& path,
                              const std::map<std::string, StTensor>& tensors,
                              const std::function<void(nlohmann::json&)>& tamper = {}) {
  nlohmann::json h = nlohmann::json::object();
  std::string data;
  for (const auto& [name, t] : tensors) {
    h[name] = {{"dtype", t.dtype},
               {"shape", t.shape},
               {"data_offsets", {data.size(), data.size() + t.bytes.size()}}};
    data += t.bytes;
  }
  if (tamper) tamper(h);
  std::string text = h.dump();
  uint64_t n = text.size();
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(&n), 8);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

inline std::string f32_bytes(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4);
}

}  // namespace corelm::test
