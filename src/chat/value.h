// Value: what a Jinja expression evaluates to, with Python's semantics for the operations chat
// templates use (truthiness, equality, ordering, str(), repr(), json.dumps()). Lists and dicts
// are shared and immutable once built, except namespace() objects, whose attributes `set`
// may assign. Dicts keep insertion order, as Python's do.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace corelm::jinja {

class Value;
using List = std::vector<Value>;

struct Dict {
  std::vector<std::pair<std::string, Value>> items;
  const Value* find(const std::string& key) const;
  void set(const std::string& key, Value v);
};

struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
  const Value* kwarg(const std::string& name) const;
  // The argument at `index` or named `name`; nullptr if neither was given.
  const Value* get(size_t index, const std::string& name) const;
};

using Function = std::function<Value(CallArgs&)>;

class Value {
 public:
  enum class Kind { kUndefined, kNone, kBool, kInt, kFloat, kString, kList, kDict, kFunction };

  Value() = default;  // undefined
  static Value undefined(std::string name = {});
  static Value none();
  Value(bool b);  // NOLINT: implicit like Python literals
  Value(int v);
  Value(int64_t v);
  Value(double v);
  Value(const char* s);
  Value(std::string s);
  Value(List l);
  Value(Dict d);
  static Value function(std::string name, Function fn);
  static Value namespace_object(Dict d);
  // Keeps object key order. Throws LimitExceeded for JSON nested deeper than kMaxValueDepth
  // or an integer beyond the int64 range.
  static Value from_json(const nlohmann::ordered_json& j);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::kUndefined; }
  bool is_none() const { return kind_ == Kind::kNone; }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_number() const { return kind_ == Kind::kInt || kind_ == Kind::kFloat; }
  bool is_list() const { return kind_ == Kind::kList; }
  bool is_dict() const { return kind_ == Kind::kDict; }
  bool is_function() const { return kind_ == Kind::kFunction; }
  bool is_namespace() const { return kind_ == Kind::kDict && namespace_; }
  // Nesting depth (0 for scalars, 1 for a flat list); a list or dict deeper than
  // kMaxValueDepth is refused when it is built (LimitExceeded).
  int depth() const { return depth_; }
  // True when this is, or (as built) contains, a namespace object.
  bool holds_namespace() const { return holds_namespace_; }

  bool as_bool() const { return b_; }
  int64_t as_int() const { return i_; }
  double as_double() const { return kind_ == Kind::kInt ? static_cast<double>(i_) : f_; }
  const std::string& as_string() const { return s_ ? *s_ : empty_string(); }
  const List& as_list() const { return *list_; }
  const Dict& as_dict() const { return *dict_; }
  Dict& mutable_dict() const { return *dict_; }  // namespace objects only
  const Function& as_function() const { return *fn_; }
  const std::string& name() const { return as_string(); }  // of an undefined value or function

  bool truthy() const;
  std::string str() const;   // Python str()
  std::string repr() const;  // Python repr()
  // json.dumps(value, ensure_ascii=False, indent=indent (<0: none), sort_keys)
  std::string to_json(int indent = -1, bool sort_keys = false, const std::string& item_sep = ", ",
                      const std::string& key_sep = ": ") const;
  const char* type_name() const;

  friend bool operator==(const Value& a, const Value& b);

 private:
  Kind kind_ = Kind::kUndefined;
  bool b_ = false;
  bool namespace_ = false;
  bool holds_namespace_ = false;
  uint16_t depth_ = 0;
  int64_t i_ = 0;
  double f_ = 0.0;
  static const std::string& empty_string();
  // Shared, immutable text: copying a Value (into a list, a loop variable, `[s] * 1000`) never
  // copies its string.
  std::shared_ptr<const std::string> s_;
  std::shared_ptr<List> list_;
  std::shared_ptr<Dict> dict_;
  std::shared_ptr<Function> fn_;
};

// Python's ordering for numbers and strings (and lists, element-wise); throws std::invalid_argument
// otherwise.
int compare(const Value& a, const Value& b);
// What a for loop visits: a list's items, a dict's keys, a string's characters; nothing for
// undefined. Throws std::invalid_argument for anything else.
List items_of(const Value& v);
// Python repr() of a float.
std::string format_float(double v);

}  // namespace corelm::jinja
