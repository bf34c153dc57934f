#include "base/file_util.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/atomic_file.h"
#include "base/check.h"

namespace corelm {

std::string read_file(const std::string& path, const char* component) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    fail(ErrorCode::kInvalidArgument, component, "'{}' is a directory, expected a file", path);
  std::ifstream in(path, std::ios::binary);
  if (!in)
    fail(errno == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo, component, "cannot open '{}': {}",
         path, std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) fail(ErrorCode::kIo, component, "cannot read '{}'", path);
  return ss.str();
}

std::string read_file_head(const std::string& path, size_t n) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return {};
  std::string head(n, '\0');
  std::ifstream in(path, std::ios::binary);
  in.read(head.data(), static_cast<std::streamsize>(n));
  head.resize(static_cast<size_t>(in.gcount()));
  return head;
}

void write_file_atomic(const std::string& path, const std::string& bytes, const char* component) {
  AtomicFile f(path, component);
  f.write(bytes.data(), bytes.size());
  f.commit();
}

bool file_exists(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec);
}

}  // namespace corelm
