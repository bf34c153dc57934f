// The stages of the tokenizer.json pipeline. Each is an interface with one implementation per
// Hugging Face "type", built by the make_* factories from the JSON node.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace corelm::tok {

// A span of input text on its way through the pipeline. `offset` is where it starts in the
// original input (Metaspace's prepend_scheme "first" prepends only at offset 0).
struct Piece {
  std::string text;
  size_t offset = 0;
};

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual std::string normalize(std::string_view text) const = 0;
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Splits every piece further; pieces that become empty are dropped.
  virtual void split(std::vector<Piece>& pieces) const = 0;
};

class Vocab;

class Model {
 public:
  virtual ~Model() = default;
  // Appends the ids of one pre-tokenized word.
  virtual void tokenize(std::string_view word, std::vector<int32_t>& out) const = 0;
};

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  // Adds special tokens around a single sequence (only called with add_special_tokens).
  virtual std::vector<int32_t> process(const std::vector<int32_t>& ids) const = 0;
};

class Decoder {
 public:
  virtual ~Decoder() = default;
  // Transforms the token strings; the final text is their concatenation. `raw` keeps invalid
  // UTF-8 bytes instead of replacing them with U+FFFD.
  virtual void decode_chain(std::vector<std::string>& tokens, bool raw) const = 0;
};

// Bounds on token ids read from files. Every id is below 2^24 (16.7 million; the largest real
// vocabularies have about 256k entries), and a vocabulary may leave at most kUnusedIdSlack ids
// unused: a model vocab's ids stay below its entry count plus the slack, added tokens' ids below
// the model's ids plus the number of added tokens plus the slack. Every tokenizer in the shared
// test data is dense (no unused ids at all). The id table costs 32 bytes per id, so a file
// cannot make a few bytes of JSON allocate more than the slack's 2 MiB beyond its own size.
inline constexpr int64_t kMaxTokenId = (int64_t{1} << 24) - 1;
inline constexpr int64_t kUnusedIdSlack = 65536;
// The longest added (special or user-defined) token accepted; see Impl::build_matchers.
inline constexpr size_t kMaxAddedTokenBytes = 1024;

// Token string <-> id for the model's vocabulary plus the added tokens.
class Vocab {
 public:
  void add(std::string token, int32_t id);
  std::optional<int32_t> find(std::string_view token) const;
  const std::string& token(int32_t id) const;  // "" if absent
  int size() const { return static_cast<int>(id_to_token_.size()); }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  std::unordered_map<std::string, int32_t, Hash, std::equal_to<>> token_to_id_;
  std::vector<std::string> id_to_token_;
};

// Sequences may nest up to kMaxSequenceDepth deep (`depth` counts the enclosing Sequences); real
// tokenizers nest one or two. Deeper is refused before the recursion can exhaust the stack.
inline constexpr int kMaxSequenceDepth = 16;
std::unique_ptr<Normalizer> make_normalizer(const nlohmann::json& j, int depth = 0);
std::unique_ptr<PreTokenizer> make_pre_tokenizer(const nlohmann::json& j, int depth = 0);
// `vocab` is filled with the model's vocabulary.
std::unique_ptr<Model> make_model(const nlohmann::json& j, Vocab& vocab);
std::unique_ptr<PostProcessor> make_post_processor(const nlohmann::json& j, const Vocab& vocab,
                                                   int depth = 0);
std::unique_ptr<Decoder> make_decoder(const nlohmann::json& j, int depth = 0);
// Throws the error for a Sequence nested deeper than kMaxSequenceDepth.
void check_sequence_depth(const char* stage, int depth);
// Puts `bos` before and `eos` after the sequence; -1 leaves either out (slow tokenizers'
// add_bos_token and add_eos_token, GGUF's tokenizer.ggml.add_*_token).
std::unique_ptr<PostProcessor> make_bos_eos_processor(int32_t bos, int32_t eos);

// Throws the standard error for a component type corelm does not implement.
[[noreturn]] void unsupported_component(const char* stage, const nlohmann::json& j);

}  // namespace corelm::tok
