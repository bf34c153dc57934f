// GgufFile: a read-only, memory-mapped GGUF file (versions 2 and 3). The header, every metadata
// key/value (arrays included) and every tensor info are parsed and validated at open: counts and
// string lengths against the bytes that remain, dimensions and sizes against overflow, offsets
// against alignment and the file size. No allocation is ever sized by an unchecked field.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/mapped_file.h"

namespace corelm::gguf {

enum class ValueType : uint32_t {
  kU8 = 0,
  kI8 = 1,
  kU16 = 2,
  kI16 = 3,
  kU32 = 4,
  kI32 = 5,
  kF32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kU64 = 10,
  kI64 = 11,
  kF64 = 12,
};

struct Value {
  ValueType type = ValueType::kU32;
  int64_t i = 0;   // integers and bools
  uint64_t u = 0;  // unsigned integers (also in i when they fit)
  double f = 0.0;  // floats
  std::string s;
  // Arrays: element type and the elements in the matching list.
  ValueType element_type = ValueType::kU8;
  std::vector<int64_t> ints;
  std::vector<double> floats;
  std::vector<std::string> strings;
  size_t array_size = 0;
};

struct TensorInfo {
  std::string name;
  std::vector<uint64_t> dims;  // ggml order: dims[0] is the contiguous (column) dimension
  uint32_t type = 0;
  uint64_t offset = 0;  // from the start of the data section
  uint64_t bytes = 0;
  const uint8_t* data = nullptr;
  uint64_t rows() const;  // product of dims[1..]
  uint64_t cols() const { return dims[0]; }
  uint64_t row_bytes() const;
};

// True when `path` is a regular file that starts with the GGUF magic.
bool is_gguf_file(const std::string& path);

class GgufFile {
 public:
  explicit GgufFile(const std::string& path);

  uint32_t version() const { return version_; }
  const std::map<std::string, Value>& metadata() const { return metadata_; }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find_tensor(const std::string& name) const;
  const Value* find(const std::string& key) const;
  uint64_t alignment() const { return alignment_; }
  const MappedFile& file() const { return file_; }

  // Typed getters: nullopt when absent; Error (kCorrupt) when present with the wrong type.
  std::optional<std::string> get_string(const std::string& key) const;
  std::optional<int64_t> get_int(const std::string& key) const;
  std::optional<double> get_float(const std::string& key) const;
  std::optional<bool> get_bool(const std::string& key) const;

 private:
  MappedFile file_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  std::map<std::string, Value> metadata_;
  std::vector<TensorInfo> tensors_;
};

std::string value_type_name(ValueType t);

}  // namespace corelm::gguf
