// Lexer for the Jinja subset: splits a template into text, {{ output }} and {% statement %}
// segments (comments dropped), applying whitespace control as transformers configures Jinja2:
// trim_blocks and lstrip_blocks on, "-" strips all whitespace on that side, "+" turns the
// block rules off for one tag. Tag contents are tokenized into names, literals and operators.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace corelm::jinja {

// A template problem at a source position (1-based line and column).
struct TemplateError : std::runtime_error {
  TemplateError(const std::string& message, int line, int column)
      : std::runtime_error(message), line(line), column(column) {}
  int line, column;
};

struct Token {
  enum class Type { kName, kString, kInt, kFloat, kOperator, kEnd };
  Type type = Type::kEnd;
  std::string text;  // name, operator, or the decoded string literal
  int64_t int_value = 0;
  double float_value = 0.0;
  int line = 0, column = 0;
};

struct Segment {
  enum class Kind { kText, kOutput, kStatement };
  Kind kind;
  std::string text;           // kText
  std::vector<Token> tokens;  // kOutput / kStatement, ending with a kEnd token
  int line = 0, column = 0;
};

// A decimal float as Python reads it: too large is inf (`{{ 1e999 }}` renders "inf"), too small
// 0.0. `text` is digits with an optional fraction and exponent (no sign).
double float_literal(const std::string& text);

std::vector<Segment> lex(const std::string& source, bool trim_blocks = true,
                         bool lstrip_blocks = true);

}  // namespace corelm::jinja
