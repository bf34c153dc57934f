#include "base/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "base/check.h"

namespace corelm {

size_t system_page_size() {
  static const size_t page = [] {
    const long v = ::sysconf(_SC_PAGESIZE);
    return v > 0 ? static_cast<size_t>(v) : size_t{4096};
  }();
  return page;
}

MappedFile::MappedFile(const std::string& path, const char* component) : path_(path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    fail(err == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo, component, "cannot open '{}': {}",
         path, std::strerror(err));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    fail(ErrorCode::kIo, component, "cannot stat '{}': {}", path, std::strerror(err));
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    fail(ErrorCode::kInvalidArgument, component, "'{}' is a directory, expected a file", path);
  }
  size_ = static_cast<size_t>(st.st_size);
  if (size_ > 0) {
    // A read-only file mapping never needs swap, so MAP_NORESERVE changes nothing natively; it
    // lets qemu-user (make test-aarch64), which first reserves the range with an anonymous
    // mapping of the same flags, map files larger than RAM + swap.
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_SHARED | MAP_NORESERVE, fd, 0);
    if (p == MAP_FAILED) {
      int err = errno;
      ::close(fd);
      fail(ErrorCode::kIo, component, "cannot mmap '{}' ({}): {}", path, format_bytes(size_),
           std::strerror(err));
    }
    data_ = static_cast<const uint8_t*>(p);
  }
  ::close(fd);
}

MappedFile::~MappedFile() {
  reset();
}

MappedFile::MappedFile(MappedFile&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      path_(std::move(other.path_)) {}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    reset();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    path_ = std::move(other.path_);
  }
  return *this;
}

void MappedFile::reset() {
  if (data_ != nullptr) ::munmap(const_cast<uint8_t*>(data_), size_);
  data_ = nullptr;
  size_ = 0;
}

namespace {
// Rounds [offset, offset+length) outward to whole pages inside [0, size).
bool page_range(size_t size, size_t offset, size_t length, size_t* begin, size_t* bytes) {
  if (offset >= size || length == 0) return false;
  size_t end = offset + length > size ? size : offset + length;
  const size_t page = system_page_size();
  *begin = offset / page * page;
  *bytes = end - *begin;
  return true;
}
}  // namespace

void MappedFile::advise_willneed(size_t offset, size_t length) const {
  size_t begin = 0, bytes = 0;
  if (data_ && page_range(size_, offset, length, &begin, &bytes))
    ::madvise(const_cast<uint8_t*>(data_) + begin, bytes, MADV_WILLNEED);
}

void MappedFile::advise_sequential() const {
  if (data_) ::madvise(const_cast<uint8_t*>(data_), size_, MADV_SEQUENTIAL);
}

void MappedFile::advise_random(size_t offset, size_t length) const {
  size_t begin = 0, bytes = 0;
  if (data_ && page_range(size_, offset, length, &begin, &bytes))
    ::madvise(const_cast<uint8_t*>(data_) + begin, bytes, MADV_RANDOM);
}

void MappedFile::drop_pages(size_t offset, size_t length) const {
  size_t begin = 0, bytes = 0;
  if (data_ && page_range(size_, offset, length, &begin, &bytes))
    ::madvise(const_cast<uint8_t*>(data_) + begin, bytes, MADV_DONTNEED);
}

}  // namespace corelm
