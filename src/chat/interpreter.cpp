#include "chat/interpreter.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <unordered_map>

#include "base/utf8.h"
#include "chat/lexer.h"
#include "chat/limits.h"

namespace corelm::jinja {

namespace {

enum class Flow { kNormal, kBreak, kContinue };

class Interpreter {
 public:
  Interpreter(const Dict& globals, RenderBudget& budget) : budget_(budget) {
    scopes_.emplace_back();
    for (const auto& [k, v] : globals.items) scopes_.back()[k] = v;
  }

  std::string run(const Body& body) {
    std::string out;
    exec(body, out);
    return out;
  }

 private:
  using Scope = std::unordered_map<std::string, Value>;

  [[noreturn]] static void error(const std::string& msg, int line, int col) {
    throw TemplateError(msg, line, col);
  }

  Value lookup(const std::string& name) const {
    for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it) {
      auto f = it->find(name);
      if (f != it->end()) return f->second;
    }
    return Value::undefined(name);
  }

  Flow exec(const Body& body, std::string& out) {
    for (const auto& st : body) {
      Flow f = exec(*st, out);
      if (f != Flow::kNormal) return f;
    }
    return Flow::kNormal;
  }

  // Bounds recursion of exec / eval / macro calls together: each level takes stack.
  struct Nest {
    Nest(Interpreter& in, int line, int col) : in(in) {
      if (++in.nesting_ > kMaxEvalNesting) {
        --in.nesting_;
        error("the template nests statements, expressions and macro calls more than " +
                  std::to_string(kMaxEvalNesting) + " deep",
              line, col);
      }
    }
    ~Nest() { --in.nesting_; }
    Interpreter& in;
  };

  // Appends rendered text, refusing to grow a buffer past max_output_bytes.
  void emit(std::string& out, const std::string& text, const Stmt& st) {
    const int64_t max = budget_.limits().max_output_bytes;
    if (static_cast<uint64_t>(out.size()) + text.size() > static_cast<uint64_t>(max))
      error("the rendered text would exceed " + std::to_string(max) +
                " bytes (ChatTemplateLimits::max_output_bytes)",
            st.line, st.column);
    budget_.step(static_cast<int64_t>(text.size() / 256));
    out += text;
  }

  // A loop iteration builds its scope and `loop` object: it costs about as much as this many
  // simple expressions, and counts so (max_steps then bounds time, not just node visits).
  static constexpr int64_t kIterationSteps = 8;

  void step(int line, int col, int64_t n = 1) {
    try {
      budget_.step(n);
    } catch (const LimitExceeded& e) {
      error(e.what(), line, col);
    }
  }

  Flow exec(const Stmt& st, std::string& out) {
    Nest nest(*this, st.line, st.column);
    step(st.line, st.column);
    switch (st.kind) {
      case Stmt::Kind::kText:
        emit(out, st.text, st);
        return Flow::kNormal;
      case Stmt::Kind::kOutput:
        emit(out, eval(*st.expr).str(), st);
        return Flow::kNormal;
      case Stmt::Kind::kIf:
        for (const auto& [cond, body] : st.branches)
          if (!cond || eval(*cond).truthy()) return exec(body, out);
        return Flow::kNormal;
      case Stmt::Kind::kFor:
        return exec_for(st, out);
      case Stmt::Kind::kSet:
        assign(st, eval(*st.expr));
        return Flow::kNormal;
      case Stmt::Kind::kSetBlock: {
        std::string captured;
        exec(st.body, captured);
        assign(st, Value(captured));
        return Flow::kNormal;
      }
      case Stmt::Kind::kMacro:
        define_macro(st);
        return Flow::kNormal;
      case Stmt::Kind::kBreak:
        return Flow::kBreak;
      case Stmt::Kind::kContinue:
        return Flow::kContinue;
      case Stmt::Kind::kBlock:
        return exec(st.body, out);
      case Stmt::Kind::kFilterBlock: {
        std::string captured;
        Flow f = exec(st.body, captured);
        CallArgs none;
        emit(out, call_filter(st.text, Value(captured), none, st.line, st.column).str(), st);
        return f;
      }
    }
    return Flow::kNormal;
  }

