// JsonReader: wrong JSON types and out-of-range integers become [component] errors that name the
// document and field; missing and null fields give the fallback unless null is refused.
#include "base/json_access.h"

#include <gtest/gtest.h>

#include "test_support.h"

namespace corelm {
namespace {

using nlohmann::json;

TEST(JsonReader, ReadsFieldsOfTheRightTypes) {
  json j = json::parse(R"({"s": "x", "b": true, "i": 42, "f": 4096.0, "d": 0.5, "n": null})");
  JsonReader r("config", "config.json");
  EXPECT_EQ(r.str(j, "s", "fb"), "x");
  EXPECT_EQ(r.str(j, "absent", "fb"), "fb");
  EXPECT_EQ(r.str(j, "n", "fb"), "fb");
  EXPECT_TRUE(r.boolean(j, "b", false));
  EXPECT_EQ(r.integer(j, "i", 0, 0, 100), 42);
  EXPECT_EQ(r.integer(j, "f", 0, 0, 5000), 4096);  // an integral float is an integer
  EXPECT_DOUBLE_EQ(r.number(j, "d", 0), 0.5);
  EXPECT_DOUBLE_EQ(r.number(j, "i", 0), 42.0);
  EXPECT_EQ(r.required_integer(j, "i", 0, 100), 42);
  EXPECT_TRUE(JsonReader::has(j, "s"));
  EXPECT_FALSE(JsonReader::has(j, "n"));
  EXPECT_FALSE(JsonReader::has(j, "absent"));
}

TEST(JsonReader, WrongTypesNameTheDocumentFieldAndValue) {
  json j = json::parse(R"({"act": null, "type": 5, "flag": "yes", "list": [1], "big": 2e9})");
  JsonReader r("config", "config.json");
  test::expect_error([&] { r.str(j, "act", "silu", OnNull::kError); }, ErrorCode::kCorrupt,
                     "[config] config.json: field 'act' must be a string, got null");
  test::expect_error([&] { r.str(j, "type", ""); }, ErrorCode::kCorrupt,
                     "field 'type' must be a string, got the number 5");
  test::expect_error([&] { r.boolean(j, "flag", false); }, ErrorCode::kCorrupt,
                     "field 'flag' must be true or false, got a string (\"yes\")");
  test::expect_error([&] { r.str(j, "list", ""); }, ErrorCode::kCorrupt, "got an array");
  test::expect_error([&] { r.number(j, "flag", 1.0); }, ErrorCode::kCorrupt, "must be a number");
  test::expect_error([&] { r.required_str(j, "absent"); }, ErrorCode::kCorrupt,
                     "config.json: field 'absent' is missing");
  test::expect_error([&] { r.required_str(j, "act"); }, ErrorCode::kCorrupt, "got null");
  test::expect_error([&] { r.str(json::array(), "x", ""); }, ErrorCode::kCorrupt,
                     "must be an object, got an array");
}

TEST(JsonReader, IntegersAreRangeChecked) {
  json j = json::parse(
      R"({"huge": 2000000000, "neg": -1, "frac": 1.5, "inf": 1e300, "u": 18446744073709551615})");
  JsonReader r("tokenizer", "");
  test::expect_error([&] { r.integer(j, "huge", 0, 0, 1 << 24); }, ErrorCode::kCorrupt,
                     "[tokenizer] field 'huge' must be an integer in [0, 16777216], got the "
                     "number 2000000000");
  test::expect_error([&] { r.integer(j, "neg", 0, 0, 10); }, ErrorCode::kCorrupt,
                     "got the number -1");
  test::expect_error([&] { r.integer(j, "frac", 0, 0, 10); }, ErrorCode::kCorrupt, "1.5");
  test::expect_error([&] { r.integer(j, "inf", 0, INT64_MIN, INT64_MAX); }, ErrorCode::kCorrupt,
                     "must be an integer");
  test::expect_error([&] { r.integer(j, "u", 0, 0, INT64_MAX); }, ErrorCode::kCorrupt,
                     "18446744073709551615");
  EXPECT_EQ(r.integer(j, "neg", 0, -5, 5), -1);
}

TEST(JsonReader, ElementsUseTheirOwnNames) {
  json j = json::parse(R"([["a", 3]])");
  JsonReader r("tokenizer", "tokenizer.json");
  test::expect_error([&] { r.as_str(j[0][1], "merges[0][1]"); }, ErrorCode::kCorrupt,
                     "[tokenizer] tokenizer.json: merges[0][1] must be a string, got the number 3");
  EXPECT_EQ(r.as_str(j[0][0], "merges[0][0]"), "a");
  test::expect_error([&] { r.as_object(j, "the document"); }, ErrorCode::kCorrupt,
                     "the document must be an object, got an array");
}

}  // namespace
}  // namespace corelm

namespace corelm {
namespace {

TEST(ParseJson, NestingIsBoundedBeforeAnythingRecursesOverIt) {
  // dump() and every recursive walk overflowed the stack on 300k nested arrays (a crash of
  // `corelm chat-template --messages`); the parser itself is iterative and now counts the depth.
  auto nested = [](int depth) { return std::string(depth, '[') + std::string(depth, ']'); };
  test::expect_error([&] { parse_json(nested(300000), "chat", "messages"); }, ErrorCode::kCorrupt,
                     "[chat] messages nests arrays or objects more than 128 deep");
  test::expect_error([&] { parse_ordered_json(nested(129), "config", "config.json"); },
                     ErrorCode::kCorrupt, "config.json nests arrays or objects more than 128 deep");
  EXPECT_EQ(parse_json(nested(128), "x", "doc").dump(), nested(128));
  std::string objects;
  for (int i = 0; i < 200; ++i) objects += "{\"a\":";
  objects += "1" + std::string(200, '}');
  test::expect_error([&] { parse_json(objects, "x", "doc"); }, ErrorCode::kCorrupt,
                     "more than 128 deep");
  test::expect_error([&] { parse_json("{\"a\": ", "tokenizer", "tokenizer.json"); },
                     ErrorCode::kCorrupt, "[tokenizer] tokenizer.json is not valid JSON");
  EXPECT_EQ(parse_json(R"({"b": 1, "a": [true, null]})", "x", "doc")["a"][0], true);
}

}  // namespace
}  // namespace corelm
