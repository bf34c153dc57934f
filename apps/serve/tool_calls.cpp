// Mistral tool calls in model output ([TOOL_CALLS] in its v3 JSON-list form and its v11+
// name[ARGS]{...} form) turned into OpenAI tool_calls; anything malformed stays plain content.
#include <algorithm>
#include <optional>

#include "base/json_access.h"
#include "corelm/error.h"
#include "serve/openai_api.h"

namespace corelm::serve {

using ojson = nlohmann::ordered_json;

namespace {

constexpr std::string_view kEos = "</s>";
constexpr std::string_view kToolCalls = "[TOOL_CALLS]";
constexpr std::string_view kArgs = "[ARGS]";
constexpr std::string_view kCallId = "[CALL_ID]";
constexpr int kMaxArgumentsDepth = 64;

struct ParsedCall {
  std::string name;
  std::string arguments;
  std::string id;  // empty: not given (or unusable); made with next_id
};

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

size_t skip_space(std::string_view s, size_t pos) {
  while (pos < s.size() && is_space(s[pos])) ++pos;
  return pos;
}

bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// Function names as OpenAI allows them: 1-64 letters, digits, '_' or '-'.
bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name)
    if (!is_alnum(c) && c != '_' && c != '-') return false;
  return true;
}

bool valid_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id)
    if (!is_alnum(c)) return false;
  return true;
}

// The end (one past) of the JSON array or object starting at s[pos], found by matching
// brackets outside strings; npos when it does not close. The parse that follows checks it.
size_t json_end(std::string_view s, size_t pos) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = pos; i < s.size(); ++i) {
    char c = s[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      ++depth;
    } else if (c == ']' || c == '}') {
      if (--depth == 0) return i + 1;
    }
  }
  return std::string_view::npos;
}

std::optional<ojson> parse_json_value(std::string_view s) {
  try {
    return parse_ordered_json(s, "serve", "tool call", kMaxArgumentsDepth);
  } catch (const Error&) {
    return std::nullopt;
  }
}

// v3: [{"name": "f", "arguments": {...}, "id"?: "..."}, ...] starting at s[pos].
bool parse_list(std::string_view s, size_t& pos, std::vector<ParsedCall>& calls) {
  size_t end = json_end(s, pos);
  if (end == std::string_view::npos) return false;
  auto list = parse_json_value(s.substr(pos, end - pos));
  if (!list || !list->is_array() || list->empty()) return false;
  for (const auto& item : *list) {
    if (!item.is_object()) return false;
    auto name = item.find("name");
    auto arguments = item.find("arguments");
    if (name == item.end() || !name->is_string() || !valid_name(name->get<std::string>()))
      return false;
    if (arguments == item.end() || !arguments->is_object()) return false;
    ParsedCall call{name->get<std::string>(), arguments->dump(), ""};
    auto id = item.find("id");
    if (id != item.end() && id->is_string() && valid_id(id->get<std::string>()))
      call.id = id->get<std::string>();
    calls.push_back(std::move(call));
  }
  pos = end;
  return true;
}

// v11+: f[ARGS]{...} or f[CALL_ID]id[ARGS]{...} starting at s[pos].
bool parse_named(std::string_view s, size_t& pos, std::vector<ParsedCall>& calls) {
  size_t bracket = s.find('[', pos);
  if (bracket == std::string_view::npos) return false;
  ParsedCall call;
  call.name = std::string(s.substr(pos, bracket - pos));
  if (!valid_name(call.name)) return false;
  pos = bracket;
  if (s.substr(pos).starts_with(kCallId)) {
    pos += kCallId.size();
    size_t args = s.find(kArgs, pos);
    if (args == std::string_view::npos) return false;
    std::string_view id = s.substr(pos, args - pos);
    if (!valid_id(id)) return false;
    call.id = std::string(id);
    pos = args;
  }
  if (!s.substr(pos).starts_with(kArgs)) return false;
  pos = skip_space(s, pos + kArgs.size());
  if (pos >= s.size() || s[pos] != '{') return false;
  size_t end = json_end(s, pos);
  if (end == std::string_view::npos) return false;
  auto arguments = parse_json_value(s.substr(pos, end - pos));
  if (!arguments || !arguments->is_object()) return false;
  call.arguments = arguments->dump();
  calls.push_back(std::move(call));
  pos = end;
  return true;
}

// `s` starts with [TOOL_CALLS]; the whole rest must be calls (whitespace between them).
std::optional<std::vector<ParsedCall>> parse_calls(std::string_view s) {
  std::vector<ParsedCall> calls;
  size_t pos = 0;
  while (pos < s.size()) {
    if (!s.substr(pos).starts_with(kToolCalls)) return std::nullopt;
    pos = skip_space(s, pos + kToolCalls.size());
    bool ok =
        pos < s.size() && s[pos] == '[' ? parse_list(s, pos, calls) : parse_named(s, pos, calls);
    if (!ok) return std::nullopt;
    pos = skip_space(s, pos);
  }
  if (calls.empty()) return std::nullopt;
  return calls;
}

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace

AssistantOutput parse_assistant_output(std::string_view text,
                                       const std::function<std::string()>& next_id) {
  if (text.ends_with(kEos)) text.remove_suffix(kEos.size());
  AssistantOutput out;
  size_t start = text.find(kToolCalls);
  std::optional<std::vector<ParsedCall>> calls;
  if (start != std::string_view::npos) calls = parse_calls(text.substr(start));
  if (!calls) {
    out.content = std::string(text);
    return out;
  }
  out.content = std::string(text.substr(0, start));
  for (auto& call : *calls) {
    std::string id = call.id.empty() ? next_id() : std::move(call.id);
    out.tool_calls.push_back({std::move(id), std::move(call.name), std::move(call.arguments)});
  }
  return out;
}

size_t streamable_content_length(std::string_view text) {
  size_t marker = text.find(kToolCalls);
  if (marker != std::string_view::npos) return marker;
  // The longest tail that is a proper prefix of the marker.
  for (size_t n = std::min(text.size(), kToolCalls.size() - 1); n > 0; --n)
    if (kToolCalls.starts_with(text.substr(text.size() - n))) return text.size() - n;
  return text.size();
}

std::string mistral_tool_call_id(uint64_t seed) {
  constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  uint64_t state = seed;
  std::string id;
  for (int i = 0; i < 9; ++i) id += kAlphabet[splitmix64(state) % kAlphabet.size()];
  return id;
}

}  // namespace corelm::serve