  void assign(const Stmt& st, Value v) {
    if (st.targets.size() == 1) {
      scopes_.back()[st.targets[0]] = std::move(v);
      return;
    }
    Value ns = lookup(st.targets[0]);
    if (!ns.is_namespace())
      error("cannot assign attribute '" + st.targets[1] + "' of '" + st.targets[0] +
                "': not a namespace()",
            st.line, st.column);
    // A namespace inside a namespace could make a cycle (ns.self = ns) that str(), tojson and
    // == would follow forever, or nest values past every depth check.
    if (v.holds_namespace())
      error("cannot store a namespace() inside the namespace '" + st.targets[0] + "'", st.line,
            st.column);
    ns.mutable_dict().set(st.targets[1], std::move(v));
  }

  static List iterate(const Value& v, int line, int col) {
    try {
      return items_of(v);
    } catch (const std::exception& e) {
      throw TemplateError(e.what(), line, col);
    }
  }

  Flow exec_for(const Stmt& st, std::string& out) {
    List items = iterate(eval(*st.expr), st.expr->line, st.expr->column);
    // The optional "if" filters items before loop indices are assigned, as in Jinja.
    if (st.filter) {
      List kept;
      for (auto& item : items) {
        step(st.line, st.column);
        scopes_.emplace_back();
        bind_targets(st, item);
        bool keep = eval(*st.filter).truthy();
        scopes_.pop_back();
        if (keep) kept.push_back(std::move(item));
      }
      items = std::move(kept);
    }
    if (items.empty()) return exec(st.else_body, out);
    const int64_t n = static_cast<int64_t>(items.size());
    for (int64_t i = 0; i < n; ++i) {
      step(st.line, st.column, kIterationSteps);
      scopes_.emplace_back();
      bind_targets(st, items[static_cast<size_t>(i)]);
      // Distinct keys: appended directly (Dict::set would search each time).
      Dict loop;
      loop.items.reserve(12);
      auto put = [&loop](const char* key, Value v) { loop.items.emplace_back(key, std::move(v)); };
      put("index", Value(i + 1));
      put("index0", Value(i));
      put("revindex", Value(n - i));
      put("revindex0", Value(n - i - 1));
      put("first", Value(i == 0));
      put("last", Value(i == n - 1));
      put("length", Value(n));
      put("depth", Value(1));
      put("depth0", Value(0));
      put("previtem", i > 0 ? items[static_cast<size_t>(i - 1)] : Value::undefined("previtem"));
      put("nextitem", i + 1 < n ? items[static_cast<size_t>(i + 1)] : Value::undefined("nextitem"));
      put("cycle", Value::function("cycle", [i](CallArgs& a) {
            if (a.positional.empty()) return Value::undefined("cycle");
            return a.positional[static_cast<size_t>(i) % a.positional.size()];
          }));
      scopes_.back()["loop"] = Value(std::move(loop));
      Flow f = exec(st.body, out);
      scopes_.pop_back();
      if (f == Flow::kBreak) break;
    }
    return Flow::kNormal;
  }

  void bind_targets(const Stmt& st, const Value& item) {
    if (st.targets.size() == 1) {
      scopes_.back()[st.targets[0]] = item;
      return;
    }
    List parts = iterate(item, st.line, st.column);
    if (parts.size() != st.targets.size())
      error("cannot unpack " + std::to_string(parts.size()) + " values into " +
                std::to_string(st.targets.size()) + " loop variables",
            st.line, st.column);
    for (size_t k = 0; k < parts.size(); ++k) scopes_.back()[st.targets[k]] = parts[k];
  }

  void define_macro(const Stmt& st) {
    const Stmt* def = &st;
    scopes_.back()[st.text] = Value::function(st.text, [this, def](CallArgs& args) {
      if (calls_ >= budget_.limits().max_call_depth)
        throw LimitExceeded("macro calls nested more than " +
                            std::to_string(budget_.limits().max_call_depth) +
                            " deep (ChatTemplateLimits::max_call_depth)");
      struct Call {
        explicit Call(int& n) : n(n) { ++n; }
        ~Call() { --n; }
        int& n;
      } call(calls_);
      Scope frame;
      size_t used = 0;
      for (size_t p = 0; p < def->params.size(); ++p) {
        const auto& [name, default_expr] = def->params[p];
        if (const Value* v = args.get(p, name)) {
          frame[name] = *v;
          ++used;
        } else if (default_expr) {
          frame[name] = eval(*default_expr);
        } else {
          frame[name] = Value::undefined(name);
        }
      }
      (void)used;
      // A macro sees the template's globals and its arguments, not the caller's locals.
      std::vector<Scope> saved;
      saved.swap(scopes_);
      scopes_.push_back(saved.front());
      scopes_.push_back(std::move(frame));
      std::string out;
      try {
        exec(def->body, out);
      } catch (...) {
        scopes_.swap(saved);
        throw;
      }
      // Macros defined or globals set at top level inside the macro stay local, as in Jinja.
      scopes_.swap(saved);
      return Value(out);
    });
  }

