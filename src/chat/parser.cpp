// Recursive-descent parser for the Jinja subset, with Jinja2's operator precedence:
// conditional < or < and < not < comparisons (in, ==, <, ...) < + - < ~ < * / // % < ** <
// unary - + < postfix (.attr, [item], (call)) followed by |filters and `is` tests.
#include <algorithm>
#include <set>
#include <string>

#include "chat/ast.h"
#include "chat/lexer.h"
#include "chat/limits.h"

namespace corelm::jinja {

namespace {

class Parser {
 public:
  explicit Parser(std::vector<Segment> segments) : segs_(std::move(segments)) {}

  Program run() {
    Program p;
    p.body = parse_body({});
    if (seg_ < segs_.size()) {
      const Segment& s = segs_[seg_];
      throw TemplateError("unexpected '" + s.tokens[0].text + "'", s.line, s.column);
    }
    return p;
  }

 private:
  // ---- statements -------------------------------------------------------------------------

  // Parses statements until a statement tag whose keyword is in `stops` (left unconsumed).
  Body parse_body(const std::set<std::string>& stops) {
    Body body;
    while (seg_ < segs_.size()) {
      Segment& s = segs_[seg_];
      if (s.kind == Segment::Kind::kText) {
        auto st = make_stmt(Stmt::Kind::kText, s.line, s.column);
        st->text = s.text;
        body.push_back(std::move(st));
        ++seg_;
        continue;
      }
      if (s.kind == Segment::Kind::kOutput) {
        begin(s);
        auto st = make_stmt(Stmt::Kind::kOutput, s.line, s.column);
        st->expr = parse_expression();
        expect_end();
        body.push_back(std::move(st));
        ++seg_;
        continue;
      }
      const Token& kw = s.tokens[0];
      if (kw.type != Token::Type::kName)
        throw TemplateError("expected a statement keyword", kw.line, kw.column);
      if (stops.count(kw.text)) return body;
      begin(s);
      ++tok_;
      body.push_back(parse_statement(kw));
    }
    if (!stops.empty()) {
      std::string names;
      for (const auto& n : stops) {
        names += names.empty() ? "'" : " or '";
        names += n;
        names += "'";
      }
      const Token& opener = *open_.back();
      throw TemplateError("'" + opener.text + "' is never closed (expected " + names + ")",
                          opener.line, opener.column);
    }
    return body;
  }

  // Moves to the statement tag that ended a body and returns its keyword.
  std::string take_stop() {
    Segment& s = segs_[seg_];
    begin(s);
    return next().text;
  }

  StmtPtr parse_statement(const Token& kw) {
    if (open_.size() >= static_cast<size_t>(kMaxParseDepth))
      throw TemplateError("statements nested more than " + std::to_string(kMaxParseDepth) + " deep",
                          kw.line, kw.column);
    open_.push_back(&kw);
    StmtPtr st = parse_statement_body(kw);
    open_.pop_back();
    return st;
  }

  StmtPtr parse_statement_body(const Token& kw) {
    const std::string& k = kw.text;
    if (k == "if") return parse_if(kw);
    if (k == "for") return parse_for(kw);
    if (k == "set") return parse_set(kw);
    if (k == "macro") return parse_macro(kw);
    if (k == "break" || k == "continue") {
      expect_end();
      ++seg_;
      return make_stmt(k == "break" ? Stmt::Kind::kBreak : Stmt::Kind::kContinue, kw.line,
                       kw.column);
    }
    if (k == "generation") {  // transformers' assistant-mask marker: renders its body
      expect_end();
      ++seg_;
      auto st = make_stmt(Stmt::Kind::kBlock, kw.line, kw.column);
      st->body = parse_body({"endgeneration"});
      take_stop();
      expect_end();
      ++seg_;
      return st;
    }
    if (k == "filter") {
      auto st = make_stmt(Stmt::Kind::kFilterBlock, kw.line, kw.column);
      st->text = expect_name();
      expect_end();
      ++seg_;
      st->body = parse_body({"endfilter"});
      take_stop();
      expect_end();
      ++seg_;
      return st;
    }
    throw TemplateError("unsupported Jinja statement '" + k + "'", kw.line, kw.column);
  }

