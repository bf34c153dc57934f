// Filters, tests, methods and global functions of the Jinja subset, with Jinja2's and Python's
// semantics (transformers' tojson: json.dumps with ensure_ascii=False).
#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cmath>
#include <ctime>
#include <limits>
#include <optional>
#include <stdexcept>
#include <unordered_set>

#include "base/parse_number.h"
#include "chat/interpreter.h"
#include "chat/lexer.h"
#include "chat/limits.h"

namespace corelm::jinja {

namespace {

using std::invalid_argument;

bool is_py_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

std::string strip(const std::string& s, const Value* chars, bool left, bool right) {
  auto drop = [&](char c) {
    if (chars && chars->is_string()) return chars->as_string().find(c) != std::string::npos;
    return is_py_space(c);
  };
  size_t b = 0, e = s.size();
  if (left)
    while (b < e && drop(s[b])) ++b;
  if (right)
    while (e > b && drop(s[e - 1])) --e;
  return s.substr(b, e - b);
}

std::string to_upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}
std::string to_lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
std::string capitalize(const std::string& s) {
  std::string out = to_lower(s);
  if (!out.empty()) out[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(out[0])));
  return out;
}
std::string title(const std::string& s) {
  std::string out;
  bool start = true;
  for (char c : s) {
    bool alpha = std::isalpha(static_cast<unsigned char>(c));
    out.push_back(static_cast<char>(alpha ? (start ? std::toupper(c) : std::tolower(c)) : c));
    start = !alpha;
  }
  return out;
}

std::string replace_all(const std::string& s, const std::string& from, const std::string& to,
                        int64_t count) {
  if (from.empty()) return s;
  std::string out;
  size_t pos = 0, at;
  int64_t n = 0;
  while ((count < 0 || n < count) && (at = s.find(from, pos)) != std::string::npos) {
    append_checked(out, s.substr(pos, at - pos) + to, "replace");
    pos = at + from.size();
    ++n;
  }
  return out + s.substr(pos);
}

List split(const std::string& s, const Value* sep, int64_t maxsplit) {
  List out;
  if (!sep || sep->is_none()) {
    size_t i = 0;
    int64_t n = 0;
    while (i < s.size()) {
      while (i < s.size() && is_py_space(s[i])) ++i;
      if (i >= s.size()) break;
      if (maxsplit >= 0 && n >= maxsplit) {
        out.emplace_back(strip(s.substr(i), nullptr, false, true));
        return out;
      }
      size_t j = i;
      while (j < s.size() && !is_py_space(s[j])) ++j;
      check_list_size(out.size() + 1, "split");
      out.emplace_back(s.substr(i, j - i));
      ++n;
      i = j;
    }
    return out;
  }
  const std::string& d = sep->as_string();
  if (d.empty()) throw invalid_argument("empty separator");
  size_t pos = 0, at;
  int64_t n = 0;
  while ((maxsplit < 0 || n < maxsplit) && (at = s.find(d, pos)) != std::string::npos) {
    check_list_size(out.size() + 1, "split");
    out.emplace_back(s.substr(pos, at - pos));
    pos = at + d.size();
    ++n;
  }
  out.emplace_back(s.substr(pos));
  return out;
}

int64_t int_arg(const Value* v, int64_t def) {
  if (!v || v->is_none()) return def;
  if (v->kind() == Value::Kind::kInt) return v->as_int();
  if (v->kind() == Value::Kind::kBool) return v->as_bool();
  throw invalid_argument(std::string("expected an integer, got ") + v->type_name());
}

// Attribute lookup used by selectattr/map/sort/join: "a.b" walks nested dicts.
Value attribute_of(const Value& v, const std::string& path) {
  Value cur = v;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t dot = path.find('.', pos);
    std::string part = path.substr(pos, dot == std::string::npos ? std::string::npos : dot - pos);
    if (cur.is_dict()) {
      const Value* f = cur.as_dict().find(part);
      cur = f ? *f : Value::undefined(part);
    } else if (cur.is_list() && !part.empty() && std::all_of(part.begin(), part.end(), ::isdigit)) {
      auto i = parse_integer<size_t>(part);
      cur = i && *i < cur.as_list().size() ? cur.as_list()[*i] : Value::undefined(part);
    } else {
      return Value::undefined(part);
    }
    if (dot == std::string::npos) break;
    pos = dot + 1;
  }
  return cur;
}