  Value call_filter(const std::string& name, const Value& input, CallArgs& args, int line,
                    int col) {
    // map('map', 'map', ...) recurses once per argument: bounded like any other nesting.
    Nest nest(*this, line, col);
    if (!has_filter(name)) error("unsupported filter '" + name + "'", line, col);
    try {
      return apply_filter(name, input, args,
                          [&](const std::string& n, const Value& v, CallArgs& a) {
                            return call_filter(n, v, a, line, col);
                          });
    } catch (const TemplateError&) {
      throw;
    } catch (const TemplateRaised&) {
      throw;
    } catch (const std::exception& e) {
      error("filter '" + name + "': " + e.what(), line, col);
    }
  }

  CallArgs eval_args(const Expr& e) {
    CallArgs a;
    for (const auto& item : e.items) a.positional.push_back(eval(*item));
    for (const auto& [k, v] : e.kwargs) a.keyword.emplace_back(k, eval(*v));
    return a;
  }

  Value eval(const Expr& e) {
    Nest nest(*this, e.line, e.column);
    try {
      budget_.step();
      return eval_inner(e);
    } catch (const TemplateError&) {
      throw;
    } catch (const TemplateRaised&) {
      throw;
    } catch (const std::exception& ex) {
      error(ex.what(), e.line, e.column);
    }
  }

  Value eval_inner(const Expr& e) {
    switch (e.kind) {
      case Expr::Kind::kLiteral:
        return e.literal;
      case Expr::Kind::kName:
        return lookup(e.name);
      case Expr::Kind::kList:
      case Expr::Kind::kTuple: {
        List l;
        for (const auto& item : e.items) l.push_back(eval(*item));
        return Value(std::move(l));
      }
      case Expr::Kind::kDict: {
        Dict d;
        for (size_t k = 0; k + 1 < e.items.size(); k += 2) {
          Value key = eval(*e.items[k]);
          if (!key.is_string())
            error("dict keys must be strings in chat templates", e.line, e.column);
          d.set(key.as_string(), eval(*e.items[k + 1]));
        }
        return Value(std::move(d));
      }
      case Expr::Kind::kAttr:
        return get_attr(eval(*e.a), e.name, e);
      case Expr::Kind::kItem:
        return get_item(eval(*e.a), eval(*e.b), e);
      case Expr::Kind::kSlice:
        return slice(e);
      case Expr::Kind::kCall: {
        Value fn = eval(*e.a);
        if (!fn.is_function()) {
          if (fn.is_undefined()) error("'" + fn.name() + "' is undefined", e.line, e.column);
          error(std::string("'") + fn.type_name() + "' object is not callable", e.line, e.column);
        }
        CallArgs args = eval_args(e);
        return fn.as_function()(args);
      }
      case Expr::Kind::kFilter: {
        Value input = eval(*e.a);
        CallArgs args = eval_args(e);
        return call_filter(e.name, input, args, e.line, e.column);
      }
      case Expr::Kind::kTest: {
        Value input =
            e.name == "defined" || e.name == "undefined" ? eval_lenient(*e.a) : eval(*e.a);
        CallArgs args = eval_args(e);
        bool known = true;
        bool r = apply_test(e.name, input, args, &known);
        if (!known) error("unsupported test '" + e.name + "'", e.line, e.column);
        return Value(e.negated ? !r : r);
      }
      case Expr::Kind::kUnary: {
        Value v = eval(*e.a);
        if (e.name == "not") return Value(!v.truthy());
        if (v.kind() == Value::Kind::kInt) {
          if (e.name == "-" && v.as_int() == std::numeric_limits<int64_t>::min())
            error("integer overflow: -(" + v.str() + ") is out of the 64-bit range", e.line,
                  e.column);
          return Value(e.name == "-" ? -v.as_int() : v.as_int());
        }
        if (v.kind() == Value::Kind::kFloat)
          return Value(e.name == "-" ? -v.as_double() : v.as_double());
        error(std::string("bad operand type for unary ") + e.name + ": '" + v.type_name() + "'",
              e.line, e.column);
      }
      case Expr::Kind::kBinary:
        return binary(e);
      case Expr::Kind::kCond:
        if (eval(*e.a).truthy()) return eval(*e.b);
        return e.c ? eval(*e.c) : Value::undefined();
    }
    return Value();
  }

