// PackageWriter: writes a .clm file in one streaming pass. The whole layout (every tensor's
// dtype, shape, size and offset) is fixed up front from the plan, so tensors are written one
// after another without holding more than one in memory. Checksums are filled in at commit by
// rewriting the JSON header in place (its length does not change: CRCs are fixed-width hex).
// Nothing appears at `path` until commit() succeeds.
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

#include "base/atomic_file.h"
#include "tensor/dtype.h"
#include "tensor/layout.h"

namespace corelm {

struct PlannedTensor {
  std::string name;
  DType dtype;
  std::vector<uint64_t> shape;
  Layout layout = Layout::kRows;
};

struct PlannedBlob {
  std::string name;
  std::string bytes;
};

class PackageWriter {
 public:
  // `metadata` holds every header field except the tensor and blob tables. Throws Error
  // (kResourceExhausted) before writing anything if the disk cannot hold the file.
  PackageWriter(std::string path, nlohmann::json metadata, std::vector<PlannedTensor> tensors,
                std::vector<PlannedBlob> blobs);
  ~PackageWriter();

  // Appends bytes to the current tensor (tensors are written in plan order).
  void write(const void* data, size_t bytes);
  // Ends the current tensor; throws if it received a different number of bytes than planned.
  void end_tensor();
  // Writes the final header and renames the file into place.
  void commit();

  uint64_t total_bytes() const { return file_bytes_; }
  size_t tensors_written() const { return next_; }
  const std::vector<PlannedTensor>& plan() const { return plan_; }
  uint64_t tensor_bytes(size_t i) const { return sizes_[i]; }

 private:
  std::string serialize_header() const;

  std::vector<PlannedTensor> plan_;
  std::vector<uint64_t> offsets_, sizes_;
  std::vector<uint32_t> crcs_;
  std::vector<PlannedBlob> blobs_;
  std::vector<uint64_t> blob_offsets_;
  nlohmann::json metadata_;
  uint64_t data_offset_ = 0, data_bytes_ = 0, file_bytes_ = 0, header_bytes_ = 0;
  std::unique_ptr<AtomicFile> file_;
  size_t next_ = 0;
  uint64_t written_in_tensor_ = 0;
  uint32_t running_crc_ = 0;
};

}  // namespace corelm