// Python's float() of a string: sign, digits, "inf", "nan"; 1e999 is inf.
std::optional<double> python_float(const std::string& text) {
  std::string s = strip(text, nullptr, true, true);
  bool negative = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    negative = s[0] == '-';
    s.erase(0, 1);
  }
  const std::string lower = to_lower(s);
  double d = 0;
  if (lower == "nan") {
    d = std::nan("");
  } else if (lower == "inf" || lower == "infinity") {
    d = HUGE_VAL;
  } else {
    if (s.empty() || !(std::isdigit(static_cast<unsigned char>(s[0])) || s[0] == '.'))
      return std::nullopt;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
    if (end != s.data() + s.size()) return std::nullopt;
    if (ec == std::errc::result_out_of_range)
      d = float_literal(s);
    else if (ec != std::errc())
      return std::nullopt;
  }
  return negative ? -d : d;
}

[[noreturn]] void int_out_of_range(const std::string& shown) {
  throw invalid_argument("int: " + (shown.size() > 40 ? shown.substr(0, 40) + "..." : shown) +
                         " is out of the 64-bit integer range (Python would give a big integer)");
}

// A float truncated toward zero as Python's int() does; inf and nan give the default, as
// Jinja2's int filter catches OverflowError and ValueError.
Value int_of_float(double d, const Value& def, const std::string& shown) {
  if (!std::isfinite(d)) return def;
  if (!fits_int64(d)) int_out_of_range(shown);
  return Value(static_cast<int64_t>(d));
}

// Jinja2's int filter: int(value, base) for strings, else int(value); on failure
// int(float(value)); on failure the default. A value Python holds as a big integer is an error.
Value parse_int(const Value& v, const Value* def_v, int64_t base) {
  Value def = def_v ? *def_v : Value(0);
  if (v.kind() == Value::Kind::kInt) return v;
  if (v.kind() == Value::Kind::kBool) return Value(int64_t(v.as_bool()));
  if (v.kind() == Value::Kind::kFloat) return int_of_float(v.as_double(), def, v.str());
  if (!v.is_string()) return def;
  std::string s = strip(v.as_string(), nullptr, true, true);
  s.erase(std::remove(s.begin(), s.end(), '_'), s.end());
  if (base >= 2 && base <= 36) {
    std::string digits = s;
    bool negative = false;
    if (!digits.empty() && (digits[0] == '+' || digits[0] == '-')) {
      negative = digits[0] == '-';
      digits.erase(0, 1);
    }
    const char prefix = base == 16 ? 'x' : base == 8 ? 'o' : base == 2 ? 'b' : 0;
    if (prefix && digits.size() > 2 && digits[0] == '0' &&
        std::tolower(static_cast<unsigned char>(digits[1])) == prefix)
      digits.erase(0, 2);
    auto is_digit = [&](char c) {
      int d = std::isdigit(static_cast<unsigned char>(c)) ? c - '0'
              : std::isalpha(static_cast<unsigned char>(c))
                  ? std::tolower(static_cast<unsigned char>(c)) - 'a' + 10
                  : 99;
      return d < base;
    };
    if (!digits.empty() && std::all_of(digits.begin(), digits.end(), is_digit)) {
      auto u = parse_integer<uint64_t>(digits, static_cast<int>(base));
      const uint64_t limit = negative ? uint64_t{1} << 63 : uint64_t{INT64_MAX};
      if (!u || *u > limit) int_out_of_range(s);
      return Value(negative ? static_cast<int64_t>(0 - *u) : static_cast<int64_t>(*u));
    }
  }
  if (auto d = python_float(s)) return int_of_float(*d, def, s);
  return def;
}

Value parse_float(const Value& v, const Value* def_v) {
  Value def = def_v ? *def_v : Value(0.0);
  if (v.is_number()) return Value(v.as_double());
  if (v.kind() == Value::Kind::kBool) return Value(v.as_bool() ? 1.0 : 0.0);
  if (v.is_string())
    if (auto d = python_float(v.as_string())) return Value(*d);
  return def;
}

