// Package writer/reader: byte-exact round trip, and every kind of damage is a clear error.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "base/file_util.h"
#include "corelm/error.h"
#include "package/format.h"
#include "package/reader.h"
#include "package/writer.h"
#include "test_support.h"

namespace corelm {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct Written {
  std::string path;
  std::vector<std::string> tensor_bytes;
};

Written write_sample(const std::string& name) {
  std::vector<PlannedTensor> plan{{"a.weight", DType::kQ4S32, {3, 64}},
                                  {"b.weight", DType::kF16, {5, 7}},
                                  {"norm.weight", DType::kF32, {9}},
                                  {"c.weight", DType::kQ8S32, {2, 32}},
                                  {"d.weight", DType::kBF16, {1, 3}}};
  Written w;
  w.path = test::temp_dir() + "/" + name;
  PackageWriter writer(w.path, json{{"config", {{"hidden_size", 64}}}}, plan,
                       {{"tokenizer.json", "{\"x\": 1}"}, {"extra.txt", "hello"}});
  std::mt19937 rng(42);
  for (const auto& t : plan) {
    uint64_t rows = t.shape.size() == 2 ? t.shape[0] : 1;
    std::string bytes(rows * dtype_row_bytes(t.dtype, t.shape.back()), '\0');
    for (auto& c : bytes) c = static_cast<char>(rng());
    // Write in two pieces to exercise streaming.
    writer.write(bytes.data(), bytes.size() / 2);
    writer.write(bytes.data() + bytes.size() / 2, bytes.size() - bytes.size() / 2);
    writer.end_tensor();
    w.tensor_bytes.push_back(bytes);
  }
  writer.commit();
  return w;
}

TEST(Package, RoundTripsTensorByTensor) {
  Written w = write_sample("roundtrip.clm");
  PackageReader r(w.path);
  ASSERT_EQ(r.tensors().size(), 5u);
  for (size_t i = 0; i < r.tensors().size(); ++i) {
    const auto& t = r.tensors()[i];
    ASSERT_EQ(t.bytes, w.tensor_bytes[i].size()) << t.name;
    EXPECT_EQ(std::memcmp(t.data, w.tensor_bytes[i].data(), t.bytes), 0) << t.name;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data) % 64, 0u) << t.name << " is not 64-byte aligned";
  }
  EXPECT_EQ(r.tensor("b.weight").shape, (std::vector<uint64_t>{5, 7}));
  EXPECT_EQ(r.tensor("a.weight").dtype, DType::kQ4S32);
  EXPECT_EQ(*r.blob("extra.txt"), "hello");
  EXPECT_EQ(r.header()["config"]["hidden_size"], 64);
  EXPECT_EQ(r.data_offset() % 4096, 0u);
  r.verify_checksums();
}

TEST(Package, TruncatedFileIsAnError) {
  Written w = write_sample("truncate-src.clm");
  std::string path = test::copy_to_temp(w.path, "truncated.clm");
  fs::resize_file(path, fs::file_size(path) - 100);
  test::expect_error([&] { PackageReader r(path); }, ErrorCode::kCorrupt, "truncated", "package");
  fs::resize_file(path, 30);
  test::expect_error([&] { PackageReader r(path); }, ErrorCode::kCorrupt, "too small", "package");
}

TEST(Package, CorruptedHeaderIsAnError) {
  Written w = write_sample("corrupt-src.clm");
  std::string path = test::copy_to_temp(w.path, "corrupt.clm");
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(64 + 10);
  f.put('#');
  f.close();
  test::expect_error([&] { PackageReader r(path); }, ErrorCode::kCorrupt, "checksum", "package");
}

TEST(Package, BadMagicAndVersion) {
  Written w = write_sample("magic-src.clm");
  std::string path = test::copy_to_temp(w.path, "magic.clm");
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.write("GGUF", 4);
  }
  test::expect_error([&] { PackageReader r(path); }, ErrorCode::kCorrupt, "GGUF", "package");
  path = test::copy_to_temp(w.path, "version.clm");
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(8);
    uint32_t v = 99;
    f.write(reinterpret_cast<char*>(&v), 4);
  }
  test::expect_error([&] { PackageReader r(path); }, ErrorCode::kUnsupported, "version 99",
                     "package");
}

