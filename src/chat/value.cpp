#include "chat/value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>

#include "base/parse_number.h"
#include "base/utf8.h"
#include "chat/limits.h"

namespace corelm::jinja {

const Value* Dict::find(const std::string& key) const {
  for (const auto& [k, v] : items)
    if (k == key) return &v;
  return nullptr;
}

void Dict::set(const std::string& key, Value v) {
  for (auto& [k, existing] : items)
    if (k == key) {
      existing = std::move(v);
      return;
    }
  items.emplace_back(key, std::move(v));
}

const Value* CallArgs::kwarg(const std::string& name) const {
  for (const auto& [k, v] : keyword)
    if (k == name) return &v;
  return nullptr;
}

const Value* CallArgs::get(size_t index, const std::string& name) const {
  if (index < positional.size()) return &positional[index];
  return kwarg(name);
}

Value Value::undefined(std::string name) {
  Value v;
  if (!name.empty()) v.s_ = std::make_shared<const std::string>(std::move(name));
  return v;
}
const std::string& Value::empty_string() {
  static const std::string empty;
  return empty;
}
Value Value::none() {
  Value v;
  v.kind_ = Kind::kNone;
  return v;
}
Value::Value(bool b) : kind_(Kind::kBool), b_(b) {}
Value::Value(int v) : kind_(Kind::kInt), i_(v) {}
Value::Value(int64_t v) : kind_(Kind::kInt), i_(v) {}
Value::Value(double v) : kind_(Kind::kFloat), f_(v) {}
namespace {

// Storage made during a render counts against its max_memory_bytes while it lives. Storage under
// 64 bytes is left out (a list of such strings is counted at 96 bytes an item: at most about as
// much again goes uncounted).
template <typename T>
std::shared_ptr<T> held_storage(T&& value, int64_t bytes) {
  RenderBudget* budget = RenderBudget::current();
  if (!budget || bytes < 64) return std::make_shared<T>(std::move(value));
  std::shared_ptr<int64_t> held = budget->held();
  *held += bytes;
  return std::shared_ptr<T>(new T(std::move(value)), [held, bytes](T* p) {
    *held -= bytes;
    delete p;
  });
}

}  // namespace

Value::Value(const char* s) : Value(std::string(s)) {}
Value::Value(std::string s) : kind_(Kind::kString) {
  const auto bytes = static_cast<int64_t>(s.capacity());
  s_ = held_storage<const std::string>(std::move(s), bytes);
}
namespace {

// Depth and namespace flag of a container holding `children`.
template <typename Range, typename Get>
void measure(const Range& children, Get get, uint16_t* depth, bool* holds_namespace) {
  int d = 0;
  for (const auto& c : children) {
    const Value& v = get(c);
    d = std::max(d, v.depth());
    *holds_namespace = *holds_namespace || v.holds_namespace();
  }
  if (d + 1 > kMaxValueDepth)
    throw LimitExceeded("values nested more than " + std::to_string(kMaxValueDepth) + " deep");
  *depth = static_cast<uint16_t>(d + 1);
}

}  // namespace

Value::Value(List l) : kind_(Kind::kList) {
  measure(
      l, [](const Value& v) -> const Value& { return v; }, &depth_, &holds_namespace_);
  const auto bytes = static_cast<int64_t>(l.capacity() * sizeof(Value));
  list_ = held_storage<List>(std::move(l), bytes);
}
Value::Value(Dict d) : kind_(Kind::kDict) {
  measure(
      d.items, [](const auto& kv) -> const Value& { return kv.second; }, &depth_,
      &holds_namespace_);
  dict_ = std::make_shared<Dict>(std::move(d));
}

Value Value::function(std::string name, Function fn) {
  Value v;
  v.kind_ = Kind::kFunction;
  v.s_ = std::make_shared<const std::string>(std::move(name));
  v.fn_ = std::make_shared<Function>(std::move(fn));
  return v;
}

Value Value::namespace_object(Dict d) {
  Value v(std::move(d));
  v.namespace_ = true;
  v.holds_namespace_ = true;
  return v;
}

namespace {

Value from_json_at(const nlohmann::ordered_json& j, int depth) {
  if (j.is_structured() && depth > kMaxValueDepth)
    throw LimitExceeded("JSON nested more than " + std::to_string(kMaxValueDepth) + " deep");
  switch (j.type()) {
    case nlohmann::ordered_json::value_t::number_unsigned: {
      const uint64_t u = j.get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX))
        throw LimitExceeded("integer " + std::to_string(u) + " is out of the 64-bit range");
      return Value(static_cast<int64_t>(u));
    }
    case nlohmann::ordered_json::value_t::array: {
      List l;
      l.reserve(j.size());
      for (const auto& e : j) l.push_back(from_json_at(e, depth + 1));
      return Value(std::move(l));
    }
    case nlohmann::ordered_json::value_t::object: {
      Dict d;
      d.items.reserve(j.size());
      for (const auto& [k, e] : j.items()) d.items.emplace_back(k, from_json_at(e, depth + 1));
      return Value(std::move(d));
    }
    default:
      return Value::from_json(j);
  }
}

}  // namespace