  StmtPtr parse_if(const Token& kw) {
    auto st = make_stmt(Stmt::Kind::kIf, kw.line, kw.column);
    ExprPtr cond = parse_expression();
    expect_end();
    ++seg_;
    for (;;) {
      Body body = parse_body({"elif", "else", "endif"});
      st->branches.emplace_back(std::move(cond), std::move(body));
      std::string stop = take_stop();
      if (stop == "endif") {
        expect_end();
        ++seg_;
        return st;
      }
      if (stop == "elif") {
        cond = parse_expression();
        expect_end();
        ++seg_;
        continue;
      }
      expect_end();  // else
      ++seg_;
      Body else_body = parse_body({"endif"});
      st->branches.emplace_back(nullptr, std::move(else_body));
      take_stop();
      expect_end();
      ++seg_;
      return st;
    }
  }

  StmtPtr parse_for(const Token& kw) {
    auto st = make_stmt(Stmt::Kind::kFor, kw.line, kw.column);
    st->targets.push_back(expect_name());
    while (peek_op(",")) {
      next();
      st->targets.push_back(expect_name());
    }
    const Token& in = next();
    if (in.type != Token::Type::kName || in.text != "in")
      throw TemplateError("expected 'in'", in.line, in.column);
    st->expr = parse_expression(/*allow_conditional=*/false);
    if (peek_name("if")) {
      next();
      st->filter = parse_expression(false);
    }
    if (peek_name("recursive"))
      throw TemplateError("recursive loops are not supported", kw.line, kw.column);
    expect_end();
    ++seg_;
    st->body = parse_body({"else", "endfor"});
    if (take_stop() == "else") {
      expect_end();
      ++seg_;
      st->else_body = parse_body({"endfor"});
      take_stop();
    }
    expect_end();
    ++seg_;
    return st;
  }

  StmtPtr parse_set(const Token& kw) {
    std::vector<std::string> target{expect_name()};
    if (peek_op(".")) {
      next();
      target.push_back(expect_name());
    }
    if (peek_op("=")) {
      next();
      auto st = make_stmt(Stmt::Kind::kSet, kw.line, kw.column);
      st->targets = std::move(target);
      st->expr = parse_expression();
      expect_end();
      ++seg_;
      return st;
    }
    auto st = make_stmt(Stmt::Kind::kSetBlock, kw.line, kw.column);
    st->targets = std::move(target);
    expect_end();
    ++seg_;
    st->body = parse_body({"endset"});
    take_stop();
    expect_end();
    ++seg_;
    return st;
  }

  StmtPtr parse_macro(const Token& kw) {
    auto st = make_stmt(Stmt::Kind::kMacro, kw.line, kw.column);
    st->text = expect_name();
    expect_op("(");
    while (!peek_op(")")) {
      std::string p = expect_name();
      ExprPtr def;
      if (peek_op("=")) {
        next();
        def = parse_expression();
      }
      st->params.emplace_back(std::move(p), std::move(def));
      if (!peek_op(",")) break;
      next();
    }
    expect_op(")");
    expect_end();
    ++seg_;
    st->body = parse_body({"endmacro"});
    take_stop();
    expect_end();
    ++seg_;
    return st;
  }

  // ---- expressions ------------------------------------------------------------------------

  ExprPtr parse_expression(bool allow_conditional = true) {
    Nest nest(*this);
    ExprPtr e = parse_or();
    while (allow_conditional && peek_name("if")) {
      const Token& t = next();
      auto c = make_expr(Expr::Kind::kCond, t);
      c->b = std::move(e);  // value if true
      c->a = parse_or();    // condition
      if (peek_name("else")) {
        next();
        c->c = parse_expression();
      }
      e = done(std::move(c));
    }
    return e;
  }

  // Bounds the parser's recursion (50,000 "(" must not exhaust the stack).
  struct Nest {
    explicit Nest(Parser& p) : p(p) {
      if (++p.nesting_ > kMaxParseDepth) {
        const Token& t = p.peek();
        throw TemplateError(
            "expression nested more than " + std::to_string(kMaxParseDepth) + " deep", t.line,
            t.column);
      }
    }
    ~Nest() { --p.nesting_; }
    Parser& p;
  };

