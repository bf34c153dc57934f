// AtomicFile: writes go to a temporary file beside the destination; commit() flushes it to disk
// and renames it into place. If the object is destroyed without commit (an error, an exception),
// the temporary file is removed, so a failed write never leaves a half-written destination.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace corelm {

class AtomicFile {
 public:
  // Creates `<path>.tmp-<pid>`; throws Error (kIo) naming `component`.
  AtomicFile(std::string path, const char* component);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t bytes);                    // at the current end
  void pwrite(const void* data, size_t bytes, uint64_t offset);  // anywhere (no size change)
  void write_zeros(uint64_t bytes);
  uint64_t size() const { return size_; }
  void commit();  // fsync + rename; the object is done afterwards
  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return temp_path_; }

  // Bytes free on the file system that holds `path`'s directory.
  static uint64_t free_space(const std::string& path);

 private:
  std::string path_;
  std::string temp_path_;
  const char* component_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

}  // namespace corelm
