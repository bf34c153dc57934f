#include "package/writer.h"

#include <cstring>

#include "base/check.h"
#include "package/format.h"
#include "package/reader.h"

namespace corelm {

namespace {
constexpr const char* kComponent = "package";
using nlohmann::json;
}  // namespace

PackageWriter::PackageWriter(std::string path, json metadata, std::vector<PlannedTensor> tensors,
                             std::vector<PlannedBlob> blobs)
    : plan_(std::move(tensors)), blobs_(std::move(blobs)), metadata_(std::move(metadata)) {
  uint64_t offset = 0;
  for (const auto& b : blobs_) {
    blob_offsets_.push_back(offset);
    offset = package::align_up(offset + b.bytes.size(), package::kTensorAlignment);
  }
  for (const auto& t : plan_) {
    if (t.shape.empty() || t.shape.size() > 2)
      fail(ErrorCode::kInternal, kComponent, "tensor '{}' must have 1 or 2 dimensions", t.name);
    uint64_t cols = t.shape.back(), rows = t.shape.size() == 2 ? t.shape[0] : 1;
    if (!dtype_fits_row(t.dtype, cols))
      fail(ErrorCode::kInternal, kComponent, "tensor '{}' rows of {} cannot be stored as {}",
           t.name, cols, dtype_name(t.dtype));
    offsets_.push_back(offset);
    sizes_.push_back(layout_matrix_bytes(t.dtype, t.layout, rows, cols));
    offset = package::align_up(offset + sizes_.back(), package::kTensorAlignment);
  }
  crcs_.assign(plan_.size(), 0);
  data_bytes_ = offset;
  header_bytes_ = serialize_header().size();
  data_offset_ =
      package::align_up(sizeof(package::FixedHeader) + header_bytes_, package::kDataAlignment);
  file_bytes_ = data_offset_ + data_bytes_;

  uint64_t free_bytes = AtomicFile::free_space(path);
  if (free_bytes < file_bytes_ + (64ull << 20))
    fail(ErrorCode::kResourceExhausted, kComponent,
         "not enough disk space for '{}': it needs {} and {} is free", path,
         format_bytes(static_cast<double>(file_bytes_)),
         format_bytes(static_cast<double>(free_bytes)));

  file_ = std::make_unique<AtomicFile>(std::move(path), kComponent);
  // Placeholder header and padding; blobs go first since they are already in memory.
  file_->write_zeros(data_offset_);
  for (size_t i = 0; i < blobs_.size(); ++i) {
    file_->write_zeros(data_offset_ + blob_offsets_[i] - file_->size());
    file_->write(blobs_[i].bytes.data(), blobs_[i].bytes.size());
  }
  if (!plan_.empty()) file_->write_zeros(data_offset_ + offsets_[0] - file_->size());
}

PackageWriter::~PackageWriter() = default;

std::string PackageWriter::serialize_header() const {
  json h = metadata_;
  h["format"] = "corelm-package";
  h["format_version"] = package::kFormatVersion;
  json tensors = json::array();
  for (size_t i = 0; i < plan_.size(); ++i) {
    tensors.push_back({{"name", plan_[i].name},
                       {"dtype", dtype_name(plan_[i].dtype)},
                       {"shape", plan_[i].shape},
                       {"layout", layout_name(plan_[i].layout)},
                       {"offset", offsets_[i]},
                       {"bytes", sizes_[i]},
                       {"crc32", crc32_hex(crcs_[i])}});
  }
  json blobs = json::array();
  for (size_t i = 0; i < blobs_.size(); ++i) {
    blobs.push_back(
        {{"name", blobs_[i].name},
         {"offset", blob_offsets_[i]},
         {"bytes", static_cast<uint64_t>(blobs_[i].bytes.size())},
         {"crc32", crc32_hex(crc32_of(blobs_[i].bytes.data(), blobs_[i].bytes.size()))}});
  }
  h["tensors"] = std::move(tensors);
  h["blobs"] = std::move(blobs);
  return h.dump(1);
}

void PackageWriter::write(const void* data, size_t bytes) {
  if (next_ >= plan_.size())
    fail(ErrorCode::kInternal, kComponent, "write past the last planned tensor");
  if (written_in_tensor_ + bytes > sizes_[next_])
    fail(ErrorCode::kInternal, kComponent, "tensor '{}' got more than its {} bytes",
         plan_[next_].name, sizes_[next_]);
  file_->write(data, bytes);
  running_crc_ = crc32_of(data, bytes, running_crc_);
  written_in_tensor_ += bytes;
}

void PackageWriter::end_tensor() {
  if (next_ >= plan_.size() || written_in_tensor_ != sizes_[next_])
    fail(ErrorCode::kInternal, kComponent, "tensor '{}' got {} of its {} bytes",
         next_ < plan_.size() ? plan_[next_].name : "?", written_in_tensor_,
         next_ < plan_.size() ? sizes_[next_] : 0);
  crcs_[next_] = running_crc_;
  running_crc_ = 0;
  written_in_tensor_ = 0;
  ++next_;
  uint64_t target = next_ < plan_.size() ? data_offset_ + offsets_[next_] : file_bytes_;
  file_->write_zeros(target - file_->size());
}

void PackageWriter::commit() {
  if (next_ != plan_.size())
    fail(ErrorCode::kInternal, kComponent, "commit after {} of {} tensors", next_, plan_.size());
  if (file_->size() < file_bytes_) file_->write_zeros(file_bytes_ - file_->size());
  std::string header = serialize_header();
  if (header.size() != header_bytes_)
    fail(ErrorCode::kInternal, kComponent, "header changed size ({} -> {})", header_bytes_,
         header.size());
  package::FixedHeader fh{};
  std::memcpy(fh.magic, package::kMagic, sizeof(fh.magic));
  fh.format_version = package::kFormatVersion;
  fh.header_crc32 = crc32_of(header.data(), header.size());
  fh.header_bytes = header.size();
  fh.data_offset = data_offset_;
  fh.data_bytes = data_bytes_;
  fh.file_bytes = file_bytes_;
  file_->pwrite(&fh, sizeof(fh), 0);
  file_->pwrite(header.data(), header.size(), sizeof(fh));
  file_->commit();
  file_.reset();
}

}  // namespace corelm
