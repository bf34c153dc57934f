// The conversation `corelm chat` keeps, and the token ids it hands the Generator each turn.
// Every turn the whole conversation is rendered with the chat template; the Generator then
// prefills only what its KV cache does not already hold. For that, earlier turns must come out
// as the same ids each time: when re-tokenizing the rendered text would change the last answer's
// ids (the model may generate a split BPE would not make), the answer's ids are kept as they
// were generated and only the text after them is tokenized anew.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "corelm/chat.h"

namespace corelm {
class Tokenizer;
}

namespace corelm::cli {

class ChatHistory {
 public:
  ChatHistory(const Tokenizer& tokenizer, std::string template_source);

  // The system message ("" for none); the conversation stays.
  void set_system(std::string text);
  const std::string& system() const { return system_; }
  // Forgets every user and assistant message (the system message stays).
  void reset();
  void add_user(std::string text);
  // Removes the last message if it is the user's (a turn that could not be answered).
  void drop_last_user();
  // Drops the oldest user message and the answers that follow it. False when the only user
  // message left is the last one (nothing more can go).
  bool drop_oldest_turn();
  // The messages after the system message.
  const std::vector<ChatMessage>& turns() const { return turns_; }

  // The ids of the whole conversation rendered with the assistant turn's opening at the end.
  std::vector<int32_t> prompt_ids();
  // Records the answer to the ids prompt_ids() returned last: `answer_ids` as generated (EOS
  // not included), `shown` the text streamed to the user. An empty answer is not kept (and the
  // user message it answered goes too: templates refuse empty assistant messages).
  void add_answer(std::span<const int32_t> prompt_ids, std::span<const int32_t> answer_ids,
                  const std::string& shown);
  // True when the last prompt_ids() kept the previous answer's generated ids.
  bool kept_generated_ids() const { return kept_generated_; }

  // {"messages": [{"role": ..., "content": ...}, ...]}, the system message first.
  std::string to_json() const;
  // Replaces the conversation (and the system message) with a saved one. `what` names the
  // source in errors; on an error the conversation is left as it was.
  void load_json(const std::string& text, const std::string& what);

 private:
  std::string render(bool add_generation_prompt) const;
  void forget_anchor() { anchor_ids_.clear(); }

  const Tokenizer& tok_;
  std::string template_source_;
  std::string system_;
  std::vector<ChatMessage> turns_;
  // The last turn: the text and ids of its prompt followed by the generated answer's ids, and
  // the answer as it is rendered. Empty when no such turn is the conversation's latest.
  std::string last_prompt_text_, anchor_answer_;
  std::vector<int32_t> anchor_ids_;
  std::string anchor_text_;
  bool kept_generated_ = false;
};

}  // namespace corelm::cli
