// Truncated and bit-flipped model files (the stories260K package and llama.cpp's GGUF of it):
// loading and generating either works, or fails with a corelm::Error from the component that
// found the damage — never a crash, a hang, a foreign exception or the API boundary's
// catch-all (an "unchecked error" from there means a check is missing at the root).
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <random>
#include <string>

#include "base/file_util.h"
#include "corelm/error.h"
#include "corelm/generate.h"
#include "corelm/model.h"
#include "corelm/tokenizer.h"
#include "test_support.h"

namespace corelm {
namespace {

struct Outcome {
  int loaded = 0;
  int refused = 0;
};

// Loads `bytes` as a model file and generates a few tokens; an Error is a fine outcome if a
// component check raised it.
void try_model(const std::string& path, const std::string& bytes, const std::string& label,
               Outcome& outcome) {
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  try {
    auto model = Model::load(path);
    SessionOptions so;
    so.max_context = 64;
    Session session(model, so);
    Generator gen(session, model->tokenizer());
    GenerateOptions o;
    o.max_new_tokens = 4;
    auto r = gen.generate(std::string_view("Once upon a time"), o);
    for (int32_t id : r.ids) ASSERT_TRUE(id >= 0 && id < model->config().vocab_size) << label;
    outcome.loaded++;
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(e.code(), ErrorCode::kInternal) << label << ": " << what;
    EXPECT_EQ(what.find("unchecked error"), std::string::npos) << label << ": " << what;
    EXPECT_EQ(what.rfind('[', 0), 0u) << label << ": " << what;
    outcome.refused++;
  }
}

// Damages a copy of `original` in `variants` ways: cuts at many lengths, then bit flips,
// mostly in the first `hot_bytes` (headers and metadata, where a flip changes meaning).
Outcome damage(const std::string& original, const std::string& name, size_t hot_bytes,
               int variants) {
  const std::string bytes = read_file(original, "test");
  const std::string path = test::temp_dir() + "/" + name;
  Outcome outcome;
  std::mt19937_64 rng(20261202);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < variants; ++i) {
    std::string b = bytes;
    std::string label;
    if (i < variants / 4) {
      size_t cut = i < 16 ? static_cast<size_t>(i) * 8 : rng() % bytes.size();
      b.resize(cut);
      label = "cut at " + std::to_string(cut);
    } else {
      int flips = 1 + static_cast<int>(rng() % 4);
      label = "flips at";
      for (int f = 0; f < flips; ++f) {
        size_t at = (rng() % 4 != 0) ? rng() % std::min(hot_bytes, b.size()) : rng() % b.size();
        b[at] = static_cast<char>(b[at] ^ (1 << (rng() % 8)));
        label.append(" ").append(std::to_string(at));
      }
    }
    try_model(path, b, name + ": " + label, outcome);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%s: %d variants, %d loaded, %d refused, %.1f s\n", name.c_str(), variants,
              outcome.loaded, outcome.refused, seconds);
  return outcome;
}

TEST(DamagedFiles, PackageCutsAndBitFlips) {
  // The JSON header and the blobs are checksummed: nearly every damage there is refused.
  Outcome o = damage(test::stories_package("q4s32"), "damaged.clm", 64 * 1024, 200);
  EXPECT_GT(o.refused, 50);
}

TEST(DamagedFiles, GgufCutsAndBitFlips) {
  // GGUF has no checksums: flips in the metadata (vocabulary, sizes) reach every reader.
  Outcome o = damage(test::data_path("tiny-models/stories260K-gguf/stories260K.gguf"),
                     "damaged.gguf", 16 * 1024, 300);
  EXPECT_GT(o.refused, 50);
}

}  // namespace
}  // namespace corelm