  // `x.y is defined` must not fail when x itself lacks y.
  Value eval_lenient(const Expr& e) {
    if (e.kind == Expr::Kind::kAttr || e.kind == Expr::Kind::kItem) {
      Value obj = eval_lenient(*e.a);
      if (obj.is_undefined()) return obj;
      if (e.kind == Expr::Kind::kAttr) return get_attr(obj, e.name, e);
      return get_item(obj, eval(*e.b), e);
    }
    return eval(e);
  }

  Value get_attr(const Value& obj, const std::string& name, const Expr& e) {
    if (obj.is_undefined()) error("'" + obj.name() + "' is undefined", e.line, e.column);
    if (obj.is_dict()) {
      if (!obj.is_namespace()) {
        Value m = method(obj, name);
        if (!m.is_undefined()) return m;
      }
      if (const Value* v = obj.as_dict().find(name)) return *v;
      return Value::undefined(name);
    }
    Value m = method(obj, name);
    if (!m.is_undefined()) return m;
    return Value::undefined(name);
  }

  Value get_item(const Value& obj, const Value& key, const Expr& e) {
    if (obj.is_undefined()) error("'" + obj.name() + "' is undefined", e.line, e.column);
    if (obj.is_dict()) {
      if (key.is_string())
        if (const Value* v = obj.as_dict().find(key.as_string())) return *v;
      return Value::undefined(key.str());
    }
    if ((obj.is_list() || obj.is_string()) && key.kind() == Value::Kind::kInt) {
      int64_t n = obj.is_list() ? static_cast<int64_t>(obj.as_list().size())
                                : static_cast<int64_t>(obj.as_string().size());
      int64_t i = key.as_int() < 0 ? key.as_int() + n : key.as_int();
      if (i < 0 || i >= n) return Value::undefined("index " + key.str());
      if (obj.is_list()) return obj.as_list()[static_cast<size_t>(i)];
      return Value(obj.as_string().substr(static_cast<size_t>(i), 1));
    }
    if (key.is_string()) return get_attr(obj, key.as_string(), e);
    return Value::undefined(key.str());
  }

  Value slice(const Expr& e) {
    Value obj = eval(*e.a);
    auto opt = [&](const ExprPtr& p) -> std::optional<int64_t> {
      if (!p) return std::nullopt;
      Value v = eval(*p);
      if (v.is_none()) return std::nullopt;
      if (v.kind() != Value::Kind::kInt) error("slice indices must be integers", e.line, e.column);
      return v.as_int();
    };
    auto start = opt(e.b), stop = opt(e.items[0]), step_opt = opt(e.items[1]);
    int64_t step = step_opt.value_or(1);
    if (step == 0) error("slice step cannot be zero", e.line, e.column);
    if (!obj.is_list() && !obj.is_string())
      error(std::string("'") + obj.type_name() + "' object is not subscriptable", e.line, e.column);
    // A string slices by code point (Python's str); its characters' byte offsets, unless ASCII.
    std::vector<size_t> offsets;
    const std::string* text = obj.is_string() ? &obj.as_string() : nullptr;
    const bool ascii = text && std::all_of(text->begin(), text->end(), [](char c) {
                         return static_cast<unsigned char>(c) < 0x80;
                       });
    if (text && !ascii) {
      for (size_t i = 0; i < text->size();) {
        size_t len = 0;
        utf8::decode(*text, i, &len);
        offsets.push_back(i);
        i += len;
      }
      offsets.push_back(text->size());
    }
    const int64_t n = !text   ? static_cast<int64_t>(obj.as_list().size())
                      : ascii ? static_cast<int64_t>(text->size())
                              : static_cast<int64_t>(offsets.size()) - 1;
    auto clamp = [&](std::optional<int64_t> v, int64_t def) {
      if (!v) return def;
      int64_t x = *v < 0 ? *v + n : *v;  // *v >= INT64_MIN and n >= 0: no overflow
      if (step > 0) return std::clamp<int64_t>(x, 0, n);
      return std::clamp<int64_t>(x, -1, n - 1);
    };
    const int64_t b = clamp(start, step > 0 ? 0 : n - 1), en = clamp(stop, step > 0 ? n : -1);
    // Visits b, b+step, ... before en; the step may be huge, so advance only while in range.
    auto each = [&](auto&& visit) {
      for (int64_t i = b; step > 0 ? i < en : i > en;) {
        visit(static_cast<size_t>(i));
        if (step > 0 ? en - i <= step : (i - en) + step <= 0) break;
        i += step;
      }
    };
    if (text) {
      std::string out;
      each([&](size_t k) {
        if (ascii)
          out.push_back((*text)[k]);
        else
          out.append(*text, offsets[k], offsets[k + 1] - offsets[k]);
      });
      charge_bytes(out.size());
      return Value(std::move(out));
    }
    List out;
    each([&](size_t k) { out.push_back(obj.as_list()[k]); });
    charge_work(static_cast<int64_t>(out.size() / 8));
    return Value(std::move(out));
  }

