#include "base/atomic_file.h"

#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "base/check.h"

namespace corelm {

AtomicFile::AtomicFile(std::string path, const char* component)
    : path_(std::move(path)), component_(component) {
  temp_path_ = path_ + ".tmp-" + std::to_string(::getpid());
  fd_ = ::open(temp_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0)
    fail(ErrorCode::kIo, component_, "cannot create '{}': {}", temp_path_, std::strerror(errno));
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(temp_path_.c_str());
  }
}

void AtomicFile::pwrite(const void* data, size_t bytes, uint64_t offset) {
  const char* p = static_cast<const char*>(data);
  while (bytes > 0) {
    ssize_t n = ::pwrite(fd_, p, bytes, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      fail(errno == ENOSPC ? ErrorCode::kResourceExhausted : ErrorCode::kIo, component_,
           "cannot write '{}': {}", temp_path_, std::strerror(errno));
    p += n;
    bytes -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
}

void AtomicFile::write(const void* data, size_t bytes) {
  pwrite(data, bytes, size_);
  size_ += bytes;
}

void AtomicFile::write_zeros(uint64_t bytes) {
  static const std::vector<char> zeros(1 << 16, 0);
  while (bytes > 0) {
    size_t n = bytes < zeros.size() ? static_cast<size_t>(bytes) : zeros.size();
    write(zeros.data(), n);
    bytes -= n;
  }
}

void AtomicFile::commit() {
  if (::fsync(fd_) != 0)
    fail(ErrorCode::kIo, component_, "cannot flush '{}': {}", temp_path_, std::strerror(errno));
  ::close(fd_);
  fd_ = -1;
  if (::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    int err = errno;
    ::unlink(temp_path_.c_str());
    fail(ErrorCode::kIo, component_, "cannot rename '{}' to '{}': {}", temp_path_, path_,
         std::strerror(err));
  }
}

uint64_t AtomicFile::free_space(const std::string& path) {
  std::filesystem::path dir = std::filesystem::absolute(path).parent_path();
  struct statvfs st {};
  if (::statvfs(dir.c_str(), &st) != 0) return UINT64_MAX;
  return static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
}

}  // namespace corelm
