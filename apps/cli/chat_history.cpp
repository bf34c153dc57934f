#include "chat_history.h"

#include <nlohmann/json.hpp>

#include <algorithm>

#include "base/check.h"
#include "base/json_access.h"
#include "base/utf8.h"
#include "commands.h"
#include "corelm/tokenizer.h"

namespace corelm::cli {

namespace {
constexpr const char* kComponent = "chat";

bool starts_with(std::span<const int32_t> ids, std::span<const int32_t> prefix) {
  return prefix.size() <= ids.size() && std::equal(prefix.begin(), prefix.end(), ids.begin());
}

std::string trim_leading_spaces(std::string s) {
  s.erase(0, s.find_first_not_of(' ') == std::string::npos ? s.size() : s.find_first_not_of(' '));
  return s;
}
}  // namespace

ChatHistory::ChatHistory(const Tokenizer& tokenizer, std::string template_source)
    : tok_(tokenizer), template_source_(std::move(template_source)) {}

void ChatHistory::set_system(std::string text) {
  system_ = std::move(text);
  forget_anchor();
}

void ChatHistory::reset() {
  turns_.clear();
  forget_anchor();
}

void ChatHistory::add_user(std::string text) {
  turns_.push_back({"user", std::move(text)});
}

void ChatHistory::drop_last_user() {
  if (!turns_.empty() && turns_.back().role == "user") turns_.pop_back();
}

bool ChatHistory::drop_oldest_turn() {
  // The first user message and what answers it, up to the next user message.
  auto next_user = std::find_if(turns_.begin() + (turns_.empty() ? 0 : 1), turns_.end(),
                                [](const ChatMessage& m) { return m.role == "user"; });
  if (next_user == turns_.end()) return false;
  turns_.erase(turns_.begin(), next_user);
  forget_anchor();
  return true;
}

std::string ChatHistory::render(bool add_generation_prompt) const {
  nlohmann::json messages = nlohmann::json::array();
  if (!system_.empty()) messages.push_back({{"role", "system"}, {"content", system_}});
  for (const auto& m : turns_) messages.push_back({{"role", m.role}, {"content", m.content}});
  return render_chat(tok_, template_source_, messages.dump(), "", add_generation_prompt);
}

std::vector<int32_t> ChatHistory::prompt_ids() {
  last_prompt_text_ = render(true);
  std::vector<int32_t> full = tok_.encode(last_prompt_text_, false);
  kept_generated_ = false;
  // The usual case: the conversation tokenizes to what the cache holds, and more.
  if (anchor_ids_.empty() || starts_with(full, anchor_ids_)) return full;
  // The earlier prompt, then the answer (after at most a separating space the answer's first
  // token carries), then the new turn: keep the answer's generated ids, tokenize the rest.
  const std::string& text = last_prompt_text_;
  if (text.compare(0, anchor_text_.size(), anchor_text_) != 0) return full;
  size_t at = text.find(anchor_answer_, anchor_text_.size());
  if (at == std::string::npos || at - anchor_text_.size() > 1 ||
      text.find_first_not_of(' ', anchor_text_.size()) < at)
    return full;
  const size_t end = at + anchor_answer_.size();
  // The ids of the rest as the whole text's tokenization has them when a token ends right at
  // the answer's end; else the rest tokenized on its own.
  std::vector<int32_t> head = tok_.encode(std::string_view(text).substr(0, end), false);
  std::vector<int32_t> ids = anchor_ids_;
  if (starts_with(full, head)) {
    ids.insert(ids.end(), full.begin() + static_cast<std::ptrdiff_t>(head.size()), full.end());
  } else {
    std::vector<int32_t> rest = tok_.encode(std::string_view(text).substr(end), false);
    ids.insert(ids.end(), rest.begin(), rest.end());
  }
  kept_generated_ = true;
  return ids;
}

void ChatHistory::add_answer(std::span<const int32_t> prompt_ids,
                             std::span<const int32_t> answer_ids, const std::string& shown) {
  forget_anchor();
  // As transformers' pipelines keep it: the answer decoded on its own (no leading space).
  std::string content = trim_leading_spaces(shown);
  if (content.empty()) {
    drop_last_user();
    return;
  }
  turns_.push_back({"assistant", content});
  // The generated ids stand for the kept text only when they decode to exactly it (not when
  // a stop string or Ctrl-C cut the text short of them).
  if (trim_leading_spaces(tok_.decode(answer_ids, true)) != content) return;
  anchor_text_ = last_prompt_text_;
  anchor_answer_ = content;
  anchor_ids_.assign(prompt_ids.begin(), prompt_ids.end());
  anchor_ids_.insert(anchor_ids_.end(), answer_ids.begin(), answer_ids.end());
}

std::string ChatHistory::to_json() const {
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  if (!system_.empty()) messages.push_back({{"role", "system"}, {"content", system_}});
  for (const auto& m : turns_) messages.push_back({{"role", m.role}, {"content", m.content}});
  nlohmann::ordered_json doc;
  doc["messages"] = std::move(messages);
  return doc.dump(2) + "\n";
}

void ChatHistory::load_json(const std::string& text, const std::string& what) {
  auto doc = parse_json(text, kComponent, what);
  const JsonReader r(kComponent, what);
  const auto& messages =
      r.as_array(r.required(r.as_object(doc, "the document"), "messages"), "field 'messages'");
  std::string system;
  std::vector<ChatMessage> turns;
  for (size_t i = 0; i < messages.size(); ++i) {
    const std::string name = fmt::format("messages[{}]", i);
    const auto& m = r.as_object(messages[i], name);
    std::string role = r.as_str(r.required(m, "role"), name + ".role");
    std::string content = r.as_str(r.required(m, "content"), name + ".content");
    if (!utf8::is_valid(content))
      fail(ErrorCode::kInvalidArgument, kComponent, "{}: {}.content is not valid UTF-8", what,
           name);
    if (role == "system" && i == 0) {
      system = std::move(content);
    } else if (role == "user" || role == "assistant") {
      turns.push_back({std::move(role), std::move(content)});
    } else {
      fail(ErrorCode::kInvalidArgument, kComponent,
           "{}: {}.role is '{}' (a system message first, then user and assistant messages)", what,
           name, role);
    }
  }
  system_ = std::move(system);
  turns_ = std::move(turns);
  forget_anchor();
}

}  // namespace corelm::cli