  static std::string concat(const std::string& a, const std::string& b) {
    check_string_size(static_cast<uint64_t>(a.size()) + b.size(), "concatenation");
    return a + b;
  }

  static Value repeat(const Value& seq, int64_t times) {
    if (times <= 0 || (seq.is_string() && seq.as_string().empty()) ||
        (seq.is_list() && seq.as_list().empty()))
      return seq.is_string() ? Value("") : Value(List{});
    const auto n = static_cast<uint64_t>(times);
    if (seq.is_string()) {
      const std::string& s = seq.as_string();
      if (!s.empty() && n > (uint64_t{1} << 62) / s.size())
        check_string_size(uint64_t{1} << 62, "'*'");
      check_string_size(s.size() * n, "'*'");
      std::string out;
      out.reserve(s.size() * n);
      for (uint64_t i = 0; i < n; ++i) out += s;
      return Value(std::move(out));
    }
    const List& l = seq.as_list();
    if (!l.empty() && n > (uint64_t{1} << 62) / l.size()) check_list_size(uint64_t{1} << 62, "'*'");
    check_list_size(l.size() * n, "'*'");
    List out;
    out.reserve(l.size() * n);
    for (uint64_t i = 0; i < n && !l.empty(); ++i) out.insert(out.end(), l.begin(), l.end());
    return Value(std::move(out));
  }