  // Records the depth of a finished node; chains built by loops ("a.b.c...", "1+1+...", filter
  // pipelines) are bounded here, since evaluating and destroying them recurses.
  static ExprPtr done(ExprPtr e) {
    int d = 0;
    auto see = [&](const ExprPtr& c) {
      if (c) d = std::max(d, c->depth);
    };
    see(e->a);
    see(e->b);
    see(e->c);
    for (const auto& x : e->items) see(x);
    for (const auto& kv : e->kwargs) see(kv.second);
    e->depth = d + 1;
    if (e->depth > kMaxParseDepth)
      throw TemplateError("expression nested more than " + std::to_string(kMaxParseDepth) + " deep",
                          e->line, e->column);
    return e;
  }

  ExprPtr parse_or() {
    ExprPtr e = parse_and();
    while (peek_name("or")) e = binary("or", std::move(e), next(), &Parser::parse_and);
    return e;
  }
  ExprPtr parse_and() {
    ExprPtr e = parse_not();
    while (peek_name("and")) e = binary("and", std::move(e), next(), &Parser::parse_not);
    return e;
  }
  ExprPtr parse_not() {
    if (peek_name("not")) {
      const Token& t = next();
      Nest nest(*this);
      auto u = make_expr(Expr::Kind::kUnary, t);
      u->name = "not";
      u->a = parse_not();
      return done(std::move(u));
    }
    return parse_compare();
  }
  ExprPtr parse_compare() {
    ExprPtr e = parse_math1();
    for (;;) {
      if (peek_op("==") || peek_op("!=") || peek_op("<") || peek_op(">") || peek_op("<=") ||
          peek_op(">=")) {
        const Token& t = next();
        e = binary(t.text, std::move(e), t, &Parser::parse_math1);
      } else if (peek_name("in")) {
        e = binary("in", std::move(e), next(), &Parser::parse_math1);
      } else if (peek_name("not") && peek_name("in", 1)) {
        const Token& t = next();
        next();
        e = binary("not in", std::move(e), t, &Parser::parse_math1);
      } else {
        return e;
      }
    }
  }
  ExprPtr parse_math1() {
    ExprPtr e = parse_concat();
    while (peek_op("+") || peek_op("-")) {
      const Token& t = next();
      e = binary(t.text, std::move(e), t, &Parser::parse_concat);
    }
    return e;
  }
  ExprPtr parse_concat() {
    ExprPtr e = parse_math2();
    while (peek_op("~")) e = binary("~", std::move(e), next(), &Parser::parse_math2);
    return e;
  }
  ExprPtr parse_math2() {
    ExprPtr e = parse_pow();
    while (peek_op("*") || peek_op("/") || peek_op("//") || peek_op("%")) {
      const Token& t = next();
      e = binary(t.text, std::move(e), t, &Parser::parse_pow);
    }
    return e;
  }
  ExprPtr parse_pow() {
    ExprPtr e = parse_unary(true);
    while (peek_op("**")) e = binary("**", std::move(e), next(), &Parser::parse_unary_filtered);
    return e;
  }
  ExprPtr parse_unary_filtered() { return parse_unary(true); }
  ExprPtr parse_unary(bool with_filter) {
    ExprPtr e;
    if (peek_op("-") || peek_op("+")) {
      const Token& t = next();
      Nest nest(*this);
      e = make_expr(Expr::Kind::kUnary, t);
      e->name = t.text;
      e->a = parse_unary(false);
      e = done(std::move(e));
    } else {
      e = parse_postfix(parse_primary());
    }
    if (with_filter) e = parse_filters_and_tests(std::move(e));
    return e;
  }

