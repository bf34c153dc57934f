#include "logits_file.h"

#include <cstring>

#include "base/atomic_file.h"
#include "base/check.h"
#include "package/reader.h"  // crc32_of

namespace corelm::cli {

namespace {

constexpr char kMagic[8] = {'C', 'L', 'M', 'L', 'O', 'G', 'P', '1'};
constexpr uint64_t kHeaderBytes = 8 + 4 * 4;

uint32_t load_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

}  // namespace

LogitsWriter::LogitsWriter(const std::string& path, const LogitsHeader& header,
                           std::span<const int32_t> tokens)
    : file_(std::make_unique<AtomicFile>(path, "perplexity")), header_(header) {
  if (tokens.size() != static_cast<size_t>(header.n_chunks) * header.ctx)
    fail(ErrorCode::kInternal, "perplexity", "{} token ids for {} chunks of {}", tokens.size(),
         header.n_chunks, header.ctx);
  put(kMagic, sizeof kMagic);
  const uint32_t fields[4] = {header.vocab, header.ctx, header.n_chunks, header.scored};
  put(fields, sizeof fields);
  put(tokens.data(), tokens.size_bytes());
}

LogitsWriter::~LogitsWriter() = default;

void LogitsWriter::put(const void* data, size_t bytes) {
  file_->write(data, bytes);
  crc_ = crc32_of(data, bytes, crc_);
}

void LogitsWriter::add(float nll, std::span<const uint16_t> log_probs) {
  if (log_probs.size() != header_.vocab || records_ >= total_records())
    fail(ErrorCode::kInternal, "perplexity", "logits record {} of {} values (vocab {}, {} records)",
         records_, log_probs.size(), header_.vocab, total_records());
  put(&nll, sizeof nll);
  put(log_probs.data(), log_probs.size_bytes());
  ++records_;
}

void LogitsWriter::commit() {
  if (records_ != total_records())
    fail(ErrorCode::kInternal, "perplexity", "{} logits records written of {}", records_,
         total_records());
  const uint32_t crc = crc_;
  file_->write(&crc, sizeof crc);
  file_->commit();
}

LogitsReader::LogitsReader(const std::string& path) : file_(path, "perplexity") {
  const uint8_t* p = file_.data();
  const uint64_t size = file_.size();
  if (size < kHeaderBytes + 4 || std::memcmp(p, kMagic, sizeof kMagic) != 0)
    fail(ErrorCode::kCorrupt, "perplexity",
         "'{}' is not a logits file of corelm perplexity --save-logits (no CLMLOGP1 header)", path);
  header_ = {load_u32(p + 8), load_u32(p + 12), load_u32(p + 16), load_u32(p + 20)};
  const LogitsHeader& h = header_;
  // Bounds that keep every product below in 64 bits (a vocabulary of 16M, a context of 16M).
  if (h.vocab == 0 || h.vocab > (1u << 24) || h.ctx < 4 || h.ctx > (1u << 24) || h.n_chunks == 0 ||
      h.n_chunks > (1u << 24) || h.scored != h.ctx - 1 - h.ctx / 2)
    fail(ErrorCode::kCorrupt, "perplexity",
         "logits file '{}' has an impossible header: vocab {}, ctx {}, {} chunks, {} scored per "
         "chunk",
         path, h.vocab, h.ctx, h.n_chunks, h.scored);
  const uint64_t n_tokens = static_cast<uint64_t>(h.n_chunks) * h.ctx;
  records_offset_ = kHeaderBytes + 4 * n_tokens;
  const uint64_t expected =
      records_offset_ +
      static_cast<uint64_t>(h.n_chunks) * h.scored * logits_record_bytes(h.vocab) + 4;
  if (size != expected)
    fail(ErrorCode::kCorrupt, "perplexity",
         "logits file '{}' is {}: {} bytes, but its header (vocab {}, ctx {}, {} chunks) needs {}",
         path, size < expected ? "truncated" : "longer than its header says", size, h.vocab, h.ctx,
         h.n_chunks, expected);
  const uint32_t crc = crc32_of(p, size - 4);
  if (crc != load_u32(p + size - 4))
    fail(ErrorCode::kCorrupt, "perplexity",
         "logits file '{}' is damaged: its CRC-32 is {} but the bytes give {}", path,
         crc32_hex(load_u32(p + size - 4)), crc32_hex(crc));
  tokens_.resize(n_tokens);
  std::memcpy(tokens_.data(), p + kHeaderBytes, 4 * n_tokens);
}

const uint8_t* LogitsReader::record(uint32_t chunk, uint32_t i) const {
  if (chunk >= header_.n_chunks || i >= header_.scored)
    fail(ErrorCode::kInternal, "perplexity", "logits record ({}, {}) out of range", chunk, i);
  const uint64_t index = static_cast<uint64_t>(chunk) * header_.scored + i;
  return file_.data() + records_offset_ + index * logits_record_bytes(header_.vocab);
}

float LogitsReader::nll(uint32_t chunk, uint32_t i) const {
  float v;
  std::memcpy(&v, record(chunk, i), 4);
  return v;
}

const uint16_t* LogitsReader::log_probs(uint32_t chunk, uint32_t i) const {
  return reinterpret_cast<const uint16_t*>(record(chunk, i) + 4);
}

}  // namespace corelm::cli
