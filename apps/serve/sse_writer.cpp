#include "serve/sse_writer.h"

#include <algorithm>

#include "corelm/tokenizer.h"

namespace corelm::serve {

namespace {
constexpr std::string_view kMarker = "[TOOL_CALLS]";
}

std::string openai_finish_reason(const std::string& reason) {
  return reason == "stop" ? "stop" : "length";
}

std::string token_piece(const Tokenizer& tok, int32_t prev, int32_t id) {
  // Decoded after `prev`, so a SentencePiece piece keeps the leading space a decoder drops at the
  // start of a text.
  const int32_t pair[2] = {prev, id};
  std::string both = tok.decode_raw(std::span<const int32_t>(pair, 2), false);
  std::string first = tok.decode_raw(std::span<const int32_t>(pair, 1), false);
  if (both.compare(0, first.size(), first) == 0) return both.substr(first.size());
  return tok.decode_raw(std::span<const int32_t>(&id, 1), false);
}

TokenLogprob token_logprob(const Tokenizer& tok, int32_t prev, const TokenOutput& t) {
  TokenLogprob lp;
  lp.token = token_piece(tok, prev, t.id);
  lp.logprob = t.logprob;
  for (const auto& [alt, v] : t.top) lp.top.emplace_back(token_piece(tok, prev, alt), v);
  return lp;
}

SseWriter::SseWriter(const Tokenizer& tok, StreamSpec spec,
                     std::function<std::string()> next_call_id)
    : tok_(tok),
      spec_(std::move(spec)),
      next_call_id_(std::move(next_call_id)),
      prev_(spec_.last_prompt_id) {
  if (auto id = tok_.token_to_id(kMarker); id && tok_.is_special(*id)) marker_id_ = *id;
}

std::string SseWriter::content(const std::string& text, std::vector<TokenLogprob> logprobs) {
  const auto* lp = spec_.logprobs ? &logprobs : nullptr;
  emitted_ += text.size();
  if (spec_.chat)
    return sse_event(chat_chunk(spec_.id, spec_.created, spec_.model, {{"content", text}}, "", lp));
  std::string e =
      sse_event(text_chunk(spec_.id, spec_.created, spec_.model, text, "", lp, text_offset_));
  text_offset_ += text.size();
  return e;
}

std::string SseWriter::begin() {
  if (spec_.chat)
    return sse_event(chat_chunk(spec_.id, spec_.created, spec_.model,
                                {{"role", "assistant"}, {"content", ""}}, "", nullptr));
  if (spec_.echo.empty()) return {};
  text_offset_ = spec_.echo.size();
  return sse_event(text_chunk(spec_.id, spec_.created, spec_.model, spec_.echo, "", nullptr));
}

std::string SseWriter::tokens(const std::vector<TokenOutput>& tokens) {
  std::string out;
  for (const auto& t : tokens) {
    ids_.push_back(t.id);
    TokenLogprob lp = spec_.logprobs ? token_logprob(tok_, prev_, t) : TokenLogprob{};
    prev_ = t.id;
    if (!spec_.tools) {
      if (!t.text.empty() || spec_.logprobs) out += content(t.text, {lp});
      continue;
    }
    // With tools: text after Mistral's [TOOL_CALLS] (the special token, or the text spelled
    // out) is held for the parse at the end; so is an end that may still grow into the marker.
    if (marker_id_ && t.id == *marker_id_ && !marker_at_) marker_at_ = shown_.size();
    shown_ += t.text;
    held_logprobs_.push_back(lp);
    size_t allowed;
    if (!marker_at_) {
      const size_t at = shown_.find(kMarker);
      if (at != std::string::npos) marker_at_ = at;
    }
    allowed = marker_at_ ? *marker_at_ : streamable_content_length(shown_);
    if (allowed <= emitted_ && !spec_.logprobs) continue;
    const size_t n = allowed > emitted_ ? allowed - emitted_ : 0;
    out += content(shown_.substr(emitted_, n), std::move(held_logprobs_));
    held_logprobs_.clear();
  }
  return out;
}

std::string SseWriter::end(const RequestFinal& fin) {
  std::string out;
  if (fin.finish_reason == "error") {
    out += sse_event(error_body({500, "generation failed: " + fin.error, "server_error", "", ""}));
    return out + sse_done();
  }
  std::string finish = openai_finish_reason(fin.finish_reason);
  std::string tail = shown_.substr(std::min(emitted_, shown_.size())) + fin.tail;
  if (spec_.tools) {
    AssistantOutput parsed = parse_assistant_output(tok_.decode(fin.ids, false), next_call_id_);
    if (!parsed.tool_calls.empty()) {
      // The content is what was shown before the marker (the model's own text, streamed).
      const size_t before = marker_at_ ? std::min(*marker_at_, shown_.size()) : emitted_;
      if (before > emitted_) out += content(shown_.substr(emitted_, before - emitted_), {});
      out +=
          sse_event(chat_chunk(spec_.id, spec_.created, spec_.model,
                               {{"tool_calls", tool_calls_delta(parsed.tool_calls)}}, "", nullptr));
      finish = "tool_calls";
      tail.clear();
    }
  }
  if (!tail.empty()) out += content(tail, {});
  if (spec_.chat)
    out += sse_event(chat_chunk(spec_.id, spec_.created, spec_.model, nlohmann::json::object(),
                                finish, nullptr));
  else
    out += sse_event(text_chunk(spec_.id, spec_.created, spec_.model, "", finish, nullptr));
  if (spec_.include_usage)
    out += sse_event(
        usage_chunk(spec_.id, spec_.created, spec_.model,
                    spec_.chat ? "chat.completion.chunk" : "text_completion",
                    {static_cast<int64_t>(fin.prompt_tokens), static_cast<int64_t>(fin.ids.size()),
                     static_cast<int64_t>(fin.cached_tokens)}));
  return out + sse_done();
}

}  // namespace corelm::serve