  Value binary(const Expr& e) {
    const std::string& op = e.name;
    if (op == "and") {
      Value l = eval(*e.a);
      return l.truthy() ? eval(*e.b) : l;
    }
    if (op == "or") {
      Value l = eval(*e.a);
      return l.truthy() ? l : eval(*e.b);
    }
    Value l = eval(*e.a), r = eval(*e.b);
    auto type_error = [&] {
      error("unsupported operand types for " + op + ": '" + l.type_name() + "' and '" +
                r.type_name() + "'",
            e.line, e.column);
    };
    if (op == "==") return Value(l == r);
    if (op == "!=") return Value(!(l == r));
    if (op == "<") return Value(compare(l, r) < 0);
    if (op == ">") return Value(compare(l, r) > 0);
    if (op == "<=") return Value(compare(l, r) <= 0);
    if (op == ">=") return Value(compare(l, r) >= 0);
    if (op == "in" || op == "not in") {
      bool found = false;
      if (r.is_string()) {
        if (!l.is_string()) type_error();
        found = r.as_string().find(l.as_string()) != std::string::npos;
      } else if (r.is_list()) {
        for (const auto& x : r.as_list()) found = found || x == l;
      } else if (r.is_dict()) {
        found = l.is_string() && r.as_dict().find(l.as_string()) != nullptr;
      } else if (r.is_undefined()) {
        error("'" + r.name() + "' is undefined", e.line, e.column);
      } else {
        type_error();
      }
      return Value(op == "in" ? found : !found);
    }
    if (op == "~") return Value(concat(l.str(), r.str()));
    if (l.is_undefined() || r.is_undefined())
      error("'" + (l.is_undefined() ? l.name() : r.name()) + "' is undefined", e.line, e.column);
    if (op == "+") {
      if (l.is_string() && r.is_string()) return Value(concat(l.as_string(), r.as_string()));
      if (l.is_list() && r.is_list()) {
        check_list_size(static_cast<uint64_t>(l.as_list().size()) + r.as_list().size(), "+");
        List out;
        out.reserve(l.as_list().size() + r.as_list().size());
        out.insert(out.end(), l.as_list().begin(), l.as_list().end());
        out.insert(out.end(), r.as_list().begin(), r.as_list().end());
        return Value(std::move(out));
      }
    }
    if (op == "*") {
      // Python repeats a sequence either way round: 'ab' * 3, 3 * 'ab'.
      const bool seq_left = (l.is_string() || l.is_list()) && r.kind() == Value::Kind::kInt;
      const bool seq_right = (r.is_string() || r.is_list()) && l.kind() == Value::Kind::kInt;
      if (seq_left || seq_right) return repeat(seq_left ? l : r, (seq_left ? r : l).as_int());
    }
    if (op == "%" && l.is_string()) {
      CallArgs a;
      if (r.is_list())
        a.positional = r.as_list();
      else
        a.positional.push_back(r);
      return apply_filter("format", l, a, nullptr);
    }
    bool num = (l.is_number() || l.kind() == Value::Kind::kBool) &&
               (r.is_number() || r.kind() == Value::Kind::kBool);
    if (!num) type_error();
    auto as_num = [](const Value& v) {
      return v.kind() == Value::Kind::kBool ? (v.as_bool() ? 1.0 : 0.0) : v.as_double();
    };
    bool ints = l.kind() != Value::Kind::kFloat && r.kind() != Value::Kind::kFloat;
    auto ival = [](const Value& v) {
      return v.kind() == Value::Kind::kBool ? int64_t(v.as_bool()) : v.as_int();
    };
    // Python's ints do not overflow; ours are 64-bit, and going past that is an error.
    auto overflow = [&]() -> Value {
      error(
          "integer overflow: " + l.str() + " " + op + " " + r.str() + " is out of the 64-bit range",
          e.line, e.column);
    };
    int64_t result = 0;
    if (op == "+") {
      if (!ints) return Value(as_num(l) + as_num(r));
      return __builtin_add_overflow(ival(l), ival(r), &result) ? overflow() : Value(result);
    }
    if (op == "-") {
      if (!ints) return Value(as_num(l) - as_num(r));
      return __builtin_sub_overflow(ival(l), ival(r), &result) ? overflow() : Value(result);
    }
    if (op == "*") {
      if (!ints) return Value(as_num(l) * as_num(r));
      return __builtin_mul_overflow(ival(l), ival(r), &result) ? overflow() : Value(result);
    }
    if (op == "/") {
      if (as_num(r) == 0.0) error("division by zero", e.line, e.column);
      return Value(as_num(l) / as_num(r));
    }
    if (op == "//" || op == "%") {
      if (as_num(r) == 0.0) error("integer division or modulo by zero", e.line, e.column);
      if (ints) {
        int64_t a = ival(l), b = ival(r);
        if (b == -1) {  // INT64_MIN / -1 traps
          if (op == "%") return Value(int64_t{0});
          if (a == std::numeric_limits<int64_t>::min()) overflow();
          return Value(-a);
        }
        int64_t q = a / b;
        if ((a % b != 0) && ((a < 0) != (b < 0))) --q;  // floor
        return op == "//" ? Value(q) : Value(a - q * b);
      }
      double q = std::floor(as_num(l) / as_num(r));
      return op == "//" ? Value(q) : Value(as_num(l) - q * as_num(r));
    }
    if (op == "**") {
      if (ints && ival(r) >= 0) {
        // Square-and-multiply: 2 ** 10**12 must not loop 10**12 times.
        int64_t base = ival(l), exp = ival(r), out = 1;
        while (exp > 0) {
          if ((exp & 1) && __builtin_mul_overflow(out, base, &out)) overflow();
          exp >>= 1;
          if (exp > 0 && __builtin_mul_overflow(base, base, &base)) overflow();
        }
        return Value(out);
      }
      return Value(std::pow(as_num(l), as_num(r)));
    }
    type_error();
    return Value();
  }

  std::vector<Scope> scopes_;
  RenderBudget& budget_;
  int nesting_ = 0;  // exec / eval levels active
  int calls_ = 0;    // macro calls active
};

}  // namespace

std::string render(const Program& program, const Dict& globals, const ChatTemplateLimits& limits) {
  RenderBudget budget(limits);
  Dict g = globals;
  add_global_functions(g);
  return Interpreter(g, budget).run(program.body);
}

}  // namespace corelm::jinja
