// The chat parts of a request: messages as the templates want them, tools, tool_choice.
#include <fmt/format.h>

#include "base/json_access.h"
#include "corelm/error.h"
#include "serve/openai_api.h"
#include "serve/openai_parse.h"

namespace corelm::serve::parse {

namespace {

std::string parse_content(const ojson& v, const std::string& path, bool assistant) {
  if (v.is_string()) return v.get<std::string>();
  if (!v.is_array()) wrong_type(path, "a string or an array of content parts", v);
  std::string text;
  for (size_t j = 0; j < v.size(); ++j) {
    std::string part_path = index_path(path, j);
    const ojson& part = as_object(v[j], part_path);
    std::string type = as_string(require(part, "type", join_path(part_path, "type")),
                                 join_path(part_path, "type"));
    std::string piece;
    if (type == "text") {
      piece = as_string(require(part, "text", join_path(part_path, "text")),
                        join_path(part_path, "text"));
    } else if (type == "refusal" && assistant) {
      piece = as_string(require(part, "refusal", join_path(part_path, "refusal")),
                        join_path(part_path, "refusal"));
    } else if (type == "image_url" || type == "input_audio" || type == "file" || type == "image" ||
               type == "audio") {
      bad(part_path,
          fmt::format("Invalid content part '{}': {} content is not supported; this server "
                      "takes text only.",
                      part_path, type),
          "unsupported_content");
    } else {
      bad(join_path(part_path, "type"),
          fmt::format("Invalid value for '{}': unknown content part type '{}'.",
                      join_path(part_path, "type"), type));
    }
    if (j > 0) text += "\n\n";
    text += piece;
  }
  return text;
}

ojson parse_tool_call(const ojson& v, const std::string& path) {
  as_object(v, path);
  std::string id = as_string(require(v, "id", join_path(path, "id")), join_path(path, "id"));
  if (const ojson* type = get(v, "type");
      type && as_string(*type, join_path(path, "type")) != "function")
    bad(join_path(path, "type"),
        fmt::format("Invalid value for '{}': only 'function' tool calls are supported.",
                    join_path(path, "type")));
  std::string fpath = join_path(path, "function");
  const ojson& function = as_object(require(v, "function", fpath), fpath);
  std::string name =
      as_string(require(function, "name", join_path(fpath, "name")), join_path(fpath, "name"));
  std::string apath = join_path(fpath, "arguments");
  const ojson& arguments_value = require(function, "arguments", apath);
  ojson arguments;
  if (arguments_value.is_object()) {
    arguments = arguments_value;
  } else {
    std::string text = as_string(arguments_value, apath);
    if (text.empty()) {
      arguments = ojson::object();
    } else {
      try {
        arguments = parse_ordered_json(text, "serve", "arguments", kMaxArgumentsDepth);
      } catch (const Error&) {
        bad(apath, fmt::format("Invalid value for '{}': the arguments are not valid JSON.", apath));
      }
    }
  }
  ojson call = ojson::object();
  call["id"] = id;
  call["type"] = "function";
  call["function"] = ojson{{"name", name}, {"arguments", std::move(arguments)}};
  return call;
}

bool valid_function_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
          c == '-'))
      return false;
  return true;
}

}  // namespace

