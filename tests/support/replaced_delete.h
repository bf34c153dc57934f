// For a test program that replaces the global operator new(size_t) with a counting malloc: the
// matching operator delete forms (free) and the nothrow pair, which must be replaced too — a
// sanitizer runtime has its own nothrow new (std::stable_sort's buffer), which would allocate
// what the replaced delete frees. Include in exactly one file of the program, beside its own
// operator new(size_t).
#pragma once

#include <cstdlib>
#include <new>

void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  try {
    return ::operator new(size);
  } catch (...) {
    return nullptr;
  }
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
