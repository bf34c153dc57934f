// Safetensors reader: memory-maps a .safetensors file (or every shard named by a
// model.safetensors.index.json) and validates the header before any tensor is used: the header
// length, each dtype, shape and data_offsets pair, and that no tensor extends past the file or
// overlaps another. Views point into the mappings and live as long as the reader.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/mapped_file.h"
#include "tensor/dtype.h"

namespace corelm {

struct SafetensorsTensor {
  std::string name;
  DType dtype;                  // F32, F16 or BF16
  std::vector<uint64_t> shape;  // as stored (row-major)
  const uint8_t* data = nullptr;
  uint64_t bytes = 0;
  const MappedFile* file = nullptr;  // the shard that holds it
  uint64_t file_offset = 0;          // of data within that shard

  uint64_t elements() const;
};

class SafetensorsReader {
 public:
  // Opens one .safetensors file.
  static std::unique_ptr<SafetensorsReader> open_file(const std::string& path);
  // Opens a model folder: model.safetensors, or the shards of model.safetensors.index.json.
  static std::unique_ptr<SafetensorsReader> open_folder(const std::string& dir);

  const std::map<std::string, SafetensorsTensor>& tensors() const { return tensors_; }
  const SafetensorsTensor* find(const std::string& name) const;
  const std::vector<std::unique_ptr<MappedFile>>& files() const { return files_; }

 private:
  void add_file(const std::string& path, const std::map<std::string, std::string>* expected);
  std::vector<std::unique_ptr<MappedFile>> files_;
  std::map<std::string, SafetensorsTensor> tensors_;
};

}  // namespace corelm
