// Interpreter: renders a parsed Program against a context of global values.
#pragma once

#include <string>

#include "chat/ast.h"
#include "chat/value.h"
#include "corelm/chat.h"

namespace corelm::jinja {

// Raised by raise_exception() inside a template: the template's own message.
struct TemplateRaised : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Renders `program` with `globals` as the outermost scope. Throws TemplateError (with the
// position of the failing expression) or TemplateRaised.
// `limits` bound the work (see ChatTemplateLimits); a limit hit is a TemplateError naming it.
std::string render(const Program& program, const Dict& globals,
                   const ChatTemplateLimits& limits = {});

// Builtins (builtins.cpp): filters, tests, attribute methods and global functions.
Value apply_filter(
    const std::string& name, const Value& input, CallArgs& args,
    const std::function<Value(const std::string&, const Value&, CallArgs&)>& filter_by_name);
bool has_filter(const std::string& name);
bool apply_test(const std::string& name, const Value& input, CallArgs& args, bool* known);
// A bound method of a str/dict/list value, or undefined if there is none.
Value method(const Value& object, const std::string& name);
void add_global_functions(Dict& globals);

}  // namespace corelm::jinja
