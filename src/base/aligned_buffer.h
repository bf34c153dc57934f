// AlignedBuffer<T>: an owned, 64-byte aligned, zero-initialised, fixed-size array. Sized once (no
// growth), so kernels may keep raw pointers into it for the buffer's lifetime. Buffers of 1 MiB
// and more come straight from mmap: zero pages the OS commits only when first written, so a KV
// cache sized for the full context costs resident memory only for the slots in use.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

namespace corelm {

inline constexpr size_t kBufferAlignment = 64;
inline constexpr size_t kMmapThreshold = 1 << 20;

template <typename T>
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(size_t count) { allocate(count); }
  ~AlignedBuffer() { release(); }
  AlignedBuffer(AlignedBuffer&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)),
        size_(std::exchange(o.size_, 0)),
        mapped_(std::exchange(o.mapped_, 0)) {}
  AlignedBuffer& operator=(AlignedBuffer&& o) noexcept {
    if (this != &o) {
      release();
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
      mapped_ = std::exchange(o.mapped_, 0);
    }
    return *this;
  }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;

  // Replaces the contents with `count` zero-initialised elements. Throws std::bad_alloc.
  void allocate(size_t count) {
    release();
    size_ = count;
    if (count == 0) return;
    size_t bytes = (count * sizeof(T) + kBufferAlignment - 1) / kBufferAlignment * kBufferAlignment;
    if (bytes >= kMmapThreshold) {
      void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED) {
        size_ = 0;
        throw std::bad_alloc();
      }
      data_ = static_cast<T*>(p);
      mapped_ = bytes;
      return;
    }
    data_ = static_cast<T*>(std::aligned_alloc(kBufferAlignment, bytes));
    if (data_ == nullptr) {
      size_ = 0;
      throw std::bad_alloc();
    }
    std::memset(static_cast<void*>(data_), 0, bytes);
  }

  // Asks the kernel for transparent huge pages behind a mapped buffer (Linux THP in its default
  // "madvise" mode gives them only on request). Call before the first write. For buffers that
  // are written whole and streamed (repacked weights): fewer TLB misses, no extra memory. A
  // no-op for heap buffers or where the kernel has no THP.
  void advise_huge_pages() {
#if defined(MADV_HUGEPAGE)
    if (mapped_) ::madvise(static_cast<void*>(data_), mapped_, MADV_HUGEPAGE);
#endif
  }

  T* data() {
    return data_;
  }
  const T* data() const {
    return data_;
  }
  size_t size() const {
    return size_;
  }
  size_t bytes() const {
    return size_ * sizeof(T);
  }
  T& operator[](size_t i) {
    return data_[i];
  }
  const T& operator[](size_t i) const {
    return data_[i];
  }

 private:
  void release() {
    if (data_ == nullptr) return;
    if (mapped_)
      ::munmap(static_cast<void*>(data_), mapped_);
    else
      std::free(data_);
    data_ = nullptr;
    size_ = 0;
    mapped_ = 0;
  }
  T* data_ = nullptr;
  size_t size_ = 0;
  size_t mapped_ = 0;  // bytes mapped, 0 for heap buffers
};

}  // namespace corelm