// Python %-formatting and str.format with positional {} / {0} fields (what templates use).
std::string percent_format(const std::string& fmt, const List& args) {
  std::string out;
  size_t ai = 0;
  for (size_t i = 0; i < fmt.size(); ++i) {
    if (fmt[i] != '%' || i + 1 >= fmt.size()) {
      out.push_back(fmt[i]);
      continue;
    }
    char c = fmt[++i];
    if (c == '%') {
      out.push_back('%');
      continue;
    }
    if (ai >= args.size()) throw invalid_argument("not enough arguments for format string");
    const Value& a = args[ai++];
    if (c == 's')
      append_checked(out, a.str(), "'%'");
    else if (c == 'r')
      append_checked(out, a.repr(), "'%'");
    else if (c == 'd' || c == 'i')
      append_checked(out, std::to_string(parse_int(a, nullptr, 10).as_int()), "'%'");
    else if (c == 'f')
      append_checked(out, std::to_string(parse_float(a, nullptr).as_double()), "'%'");
    else
      throw invalid_argument(std::string("unsupported format character '") + c + "'");
  }
  return out;
}

std::string brace_format(const std::string& fmt, CallArgs& args) {
  std::string out;
  size_t auto_index = 0;
  for (size_t i = 0; i < fmt.size(); ++i) {
    if (fmt[i] == '{' && i + 1 < fmt.size() && fmt[i + 1] == '{') {
      out.push_back('{');
      ++i;
      continue;
    }
    if (fmt[i] == '}' && i + 1 < fmt.size() && fmt[i + 1] == '}') {
      out.push_back('}');
      ++i;
      continue;
    }
    if (fmt[i] != '{') {
      out.push_back(fmt[i]);
      continue;
    }
    size_t close = fmt.find('}', i);
    if (close == std::string::npos) throw invalid_argument("single '{' in format string");
    std::string field = fmt.substr(i + 1, close - i - 1);
    const Value* v = nullptr;
    if (field.empty())
      v = auto_index < args.positional.size() ? &args.positional[auto_index++] : nullptr;
    else if (std::all_of(field.begin(), field.end(), ::isdigit)) {
      auto k = parse_integer<size_t>(field);
      v = k && *k < args.positional.size() ? &args.positional[*k] : nullptr;
    } else {
      v = args.kwarg(field);
    }
    if (!v) throw invalid_argument("format field '{" + field + "}' has no value");
    append_checked(out, v->str(), "format");
    i = close;
  }
  return out;
}

bool run_test(const std::string& name, const Value& v, CallArgs& a, bool* known) {
  *known = true;
  const Value* arg = a.positional.empty() ? nullptr : &a.positional[0];
  auto need = [&]() -> const Value& {
    if (!arg) throw invalid_argument("test '" + name + "' needs an argument");
    return *arg;
  };
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "none") return v.is_none();
  if (name == "string") return v.is_string();
  if (name == "number") return v.is_number();
  if (name == "integer") return v.kind() == Value::Kind::kInt;
  if (name == "float") return v.kind() == Value::Kind::kFloat;
  if (name == "boolean") return v.kind() == Value::Kind::kBool;
  if (name == "true") return v.kind() == Value::Kind::kBool && v.as_bool();
  if (name == "false") return v.kind() == Value::Kind::kBool && !v.as_bool();
  if (name == "mapping") return v.is_dict();
  if (name == "iterable") return v.is_list() || v.is_dict() || v.is_string();
  if (name == "sequence") return v.is_list() || v.is_dict() || v.is_string();
  if (name == "callable") return v.is_function();
  if (name == "odd") return v.kind() == Value::Kind::kInt && (v.as_int() % 2 != 0);
  if (name == "even") return v.kind() == Value::Kind::kInt && (v.as_int() % 2 == 0);
  if (name == "divisibleby") {
    const int64_t d = need().as_int();  // -1 too: INT64_MIN % -1 traps
    return d == -1 || d == 1 || (d != 0 && v.as_int() % d == 0);
  }
  if (name == "eq" || name == "equalto" || name == "==") return v == need();
  if (name == "ne" || name == "!=") return !(v == need());
  if (name == "lt" || name == "lessthan" || name == "<") return compare(v, need()) < 0;
  if (name == "le" || name == "<=") return compare(v, need()) <= 0;
  if (name == "gt" || name == "greaterthan" || name == ">") return compare(v, need()) > 0;
  if (name == "ge" || name == ">=") return compare(v, need()) >= 0;
  if (name == "in") {
    const Value& c = need();
    if (c.is_string())
      return v.is_string() && c.as_string().find(v.as_string()) != std::string::npos;
    if (c.is_list())
      return std::any_of(c.as_list().begin(), c.as_list().end(),
                         [&](const Value& x) { return x == v; });
    if (c.is_dict()) return v.is_string() && c.as_dict().find(v.as_string());
    return false;
  }
  if (name == "sameas") return v == need() && v.kind() == need().kind();
  if (name == "lower") return v.is_string() && to_lower(v.as_string()) == v.as_string();
  if (name == "upper") return v.is_string() && to_upper(v.as_string()) == v.as_string();
  *known = false;
  return false;
}