// Rewrites the JSON header (fixing its checksum) so that only the edit is wrong.
std::string with_header_edit(const std::string& src, const std::string& name,
                             const std::function<void(json&)>& edit) {
  std::string bytes = read_file(src, "test");
  package::FixedHeader fh;
  std::memcpy(&fh, bytes.data(), sizeof(fh));
  json h = json::parse(bytes.substr(64, fh.header_bytes));
  edit(h);
  std::string text = h.dump();  // compact: shorter than the writer's indented form
  EXPECT_LE(text.size(), fh.header_bytes);
  text.resize(fh.header_bytes, ' ');  // keep the size: pad with spaces (valid JSON)
  fh.header_crc32 = crc32_of(text.data(), text.size());
  std::memcpy(bytes.data(), &fh, sizeof(fh));
  std::memcpy(bytes.data() + 64, text.data(), text.size());
  std::string path = test::temp_dir() + "/" + name;
  std::ofstream(path, std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return path;
}

TEST(Package, TensorOffsetPastTheEndIsAnError) {
  Written w = write_sample("offset-src.clm");
  std::string path = with_header_edit(w.path, "offset.clm",
                                      [](json& h) { h["tensors"][0]["offset"] = 1ull << 30; });
  test::expect_error([&] { PackageReader r(path); }, ErrorCode::kCorrupt, "past the end",
                     "package");
}

TEST(Package, WrongSizeDtypeShapeAndOverlapAreErrors) {
  Written w = write_sample("fields-src.clm");
  test::expect_error(
      [&] {
        PackageReader r(
            with_header_edit(w.path, "size.clm", [](json& h) { h["tensors"][1]["bytes"] = 1; }));
      },
      ErrorCode::kCorrupt, "needs 70", "package");
  test::expect_error(
      [&] {
        PackageReader r(with_header_edit(w.path, "dtype.clm",
                                         [](json& h) { h["tensors"][1]["dtype"] = "q3"; }));
      },
      ErrorCode::kCorrupt, "unknown dtype", "package");
  test::expect_error(
      [&] {
        PackageReader r(with_header_edit(w.path, "shape.clm", [](json& h) {
          h["tensors"][0]["shape"] = {3, 60};
        }));
      },
      ErrorCode::kCorrupt, "cannot be stored as q4s32", "package");
  test::expect_error(
      [&] {
        PackageReader r(with_header_edit(w.path, "overlap.clm", [](json& h) {
          h["tensors"][1]["offset"] = h["tensors"][0]["offset"];
        }));
      },
      ErrorCode::kCorrupt, "overlapping", "package");
  test::expect_error(
      [&] {
        PackageReader r(with_header_edit(w.path, "dup.clm",
                                         [](json& h) { h["tensors"][1]["name"] = "a.weight"; }));
      },
      ErrorCode::kCorrupt, "twice", "package");
}

TEST(Package, DamagedTensorDataFailsVerification) {
  Written w = write_sample("data-src.clm");
  std::string path = test::copy_to_temp(w.path, "data.clm");
  {
    PackageReader r(path);
    uint64_t at = r.data_offset() + r.tensor("b.weight").offset + 3;
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(at));
    char c = static_cast<char>(f.get());
    f.seekp(static_cast<std::streamoff>(at));
    f.put(static_cast<char>(c ^ 0x5A));
  }
  PackageReader r(path);  // the header is intact
  test::expect_error([&] { r.verify_checksums(); }, ErrorCode::kCorrupt,
                     "'b.weight' fails its checksum", "package");
}

TEST(Package, WriterLeavesNothingOnFailure) {
  std::string path = test::temp_dir() + "/unfinished.clm";
  {
    PackageWriter writer(path, json::object(), {{"x", DType::kF32, {4}}}, {});
    float v[2] = {1, 2};
    writer.write(v, sizeof(v));
    EXPECT_THROW(writer.end_tensor(), Error);  // 8 of 16 bytes
  }
  EXPECT_FALSE(fs::exists(path));
  for (const auto& e : fs::directory_iterator(test::temp_dir()))
    EXPECT_EQ(e.path().string().find("unfinished.clm.tmp"), std::string::npos) << e.path();
}

}  // namespace
}  // namespace corelm