  ExprPtr parse_primary() {
    const Token& t = next();
    switch (t.type) {
      case Token::Type::kString: {
        std::string s = t.text;
        while (peek().type == Token::Type::kString) s += next().text;  // adjacent literals
        auto e = make_expr(Expr::Kind::kLiteral, t);
        e->literal = Value(s);
        return e;
      }
      case Token::Type::kInt: {
        auto e = make_expr(Expr::Kind::kLiteral, t);
        e->literal = Value(t.int_value);
        return e;
      }
      case Token::Type::kFloat: {
        auto e = make_expr(Expr::Kind::kLiteral, t);
        e->literal = Value(t.float_value);
        return e;
      }
      case Token::Type::kName: {
        auto e = make_expr(Expr::Kind::kLiteral, t);
        if (t.text == "true" || t.text == "True")
          e->literal = Value(true);
        else if (t.text == "false" || t.text == "False")
          e->literal = Value(false);
        else if (t.text == "none" || t.text == "None")
          e->literal = Value::none();
        else {
          e->kind = Expr::Kind::kName;
          e->name = t.text;
        }
        return e;
      }
      case Token::Type::kOperator:
        if (t.text == "(") {
          if (peek_op(")")) {
            next();
            return make_expr(Expr::Kind::kTuple, t);
          }
          ExprPtr first = parse_expression();
          if (peek_op(",")) {
            auto tup = make_expr(Expr::Kind::kTuple, t);
            tup->items.push_back(std::move(first));
            while (peek_op(",")) {
              next();
              if (peek_op(")")) break;
              tup->items.push_back(parse_expression());
            }
            expect_op(")");
            return done(std::move(tup));
          }
          expect_op(")");
          return first;
        }
        if (t.text == "[") {
          auto l = make_expr(Expr::Kind::kList, t);
          while (!peek_op("]")) {
            l->items.push_back(parse_expression());
            if (!peek_op(",")) break;
            next();
          }
          expect_op("]");
          return done(std::move(l));
        }
        if (t.text == "{") {
          auto d = make_expr(Expr::Kind::kDict, t);
          while (!peek_op("}")) {
            d->items.push_back(parse_expression());
            expect_op(":");
            d->items.push_back(parse_expression());
            if (!peek_op(",")) break;
            next();
          }
          expect_op("}");
          return done(std::move(d));
        }
        break;
      default:
        break;
    }
    throw TemplateError(t.type == Token::Type::kEnd ? "unexpected end of expression"
                                                    : "unexpected '" + t.text + "'",
                        t.line, t.column);
  }

  ExprPtr parse_postfix(ExprPtr e) {
    for (;;) {
      if (peek_op(".")) {
        const Token& t = next();
        auto a = make_expr(Expr::Kind::kAttr, t);
        const Token& n = next();
        if (n.type != Token::Type::kName && n.type != Token::Type::kInt)
          throw TemplateError("expected an attribute name", n.line, n.column);
        a->name = n.text;
        a->a = std::move(e);
        e = done(std::move(a));
      } else if (peek_op("[")) {
        const Token& t = next();
        ExprPtr start, stop, step;
        bool slice = false;
        if (!peek_op(":")) start = parse_expression();
        if (peek_op(":")) {
          slice = true;
          next();
          if (!peek_op("]") && !peek_op(":")) stop = parse_expression();
          if (peek_op(":")) {
            next();
            if (!peek_op("]")) step = parse_expression();
          }
        }
        expect_op("]");
        auto s = make_expr(slice ? Expr::Kind::kSlice : Expr::Kind::kItem, t);
        s->a = std::move(e);
        s->b = std::move(start);
        if (slice) {
          s->items.push_back(std::move(stop));
          s->items.push_back(std::move(step));
        }
        e = done(std::move(s));
      } else if (peek_op("(")) {
        const Token& t = next();
        auto c = make_expr(Expr::Kind::kCall, t);
        c->a = std::move(e);
        parse_args(*c);
        e = done(std::move(c));
      } else {
        return e;
      }
    }
  }

  // Arguments after "(": positional then keyword, up to ")". At most kMaxCallArguments: each
  // call copies its arguments, and map('map', 'map', ...) nests once per argument.
  void parse_args(Expr& call) {
    while (!peek_op(")")) {
      if (call.items.size() + call.kwargs.size() >= static_cast<size_t>(kMaxCallArguments)) {
        const Token& t = peek();
        throw TemplateError(
            "more than " + std::to_string(kMaxCallArguments) + " arguments in one call", t.line,
            t.column);
      }
      if (peek().type == Token::Type::kName && peek_op("=", 1)) {
        std::string key = next().text;
        next();
        call.kwargs.emplace_back(std::move(key), parse_expression());
      } else {
        call.items.push_back(parse_expression());
      }
      if (!peek_op(",")) break;
      next();
    }
    expect_op(")");
  }

