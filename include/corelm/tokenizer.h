// Tokenizer: text <-> token ids, matching Hugging Face `tokenizers` (tokenizer.json) exactly.
// Built from tokenizer.json + tokenizer_config.json; one component object per pipeline stage
// (normalizer, pre-tokenizer, model, post-processor, decoder), each chosen by its "type".
// Immutable after construction and safe to share between threads.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace corelm {

class Tokenizer {
 public:
  // Parses tokenizer.json text (and tokenizer_config.json text, which may be empty). Throws
  // Error naming the bad field or the unsupported component type.
  static std::shared_ptr<Tokenizer> from_hf_json(std::string_view tokenizer_json,
                                                 std::string_view tokenizer_config_json);
  // Parses a SentencePiece tokenizer.model (BPE), with optional tokenizer_config.json text.
  static std::shared_ptr<Tokenizer> from_sentencepiece(std::string_view model_bytes,
                                                       std::string_view tokenizer_config_json = {});
  // Loads from a .clm package, a Hugging Face folder (tokenizer.json, else tokenizer.model), a
  // tokenizer.json file or a SentencePiece .model file (recognised by content, not name).
  static std::shared_ptr<Tokenizer> from_path(const std::string& path);
  ~Tokenizer();

  // Encodes `text` as Hugging Face's `tokenizer(text, add_special_tokens=...)` does.
  // Invalid UTF-8 bytes are replaced by U+FFFD first (as Python's errors='replace' decoding of
  // the bytes would), so the ids are always those of a valid string.
  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = true) const;
  // Decodes as Hugging Face's `tokenizer.decode(ids, skip_special_tokens=...)`; invalid UTF-8
  // produced by byte tokens becomes U+FFFD as there.
  std::string decode(std::span<const int32_t> ids, bool skip_special_tokens = true) const;
  // Like decode, but keeps incomplete or invalid byte sequences as raw bytes (for streaming).
  std::string decode_raw(std::span<const int32_t> ids, bool skip_special_tokens = true) const;

  int vocab_size() const;  // highest id + 1
  std::optional<int32_t> token_to_id(std::string_view token) const;
  std::string id_to_token(int32_t id) const;  // "" for unknown ids
  bool is_special(int32_t id) const;
  int32_t bos_id() const;  // -1 if none
  int32_t eos_id() const;  // -1 if none
  std::string bos_token() const;
  std::string eos_token() const;
  bool adds_bos() const;  // whether encode(..., true) starts with BOS
  // The chat template that came with the tokenizer (tokenizer_config.json "chat_template" or
  // its "default" entry, or chat_template.jinja beside it); "" if none.
  const std::string& chat_template() const;

 private:
  struct Impl;
  friend struct TokenizerAccess;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Turns a stream of ids into text pieces that never split a UTF-8 character. `context` holds
// the ids already shown (the prompt) so the first pieces get the right leading space.
class StreamDecoder {
 public:
  StreamDecoder(const Tokenizer& tokenizer, std::span<const int32_t> context = {});
  // Adds one id; returns the text it completes (possibly empty while a character is partial).
  std::string push(int32_t id);
  // Returns whatever is still held back (incomplete bytes become U+FFFD).
  std::string flush();

 private:
  const Tokenizer& tokenizer_;
  std::vector<int32_t> ids_;
  size_t prefix_offset_ = 0;
  size_t read_offset_ = 0;
};

}  // namespace corelm
