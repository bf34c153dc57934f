#include "chat/limits.h"

#include <fmt/format.h>

#include "chat/value.h"

namespace corelm::jinja {

namespace {
thread_local RenderBudget* g_current = nullptr;
}  // namespace

RenderBudget::RenderBudget(const ChatTemplateLimits& limits)
    : limits_(limits), previous_(g_current) {
  g_current = this;
}

RenderBudget::~RenderBudget() {
  g_current = previous_;
}

RenderBudget* RenderBudget::current() {
  return g_current;
}

void RenderBudget::over_steps() const {
  throw LimitExceeded(fmt::format(
      "the template ran more than {} steps (ChatTemplateLimits::max_steps)", limits_.max_steps));
}

void RenderBudget::over_memory() const {
  throw LimitExceeded(fmt::format(
      "the template's values hold more than {} bytes (ChatTemplateLimits::max_memory_bytes)",
      limits_.max_memory_bytes));
}

void charge_work(int64_t n) {
  if (g_current) g_current->step(n);
}

void charge_bytes(uint64_t bytes) {
  if (g_current) g_current->step(static_cast<int64_t>(bytes / 256));
}

namespace {
void check_bytes_only(uint64_t bytes, const char* what) {
  const auto max = static_cast<uint64_t>(g_current->limits().max_value_bytes);
  if (bytes > max)
    throw LimitExceeded(fmt::format(
        "{} would build a string of {} bytes, more than {} (ChatTemplateLimits::max_value_bytes)",
        what, bytes, max));
}
}  // namespace

void check_string_size(uint64_t bytes, const char* what) {
  if (!g_current) return;
  check_bytes_only(bytes, what);
  charge_bytes(bytes);
}

void check_growth(uint64_t bytes, const char* what) {
  if (g_current) check_bytes_only(bytes, what);
}

void check_list_size(uint64_t items, const char* what) {
  if (!g_current) return;
  const auto max = static_cast<uint64_t>(g_current->limits().max_value_bytes);
  if (items > max / sizeof(Value))
    throw LimitExceeded(
        fmt::format("{} would build a list of {} items, more than {} "
                    "(ChatTemplateLimits::max_value_bytes)",
                    what, items, max / sizeof(Value)));
  charge_work(static_cast<int64_t>(items / 8));
}

void append_checked(std::string& out, const std::string& s, const char* what) {
  if (g_current) {
    check_bytes_only(static_cast<uint64_t>(out.size()) + s.size(), what);
    charge_bytes(s.size());
  }
  out += s;
}

}  // namespace corelm::jinja
