// The public API's promises: only corelm::Error escapes an entry point (JSON type errors and other
// std exceptions are translated with the component's prefix), and library messages go to the
// log callback, never straight to stderr.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "base/boundary.h"
#include "base/log.h"
#include "corelm/chat.h"
#include "corelm/error.h"
#include "corelm/log.h"
#include "corelm/tokenizer.h"

namespace corelm {
namespace {

// Calls f and returns the corelm::Error it throws; fails the test on any other outcome.
template <class F>
Error error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "a foreign exception escaped: " << e.what();
  }
  ADD_FAILURE() << "no exception";
  return Error(ErrorCode::kInternal, "");
}

TEST(ApiBoundary, JsonTypeErrorsInATokenizerAreCheckedWhereTheyAreRead) {
  // Well-formed JSON with the wrong types: nlohmann threw type_error deep inside the loader, and
  // only the boundary's net caught it. Now the reader names the field.
  struct Case {
    const char* json;
    const char* message;
  };
  for (
      const Case& c : std::vector<Case>{
          {R"({"model": {"type": "BPE", "vocab": {"a": "x"}, "merges": []}})",
           "[tokenizer] tokenizer.json model: vocab entry 'a' must be an integer in [0, 65536], "
           "got a string (\"x\")"},
          {R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": [5]}})",
           "[tokenizer] tokenizer.json model: merges[0] must be a string \"left right\" or a pair "
           "of strings, got the number 5"},
          {R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "added_tokens": [{"id": "z"}]})",
           "[tokenizer] tokenizer.json added_tokens[0]: field 'id' must be an integer in [0, "
           "2147483647], got a string (\"z\")"},
          {R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "normalizer": {"type": 7}})",
           "[tokenizer] tokenizer.json normalizer: field 'type' must be a string, got the number "
           "7"}}) {
    Error e = error_of([&] { Tokenizer::from_hf_json(c.json, ""); });
    EXPECT_EQ(e.code(), ErrorCode::kCorrupt) << c.json;
    EXPECT_STREQ(e.what(), c.message) << c.json;
  }
}

TEST(ApiBoundary, RethrowAsErrorKeepsErrorsAndTranslatesTheRest) {
  auto through = [](auto thrower) {
    return error_of([&] {
      try {
        thrower();
      } catch (...) {
        rethrow_as_error("unit");
      }
    });
  };
  Error kept = through([] { throw Error(ErrorCode::kNotFound, "[x] original"); });
  EXPECT_EQ(kept.code(), ErrorCode::kNotFound);
  EXPECT_STREQ(kept.what(), "[x] original");
  Error oom = through([] { throw std::bad_alloc(); });
  EXPECT_EQ(oom.code(), ErrorCode::kResourceExhausted);
  EXPECT_EQ(std::string(oom.what()).rfind("[unit] out of memory", 0), 0u) << oom.what();
  Error range = through([] { (void)std::vector<int>().at(3); });
  EXPECT_EQ(range.code(), ErrorCode::kOutOfRange);
  Error other = through([] { throw 42; });
  EXPECT_EQ(other.code(), ErrorCode::kInternal);
  EXPECT_EQ(std::string(other.what()).rfind("[unit] ", 0), 0u);
  // Everything but a failed allocation is marked as a missing check, for the bug report.
  for (const Error& e : {range, other})
    EXPECT_NE(std::string(e.what()).find("an unchecked error: a bug in corelm"), std::string::npos)
        << e.what();
  EXPECT_EQ(std::string(oom.what()).find("unchecked"), std::string::npos);
}

TEST(ApiBoundary, ChatTemplateRenderWithBadMessagesIsAnError) {
  auto t = ChatTemplate::compile("{% for m in messages %}{{ m.content }}{% endfor %}");
  Error e = error_of([&] { t->render(R"({"not": "an array"})", {}); });
  EXPECT_EQ(std::string(e.what()).rfind("[chat]", 0), 0u) << e.what();
  e = error_of([&] { t->render("[{\"role\": ", {}); });  // truncated JSON
  EXPECT_EQ(std::string(e.what()).rfind("[chat]", 0), 0u) << e.what();
}

TEST(Log, MessagesGoToTheCallbackAndAnEmptyOneSilences) {
  std::vector<std::pair<LogLevel, std::string>> got;
  LogCallback previous = set_log_callback(
      [&](LogLevel level, std::string_view message) { got.emplace_back(level, message); });
  ASSERT_TRUE(previous);  // the default (stderr) callback was installed
  log_warning("{} tensors converted", 3);
  log_info("loaded '{}'", "m.gguf");
  set_log_callback({});
  log_warning("nobody hears this");
  set_log_callback(previous);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].first, LogLevel::kWarning);
  EXPECT_EQ(got[0].second, "3 tensors converted");
  EXPECT_EQ(got[1].first, LogLevel::kInfo);
  EXPECT_EQ(got[1].second, "loaded 'm.gguf'");
  EXPECT_STREQ(log_level_name(LogLevel::kError), "error");
}

}  // namespace
}  // namespace corelm
