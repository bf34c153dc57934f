#include "gguf/gguf_file.h"

#include <cstring>
#include <unordered_set>

#include "base/check.h"
#include "tensor/dtype.h"

#include "base/file_util.h"

namespace corelm::gguf {

namespace {

constexpr const char* kComponent = "gguf";
constexpr uint64_t kMaxString = 1ull << 30;
constexpr int kMaxDims = 4;

class Cursor {
 public:
  Cursor(const uint8_t* data, uint64_t size, const std::string& path)
      : d_(data), size_(size), path_(path) {}
  uint64_t pos() const { return pos_; }
  uint64_t remaining() const { return size_ - pos_; }

  template <typename T>
  T read(const char* what) {
    if (remaining() < sizeof(T))
      fail(ErrorCode::kCorrupt, kComponent,
           "'{}' is truncated: {} needs {} bytes at offset {} but only {} remain", path_, what,
           sizeof(T), pos_, remaining());
    T v;
    std::memcpy(&v, d_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  std::string string(const char* what) {
    uint64_t n = read<uint64_t>(what);
    if (n > remaining() || n > kMaxString)
      fail(ErrorCode::kCorrupt, kComponent,
           "'{}' has a {} of {} bytes at offset {} but only {} bytes remain", path_, what, n,
           pos_ - 8, remaining());
    std::string s(reinterpret_cast<const char*>(d_ + pos_), n);
    pos_ += n;
    return s;
  }

 private:
  const uint8_t* d_;
  uint64_t size_;
  uint64_t pos_ = 0;
  const std::string& path_;
};

size_t scalar_size(ValueType t) {
  switch (t) {
    case ValueType::kU8:
    case ValueType::kI8:
    case ValueType::kBool:
      return 1;
    case ValueType::kU16:
    case ValueType::kI16:
      return 2;
    case ValueType::kU32:
    case ValueType::kI32:
    case ValueType::kF32:
      return 4;
    case ValueType::kU64:
    case ValueType::kI64:
    case ValueType::kF64:
      return 8;
    case ValueType::kString:
      return 8;  // at least the length
    default:
      return 0;
  }
}

void read_scalar(Cursor& c, ValueType t, Value& v, const std::string& key,
                 const std::string& path) {
  switch (t) {
    case ValueType::kU8:
      v.u = c.read<uint8_t>("u8");
      v.i = static_cast<int64_t>(v.u);
      break;
    case ValueType::kI8:
      v.i = c.read<int8_t>("i8");
      break;
    case ValueType::kU16:
      v.u = c.read<uint16_t>("u16");
      v.i = static_cast<int64_t>(v.u);
      break;
    case ValueType::kI16:
      v.i = c.read<int16_t>("i16");
      break;
    case ValueType::kU32:
      v.u = c.read<uint32_t>("u32");
      v.i = static_cast<int64_t>(v.u);
      break;
    case ValueType::kI32:
      v.i = c.read<int32_t>("i32");
      break;
    case ValueType::kF32:
      v.f = c.read<float>("f32");
      break;
    case ValueType::kBool: {
      uint8_t b = c.read<uint8_t>("bool");
      if (b > 1)
        fail(ErrorCode::kCorrupt, kComponent, "'{}' key '{}' has bool value {}", path, key, b);
      v.i = b;
      break;
    }
    case ValueType::kString:
      v.s = c.string("string value");
      break;
    case ValueType::kU64:
      v.u = c.read<uint64_t>("u64");
      v.i = static_cast<int64_t>(v.u);
      break;
    case ValueType::kI64:
      v.i = c.read<int64_t>("i64");
      break;
    case ValueType::kF64:
      v.f = c.read<double>("f64");
      break;
    default:
      fail(ErrorCode::kCorrupt, kComponent, "'{}' key '{}' has unknown value type {}", path, key,
           static_cast<uint32_t>(t));
  }
}

}  // namespace

std::string value_type_name(ValueType t) {
  static const char* names[] = {"u8",   "i8",     "u16",   "i16", "u32", "i32", "f32",
                                "bool", "string", "array", "u64", "i64", "f64"};
  auto i = static_cast<uint32_t>(t);
  return i < 13 ? names[i] : "type " + std::to_string(i);
}

uint64_t TensorInfo::rows() const {
  uint64_t r = 1;
  for (size_t i = 1; i < dims.size(); ++i) r *= dims[i];
  return r;
}

uint64_t TensorInfo::row_bytes() const {
  const TypeTraits* t = ggml_type(type);
  return dims[0] / t->block_elements * t->block_bytes;
}

GgufFile::GgufFile(const std::string& path) : file_(path, kComponent) {
  const uint64_t size = file_.size();
  if (size < 24)
    fail(ErrorCode::kCorrupt, kComponent, "'{}' is {} bytes, too small for a GGUF file", path,
         size);
  if (std::memcmp(file_.data(), "GGUF", 4) != 0)
    fail(ErrorCode::kCorrupt, kComponent, "'{}' is not a GGUF file (bad magic bytes)", path);
  Cursor c(file_.data(), size, path);
  c.read<uint32_t>("magic");
  version_ = c.read<uint32_t>("version");
  if (version_ != 2 && version_ != 3)
    fail(ErrorCode::kUnsupported, kComponent,
         "'{}' is GGUF version {}; corelm reads versions 2 and 3", path, version_);
  const uint64_t n_tensors = c.read<uint64_t>("tensor count");
  const uint64_t n_kv = c.read<uint64_t>("metadata count");
  // Every key/value takes at least 12 bytes and every tensor info at least 32: counts beyond what
  // the file can hold are lies, caught before anything is sized by them.
  if (n_kv > c.remaining() / 12 || n_tensors > c.remaining() / 32)
    fail(ErrorCode::kCorrupt, kComponent,
         "'{}' claims {} metadata entries and {} tensors, more than its {} bytes can hold", path,
         n_kv, n_tensors, size);

  for (uint64_t k = 0; k < n_kv; ++k) {
    std::string key = c.string("metadata key");
    Value v;
    v.type = static_cast<ValueType>(c.read<uint32_t>("value type"));
    if (v.type == ValueType::kArray) {
      v.element_type = static_cast<ValueType>(c.read<uint32_t>("array type"));
      uint64_t n = c.read<uint64_t>("array length");
      size_t elem = scalar_size(v.element_type);
      if (elem == 0)
        fail(ErrorCode::kCorrupt, kComponent, "'{}' key '{}' is an array of unsupported type {}",
             path, key, static_cast<uint32_t>(v.element_type));
      if (n > c.remaining() / elem)
        fail(ErrorCode::kCorrupt, kComponent,
             "'{}' key '{}' claims {} elements but only {} bytes remain", path, key, n,
             c.remaining());
      v.array_size = n;
      for (uint64_t i = 0; i < n; ++i) {
        Value e;
        read_scalar(c, v.element_type, e, key, path);
        if (v.element_type == ValueType::kString)
          v.strings.push_back(std::move(e.s));
        else if (v.element_type == ValueType::kF32 || v.element_type == ValueType::kF64)
          v.floats.push_back(e.f);
        else
          v.ints.push_back(e.i);
      }
    } else {
      read_scalar(c, v.type, v, key, path);
    }
    if (!metadata_.emplace(key, std::move(v)).second)
      fail(ErrorCode::kCorrupt, kComponent, "'{}' has metadata key '{}' twice", path, key);
  }
  if (auto a = get_int("general.alignment")) {
    if (*a <= 0 || *a > (1 << 20) || (*a & (*a - 1)) != 0)
      fail(ErrorCode::kCorrupt, kComponent, "'{}' has general.alignment {}, not a power of two",
           path, *a);
    alignment_ = static_cast<uint64_t>(*a);
  }

  std::unordered_set<std::string> names;
  for (uint64_t t = 0; t < n_tensors; ++t) {
    TensorInfo info;
    info.name = c.string("tensor name");
    uint32_t n_dims = c.read<uint32_t>("tensor dimension count");
    if (n_dims == 0 || n_dims > kMaxDims)
      fail(ErrorCode::kCorrupt, kComponent, "'{}' tensor '{}' has {} dimensions (1 to {} allowed)",
           path, info.name, n_dims, kMaxDims);
    uint64_t elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      uint64_t dim = c.read<uint64_t>("tensor dimension");
      if (dim == 0 || dim > (1ull << 40) || elements > (1ull << 44) / dim)
        fail(ErrorCode::kCorrupt, kComponent, "'{}' tensor '{}' has an absurd dimension {}", path,
             info.name, dim);
      elements *= dim;
      info.dims.push_back(dim);
    }
    info.type = c.read<uint32_t>("tensor type");
    info.offset = c.read<uint64_t>("tensor offset");
    const TypeTraits* type = ggml_type(info.type);
    if (!type)
      fail(ErrorCode::kUnsupported, kComponent, "'{}' tensor '{}' has unknown tensor type {}", path,
           info.name, info.type);
    if (info.dims[0] % type->block_elements != 0)
      fail(ErrorCode::kCorrupt, kComponent,
           "'{}' tensor '{}' has rows of {} values, not whole {} blocks of {}", path, info.name,
           info.dims[0], type->name, type->block_elements);
    info.bytes = elements / type->block_elements * type->block_bytes;
    if (!names.insert(info.name).second)
      fail(ErrorCode::kCorrupt, kComponent, "'{}' has tensor '{}' twice", path, info.name);
    tensors_.push_back(std::move(info));
  }
  const uint64_t data_start = (c.pos() + alignment_ - 1) / alignment_ * alignment_;
  if (data_start > size && !tensors_.empty())
    fail(ErrorCode::kCorrupt, kComponent, "'{}' ends before its tensor data begins", path);
  const uint64_t data_size = data_start <= size ? size - data_start : 0;
  for (auto& t : tensors_) {
    if (t.offset % alignment_ != 0)
      fail(ErrorCode::kCorrupt, kComponent, "'{}' tensor '{}' offset {} is not aligned to {}", path,
           t.name, t.offset, alignment_);
    if (t.offset > data_size || t.bytes > data_size - t.offset)
      fail(ErrorCode::kCorrupt, kComponent,
           "'{}' tensor '{}' spans bytes {}..{} of the data section but it has only {}: the tensor "
           "runs past the end of "
           "the file",
           path, t.name, t.offset, t.offset + t.bytes, data_size);
    t.data = file_.data() + data_start + t.offset;
  }
}

const TensorInfo* GgufFile::find_tensor(const std::string& name) const {
  for (const auto& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

const Value* GgufFile::find(const std::string& key) const {
  auto it = metadata_.find(key);
  return it == metadata_.end() ? nullptr : &it->second;
}

std::optional<std::string> GgufFile::get_string(const std::string& key) const {
  const Value* v = find(key);
  if (!v) return std::nullopt;
  if (v->type != ValueType::kString)
    fail(ErrorCode::kCorrupt, kComponent, "'{}' key '{}' is a {}, expected a string", file_.path(),
         key, value_type_name(v->type));
  return v->s;
}

std::optional<int64_t> GgufFile::get_int(const std::string& key) const {
  const Value* v = find(key);
  if (!v) return std::nullopt;
  switch (v->type) {
    case ValueType::kU8:
    case ValueType::kI8:
    case ValueType::kU16:
    case ValueType::kI16:
    case ValueType::kU32:
    case ValueType::kI32:
    case ValueType::kU64:
    case ValueType::kI64:
      return v->i;
    default:
      fail(ErrorCode::kCorrupt, kComponent, "'{}' key '{}' is a {}, expected an integer",
           file_.path(), key, value_type_name(v->type));
  }
}

std::optional<double> GgufFile::get_float(const std::string& key) const {
  const Value* v = find(key);
  if (!v) return std::nullopt;
  if (v->type == ValueType::kF32 || v->type == ValueType::kF64) return v->f;
  if (auto i = get_int(key)) return static_cast<double>(*i);
  return std::nullopt;
}

std::optional<bool> GgufFile::get_bool(const std::string& key) const {
  const Value* v = find(key);
  if (!v) return std::nullopt;
  if (v->type != ValueType::kBool)
    fail(ErrorCode::kCorrupt, kComponent, "'{}' key '{}' is a {}, expected a bool", file_.path(),
         key, value_type_name(v->type));
  return v->i != 0;
}

bool is_gguf_file(const std::string& path) {
  return read_file_head(path, 4) == "GGUF";
}

}  // namespace corelm::gguf