const std::unordered_set<std::string>& filter_names() {
  static const std::unordered_set<std::string> names = {
      "trim",       "strip",    "length",      "count",    "tojson",  "items",   "selectattr",
      "rejectattr", "select",   "reject",      "map",      "join",    "default", "d",
      "upper",      "lower",    "capitalize",  "title",    "replace", "first",   "last",
      "list",       "string",   "int",         "float",    "abs",     "round",   "safe",
      "escape",     "e",        "unique",      "reverse",  "sort",    "sum",     "min",
      "max",        "indent",   "wordcount",   "dictsort", "format",  "attr",    "batch",
      "center",     "truncate", "forceescape", "pprint"};
  return names;
}

}  // namespace

bool has_filter(const std::string& name) {
  return filter_names().count(name) > 0;
}

bool apply_test(const std::string& name, const Value& input, CallArgs& args, bool* known) {
  return run_test(name, input, args, known);
}

Value apply_filter(
    const std::string& name, const Value& v, CallArgs& a,
    const std::function<Value(const std::string&, const Value&, CallArgs&)>& filter_by_name) {
  const Value* a0 = a.positional.size() > 0 ? &a.positional[0] : nullptr;
  if (name == "trim" || name == "strip")
    return Value(strip(v.str(), a.get(0, "chars"), true, true));
  if (name == "length" || name == "count") {
    if (v.is_string()) {
      size_t n = 0;
      for (unsigned char c : v.as_string()) n += (c & 0xC0) != 0x80;
      return Value(static_cast<int64_t>(n));
    }
    if (v.is_list()) return Value(static_cast<int64_t>(v.as_list().size()));
    if (v.is_dict()) return Value(static_cast<int64_t>(v.as_dict().items.size()));
    if (v.is_undefined()) return Value(0);
    throw invalid_argument(std::string("object of type '") + v.type_name() + "' has no len()");
  }
  if (name == "tojson") {
    // Beyond the size limit anyway; clamped so that the int cannot wrap.
    int indent =
        static_cast<int>(std::clamp<int64_t>(int_arg(a.get(0, "indent"), -1), -1, 1 << 30));
    bool sort_keys = a.kwarg("sort_keys") && a.kwarg("sort_keys")->truthy();
    std::string item_sep = indent >= 0 ? "," : ", ", key_sep = ": ";
    if (const Value* seps = a.kwarg("separators");
        seps && seps->is_list() && seps->as_list().size() == 2) {
      item_sep = seps->as_list()[0].str();
      key_sep = seps->as_list()[1].str();
    }
    return Value(v.to_json(indent, sort_keys, item_sep, key_sep));
  }
  if (name == "items") {
    if (v.is_undefined()) return Value(List{});
    if (!v.is_dict()) throw invalid_argument("items() needs a mapping");
    List out;
    for (const auto& [k, x] : v.as_dict().items) out.emplace_back(List{Value(k), x});
    return Value(std::move(out));
  }
  if (name == "selectattr" || name == "rejectattr" || name == "select" || name == "reject") {
    const bool by_attr = name == "selectattr" || name == "rejectattr";
    const bool keep_true = name == "selectattr" || name == "select";
    size_t next = 0;
    std::string attr;
    if (by_attr) {
      if (!a0) throw invalid_argument(name + " needs an attribute name");
      attr = a0->str();
      next = 1;
    }
    std::string test = next < a.positional.size() ? a.positional[next].str() : "";
    CallArgs targs;
    for (size_t k = next + 1; k < a.positional.size(); ++k)
      targs.positional.push_back(a.positional[k]);
    List out;
    for (const auto& item : items_of(v)) {
      Value x = by_attr ? attribute_of(item, attr) : item;
      bool r;
      if (test.empty()) {
        r = x.truthy();
      } else {
        bool known = true;
        r = run_test(test, x, targs, &known);
        if (!known) throw invalid_argument("unsupported test '" + test + "'");
      }
      if (r == keep_true) out.push_back(item);
    }
    return Value(std::move(out));
  }
  if (name == "map") {
    List out;
    if (const Value* attr = a.kwarg("attribute")) {
      const Value* def = a.kwarg("default");
      for (const auto& item : items_of(v)) {
        Value x = attribute_of(item, attr->str());
        out.push_back(x.is_undefined() && def ? *def : x);
      }
      return Value(std::move(out));
    }
    if (!a0) throw invalid_argument("map needs a filter name or attribute=");
    std::string f = a0->str();
    CallArgs fargs;
    fargs.positional.assign(a.positional.begin() + 1, a.positional.end());
    fargs.keyword = a.keyword;
    for (const auto& item : items_of(v)) out.push_back(filter_by_name(f, item, fargs));
    return Value(std::move(out));
  }
  if (name == "join") {
    std::string sep = a.get(0, "d") ? a.get(0, "d")->str() : "";
    const Value* attr = a.get(1, "attribute");
    std::string out;
    bool first = true;
    for (const auto& item : items_of(v)) {
      append_checked(
          out, (first ? "" : sep) + (attr ? attribute_of(item, attr->str()).str() : item.str()),
          "join");
      first = false;
    }
    return Value(out);
  }
  if (name == "default" || name == "d") {
    bool boolean = a.get(1, "boolean") && a.get(1, "boolean")->truthy();
    bool use_default = v.is_undefined() || (boolean && !v.truthy());
    if (!use_default) return v;
    const Value* def = a.get(0, "default_value");
    return def ? *def : Value("");
  }
  if (name == "upper") return Value(to_upper(v.str()));
  if (name == "lower") return Value(to_lower(v.str()));
  if (name == "capitalize") return Value(capitalize(v.str()));
  if (name == "title") return Value(title(v.str()));
  if (name == "replace") {
    if (a.positional.size() < 2) throw invalid_argument("replace needs old and new");
    return Value(replace_all(v.str(), a.positional[0].str(), a.positional[1].str(),
                             int_arg(a.get(2, "count"), -1)));
  }
  if (name == "first" || name == "last") {
    List l = items_of(v);
    if (l.empty()) return Value::undefined(name);
    return name == "first" ? l.front() : l.back();
  }
  if (name == "list") return Value(items_of(v));
  if (name == "string") return Value(v.str());
  if (name == "int") return parse_int(v, a.get(0, "default"), int_arg(a.get(1, "base"), 10));
  if (name == "float") return parse_float(v, a.get(0, "default"));
  if (name == "abs") {
    if (v.kind() == Value::Kind::kInt) {
      if (v.as_int() == std::numeric_limits<int64_t>::min())
        throw invalid_argument("abs(" + v.str() + ") is out of the 64-bit integer range");
      return Value(v.as_int() < 0 ? -v.as_int() : v.as_int());
    }
    return Value(std::fabs(v.as_double()));
  }
  if (name == "round") {
    int64_t precision = int_arg(a.get(0, "precision"), 0);
    std::string method = a.get(1, "method") ? a.get(1, "method")->str() : "common";
    double scale = std::pow(10.0, static_cast<double>(precision)), x = v.as_double() * scale;
    double r = method == "ceil" ? std::ceil(x) : method == "floor" ? std::floor(x) : std::round(x);
    return Value(r / scale);
  }
  if (name == "safe" || name == "pprint") return name == "safe" ? v : Value(v.repr());
  if (name == "escape" || name == "e" || name == "forceescape") {
    std::string out;
    for (char c : v.str()) {
      switch (c) {
        case '&':
          out += "&amp;";
          break;
        case '<':
          out += "&lt;";
          break;
        case '>':
          out += "&gt;";
          break;
        case '"':
          out += "&#34;";
          break;
        case '\'':
          out += "&#39;";
          break;
        default:
          out.push_back(c);
      }
    }
    return Value(out);
  }
  if (name == "unique") {
    List out;
    for (const auto& item : items_of(v))
      if (std::none_of(out.begin(), out.end(), [&](const Value& x) { return x == item; }))
        out.push_back(item);
    return Value(std::move(out));
  }
  if (name == "reverse") {
    if (v.is_string()) {
      List chars = items_of(v);
      std::string out;
      for (auto it = chars.rbegin(); it != chars.rend(); ++it) out += it->as_string();
      return Value(out);
    }
    List l = items_of(v);
    std::reverse(l.begin(), l.end());
    return Value(std::move(l));
  }
  if (name == "sort") {
    List l = items_of(v);
    bool reverse = a.get(0, "reverse") && a.get(0, "reverse")->truthy();
    const Value* attr = a.get(2, "attribute");
    std::stable_sort(l.begin(), l.end(), [&](const Value& x, const Value& y) {
      Value kx = attr ? attribute_of(x, attr->str()) : x,
            ky = attr ? attribute_of(y, attr->str()) : y;
      return reverse ? compare(ky, kx) < 0 : compare(kx, ky) < 0;
    });
    return Value(std::move(l));
  }
  if (name == "sum") {
    const Value* attr = a.get(0, "attribute");
    Value total = a.get(1, "start") ? *a.get(1, "start") : Value(0);
    for (const auto& item : items_of(v)) {
      Value x = attr ? attribute_of(item, attr->str()) : item;
      int64_t sum = 0;
      if (total.kind() == Value::Kind::kInt && x.kind() == Value::Kind::kInt) {
        if (__builtin_add_overflow(total.as_int(), x.as_int(), &sum))
          throw invalid_argument("integer overflow: the sum is out of the 64-bit range");
        total = Value(sum);
      } else
        total = Value(total.as_double() + x.as_double());
    }
    return total;
  }
  if (name == "min" || name == "max") {
    List l = items_of(v);
    if (l.empty()) return Value::undefined(name);
    Value best = l[0];
    for (const auto& x : l)
      if (name == "min" ? compare(x, best) < 0 : compare(x, best) > 0) best = x;
    return best;
  }
  if (name == "indent") {
    // width: a number of spaces (Python's ' ' * width: none when negative) or the indent text.
    const Value* width_v = a.get(0, "width");
    std::string pad;
    if (width_v && width_v->is_string()) {
      pad = width_v->as_string();
    } else {
      const int64_t width = int_arg(width_v, 4);
      if (width > 0) {
        check_string_size(static_cast<uint64_t>(width), "indent");
        pad.assign(static_cast<size_t>(width), ' ');
      }
    }
    bool first = a.get(1, "first") && a.get(1, "first")->truthy();
    bool blank = a.get(2, "blank") && a.get(2, "blank")->truthy();
    std::string s = v.str(), out;
    size_t pos = 0;
    bool line_one = true;
    while (pos <= s.size()) {
      size_t nl = s.find('\n', pos);
      std::string line = s.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
      bool indent_it = (line_one ? first : true) && (blank || !line.empty());
      append_checked(out, (indent_it ? pad : "") + line, "indent");
      if (nl == std::string::npos) break;
      out += "\n";
      pos = nl + 1;
      line_one = false;
    }
    return Value(out);
  }
  if (name == "wordcount") return Value(static_cast<int64_t>(split(v.str(), nullptr, -1).size()));
  if (name == "dictsort") {
    if (!v.is_dict()) throw invalid_argument("dictsort needs a mapping");
    auto items = v.as_dict().items;
    std::stable_sort(items.begin(), items.end(),
                     [](auto& x, auto& y) { return x.first < y.first; });
    List out;
    for (auto& [k, x] : items) out.emplace_back(List{Value(k), x});
    return Value(std::move(out));
  }
  if (name == "format") {
    if (!v.is_string()) throw invalid_argument("format needs a string");
    return Value(percent_format(v.as_string(), a.positional));
  }
  if (name == "attr") return a0 ? attribute_of(v, a0->str()) : Value::undefined();
  if (name == "batch") {
    int64_t size = int_arg(a0, 1);
    if (size <= 0) throw invalid_argument("batch size must be positive");
    List out, cur;
    for (const auto& item : items_of(v)) {
      cur.push_back(item);
      if (static_cast<int64_t>(cur.size()) == size) {
        out.emplace_back(std::move(cur));
        cur.clear();
      }
    }
    if (!cur.empty()) out.emplace_back(std::move(cur));
    return Value(std::move(out));
  }
  if (name == "center") {
    int64_t width = int_arg(a0, 80);
    std::string s = v.str();
    if (static_cast<int64_t>(s.size()) >= width) return Value(s);
    check_string_size(static_cast<uint64_t>(width), "center");
    size_t total = static_cast<size_t>(width) - s.size(), left = total / 2;
    return Value(std::string(left, ' ') + s + std::string(total - left, ' '));
  }
  if (name == "truncate") {
    int64_t length = int_arg(a.get(0, "length"), 255);
    std::string s = v.str();
    if (static_cast<int64_t>(s.size()) <= length) return Value(s);
    return Value(s.substr(0, static_cast<size_t>(std::max<int64_t>(0, length - 3))) + "...");
  }
  throw invalid_argument("unsupported filter '" + name + "'");
}

