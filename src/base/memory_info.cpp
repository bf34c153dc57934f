#include "base/memory_info.h"

#include <fstream>
#include <string>

namespace corelm {

namespace {
uint64_t read_kib(const char* file, const std::string& key) {
  std::ifstream in(file);
  std::string name;
  uint64_t value = 0;
  std::string unit;
  while (in >> name) {
    if (name == key) {
      in >> value;
      return value * 1024;
    }
    std::getline(in, unit);
  }
  return 0;
}
}  // namespace

uint64_t available_memory_bytes() {
  return read_kib("/proc/meminfo", "MemAvailable:");
}
uint64_t peak_rss_bytes() {
  return read_kib("/proc/self/status", "VmHWM:");
}
uint64_t current_rss_bytes() {
  return read_kib("/proc/self/status", "VmRSS:");
}

}  // namespace corelm
