// The base model's log-probabilities at the positions `corelm perplexity` scores, saved with
// --save-logits and read back by --kl-base to measure another model (a quantization of it)
// against them. Little-endian, documented in docs/quantization.md ("Saved log-probabilities"):
//
//   offset  size                      what
//   0       8                         magic "CLMLOGP1"
//   8       4 x u32                   vocab, ctx, n_chunks, scored (per chunk: ctx - 1 - ctx/2)
//   24      4 x n_chunks x ctx        i32 token ids of the text's windows, as tokenized (window c
//                                     is ids [c*ctx, (c+1)*ctx); its first id is replaced by BOS
//                                     when evaluated)
//   ...     n_chunks x scored records f32 NLL of the next id (computed from f32 logits), then
//                                     vocab x fp16 log-softmax of the position's logits
//   end-4   4                         u32 CRC-32 (zlib) of every byte before it
//
// The reader checks the magic, the sizes the header implies against the file's, and the CRC
// before anything is used, so a truncated or damaged file is an error naming what is wrong.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/mapped_file.h"

namespace corelm {
class AtomicFile;
}

namespace corelm::cli {

struct LogitsHeader {
  uint32_t vocab = 0, ctx = 0, n_chunks = 0, scored = 0;
};

// Writes a logits file through a temporary file renamed into place by commit(); a writer
// destroyed before commit() leaves nothing behind.
class LogitsWriter {
 public:
  // `tokens` holds n_chunks * ctx ids.
  LogitsWriter(const std::string& path, const LogitsHeader& header,
               std::span<const int32_t> tokens);
  ~LogitsWriter();
  LogitsWriter(const LogitsWriter&) = delete;
  LogitsWriter& operator=(const LogitsWriter&) = delete;

  // The next scored position, in order: its NLL and vocab fp16 log-probabilities.
  void add(float nll, std::span<const uint16_t> log_probs);
  // Checks that every record was written, appends the CRC, fsyncs and renames.
  void commit();

 private:
  void put(const void* data, size_t bytes);
  uint64_t total_records() const {
    return static_cast<uint64_t>(header_.n_chunks) * header_.scored;
  }
  std::unique_ptr<AtomicFile> file_;
  LogitsHeader header_;
  uint64_t records_ = 0;
  uint32_t crc_ = 0;
};

// A logits file mapped read-only and validated whole when opened.
class LogitsReader {
 public:
  explicit LogitsReader(const std::string& path);

  const LogitsHeader& header() const { return header_; }
  std::span<const int32_t> tokens() const { return tokens_; }
  // Scored position `i` (0 .. scored - 1) of chunk `chunk`.
  float nll(uint32_t chunk, uint32_t i) const;
  const uint16_t* log_probs(uint32_t chunk, uint32_t i) const;  // [vocab] (2-byte aligned)

 private:
  const uint8_t* record(uint32_t chunk, uint32_t i) const;
  MappedFile file_;
  LogitsHeader header_;
  std::vector<int32_t> tokens_;
  uint64_t records_offset_ = 0;
};

// Bytes one record takes: the f32 NLL and vocab fp16 values.
inline uint64_t logits_record_bytes(uint32_t vocab) {
  return 4 + 2 * static_cast<uint64_t>(vocab);
}

}  // namespace corelm::cli
