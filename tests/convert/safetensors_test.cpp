#include <gtest/gtest.h>

#include <cstring>

#include "convert/safetensors.h"
#include "corelm/error.h"
#include "safetensors_writer.h"
#include "test_support.h"

namespace corelm {
namespace {

TEST(Safetensors, ReadsStoriesModel) {
  auto r = SafetensorsReader::open_folder(test::data_path("tiny-models/stories260K-hf"));
  const auto* t = r->find("model.layers.0.mlp.down_proj.weight");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->shape, (std::vector<uint64_t>{64, 172}));
  EXPECT_EQ(t->dtype, DType::kF32);
  EXPECT_EQ(t->bytes, 64u * 172u * 4u);
  EXPECT_EQ(r->tensors().size(), 47u);
}

TEST(Safetensors, ReadsEveryFloatDtype) {
  std::string path = test::temp_dir() + "/dtypes.safetensors";
  uint16_t h[2] = {0x3C00, 0xC000};  // f16 1, -2
  uint16_t b[2] = {0x3F80, 0xC0A0};  // bf16 1, -5
  test::write_safetensors(path,
                          {{"f32", {"F32", {2}, test::f32_bytes({1.5f, -3})}},
                           {"f16", {"F16", {2}, std::string(reinterpret_cast<char*>(h), 4)}},
                           {"bf16", {"BF16", {1, 2}, std::string(reinterpret_cast<char*>(b), 4)}}});
  auto r = SafetensorsReader::open_file(path);
  EXPECT_EQ(r->find("f16")->dtype, DType::kF16);
  EXPECT_EQ(r->find("bf16")->dtype, DType::kBF16);
  float v[2];
  std::memcpy(v, r->find("f32")->data, 8);
  EXPECT_EQ(v[1], -3.0f);
}

TEST(Safetensors, LyingHeaderIsAnError) {
  std::string path = test::temp_dir() + "/lying.safetensors";
  test::write_safetensors(path, {{"w", {"F32", {2, 2}, test::f32_bytes({1, 2, 3, 4})}}},
                          [](nlohmann::json& h) {
                            h["w"]["data_offsets"] = {0, 4096};
                          });
  test::expect_error([&] { SafetensorsReader::open_file(path); }, ErrorCode::kCorrupt,
                     "the header lies", "safetensors");
  test::write_safetensors(path, {{"w", {"F32", {2, 2}, test::f32_bytes({1, 2, 3, 4})}}},
                          [](nlohmann::json& h) {
                            h["w"]["shape"] = {4, 4};
                          });
  test::expect_error([&] { SafetensorsReader::open_file(path); }, ErrorCode::kCorrupt, "need 64",
                     "safetensors");
  test::write_safetensors(
      path,
      {{"a", {"F32", {2}, test::f32_bytes({1, 2})}}, {"b", {"F32", {2}, test::f32_bytes({3, 4})}}},
      [](nlohmann::json& h) {
        h["b"]["data_offsets"] = {4, 12};
      });
  test::expect_error([&] { SafetensorsReader::open_file(path); }, ErrorCode::kCorrupt,
                     "overlapping", "safetensors");
}

TEST(Safetensors, ShapeWhoseProductWrapsIsAnError) {
  // 2^40 * 2^40 * 2^24 wraps to 0 in 64 bits: before the check it was accepted as a 0-byte tensor.
  std::string path = test::temp_dir() + "/wrap.safetensors";
  test::write_safetensors(path, {{"w", {"F32", {1}, test::f32_bytes({1})}}}, [](nlohmann::json& h) {
    h["w"]["shape"] = {1ull << 40, 1ull << 40, 1ull << 24};
    h["w"]["data_offsets"] = {0, 0};
  });
  test::expect_error([&] { SafetensorsReader::open_file(path); }, ErrorCode::kCorrupt,
                     "implausibly large", "safetensors");
}

TEST(Safetensors, HeaderLengthBeyondFileIsAnError) {
  std::string path = test::temp_dir() + "/biglen.safetensors";
  std::ofstream out(path, std::ios::binary);
  uint64_t n = 1ull << 40;
  out.write(reinterpret_cast<char*>(&n), 8);
  out << "{}";
  out.close();
  test::expect_error([&] { SafetensorsReader::open_file(path); }, ErrorCode::kCorrupt, "declares a",
                     "safetensors");
}

TEST(Safetensors, UnsupportedDtypeIsNamed) {
  std::string path = test::temp_dir() + "/i64.safetensors";
  test::write_safetensors(path, {{"ids", {"I64", {1}, std::string(8, '\0')}}});
  test::expect_error([&] { SafetensorsReader::open_file(path); }, ErrorCode::kUnsupported,
                     "dtype I64", "safetensors");
}

TEST(Safetensors, MissingShardIsAnError) {
  std::string dir = test::temp_dir() + "/sharded-missing";
  std::filesystem::create_directories(dir);
  test::write_safetensors(dir + "/model-00001-of-00002.safetensors",
                          {{"a", {"F32", {1}, test::f32_bytes({1})}}});
  std::ofstream(dir + "/model.safetensors.index.json")
      << R"({"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}})";
  test::expect_error([&] { SafetensorsReader::open_folder(dir); }, ErrorCode::kNotFound,
                     "shard 'model-00002-of-00002.safetensors' listed in", "safetensors");
}

}  // namespace
}  // namespace corelm
