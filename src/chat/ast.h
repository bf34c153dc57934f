// Syntax tree of a compiled template. Expressions and statements each carry their source
// position for error messages.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "chat/value.h"

namespace corelm::jinja {

struct Expr;
struct Stmt;
using ExprPtr = std::unique_ptr<Expr>;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

struct Expr {
  enum class Kind {
    kLiteral,
    kName,
    kList,
    kTuple,
    kDict,
    kAttr,
    kItem,
    kSlice,
    kCall,
    kFilter,
    kTest,
    kUnary,
    kBinary,
    kCond
  };
  Kind kind;
  int line = 0, column = 0;
  int depth = 1;     // of this subtree (the parser refuses more than kMaxParseDepth)
  Value literal;     // kLiteral
  std::string name;  // kName, kAttr (attribute), kFilter / kTest (filter or test), kUnary / kBinary
                     // (operator)
  ExprPtr a, b, c;   // operands: object / left / condition ...
  std::vector<ExprPtr>
      items;  // kList, kTuple, kDict (key, value alternating), kCall / kFilter / kTest args
  std::vector<std::pair<std::string, ExprPtr>> kwargs;  // kCall / kFilter / kTest
  bool negated = false;                                 // kTest: "is not"
};

struct Stmt {
  enum class Kind {
    kText,
    kOutput,
    kIf,
    kFor,
    kSet,
    kSetBlock,
    kMacro,
    kBreak,
    kContinue,
    kBlock,
    kFilterBlock
  };
  Kind kind;
  int line = 0, column = 0;
  std::string text;  // kText; kMacro name; kFilterBlock filter name
  ExprPtr expr;      // kOutput, kFor iterable, kSet value
  std::vector<std::pair<ExprPtr, Body>>
      branches;                      // kIf: (condition, body)..., condition null for else
  std::vector<std::string> targets;  // kFor loop variables; kSet / kSetBlock: [name] or [ns, attr]
  ExprPtr filter;                    // kFor: "if" condition
  Body body;                         // kFor, kSetBlock, kMacro, kBlock, kFilterBlock
  Body else_body;                    // kFor
  std::vector<std::pair<std::string, ExprPtr>> params;  // kMacro: (name, default or null)
};

struct Program {
  Body body;
};

// Parses lexed segments; throws TemplateError naming unsupported syntax with its position.
Program parse(const std::string& source);

}  // namespace corelm::jinja
