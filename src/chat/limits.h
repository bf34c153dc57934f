// Limits that keep a hostile template or hostile messages from crashing (stack exhaustion),
// hanging or allocating without bound. Depth limits protect the stack and are fixed; the work
// limits come from ChatTemplateLimits (include/corelm/chat.h) and are installed, per thread,
// for the duration of one render. Against the real templates in ../shared/data:
//   - parser nesting (expression depth, nested statements): 256; real templates nest < 12;
//     arguments in one call: 256 (real templates pass at most a handful)
//   - value nesting (JSON -> Value, lists/dicts a template builds): 128; real data < 8
//   - interpreter nesting (statements + expressions + filter and macro calls active at once):
//     1024, whatever max_call_depth says
//   - memory: the text and list storage values made during the render hold (counted from 64
//     bytes; the messages passed in are not counted), checked at every step
//   - ChatTemplateLimits defaults: a 10,000-message, 4 KB-per-message conversation renders
//     37 MB (of 64 MiB) in 5-20 million steps (of 50 million) through Mistral's templates.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

#include "corelm/chat.h"

namespace corelm::jinja {

inline constexpr int kMaxParseDepth = 256;
inline constexpr int kMaxCallArguments = 256;  // in one call, filter or test
inline constexpr int kMaxValueDepth = 128;
inline constexpr int kMaxEvalNesting = 1024;

// A limit was hit inside a value operation; the interpreter adds the position.
struct LimitExceeded : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The work meter of the render running on this thread (none outside render: then only the
// fixed depth limits apply).
class RenderBudget {
 public:
  explicit RenderBudget(const ChatTemplateLimits& limits);
  ~RenderBudget();
  RenderBudget(const RenderBudget&) = delete;
  RenderBudget& operator=(const RenderBudget&) = delete;

  const ChatTemplateLimits& limits() const { return limits_; }
  static RenderBudget* current();

  // One unit of work (a statement, an expression, a loop iteration, a visited value). Also
  // where the memory held by values is checked (allocation itself never throws).
  void step(int64_t n = 1) {
    steps_ += n;
    if (steps_ > limits_.max_steps) over_steps();
    if (*held_ > limits_.max_memory_bytes) over_memory();
  }
  // Bytes of text and list storage the template's values hold now: shared with the storage's
  // deleters, which give the bytes back when the last Value using it goes.
  const std::shared_ptr<int64_t>& held() const { return held_; }
  int64_t steps() const { return steps_; }

 private:
  [[noreturn]] void over_steps() const;
  [[noreturn]] void over_memory() const;
  ChatTemplateLimits limits_;
  int64_t steps_ = 0;
  std::shared_ptr<int64_t> held_ = std::make_shared<int64_t>(0);
  RenderBudget* previous_;
};

// Work done by a value operation: `n` units, plus one unit per 256 bytes built.
void charge_work(int64_t n);
void charge_bytes(uint64_t bytes);
// Refuses to build a string of `bytes` bytes (or a list of `items` items) larger than one
// operation may build; `what` names the operation in the message.
void check_string_size(uint64_t bytes, const char* what);
void check_list_size(uint64_t items, const char* what);
// The same size check for a string being built piece by piece (charges nothing).
void check_growth(uint64_t bytes, const char* what);
// Appends `s` to `out`, refusing to grow past the per-operation size.
void append_checked(std::string& out, const std::string& s, const char* what);

}  // namespace corelm::jinja
