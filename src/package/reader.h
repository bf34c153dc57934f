// PackageReader: opens a .clm file with mmap, validates the whole header and every table entry
// (offsets, sizes, dtypes, shapes) once, then hands out views into the mapping. Views live as
// long as the reader. Data checksums are verified on request (verify_checksums), not at open:
// reading gigabytes to open a model would defeat mmap.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/mapped_file.h"
#include "tensor/dtype.h"
#include "tensor/layout.h"

namespace corelm {

struct PackageTensor {
  std::string name;
  DType dtype;
  std::vector<uint64_t> shape;  // [rows, cols] for matrices, [n] for vectors
  Layout layout = Layout::kRows;
  uint64_t offset = 0;  // from data_offset
  uint64_t bytes = 0;
  uint32_t crc32 = 0;
  const uint8_t* data = nullptr;  // into the mapping

  uint64_t rows() const { return shape.size() == 2 ? shape[0] : 1; }
  uint64_t cols() const { return shape.back(); }
  uint64_t elements() const { return rows() * cols(); }
};

struct PackageBlob {
  std::string name;
  uint64_t offset = 0;
  uint64_t bytes = 0;
  uint32_t crc32 = 0;
  const uint8_t* data = nullptr;
  std::string_view view() const { return {reinterpret_cast<const char*>(data), bytes}; }
};

class PackageReader {
 public:
  explicit PackageReader(const std::string& path);

  const nlohmann::json& header() const { return header_; }
  uint32_t format_version() const { return format_version_; }
  uint64_t file_bytes() const { return file_.size(); }
  uint64_t data_offset() const { return data_offset_; }
  const std::vector<PackageTensor>& tensors() const { return tensors_; }
  const std::vector<PackageBlob>& blobs() const { return blobs_; }
  const PackageTensor* find_tensor(std::string_view name) const;
  const PackageTensor& tensor(std::string_view name) const;  // throws kNotFound
  std::optional<std::string_view> blob(std::string_view name) const;
  const MappedFile& file() const { return file_; }

  // Recomputes every tensor's and blob's CRC-32; throws kCorrupt naming the first mismatch.
  void verify_checksums() const;

 private:
  MappedFile file_;
  nlohmann::json header_;
  uint32_t format_version_ = 0;
  uint64_t data_offset_ = 0;
  uint64_t data_bytes_ = 0;
  std::vector<PackageTensor> tensors_;
  std::vector<PackageBlob> blobs_;
};

// CRC-32 (zlib polynomial) of a byte range; `crc` continues a previous value.
uint32_t crc32_of(const void* data, size_t bytes, uint32_t crc = 0);
// "%08x" form used in the header.
std::string crc32_hex(uint32_t crc);

}  // namespace corelm
