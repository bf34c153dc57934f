// The .clm package layout (documented byte by byte in docs/package-format.md):
//
//   [0, 64)                   FixedHeader (little-endian)
//   [64, 64 + header_bytes)   JSON header (UTF-8): config, source, quantization, tensor and
//                             blob tables, generation defaults, chat template, functions
//   [.., data_offset)         zero padding; data_offset is a multiple of 4096
//   [data_offset, file end)   blobs and tensors, each at a multiple of 64 bytes from data_offset
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>

namespace corelm::package {

static_assert(std::endian::native == std::endian::little, "corelm packages are little-endian");

inline constexpr char kMagic[8] = {'C', 'O', 'R', 'E', 'L', 'M', 'P', 'K'};
inline constexpr uint32_t kFormatVersion = 1;
inline constexpr uint64_t kDataAlignment = 4096;  // data_offset
inline constexpr uint64_t kTensorAlignment = 64;  // every tensor and blob inside the data
inline constexpr uint64_t kMaxHeaderBytes = 1ull << 30;

struct FixedHeader {
  char magic[8];
  uint32_t format_version;
  uint32_t header_crc32;  // CRC-32 (zlib) of the JSON header bytes
  uint64_t header_bytes;
  uint64_t data_offset;
  uint64_t data_bytes;
  uint64_t file_bytes;
  uint8_t reserved[16];
};
static_assert(sizeof(FixedHeader) == 64, "FixedHeader is 64 bytes");

inline uint64_t align_up(uint64_t v, uint64_t a) {
  return (v + a - 1) / a * a;
}

}  // namespace corelm::package
