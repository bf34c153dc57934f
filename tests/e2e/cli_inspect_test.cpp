// `corelm inspect` against figures this test computes on its own: sizes from the filesystem,
// shapes and counts from the source's safetensors / GGUF header and config.json, stored bytes
// and bits per weight from the format's definition (docs/package-format.md).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "base/file_util.h"
#include "outside_refs.h"
#include "test_support.h"

namespace corelm {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::vector<std::string> words(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> w;
  for (std::string s; in >> s;) w.push_back(s);
  return w;
}

// "label:   value" lines of the report, and the lines of its tensor table by first word.
struct Report {
  std::map<std::string, std::string> fields;
  std::map<std::string, std::vector<std::string>> rows;
};

Report parse(const std::string& out) {
  Report r;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    auto w = words(line);
    if (w.empty()) continue;
    auto colon = line.find(':');
    if (colon != std::string::npos && line[0] != ' ' && line.find("  ", colon) == colon + 1)
      r.fields[line.substr(0, colon)] = line.substr(line.find_first_not_of(' ', colon + 1));
    else
      r.rows[w[0]] = w;
  }
  return r;
}

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, v);
  return buf;
}

std::string shape_text(const std::vector<uint64_t>& shape) {
  std::string s;
  for (auto d : shape) {
    if (!s.empty()) s += 'x';
    s += std::to_string(d);
  }
  return s;
}

