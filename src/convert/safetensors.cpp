#include "convert/safetensors.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <optional>

#include "base/check.h"
#include "base/file_util.h"
#include "base/json_access.h"

namespace corelm {

namespace {

constexpr const char* kComponent = "safetensors";
using nlohmann::json;
namespace fs = std::filesystem;

std::optional<DType> safetensors_dtype(const std::string& name) {
  if (name == "F32") return DType::kF32;
  if (name == "F16") return DType::kF16;
  if (name == "BF16") return DType::kBF16;
  return std::nullopt;
}

}  // namespace

uint64_t SafetensorsTensor::elements() const {
  uint64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

const SafetensorsTensor* SafetensorsReader::find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

std::unique_ptr<SafetensorsReader> SafetensorsReader::open_file(const std::string& path) {
  auto r = std::unique_ptr<SafetensorsReader>(new SafetensorsReader());
  r->add_file(path, nullptr);
  return r;
}

std::unique_ptr<SafetensorsReader> SafetensorsReader::open_folder(const std::string& dir) {
  auto r = std::unique_ptr<SafetensorsReader>(new SafetensorsReader());
  fs::path index = fs::path(dir) / "model.safetensors.index.json";
  fs::path single = fs::path(dir) / "model.safetensors";
  if (fs::exists(index)) {
    const json j = parse_json(read_file(index.string(), kComponent), kComponent,
                              fmt::format("'{}'", index.string()));
    if (!j.contains("weight_map") || !j["weight_map"].is_object())
      fail(ErrorCode::kCorrupt, kComponent, "'{}' has no weight_map object", index.string());
    std::map<std::string, std::map<std::string, std::string>> by_shard;  // shard -> names
    for (const auto& [name, shard] : j["weight_map"].items()) {
      if (!shard.is_string())
        fail(ErrorCode::kCorrupt, kComponent, "'{}' maps '{}' to a non-string", index.string(),
             name);
      std::string s = shard.get<std::string>();
      if (s.find('/') != std::string::npos || s.find("..") != std::string::npos)
        fail(ErrorCode::kCorrupt, kComponent, "'{}' names shard '{}' outside the folder",
             index.string(), s);
      by_shard[s][name] = s;
    }
    for (const auto& [shard, names] : by_shard) {
      fs::path p = fs::path(dir) / shard;
      if (!fs::exists(p))
        fail(ErrorCode::kNotFound, kComponent,
             "shard '{}' listed in '{}' is missing ({} tensors live there, e.g. '{}')", shard,
             index.string(), names.size(), names.begin()->first);
      r->add_file(p.string(), &names);
    }
    return r;
  }
  if (fs::exists(single)) {
    r->add_file(single.string(), nullptr);
    return r;
  }
  // Fall back to any *.safetensors files in the folder.
  std::vector<std::string> found;
  if (fs::is_directory(dir))
    for (const auto& e : fs::directory_iterator(dir))
      if (e.path().extension() == ".safetensors") found.push_back(e.path().string());
  if (found.empty())
    fail(ErrorCode::kNotFound, kComponent,
         "'{}' has no model.safetensors, model.safetensors.index.json or *.safetensors", dir);
  std::sort(found.begin(), found.end());
  for (const auto& f : found) r->add_file(f, nullptr);
  return r;
}

void SafetensorsReader::add_file(const std::string& path,
                                 const std::map<std::string, std::string>* expected) {
  auto file = std::make_unique<MappedFile>(path, kComponent);
  const uint64_t size = file->size();
  if (size < 8)
    fail(ErrorCode::kCorrupt, kComponent, "'{}' is {} bytes, too small for safetensors", path,
         size);
  uint64_t header_len = 0;
  std::memcpy(&header_len, file->data(), 8);
  if (header_len == 0 || header_len > size - 8 || header_len > (100ull << 20))
    fail(ErrorCode::kCorrupt, kComponent, "'{}' declares a {}-byte header but the file is {} bytes",
         path, header_len, size);
  const char* hb = reinterpret_cast<const char*>(file->data()) + 8;
  const json header =
      parse_json(std::string_view(hb, header_len), kComponent, fmt::format("'{}' header", path));
  if (!header.is_object())
    fail(ErrorCode::kCorrupt, kComponent, "'{}' header is not a JSON object", path);
  const uint64_t data_start = 8 + header_len;
  const uint64_t data_size = size - data_start;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (const auto& [name, e] : header.items()) {
    if (name == "__metadata__") continue;
    if (!e.is_object() || !e.contains("dtype") || !e.contains("shape") ||
        !e.contains("data_offsets"))
      fail(ErrorCode::kCorrupt, kComponent, "'{}' entry '{}' lacks dtype/shape/data_offsets", path,
           name);
    SafetensorsTensor t;
    t.name = name;
    std::string dt = e["dtype"].is_string() ? e["dtype"].get<std::string>() : "?";
    auto dtype = safetensors_dtype(dt);
    if (!dtype)
      fail(ErrorCode::kUnsupported, kComponent,
           "'{}' tensor '{}' has dtype {}; corelm converts F32, F16 and BF16", path, name, dt);
    t.dtype = *dtype;
    if (!e["shape"].is_array())
      fail(ErrorCode::kCorrupt, kComponent, "'{}' tensor '{}' has a non-array shape", path, name);
    uint64_t elements = 1;
    for (const auto& d : e["shape"]) {
      if (!d.is_number_unsigned() || d.get<uint64_t>() > (1ull << 40))
        fail(ErrorCode::kCorrupt, kComponent, "'{}' tensor '{}' has an invalid dimension {}", path,
             name, d.dump());
      t.shape.push_back(d.get<uint64_t>());
      // Checked before multiplying: dimensions of 2^40 each would wrap the product to 0.
      if (t.shape.back() != 0 && elements > (1ull << 40) / t.shape.back())
        fail(ErrorCode::kCorrupt, kComponent, "'{}' tensor '{}' is implausibly large", path, name);
      elements *= t.shape.back();
    }
    const auto& off = e["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() ||
        !off[1].is_number_unsigned())
      fail(ErrorCode::kCorrupt, kComponent, "'{}' tensor '{}' has malformed data_offsets", path,
           name);
    uint64_t begin = off[0].get<uint64_t>(), end = off[1].get<uint64_t>();
    uint64_t need = elements * dtype_traits(t.dtype).block_bytes;
    if (end < begin || end > data_size)
      fail(ErrorCode::kCorrupt, kComponent,
           "'{}' tensor '{}' spans bytes [{}, {}) but the data section is {} bytes: the header "
           "lies or the file is truncated",
           path, name, begin, end, data_size);
    if (end - begin != need)
      fail(ErrorCode::kCorrupt, kComponent,
           "'{}' tensor '{}' has {} bytes but shape and dtype {} need {}", path, name, end - begin,
           dt, need);
    ranges.emplace_back(begin, end);
    t.bytes = need;
    t.file_offset = data_start + begin;
    t.data = file->data() + t.file_offset;
    t.file = file.get();
    if (expected != nullptr && expected->find(name) == expected->end()) continue;  // not ours
    if (tensors_.count(name))
      fail(ErrorCode::kCorrupt, kComponent, "tensor '{}' appears in more than one file", name);
    tensors_.emplace(name, std::move(t));
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i)
    if (ranges[i].first < ranges[i - 1].second)
      fail(ErrorCode::kCorrupt, kComponent, "'{}' has overlapping tensors at byte {}", path,
           ranges[i].first);
  if (expected != nullptr)
    for (const auto& [name, shard] : *expected)
      if (!tensors_.count(name))
        fail(ErrorCode::kCorrupt, kComponent, "index says '{}' is in '{}' but it is not there",
             name, path);
  files_.push_back(std::move(file));
}

}  // namespace corelm
