// What the machine has: memory available to a new allocation (MemAvailable) and this
// process's resident set, for clear errors before work starts and for benchmark reports.
#pragma once

#include <cstdint>

namespace corelm {

// Bytes of physical memory available without swapping (/proc/meminfo MemAvailable); 0 if unknown.
uint64_t available_memory_bytes();
// Peak resident set size of this process so far (VmHWM), in bytes; 0 if unknown.
uint64_t peak_rss_bytes();
// Current resident set size (VmRSS), in bytes; 0 if unknown.
uint64_t current_rss_bytes();

}  // namespace corelm