Value method(const Value& obj, const std::string& name) {
  if (obj.is_string()) {
    // Closures hold the Value (its shared text), not a copy of the string.
    const Value self = obj;
    if (name == "strip" || name == "lstrip" || name == "rstrip")
      return Value::function(name, [self, name](CallArgs& a) {
        const std::string& s = self.as_string();
        return Value(strip(s, a.get(0, "chars"), name != "rstrip", name != "lstrip"));
      });
    if (name == "split")
      return Value::function(name, [self](CallArgs& a) {
        const std::string& s = self.as_string();
        return Value(split(s, a.get(0, "sep"), int_arg(a.get(1, "maxsplit"), -1)));
      });
    if (name == "startswith" || name == "endswith")
      return Value::function(name, [self, name](CallArgs& a) {
        const std::string& s = self.as_string();
        const Value* p = a.get(0, "prefix");
        if (!p) throw invalid_argument(name + " needs an argument");
        List options = p->is_list() ? p->as_list() : List{*p};
        for (const auto& o : options) {
          const std::string& x = o.as_string();
          bool hit = name == "startswith"
                         ? s.rfind(x, 0) == 0
                         : s.size() >= x.size() && s.compare(s.size() - x.size(), x.size(), x) == 0;
          if (hit) return Value(true);
        }
        return Value(false);
      });
    if (name == "upper")
      return Value::function(name, [self](CallArgs&) {
        const std::string& s = self.as_string();
        return Value(to_upper(s));
      });
    if (name == "lower")
      return Value::function(name, [self](CallArgs&) {
        const std::string& s = self.as_string();
        return Value(to_lower(s));
      });
    if (name == "title")
      return Value::function(name, [self](CallArgs&) {
        const std::string& s = self.as_string();
        return Value(title(s));
      });
    if (name == "capitalize")
      return Value::function(name, [self](CallArgs&) {
        const std::string& s = self.as_string();
        return Value(capitalize(s));
      });
    if (name == "replace")
      return Value::function(name, [self](CallArgs& a) {
        const std::string& s = self.as_string();
        if (a.positional.size() < 2) throw invalid_argument("replace needs old and new");
        return Value(replace_all(s, a.positional[0].str(), a.positional[1].str(),
                                 int_arg(a.get(2, "count"), -1)));
      });
    if (name == "format")
      return Value::function(name, [self](CallArgs& a) {
        const std::string& s = self.as_string();
        return Value(brace_format(s, a));
      });
    if (name == "join")
      return Value::function(name, [self](CallArgs& a) {
        const std::string& s = self.as_string();
        std::string out;
        bool first = true;
        for (const auto& x : items_of(a.positional.empty() ? Value(List{}) : a.positional[0])) {
          append_checked(out, (first ? "" : s) + x.str(), "join");
          first = false;
        }
        return Value(out);
      });
    if (name == "find" || name == "count")
      return Value::function(name, [self, name](CallArgs& a) {
        const std::string& s = self.as_string();
        std::string sub = a.positional.empty() ? "" : a.positional[0].str();
        if (name == "find") {
          size_t at = s.find(sub);
          return Value(at == std::string::npos ? int64_t{-1} : static_cast<int64_t>(at));
        }
        int64_t n = 0;
        for (size_t at = s.find(sub); !sub.empty() && at != std::string::npos;
             at = s.find(sub, at + sub.size()))
          ++n;
        return Value(n);
      });
    if (name == "isdigit" || name == "isalpha" || name == "isspace" || name == "isalnum")
      return Value::function(name, [self, name](CallArgs&) {
        const std::string& s = self.as_string();
        if (s.empty()) return Value(false);
        for (unsigned char c : s) {
          bool ok = name == "isdigit"   ? std::isdigit(c)
                    : name == "isalpha" ? std::isalpha(c)
                    : name == "isspace" ? std::isspace(c)
                                        : std::isalnum(c);
          if (!ok) return Value(false);
        }
        return Value(true);
      });
    return Value::undefined(name);
  }
  if (obj.is_dict()) {
    if (name == "items")
      return Value::function(name, [obj](CallArgs&) {
        List out;
        for (const auto& [k, x] : obj.as_dict().items) out.emplace_back(List{Value(k), x});
        return Value(std::move(out));
      });
    if (name == "keys")
      return Value::function(name, [obj](CallArgs&) {
        List out;
        for (const auto& [k, _] : obj.as_dict().items) out.emplace_back(k);
        return Value(std::move(out));
      });
    if (name == "values")
      return Value::function(name, [obj](CallArgs&) {
        List out;
        for (const auto& [_, x] : obj.as_dict().items) out.push_back(x);
        return Value(std::move(out));
      });
    if (name == "get")
      return Value::function(name, [obj](CallArgs& a) {
        if (a.positional.empty()) throw invalid_argument("get needs a key");
        if (a.positional[0].is_string())
          if (const Value* v = obj.as_dict().find(a.positional[0].as_string())) return *v;
        return a.positional.size() > 1 ? a.positional[1] : Value::none();
      });
    return Value::undefined(name);
  }
  if (obj.is_list()) {
    if (name == "append" || name == "extend" || name == "pop" || name == "insert" ||
        name == "remove")
      return Value::function(name, [name](CallArgs&) -> Value {
        throw invalid_argument(
            "lists are immutable in chat templates (as in transformers' sandbox): cannot call " +
            name);
      });
    if (name == "index" || name == "count")
      return Value::function(name, [obj, name](CallArgs& a) {
        if (a.positional.empty()) throw invalid_argument(name + " needs an argument");
        const List& l = obj.as_list();
        int64_t n = 0;
        for (size_t i = 0; i < l.size(); ++i) {
          if (l[i] == a.positional[0]) {
            if (name == "index") return Value(static_cast<int64_t>(i));
            ++n;
          }
        }
        if (name == "index") throw invalid_argument("value is not in list");
        return Value(n);
      });
  }
  return Value::undefined(name);
}

