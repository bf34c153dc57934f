#include <gtest/gtest.h>

#include "base/utf8.h"

namespace corelm {
namespace {

TEST(Utf8, Validates) {
  EXPECT_TRUE(utf8::is_valid("hello"));
  EXPECT_TRUE(utf8::is_valid("h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80"));
  EXPECT_FALSE(utf8::is_valid("\xC3"));              // truncated
  EXPECT_FALSE(utf8::is_valid("\xC0\xAF"));          // overlong
  EXPECT_FALSE(utf8::is_valid("\xED\xA0\x80"));      // surrogate
  EXPECT_FALSE(utf8::is_valid("\xF4\x90\x80\x80"));  // > U+10FFFF
  EXPECT_FALSE(utf8::is_valid("\xFF"));
  EXPECT_EQ(utf8::first_invalid("ab\xFF"
                                "c"),
            2u);
}

TEST(Utf8, SanitizeReplacesMaximalSubparts) {
  // As Python's bytes.decode('utf-8', 'replace'): b'a\xe2\x82b' -> 'a\ufffdb' (one replacement
  // for the truncated 3-byte sequence), b'\xff\xfe' -> two replacements.
  EXPECT_EQ(utf8::sanitize("a\xE2\x82"
                           "b"),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(utf8::sanitize("\xFF\xFE"), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(utf8::sanitize("ok"), "ok");
}

TEST(Utf8, IncompleteTail) {
  EXPECT_EQ(utf8::incomplete_tail("abc"), 0u);
  EXPECT_EQ(utf8::incomplete_tail("ab\xE2\x82"), 2u);
  EXPECT_EQ(utf8::incomplete_tail("ab\xE2\x82\xAC"), 0u);
  EXPECT_EQ(utf8::incomplete_tail("\xF0\x9F\x98"), 3u);
  EXPECT_EQ(utf8::incomplete_tail("\xC3"), 1u);
}

TEST(Utf8, DecodeAndAppendRoundTrip) {
  for (uint32_t cp : {0x41u, 0xE9u, 0x20ACu, 0x1F600u, 0x10FFFFu}) {
    std::string s;
    utf8::append(s, cp);
    size_t len = 0;
    EXPECT_EQ(utf8::decode(s, 0, &len), static_cast<int32_t>(cp));
    EXPECT_EQ(len, s.size());
  }
}

}  // namespace
}  // namespace corelm