TEST(CliInspect, PackageFiguresComputedFromTheSourceFolder) {
  const std::string src = test::data_path("tiny-models/stories260K-hf");
  const json config = json::parse(test::read_data("tiny-models/stories260K-hf/config.json"));
  const json gen =
      json::parse(test::read_data("tiny-models/stories260K-hf/generation_config.json"));
  const json tok = json::parse(test::read_data("tiny-models/stories260K-hf/tokenizer.json"));
  const std::string pkg = test::cli_converted("q4s32");
  auto r = test::run_cli({"inspect", pkg, "--verify"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Report rep = parse(r.out);

  auto field = [&](const std::string& k) {
    auto it = rep.fields.find(k);
    return it == rep.fields.end() ? std::string("<missing>") : it->second;
  };
  EXPECT_EQ(field("file"), pkg + " (" + test::decimal_size(fs::file_size(pkg)) + ")");
  EXPECT_EQ(field("source model"), fs::path(src).filename().string());
  EXPECT_EQ(field("architecture"), config["architectures"][0].get<std::string>() + " (" +
                                       config["model_type"].get<std::string>() + ")");
  EXPECT_EQ(field("layers"), std::to_string(config["num_hidden_layers"].get<int>()) + ", hidden " +
                                 std::to_string(config["hidden_size"].get<int>()) +
                                 ", intermediate " +
                                 std::to_string(config["intermediate_size"].get<int>()));
  EXPECT_EQ(field("attention"),
            std::to_string(config["num_attention_heads"].get<int>()) + " heads, " +
                std::to_string(config["num_key_value_heads"].get<int>()) + " KV heads, head_dim " +
                std::to_string(config["head_dim"].get<int>()) + ", rope_theta " +
                fixed(config["rope_theta"].get<double>(), 0));
  int tokenizer_size = 0;
  for (const auto& [piece, id] : tok["model"]["vocab"].items())
    tokenizer_size = std::max(tokenizer_size, id.get<int>() + 1);
  EXPECT_EQ(field("vocabulary"), std::to_string(config["vocab_size"].get<int>()) + " (tokenizer " +
                                     std::to_string(tokenizer_size) + ", bos " +
                                     std::to_string(gen["bos_token_id"].get<int>()) + ", eos " +
                                     std::to_string(gen["eos_token_id"].get<int>()) + ")");
  // DESIGN: the default context is 2048, up to the model's limit.
  const int max_pos = config["max_position_embeddings"].get<int>();
  EXPECT_EQ(field("context"), std::to_string(std::min(2048, max_pos)) + " default, " +
                                  std::to_string(max_pos) + " max positions");
  EXPECT_EQ(field("quantization").rfind("q4s32 (", 0), 0u) << field("quantization");

  // Every tensor of the safetensors file, stored as docs/package-format.md says.
  const auto tensors = test::read_safetensors_header(src + "/model.safetensors");
  uint64_t total_params = 0, total_bytes = 0;
  std::map<std::string, std::pair<uint64_t, uint64_t>> by_dtype;  // params, bytes
  for (const auto& t : tensors) {
    uint64_t n = 1;
    for (auto d : t.shape) n *= d;
    std::string dtype;
    uint64_t bytes;
    if (t.name == "model.embed_tokens.weight") {
      dtype = "f16", bytes = 2 * n;
    } else if (t.shape.size() == 1) {
      dtype = "f32", bytes = 4 * n;
    } else if (t.shape[1] % 32 == 0) {
      dtype = "q4s32", bytes = n / 32 * 18;  // 18-byte blocks of 32
    } else {
      dtype = "f16", bytes = 2 * n;
    }
    total_params += n;
    total_bytes += bytes;
    by_dtype[dtype].first += n;
    by_dtype[dtype].second += bytes;
    auto row = rep.rows.find(t.name);
    ASSERT_NE(row, rep.rows.end()) << t.name << " is not listed";
    EXPECT_EQ(row->second,
              (std::vector<std::string>{
                  t.name, dtype, shape_text(t.shape), std::to_string(bytes),
                  fixed(8.0 * static_cast<double>(bytes) / static_cast<double>(n), 2)}));
  }
  EXPECT_EQ(tensors.size(), 47u);
  EXPECT_EQ(
      field("total"),
      std::to_string(tensors.size()) + " tensors, " +
          fixed(static_cast<double>(total_params) / 1e6, 3) + " M parameters, " +
          test::decimal_size(total_bytes) + ", " +
          fixed(8.0 * static_cast<double>(total_bytes) / static_cast<double>(total_params), 3) +
          " bits/weight");
  for (const auto& [dtype, pb] : by_dtype) {
    auto row = rep.rows.find(dtype);
    ASSERT_NE(row, rep.rows.end()) << dtype;
    const auto size = words(test::decimal_size(pb.second));
    EXPECT_EQ(row->second,
              (std::vector<std::string>{dtype, fixed(static_cast<double>(pb.first) / 1e6, 3), "M",
                                        "parameters", size[0], size[1]}));
  }
  // The blobs: the folder's two tokenizer files.
  EXPECT_EQ(field("checksums"),
            "all " + std::to_string(tensors.size()) + " tensors and 2 blobs verified");
}

TEST(CliInspect, VerifyFindsACorruptedTensor) {
  // One bit flipped in the last bytes of the file (tensor data): only --verify reads them all.
  std::string bytes = read_file(test::cli_converted("q4s32"), "test");
  bytes[bytes.size() - 100] ^= 1;
  const std::string path = test::temp_dir() + "/flipped.clm";
  std::ofstream(path, std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  auto plain = test::run_cli({"inspect", path});
  EXPECT_EQ(plain.exit_code, 0) << plain.err;
  auto r = test::run_cli({"inspect", path, "--verify"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("error: [package] tensor '"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("fails its checksum"), std::string::npos) << r.err;
}

TEST(CliInspect, GgufFiguresFromItsHeader) {
  const std::map<uint32_t, std::pair<std::string, double>> ggml_types{{0, {"F32", 4.0}},
                                                                      {1, {"F16", 2.0}}};
  for (const std::string rel : {"tiny-models/stories260K-gguf/stories260K.gguf",
                                "tiny-models/llama-2-tiny-random/llama-2-tiny-random.gguf"}) {
    const std::string path = test::data_path(rel);
    const auto h = test::read_gguf_header(path);
    auto r = test::run_cli({"inspect", path});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const Report rep = parse(r.out);
    EXPECT_EQ(rep.fields.at("file"), path + " (" + test::decimal_size(fs::file_size(path)) + ")");
    EXPECT_EQ(rep.fields.at("format"), "GGUF v" + std::to_string(h.version) + ", " +
                                           std::to_string(h.n_kv) + " metadata keys, " +
                                           std::to_string(h.tensors.size()) + " tensors");
    double params = 0, bytes_total = 0;
    for (const auto& t : h.tensors) {
      ASSERT_TRUE(ggml_types.count(t.type)) << t.name << " type " << t.type;
      const auto& [type, bytes_per] = ggml_types.at(t.type);
      uint64_t n = 1;
      for (auto d : t.ne) n *= d;
      // GGUF lists ne[0] (columns) first; inspect shows rows x columns.
      std::vector<uint64_t> shape(t.ne.rbegin(), t.ne.rend());
      const auto bytes = static_cast<uint64_t>(bytes_per * static_cast<double>(n));
      params += static_cast<double>(n);
      bytes_total += static_cast<double>(bytes);
      auto row = rep.rows.find(t.name);
      ASSERT_NE(row, rep.rows.end()) << t.name;
      EXPECT_EQ(row->second,
                (std::vector<std::string>{t.name, type, shape_text(shape), std::to_string(bytes),
                                          fixed(8.0 * bytes_per, 2)}));
    }
    EXPECT_EQ(rep.fields.at("total"), fixed(params / 1e6, 3) + " M parameters, " +
                                          test::decimal_size(static_cast<uint64_t>(bytes_total)) +
                                          ", " + fixed(8.0 * bytes_total / params, 3) +
                                          " bits/weight");
  }
}

}  // namespace
}  // namespace corelm
