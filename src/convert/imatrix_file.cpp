#include "convert/imatrix_file.h"

#include <cmath>
#include <cstring>
#include <set>

#include "base/atomic_file.h"
#include "base/check.h"
#include "base/file_util.h"
#include "base/utf8.h"
#include "package/reader.h"  // crc32_of

namespace corelm {

namespace {

constexpr const char* kComponent = "imatrix";
constexpr char kMagic[8] = {'C', 'L', 'M', 'I', 'M', 'A', 'T', '1'};
constexpr uint32_t kMaxName = 1u << 16;

// Appends to a byte string.
struct Out {
  std::string bytes;
  void put(const void* p, size_t n) { bytes.append(static_cast<const char*>(p), n); }
  void u32(uint32_t v) { put(&v, 4); }
  void text(const std::string& s) {
    u32(static_cast<uint32_t>(s.size()));
    put(s.data(), s.size());
  }
};

// Reads from the file's bytes, failing on any read past the end.
struct In {
  const std::string& path;
  const uint8_t* p;
  size_t size, at = 0;
  void need(uint64_t n, const char* what) const {
    if (n > size - at)
      fail(ErrorCode::kCorrupt, kComponent,
           "imatrix file '{}' is truncated: {} at byte {} needs {} bytes, {} are left", path, what,
           at, n, size - at);
  }
  template <typename T>
  T number(const char* what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, p + at, sizeof(T));
    at += sizeof(T);
    return v;
  }
  uint32_t u32(const char* what) { return number<uint32_t>(what); }
  uint64_t u64(const char* what) { return number<uint64_t>(what); }
  std::string text(const char* what) {
    const uint32_t n = u32(what);
    if (n > kMaxName)
      fail(ErrorCode::kCorrupt, kComponent, "imatrix file '{}': {} of {} bytes is impossible", path,
           what, n);
    need(n, what);
    std::string s(reinterpret_cast<const char*>(p + at), n);
    at += n;
    if (!utf8::is_valid(s))
      fail(ErrorCode::kCorrupt, kComponent, "imatrix file '{}': {} is not UTF-8", path, what);
    return s;
  }
};

}  // namespace

const ImatrixTensor* Imatrix::find(const std::string& name) const {
  for (const auto& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

void write_imatrix(const std::string& path, const Imatrix& m) {
  Out o;
  o.put(kMagic, sizeof kMagic);
  o.put(&m.tokens, 8);
  o.u32(m.ctx);
  o.u32(m.chunks);
  o.u32(static_cast<uint32_t>(m.tensors.size()));
  o.text(m.text_name);
  o.text(m.model_id);
  for (const auto& t : m.tensors) {
    o.text(t.name);
    o.u32(static_cast<uint32_t>(t.values.size()));
    o.put(t.values.data(), t.values.size() * sizeof(float));
  }
  const uint32_t crc = crc32_of(o.bytes.data(), o.bytes.size());
  o.u32(crc);
  AtomicFile f(path, kComponent);
  f.write(o.bytes.data(), o.bytes.size());
  f.commit();
}

Imatrix read_imatrix(const std::string& path) {
  const std::string bytes = read_file(path, kComponent);
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  if (bytes.size() < sizeof kMagic + 4 || std::memcmp(p, kMagic, sizeof kMagic) != 0)
    fail(ErrorCode::kCorrupt, kComponent,
         "'{}' is not an importance matrix of corelm imatrix (no CLMIMAT1 header)", path);
  uint32_t stored;
  std::memcpy(&stored, p + bytes.size() - 4, 4);
  const uint32_t crc = crc32_of(p, bytes.size() - 4);
  In in{path, p, bytes.size() - 4, sizeof kMagic};
  Imatrix m;
  m.tokens = in.u64("the token count");
  m.ctx = in.u32("the context");
  m.chunks = in.u32("the chunk count");
  const uint32_t count = in.u32("the tensor count");
  m.text_name = in.text("the text's name");
  m.model_id = in.text("the model id");
  // Each record takes at least 12 bytes: a count beyond that is a damaged header, not a reason
  // to reserve memory.
  if (count > (in.size - in.at) / 12)
    fail(ErrorCode::kCorrupt, kComponent,
         "imatrix file '{}' is truncated or damaged: {} tensors cannot fit in its {} bytes", path,
         count, bytes.size());
  std::set<std::string> names;
  for (uint32_t i = 0; i < count; ++i) {
    ImatrixTensor t;
    t.name = in.text("a tensor name");
    const uint32_t cols = in.u32("a column count");
    if (cols == 0)
      fail(ErrorCode::kCorrupt, kComponent, "imatrix file '{}': tensor '{}' has no columns", path,
           t.name);
    in.need(4ull * cols, "a tensor's values");
    t.values.resize(cols);
    std::memcpy(t.values.data(), p + in.at, 4ull * cols);
    in.at += 4ull * cols;
    if (!names.insert(t.name).second)
      fail(ErrorCode::kCorrupt, kComponent, "imatrix file '{}' holds tensor '{}' twice", path,
           t.name);
    m.tensors.push_back(std::move(t));
  }
  if (in.at != in.size)
    fail(ErrorCode::kCorrupt, kComponent,
         "imatrix file '{}' is {} bytes longer than its {} tensors need", path, in.size - in.at,
         count);
  if (crc != stored)
    fail(ErrorCode::kCorrupt, kComponent,
         "imatrix file '{}' is damaged: its CRC-32 is {} but the bytes give {}", path,
         crc32_hex(stored), crc32_hex(crc));
  for (const auto& t : m.tensors)
    for (size_t c = 0; c < t.values.size(); ++c)
      if (!std::isfinite(t.values[c]) || t.values[c] < 0.0f)
        fail(ErrorCode::kCorrupt, kComponent,
             "imatrix file '{}': tensor '{}' column {} has the value {} (not a finite mean square)",
             path, t.name, c, t.values[c]);
  return m;
}

}  // namespace corelm
