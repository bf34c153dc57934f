// MappedFile: a read-only memory map of a whole file (RAII). The mapping lives as long as the
// object; views handed out (data() + offset) must not outlive it. Moving transfers ownership.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace corelm {

// The OS page size (sysconf(_SC_PAGESIZE)): 4 KiB on x86, 16 or 64 KiB on many ARM machines.
// madvise ranges are rounded to it.
size_t system_page_size();

class MappedFile {
 public:
  MappedFile() = default;
  // Maps `path` read-only. Throws Error (kNotFound / kIo) naming `component` on failure.
  explicit MappedFile(const std::string& path, const char* component = "io");
  ~MappedFile();
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

  // Tells the kernel the range [offset, offset+length) will be read soon / sequentially.
  void advise_willneed(size_t offset, size_t length) const;
  void advise_sequential() const;
  // Marks [offset, offset+length) as randomly accessed: no readahead and no fault-around, so a
  // lookup table (the embedding) costs resident memory only for the rows actually read.
  void advise_random(size_t offset, size_t length) const;
  // Drops the pages of [offset, offset+length) from this process's resident set. The file
  // stays mapped; later reads fault the pages back in from the page cache or disk.
  void drop_pages(size_t offset, size_t length) const;

 private:
  void reset();
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  std::string path_;
};

}  // namespace corelm