  ExprPtr parse_filters_and_tests(ExprPtr e) {
    for (;;) {
      if (peek_op("|")) {
        const Token& t = next();
        auto f = make_expr(Expr::Kind::kFilter, t);
        f->name = expect_name();
        f->a = std::move(e);
        if (peek_op("(")) {
          next();
          parse_args(*f);
        }
        e = done(std::move(f));
      } else if (peek_name("is")) {
        const Token& t = next();
        auto test = make_expr(Expr::Kind::kTest, t);
        if (peek_name("not")) {
          next();
          test->negated = true;
        }
        const Token& n = next();
        if (n.type != Token::Type::kName)
          throw TemplateError("expected a test name after 'is'", n.line, n.column);
        test->name = n.text;
        test->a = std::move(e);
        if (peek_op("(")) {
          next();
          parse_args(*test);
        } else if (peek().type == Token::Type::kString || peek().type == Token::Type::kInt ||
                   peek().type == Token::Type::kFloat ||
                   (peek().type == Token::Type::kName && !peek_name("and") && !peek_name("or") &&
                    !peek_name("else") && !peek_name("if") && !peek_name("in") &&
                    !peek_name("not") && !peek_name("is"))) {
          test->items.push_back(parse_primary());  // "is divisibleby 3", "is sameas x"
        }
        e = done(std::move(test));
      } else {
        return e;
      }
    }
  }

  ExprPtr binary(const std::string& op, ExprPtr left, const Token& t, ExprPtr (Parser::*rhs)()) {
    auto b = make_expr(Expr::Kind::kBinary, t);
    b->name = op;
    b->a = std::move(left);
    b->b = (this->*rhs)();
    return done(std::move(b));
  }

  // ---- tokens -----------------------------------------------------------------------------

  void begin(Segment& s) {
    toks_ = &s.tokens;
    tok_ = 0;
  }
  const Token& peek(size_t ahead = 0) const {
    size_t i = std::min(tok_ + ahead, toks_->size() - 1);
    return (*toks_)[i];
  }
  const Token& next() {
    const Token& t = peek();
    if (tok_ + 1 < toks_->size())
      ++tok_;
    else
      tok_ = toks_->size() - 1;
    return t;
  }
  bool peek_op(const char* op, size_t ahead = 0) const {
    const Token& t = peek(ahead);
    return t.type == Token::Type::kOperator && t.text == op;
  }
  bool peek_name(const char* n, size_t ahead = 0) const {
    const Token& t = peek(ahead);
    return t.type == Token::Type::kName && t.text == n;
  }
  std::string expect_name() {
    const Token& t = next();
    if (t.type != Token::Type::kName) throw TemplateError("expected a name", t.line, t.column);
    return t.text;
  }
  void expect_op(const char* op) {
    const Token& t = next();
    if (t.type != Token::Type::kOperator || t.text != op)
      throw TemplateError(std::string("expected '") + op + "'" +
                              (t.type == Token::Type::kEnd ? "" : ", got '" + t.text + "'"),
                          t.line, t.column);
  }
  void expect_end() {
    const Token& t = peek();
    if (t.type != Token::Type::kEnd)
      throw TemplateError("unexpected '" + t.text + "'", t.line, t.column);
  }

  static ExprPtr make_expr(Expr::Kind kind, const Token& at) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->line = at.line;
    e->column = at.column;
    return e;
  }
  static StmtPtr make_stmt(Stmt::Kind kind, int line, int column) {
    auto s = std::make_unique<Stmt>();
    s->kind = kind;
    s->line = line;
    s->column = column;
    return s;
  }

  std::vector<Segment> segs_;
  std::vector<const Token*> open_;  // statements whose end tag is still to come
  size_t seg_ = 0;
  int nesting_ = 0;  // parse_expression / unary recursion in progress
  const std::vector<Token>* toks_ = nullptr;
  size_t tok_ = 0;
};

}  // namespace

Program parse(const std::string& source) {
  return Parser(lex(source)).run();
}

}  // namespace corelm::jinja
