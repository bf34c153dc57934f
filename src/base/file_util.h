// Small file helpers shared by the readers and apps.
#pragma once

#include <string>

namespace corelm {

// Reads a whole file; throws Error (kNotFound / kIo) naming `component`.
std::string read_file(const std::string& path, const char* component);
// Writes a whole file atomically (temp file + rename).
void write_file_atomic(const std::string& path, const std::string& bytes, const char* component);
bool file_exists(const std::string& path);
// The first `n` bytes of a regular file (fewer if it is shorter); empty if it cannot be read.
std::string read_file_head(const std::string& path, size_t n);

}  // namespace corelm
