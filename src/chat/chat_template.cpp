#include "base/boundary.h"
#include "corelm/chat.h"

#include <nlohmann/json.hpp>

#include <functional>
#include <map>
#include <mutex>

#include "base/check.h"
#include "base/json_access.h"
#include "chat/ast.h"
#include "chat/interpreter.h"
#include "chat/lexer.h"
#include "chat/limits.h"

namespace corelm {

namespace {
constexpr const char* kComponent = "chat";
using json = nlohmann::ordered_json;
}  // namespace

struct ChatTemplate::Impl {
  jinja::Program program;
};

ChatTemplate::ChatTemplate(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ChatTemplate::~ChatTemplate() = default;

std::shared_ptr<const ChatTemplate> ChatTemplate::compile(const std::string& source) {
  try {
    static std::mutex mu;
    static std::map<std::string, std::weak_ptr<const ChatTemplate>> cache;
    std::lock_guard<std::mutex> lock(mu);
    if (auto it = cache.find(source); it != cache.end())
      if (auto alive = it->second.lock()) return alive;
    auto impl = std::make_unique<Impl>();
    try {
      impl->program = jinja::parse(source);
    } catch (const jinja::TemplateError& e) {
      fail(ErrorCode::kInvalidArgument, kComponent, "template error at line {}, column {}: {}",
           e.line, e.column, e.what());
    }
    std::shared_ptr<const ChatTemplate> t(new ChatTemplate(std::move(impl)));
    cache[source] = t;
    return t;
  } catch (...) {
    rethrow_as_error("chat");
  }
}

std::string ChatTemplate::render(const std::string& messages_json,
                                 const ChatTemplateOptions& o) const {
  try {
    json messages = parse_ordered_json(messages_json, kComponent, "messages");
    if (!messages.is_array())
      fail(ErrorCode::kInvalidArgument, kComponent,
           "messages must be a JSON array of message objects");
    // Messages, tools and extra context become template values; nesting deeper than the value
    // depth limit, or an integer beyond int64, is refused here.
    auto convert = [](const json& j, const char* what) {
      try {
        return jinja::Value::from_json(j);
      } catch (const jinja::LimitExceeded& e) {
        fail(ErrorCode::kInvalidArgument, kComponent, "{}: {}", what, e.what());
      }
    };
    jinja::Dict g;
    g.set("messages", convert(messages, "messages"));
    g.set("add_generation_prompt", jinja::Value(o.add_generation_prompt));
    g.set("bos_token", jinja::Value(o.bos_token));
    g.set("eos_token", jinja::Value(o.eos_token));
    if (!o.tools_json.empty()) {
      json tools = parse_ordered_json(o.tools_json, kComponent, "tools");
      g.set("tools", convert(tools, "tools"));
    }
    if (!o.extra_context_json.empty()) {
      json extra = parse_ordered_json(o.extra_context_json, kComponent, "extra context");
      if (!extra.is_object())
        fail(ErrorCode::kInvalidArgument, kComponent, "extra context must be a JSON object");
      for (const auto& [k, v] : extra.items()) g.set(k, convert(v, "extra context"));
    }
    try {
      return jinja::render(impl_->program, g, o.limits);
    } catch (const jinja::TemplateRaised& e) {
      fail(ErrorCode::kInvalidArgument, kComponent, "{}", e.what());
    } catch (const jinja::TemplateError& e) {
      fail(ErrorCode::kInvalidArgument, kComponent, "template error at line {}, column {}: {}",
           e.line, e.column, e.what());
    }
  } catch (...) {
    rethrow_as_error("chat");
  }
}

std::string ChatTemplate::render(const std::vector<ChatMessage>& messages,
                                 const ChatTemplateOptions& o) const {
  try {
    json arr = json::array();
    for (const auto& m : messages) arr.push_back({{"role", m.role}, {"content", m.content}});
    return render(arr.dump(), o);
  } catch (...) {
    rethrow_as_error("chat");
  }
}

}  // namespace corelm
