// SseWriter: one streamed answer as OpenAI's server-sent events, from the scheduler's token
// outputs: the opening chunk, a chunk per token (with logprobs when asked), then the finishing
// chunk, the usage chunk and "data: [DONE]". With tools, content goes out only as far as it
// cannot be the start of Mistral's "[TOOL_CALLS]"; the whole answer is parsed at the end.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "serve/openai_api.h"
#include "serve/scheduler.h"

namespace corelm {
class Tokenizer;
}

namespace corelm::serve {

struct StreamSpec {
  bool chat = true;  // chat.completion.chunk, else text_completion
  bool tools = false;
  bool logprobs = false;
  bool include_usage = false;
  std::string id;
  int64_t created = 0;
  std::string model;
  std::string echo;            // completions: the prompt's text, sent first
  int32_t last_prompt_id = 0;  // what the first token's piece follows
};

// "stop" stays; an answer cut short (a length limit, the client or the server stopping) is
// "length".
std::string openai_finish_reason(const std::string& scheduler_reason);
// The text one token adds after `prev` (raw bytes, special tokens shown).
std::string token_piece(const Tokenizer& tok, int32_t prev, int32_t id);
TokenLogprob token_logprob(const Tokenizer& tok, int32_t prev, const TokenOutput& token);

class SseWriter {
 public:
  SseWriter(const Tokenizer& tok, StreamSpec spec, std::function<std::string()> next_call_id);
  std::string begin();
  std::string tokens(const std::vector<TokenOutput>& tokens);
  std::string end(const RequestFinal& final);

 private:
  std::string content(const std::string& text, std::vector<TokenLogprob> logprobs);

  const Tokenizer& tok_;
  StreamSpec spec_;
  std::function<std::string()> next_call_id_;
  std::vector<int32_t> ids_;
  int32_t prev_;
  std::string shown_;                // with tools: the text shown so far (what content is cut from)
  std::optional<size_t> marker_at_;  // where in shown_ the tool calls began
  std::optional<int32_t> marker_id_;  // the tokenizer's [TOOL_CALLS] special token
  std::vector<TokenLogprob> held_logprobs_;
  size_t emitted_ = 0;      // content bytes sent
  size_t text_offset_ = 0;  // completions: bytes before the next chunk's text (echo included)
};

}  // namespace corelm::serve