void add_global_functions(Dict& g) {
  g.set("raise_exception", Value::function("raise_exception", [](CallArgs& a) -> Value {
          throw TemplateRaised(a.positional.empty() ? "raise_exception() called"
                                                    : a.positional[0].str());
        }));
  g.set("namespace", Value::function("namespace", [](CallArgs& a) {
          Dict d;
          for (const auto& p : a.positional)
            if (p.is_dict()) d.items = p.as_dict().items;
          for (const auto& [k, v] : a.keyword) d.set(k, v);
          return Value::namespace_object(std::move(d));
        }));
  g.set("range", Value::function("range", [](CallArgs& a) {
          int64_t start = 0, stop = 0, step = 1;
          if (a.positional.size() == 1)
            stop = int_arg(&a.positional[0], 0);
          else if (a.positional.size() >= 2) {
            start = int_arg(&a.positional[0], 0);
            stop = int_arg(&a.positional[1], 0);
            if (a.positional.size() >= 3) step = int_arg(&a.positional[2], 1);
          }
          if (step == 0) throw invalid_argument("range() step must not be zero");
          // Item count in 128 bits (the span of two int64 values does not fit in 64).
          const __int128 span = static_cast<__int128>(stop) - start;
          __int128 count = 0;
          if (step > 0 && span > 0) count = (span + step - 1) / step;
          if (step < 0 && span < 0)
            count = (-span + (-static_cast<__int128>(step)) - 1) / -static_cast<__int128>(step);
          check_list_size(
              count > (__int128{1} << 62) ? uint64_t{1} << 62 : static_cast<uint64_t>(count),
              "range()");
          List out;
          out.reserve(static_cast<size_t>(count));
          for (__int128 k = 0; k < count; ++k)
            out.emplace_back(static_cast<int64_t>(start + k * step));
          return Value(std::move(out));
        }));
  g.set("dict", Value::function("dict", [](CallArgs& a) {
          Dict d;
          for (const auto& p : a.positional)
            if (p.is_dict()) d.items = p.as_dict().items;
          for (const auto& [k, v] : a.keyword) d.set(k, v);
          return Value(std::move(d));
        }));
  g.set("strftime_now", Value::function("strftime_now", [](CallArgs& a) {
          std::string fmt = a.positional.empty() ? "%Y-%m-%d" : a.positional[0].str();
          std::time_t t = std::time(nullptr);
          std::tm tm{};
          localtime_r(&t, &tm);
          char buf[256];
          size_t n = std::strftime(buf, sizeof(buf), fmt.c_str(), &tm);
          return Value(std::string(buf, n));
        }));
}

}  // namespace corelm::jinja