Value Value::from_json(const nlohmann::ordered_json& j) {
  switch (j.type()) {
    case nlohmann::ordered_json::value_t::number_unsigned:
    case nlohmann::ordered_json::value_t::array:
    case nlohmann::ordered_json::value_t::object:
      return from_json_at(j, 1);
    case nlohmann::ordered_json::value_t::null:
      return none();
    case nlohmann::ordered_json::value_t::boolean:
      return Value(j.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer:
      return Value(j.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_float:
      return Value(j.get<double>());
    case nlohmann::ordered_json::value_t::string:
      return Value(j.get<std::string>());
    default:
      return none();
  }
}

bool Value::truthy() const {
  switch (kind_) {
    case Kind::kUndefined:
    case Kind::kNone:
      return false;
    case Kind::kBool:
      return b_;
    case Kind::kInt:
      return i_ != 0;
    case Kind::kFloat:
      return f_ != 0.0;
    case Kind::kString:
      return !as_string().empty();
    case Kind::kList:
      return !list_->empty();
    case Kind::kDict:
      return !dict_->items.empty();
    case Kind::kFunction:
      return true;
  }
  return false;
}

std::string format_float(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  if (v == 0.0) return std::signbit(v) ? "-0.0" : "0.0";
  // Shortest round-trip digits, then Python's layout: fixed for exponents in [-4, 16).
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::scientific);
  std::string sci(buf, r.ptr);
  bool negative = sci[0] == '-';
  if (negative) sci.erase(0, 1);
  size_t e = sci.find('e');
  std::string digits = sci.substr(0, e);
  // to_chars writes "e+NN" / "e-NN"; parse_integer takes no '+'.
  std::string exp_text = sci.substr(e + 1);
  if (!exp_text.empty() && exp_text[0] == '+') exp_text.erase(0, 1);
  const int exp = parse_integer<int>(exp_text).value_or(0);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  std::string out;
  if (exp >= -4 && exp < 16) {
    if (exp < 0) {
      out = "0." + std::string(static_cast<size_t>(-exp - 1), '0') + digits;
    } else if (static_cast<int>(digits.size()) <= exp + 1) {
      out = digits + std::string(static_cast<size_t>(exp + 1) - digits.size(), '0') + ".0";
    } else {
      out = digits.substr(0, static_cast<size_t>(exp + 1)) + "." +
            digits.substr(static_cast<size_t>(exp + 1));
    }
  } else {
    out = digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    char eb[16];
    std::snprintf(eb, sizeof(eb), "e%c%02d", exp < 0 ? '-' : '+', std::abs(exp));
    out += eb;
  }
  return negative ? "-" + out : out;
}

namespace {

std::string py_quote(const std::string& s) {
  bool has_single = s.find('\'') != std::string::npos,
       has_double = s.find('"') != std::string::npos;
  char q = (has_single && !has_double) ? '"' : '\'';
  std::string out(1, q);
  for (unsigned char c : s) {
    if (c == '\\')
      out += "\\\\";
    else if (c == static_cast<unsigned char>(q))
      out += std::string("\\") + q;
    else if (c == '\n')
      out += "\\n";
    else if (c == '\r')
      out += "\\r";
    else if (c == '\t')
      out += "\\t";
    else if (c < 0x20 || c == 0x7F) {
      char b[8];
      std::snprintf(b, sizeof(b), "\\x%02x", c);
      out += b;
    } else
      out.push_back(static_cast<char>(c));
  }
  out.push_back(q);
  return out;
}

void json_string(std::string& out, const std::string& s) {
  out.push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (c < 0x20) {
          char b[8];
          std::snprintf(b, sizeof(b), "\\u%04x", c);
          out += b;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}

void to_json_into(const Value& v, std::string& out, int64_t indent, int64_t depth, bool sort_keys,
                  const std::string& item_sep, const std::string& key_sep) {
  charge_work(1);
  check_growth(out.size(), "tojson");
  auto newline = [&](int64_t d) {
    if (indent < 0) return;
    check_growth(out.size() + 1 + static_cast<uint64_t>(indent) * static_cast<uint64_t>(d),
                 "tojson");
    out.push_back('\n');
    out.append(static_cast<size_t>(indent * d), ' ');
  };
  switch (v.kind()) {
    case Value::Kind::kUndefined:
      throw std::invalid_argument("Object of type Undefined is not JSON serializable");
    case Value::Kind::kNone:
      out += "null";
      return;
    case Value::Kind::kBool:
      out += v.as_bool() ? "true" : "false";
      return;
    case Value::Kind::kInt:
      out += std::to_string(v.as_int());
      return;
    case Value::Kind::kFloat: {
      double d = v.as_double();
      out += std::isnan(d)   ? "NaN"
             : std::isinf(d) ? (d > 0 ? "Infinity" : "-Infinity")
                             : format_float(d);
      return;
    }
    case Value::Kind::kString:
      json_string(out, v.as_string());
      return;
    case Value::Kind::kList: {
      const auto& l = v.as_list();
      if (l.empty()) {
        out += "[]";
        return;
      }
      out.push_back('[');
      for (size_t i = 0; i < l.size(); ++i) {
        if (i) out += item_sep;
        newline(depth + 1);
        to_json_into(l[i], out, indent, depth + 1, sort_keys, item_sep, key_sep);
      }
      newline(depth);
      out.push_back(']');
      return;
    }
    case Value::Kind::kDict: {
      auto items = v.as_dict().items;
      if (items.empty()) {
        out += "{}";
        return;
      }
      if (sort_keys)
        std::stable_sort(items.begin(), items.end(),
                         [](auto& a, auto& b) { return a.first < b.first; });
      out.push_back('{');
      for (size_t i = 0; i < items.size(); ++i) {
        if (i) out += item_sep;
        newline(depth + 1);
        json_string(out, items[i].first);
        out += key_sep;
        to_json_into(items[i].second, out, indent, depth + 1, sort_keys, item_sep, key_sep);
      }
      newline(depth);
      out.push_back('}');
      return;
    }
    case Value::Kind::kFunction:
      throw std::invalid_argument("Object of type function is not JSON serializable");
  }
}

void repr_into(const Value& v, std::string& out) {
  charge_work(1);
  check_growth(out.size(), "repr");
  switch (v.kind()) {
    case Value::Kind::kString:
      out += py_quote(v.as_string());
      return;
    case Value::Kind::kList: {
      out += "[";
      for (size_t i = 0; i < v.as_list().size(); ++i) {
        if (i) out += ", ";
        repr_into(v.as_list()[i], out);
      }
      out += "]";
      return;
    }
    case Value::Kind::kDict: {
      out += "{";
      const auto& items = v.as_dict().items;
      for (size_t i = 0; i < items.size(); ++i) {
        if (i) out += ", ";
        out += py_quote(items[i].first) + ": ";
        repr_into(items[i].second, out);
      }
      out += "}";
      return;
    }
    default:
      out += v.str();
  }
}

}  // namespace

std::string Value::to_json(int indent, bool sort_keys, const std::string& item_sep,
                           const std::string& key_sep) const {
  std::string out;
  to_json_into(*this, out, indent, 0, sort_keys, item_sep, key_sep);
  check_growth(out.size(), "tojson");
  charge_bytes(out.size());
  return out;
}

std::string Value::repr() const {
  std::string out;
  repr_into(*this, out);
  check_growth(out.size(), "repr");
  charge_bytes(out.size());
  return out;
}

std::string Value::str() const {
  switch (kind_) {
    case Kind::kUndefined:
      return "";
    case Kind::kNone:
      return "None";
    case Kind::kBool:
      return b_ ? "True" : "False";
    case Kind::kInt:
      return std::to_string(i_);
    case Kind::kFloat:
      return format_float(f_);
    case Kind::kString:
      return as_string();
    case Kind::kList:
    case Kind::kDict:
      return repr();
    case Kind::kFunction:
      return "<function " + as_string() + ">";
  }
  return "";
}

const char* Value::type_name() const {
  switch (kind_) {
    case Kind::kUndefined:
      return "undefined";
    case Kind::kNone:
      return "NoneType";
    case Kind::kBool:
      return "bool";
    case Kind::kInt:
      return "int";
    case Kind::kFloat:
      return "float";
    case Kind::kString:
      return "str";
    case Kind::kList:
      return "list";
    case Kind::kDict:
      return is_namespace() ? "Namespace" : "dict";
    case Kind::kFunction:
      return "function";
  }
  return "?";
}

bool operator==(const Value& a, const Value& b) {
  charge_work(1);
  if (a.is_number() && b.is_number()) {
    if (a.kind() == Value::Kind::kInt && b.kind() == Value::Kind::kInt)
      return a.as_int() == b.as_int();
    return a.as_double() == b.as_double();
  }
  if ((a.kind() == Value::Kind::kBool) != (b.kind() == Value::Kind::kBool)) {
    // Python: True == 1
    if (a.kind() == Value::Kind::kBool && b.is_number())
      return (a.as_bool() ? 1.0 : 0.0) == b.as_double();
    if (b.kind() == Value::Kind::kBool && a.is_number())
      return (b.as_bool() ? 1.0 : 0.0) == a.as_double();
    return false;
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Value::Kind::kUndefined:
    case Value::Kind::kNone:
      return true;
    case Value::Kind::kBool:
      return a.as_bool() == b.as_bool();
    case Value::Kind::kString:
      return a.as_string() == b.as_string();
    case Value::Kind::kList:
      return a.as_list() == b.as_list();
    case Value::Kind::kDict: {
      const auto& x = a.as_dict().items;
      const auto& y = b.as_dict();
      if (x.size() != y.items.size()) return false;
      for (const auto& [k, v] : x) {
        const Value* o = y.find(k);
        if (!o || !(*o == v)) return false;
      }
      return true;
    }
    case Value::Kind::kFunction:
      return &a.as_function() == &b.as_function();
    default:
      return false;
  }
}

int compare(const Value& a, const Value& b) {
  charge_work(1);
  if ((a.is_number() || a.kind() == Value::Kind::kBool) &&
      (b.is_number() || b.kind() == Value::Kind::kBool)) {
    double x = a.kind() == Value::Kind::kBool ? a.as_bool() : a.as_double();
    double y = b.kind() == Value::Kind::kBool ? b.as_bool() : b.as_double();
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (a.is_string() && b.is_string()) {
    int c = a.as_string().compare(b.as_string());
    return c < 0 ? -1 : c > 0 ? 1 : 0;
  }
  if (a.is_list() && b.is_list()) {
    const auto& x = a.as_list();
    const auto& y = b.as_list();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i)
      if (int c = compare(x[i], y[i])) return c;
    return x.size() < y.size() ? -1 : x.size() > y.size() ? 1 : 0;
  }
  throw std::invalid_argument(std::string("'<' not supported between instances of '") +
                              a.type_name() + "' and '" + b.type_name() + "'");
}

List items_of(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kList:
      charge_work(static_cast<int64_t>(v.as_list().size() / 8));
      return v.as_list();
    case Value::Kind::kDict: {
      List keys;
      for (const auto& [k, _] : v.as_dict().items) keys.emplace_back(k);
      return keys;
    }
    case Value::Kind::kString: {
      List chars;
      const std::string& s = v.as_string();
      size_t count = 0;
      for (unsigned char c : s) count += (c & 0xC0) != 0x80;
      check_list_size(count, "iterating a string");
      chars.reserve(count);
      for (size_t i = 0; i < s.size();) {
        size_t len = 0;
        utf8::decode(s, i, &len);
        chars.emplace_back(s.substr(i, len));
        i += len;
      }
      return chars;
    }
    case Value::Kind::kUndefined:
      return {};
    default:
      throw std::invalid_argument(std::string("'") + v.type_name() + "' object is not iterable");
  }
}

}  // namespace corelm::jinja
