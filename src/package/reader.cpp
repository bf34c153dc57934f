#include "package/reader.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>

#include "base/check.h"
#include "base/json_access.h"
#include "package/format.h"

namespace corelm {

namespace {

constexpr const char* kComponent = "package";
using nlohmann::json;

uint64_t checked_mul(uint64_t a, uint64_t b, const std::string& what) {
  if (a != 0 && b > UINT64_MAX / a)
    fail(ErrorCode::kCorrupt, kComponent, "{} overflows 64 bits", what);
  return a * b;
}

uint32_t parse_crc(const json& j, const std::string& what) {
  if (!j.is_string() || j.get<std::string>().size() != 8)
    fail(ErrorCode::kCorrupt, kComponent, "{} has a malformed crc32 field", what);
  const std::string s = j.get<std::string>();
  uint32_t v = 0;
  for (char c : s) {
    int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
    if (d < 0) fail(ErrorCode::kCorrupt, kComponent, "{} has a malformed crc32 '{}'", what, s);
    v = v << 4 | static_cast<uint32_t>(d);
  }
  return v;
}

uint64_t get_u64(const json& entry, const char* key, const std::string& what) {
  auto it = entry.find(key);
  if (it == entry.end() || !it->is_number_unsigned())
    fail(ErrorCode::kCorrupt, kComponent, "{} lacks a non-negative integer '{}'", what, key);
  return it->get<uint64_t>();
}

}  // namespace

uint32_t crc32_of(const void* data, size_t bytes, uint32_t crc) {
  return static_cast<uint32_t>(
      ::crc32_z(crc, static_cast<const Bytef*>(data), static_cast<z_size_t>(bytes)));
}

std::string crc32_hex(uint32_t crc) {
  return fmt::format("{:08x}", crc);
}

PackageReader::PackageReader(const std::string& path) : file_(path, kComponent) {
  const uint64_t size = file_.size();
  if (size < sizeof(package::FixedHeader))
    fail(ErrorCode::kCorrupt, kComponent,
         "'{}' is {} bytes, too small for a corelm package (the fixed header alone is 64)", path,
         size);
  package::FixedHeader fh;
  std::memcpy(&fh, file_.data(), sizeof(fh));
  if (std::memcmp(fh.magic, package::kMagic, sizeof(fh.magic)) != 0) {
    if (std::memcmp(fh.magic, "GGUF", 4) == 0)
      fail(ErrorCode::kCorrupt, kComponent, "'{}' is a GGUF file, not a .clm package", path);
    fail(ErrorCode::kCorrupt, kComponent, "'{}' is not a corelm package (bad magic bytes)", path);
  }
  format_version_ = fh.format_version;
  if (fh.format_version == 0 || fh.format_version > package::kFormatVersion)
    fail(ErrorCode::kUnsupported, kComponent,
         "'{}' has package format version {}; this corelm reads versions 1..{}", path,
         fh.format_version, package::kFormatVersion);
  if (fh.file_bytes != size)
    fail(ErrorCode::kCorrupt, kComponent,
         "'{}' is {} bytes but its header says {} bytes: the file is truncated or was extended",
         path, size, fh.file_bytes);
  if (fh.header_bytes == 0 || fh.header_bytes > package::kMaxHeaderBytes ||
      fh.header_bytes > size - sizeof(fh))
    fail(ErrorCode::kCorrupt, kComponent, "'{}' declares a {}-byte JSON header in a {}-byte file",
         path, fh.header_bytes, size);
  if (fh.data_offset < sizeof(fh) + fh.header_bytes || fh.data_offset > size ||
      fh.data_bytes != size - fh.data_offset || fh.data_offset % package::kDataAlignment != 0)
    fail(ErrorCode::kCorrupt, kComponent,
         "'{}' has an inconsistent data section (offset {}, {} bytes, file {} bytes)", path,
         fh.data_offset, fh.data_bytes, size);
  data_offset_ = fh.data_offset;
  data_bytes_ = fh.data_bytes;

  const char* json_begin = reinterpret_cast<const char*>(file_.data()) + sizeof(fh);
  if (crc32_of(json_begin, fh.header_bytes) != fh.header_crc32)
    fail(ErrorCode::kCorrupt, kComponent,
         "'{}' header checksum mismatch: the JSON header is corrupted", path);
  header_ = parse_json(std::string_view(json_begin, fh.header_bytes), kComponent,
                       fmt::format("'{}' header", path));
  if (!header_.is_object() || !header_.contains("tensors") || !header_["tensors"].is_array())
    fail(ErrorCode::kCorrupt, kComponent, "'{}' header lacks a tensor table", path);

  std::vector<std::pair<uint64_t, uint64_t>> ranges;  // [offset, end) of everything in data
  auto check_range = [&](uint64_t offset, uint64_t bytes, const std::string& what) {
    if (offset % package::kTensorAlignment != 0)
      fail(ErrorCode::kCorrupt, kComponent, "{} offset {} is not {}-byte aligned", what, offset,
           package::kTensorAlignment);
    if (offset > data_bytes_ || bytes > data_bytes_ - offset)
      fail(ErrorCode::kCorrupt, kComponent,
           "{} ends at {} but the file is {}: the offset points past the end", what,
           format_bytes(static_cast<double>(data_offset_) + static_cast<double>(offset) +
                        static_cast<double>(bytes)),
           format_bytes(static_cast<double>(size)));
    ranges.emplace_back(offset, offset + bytes);
  };

  for (const auto& e : header_["tensors"]) {
    if (!e.is_object() || !e.contains("name") || !e["name"].is_string())
      fail(ErrorCode::kCorrupt, kComponent, "'{}' has a tensor entry without a name", path);
    PackageTensor t;
    t.name = e["name"].get<std::string>();
    const std::string what = fmt::format("tensor '{}'", t.name);
    auto dt = e.contains("dtype") && e["dtype"].is_string()
                  ? dtype_from_name(e["dtype"].get<std::string>())
                  : std::nullopt;
    if (!dt)
      fail(ErrorCode::kCorrupt, kComponent, "{} has an unknown dtype {}", what,
           e.value("dtype", json()).dump());
    t.dtype = *dt;
    const std::string layout_text = JsonReader(kComponent, what).str(e, "layout", "rows");
    auto layout = layout_from_name(layout_text);
    if (!layout)
      fail(ErrorCode::kUnsupported, kComponent, "{} has unknown layout '{}'", what, layout_text);
    t.layout = *layout;
    if (!e.contains("shape") || !e["shape"].is_array() || e["shape"].empty() ||
        e["shape"].size() > 2)
      fail(ErrorCode::kCorrupt, kComponent, "{} needs a shape of 1 or 2 dimensions", what);
    for (const auto& d : e["shape"]) {
      if (!d.is_number_unsigned() || d.get<uint64_t>() == 0 || d.get<uint64_t>() > (1ull << 40))
        fail(ErrorCode::kCorrupt, kComponent, "{} has an invalid dimension {}", what, d.dump());
      t.shape.push_back(d.get<uint64_t>());
    }
    if (!dtype_fits_row(t.dtype, t.cols()))
      fail(ErrorCode::kCorrupt, kComponent, "{} rows of {} elements cannot be stored as {}", what,
           t.cols(), dtype_name(t.dtype));
    if (!layout_fits(t.dtype, t.layout, t.rows(), t.cols()))
      fail(ErrorCode::kCorrupt, kComponent, "{} ({} x {} {}) cannot use layout {}", what, t.rows(),
           t.cols(), dtype_name(t.dtype), layout_name(t.layout));
    t.offset = get_u64(e, "offset", what);
    t.bytes = get_u64(e, "bytes", what);
    uint64_t expect = checked_mul(t.rows(), dtype_row_bytes(t.dtype, t.cols()), what + " size");
    if (t.layout != Layout::kRows)  // tiles and tables (bounded by the check of the rows above)
      expect = layout_matrix_bytes(t.dtype, t.layout, t.rows(), t.cols());
    if (t.bytes != expect)
      fail(ErrorCode::kCorrupt, kComponent, "{} is {} bytes but shape {}x{} of {} needs {}", what,
           t.bytes, t.rows(), t.cols(), dtype_name(t.dtype), expect);
    check_range(t.offset, t.bytes, what);
    t.crc32 = parse_crc(e.value("crc32", json()), what);
    t.data = file_.data() + data_offset_ + t.offset;
    tensors_.push_back(std::move(t));
  }
  if (JsonReader::has(header_, "blobs")) {
    for (const auto& e : JsonReader(kComponent, path).as_array(header_["blobs"], "field 'blobs'")) {
      if (!e.is_object() || !e.contains("name") || !e["name"].is_string())
        fail(ErrorCode::kCorrupt, kComponent, "'{}' has a blob entry without a name", path);
      PackageBlob b;
      b.name = e["name"].get<std::string>();
      const std::string what = fmt::format("blob '{}'", b.name);
      b.offset = get_u64(e, "offset", what);
      b.bytes = get_u64(e, "bytes", what);
      check_range(b.offset, b.bytes, what);
      b.crc32 = parse_crc(e.value("crc32", json()), what);
      b.data = file_.data() + data_offset_ + b.offset;
      blobs_.push_back(std::move(b));
    }
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i)
    if (ranges[i].first < ranges[i - 1].second)
      fail(ErrorCode::kCorrupt, kComponent, "'{}' has overlapping tensors at data offset {}", path,
           ranges[i].first);
  std::vector<std::string_view> names;
  for (const auto& t : tensors_) names.push_back(t.name);
  std::sort(names.begin(), names.end());
  if (auto dup = std::adjacent_find(names.begin(), names.end()); dup != names.end())
    fail(ErrorCode::kCorrupt, kComponent, "'{}' lists tensor '{}' twice", path, *dup);
}

const PackageTensor* PackageReader::find_tensor(std::string_view name) const {
  for (const auto& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

const PackageTensor& PackageReader::tensor(std::string_view name) const {
  if (const auto* t = find_tensor(name)) return *t;
  fail(ErrorCode::kNotFound, kComponent, "'{}' has no tensor '{}'", file_.path(), name);
}

std::optional<std::string_view> PackageReader::blob(std::string_view name) const {
  for (const auto& b : blobs_)
    if (b.name == name) return b.view();
  return std::nullopt;
}

void PackageReader::verify_checksums() const {
  for (const auto& b : blobs_)
    if (crc32_of(b.data, b.bytes) != b.crc32)
      fail(ErrorCode::kCorrupt, kComponent, "blob '{}' fails its checksum: the file is corrupted",
           b.name);
  for (const auto& t : tensors_)
    if (crc32_of(t.data, t.bytes) != t.crc32)
      fail(ErrorCode::kCorrupt, kComponent, "tensor '{}' fails its checksum: the file is corrupted",
           t.name);
}

}  // namespace corelm