ojson parse_message(const ojson& v, const std::string& path) {
  as_object(v, path);
  std::string role_path = join_path(path, "role");
  std::string role = as_string(require(v, "role", role_path), role_path);
  std::string content_path = join_path(path, "content");
  ojson out = ojson::object();
  if (role == "system" || role == "developer" || role == "user") {
    out["role"] = role == "user" ? "user" : "system";
    out["content"] = parse_content(require(v, "content", content_path), content_path, false);
  } else if (role == "assistant") {
    out["role"] = "assistant";
    const ojson* content = get(v, "content");
    out["content"] = content ? ojson(parse_content(*content, content_path, true)) : ojson(nullptr);
    ojson calls = ojson::array();
    std::string calls_path = join_path(path, "tool_calls");
    if (const ojson* tool_calls = get(v, "tool_calls")) {
      as_array(*tool_calls, calls_path);
      for (size_t j = 0; j < tool_calls->size(); ++j)
        calls.push_back(parse_tool_call((*tool_calls)[j], index_path(calls_path, j)));
    }
    if (!content && calls.empty())
      bad(content_path,
          fmt::format("Invalid message '{}': an assistant message needs 'content' "
                      "or 'tool_calls'.",
                      path),
          "missing_required_parameter");
    if (!calls.empty()) out["tool_calls"] = std::move(calls);
  } else if (role == "tool") {
    out["role"] = "tool";
    out["content"] = parse_content(require(v, "content", content_path), content_path, false);
    std::string id_path = join_path(path, "tool_call_id");
    out["tool_call_id"] = as_string(require(v, "tool_call_id", id_path), id_path);
    if (const ojson* name = get(v, "name")) out["name"] = as_string(*name, join_path(path, "name"));
  } else {
    bad(role_path,
        fmt::format("Invalid value for '{}': '{}' is not supported; the roles are system, "
                    "developer, user, assistant and tool.",
                    role_path, role));
  }
  return out;
}

// Checks the tools array and returns the function names.
std::vector<std::string> check_tools(const ojson& tools) {
  as_array(tools, "tools");
  std::vector<std::string> names;
  for (size_t i = 0; i < tools.size(); ++i) {
    std::string path = index_path("tools", i);
    const ojson& tool = as_object(tools[i], path);
    std::string type_path = join_path(path, "type");
    if (as_string(require(tool, "type", type_path), type_path) != "function")
      bad(type_path,
          fmt::format("Invalid value for '{}': only 'function' tools are supported.", type_path));
    std::string fpath = join_path(path, "function");
    const ojson& function = as_object(require(tool, "function", fpath), fpath);
    std::string name_path = join_path(fpath, "name");
    std::string name = as_string(require(function, "name", name_path), name_path);
    if (!valid_function_name(name))
      bad(name_path,
          fmt::format("Invalid value for '{}': a function name is 1 to 64 letters, digits, "
                      "underscores or dashes.",
                      name_path));
    if (const ojson* d = get(function, "description"))
      as_string(*d, join_path(fpath, "description"));
    if (const ojson* p = get(function, "parameters")) as_object(*p, join_path(fpath, "parameters"));
    names.push_back(name);
  }
  return names;
}

std::string parse_tool_choice(const ojson& v, const std::vector<std::string>& names) {
  std::string choice;
  if (v.is_string()) {
    choice = v.get<std::string>();
    if (choice != "none" && choice != "auto" && choice != "required")
      bad("tool_choice",
          fmt::format("Invalid value for 'tool_choice': '{}'; expected 'none', 'auto', "
                      "'required' or a function.",
                      choice));
    if (choice != "required") return choice;
  } else if (v.is_object()) {
    const ojson* type = get(v, "type");
    if (!type || !type->is_string() || *type != "function")
      bad("tool_choice.type", "Invalid value for 'tool_choice.type': expected 'function'.");
    const ojson& function =
        as_object(require(v, "function", "tool_choice.function"), "tool_choice.function");
    choice = as_string(require(function, "name", "tool_choice.function.name"),
                       "tool_choice.function.name");
    bool known = false;
    for (const auto& name : names) known = known || name == choice;
    if (!known && !names.empty())
      bad("tool_choice.function.name",
          fmt::format("Invalid value for 'tool_choice.function.name': no tool is named '{}'.",
                      choice));
  } else {
    wrong_type("tool_choice", "a string or an object", v);
  }
  if (names.empty())
    bad("tool_choice", "Invalid value for 'tool_choice': 'tools' must be given with this choice.");
  return choice;
}

}  // namespace corelm::serve::parse
