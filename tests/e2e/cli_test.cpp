// The corelm command line, run as a user would: convert, generate, inspect, tokenize, and every
// kind of bad input ending in a clear "[component] ..." error and exit status 1.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include <cstring>
#include "base/file_util.h"
#include "package/reader.h"
#include "test_support.h"

namespace corelm {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string stories_dir() {
  return test::data_path("tiny-models/stories260K-hf");
}

const std::string& converted(const std::string& quant) {
  static std::map<std::string, std::string> paths;
  auto it = paths.find(quant);
  if (it != paths.end()) return it->second;
  std::string out = test::temp_dir() + "/cli-" + quant + ".clm";
  auto r = test::run_cli({"convert", stories_dir(), "-o", out, "--quant", quant});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return paths[quant] = out;
}

void expect_failure(const test::CliResult& r, const std::string& fragment) {
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("error: " + fragment), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("terminate called"), std::string::npos) << r.err;
}

TEST(Cli, GenerateJsonMatchesRunC) {
  auto ref = json::parse(test::read_data("tiny-models/stories260K/reference_outputs.json"));
  auto r = test::run_cli({"generate", "Once upon a time", converted("f32"), "--max-new-tokens",
                          "30", "--kv-cache", "f32", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json j = json::parse(r.out);
  EXPECT_EQ(j["prompt_ids"], ref["greedy_with_prompt"]["prompt_ids"]);
  auto after = ref["greedy_with_prompt"]["ids_after_bos"].get<std::vector<int>>();
  EXPECT_EQ(j["ids"].get<std::vector<int>>(),
            std::vector<int>(after.begin() + 4, after.begin() + 34));
  EXPECT_GT(j["prefill_tokens_per_s"].get<double>(), 0.0);
  EXPECT_GT(j["decode_tokens_per_s"].get<double>(), 0.0);
  std::string ref_text = ref["greedy_with_prompt"]["text"].get<std::string>().substr(16);
  EXPECT_EQ(j["text"].get<std::string>(), ref_text.substr(0, j["text"].get<std::string>().size()));
}

TEST(Cli, GenerateStreamsTextAndReportsSpeed) {
  auto r =
      test::run_cli({"generate", "Once upon a time", converted("q4s32"), "--max-length", "40"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_GT(r.out.size(), 40u);
  EXPECT_NE(r.err.find("prefill: 5 tokens"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("decode: 35 tokens"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("tokens/s"), std::string::npos) << r.err;
}

TEST(Cli, ContextBeyondTrainingIsAllowedWithAWarning) {
  // stories260K was trained on 512 positions (config.json).
  auto r = test::run_cli({"generate", "Once upon a time", converted("q4s32"), "--max-length", "20",
                          "--max-context", "1024"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("warning: --max-context 1024 is beyond the 512 positions"),
            std::string::npos)
      << r.err;
  r = test::run_cli({"generate", "Once upon a time", converted("q4s32"), "--max-length", "20",
                     "--max-context", "512"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err.find("warning:"), std::string::npos) << r.err;
}

TEST(Cli, SamplingOptionsAndSeed) {
  std::vector<std::string> args{"generate",
                                "Lily",
                                converted("q4s32"),
                                "--temperature",
                                "0.8",
                                "--top-k",
                                "40",
                                "--top-p",
                                "0.95",
                                "--min-p",
                                "0.05",
                                "--repetition-penalty",
                                "1.1",
                                "--seed",
                                "42",
                                "--max-new-tokens",
                                "30",
                                "--json"};
  auto a = test::run_cli(args), b = test::run_cli(args);
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(json::parse(a.out)["ids"], json::parse(b.out)["ids"]);
  auto stop = test::run_cli(
      {"generate", "Once upon a time", converted("f32"), "--stop", "little", "--json"});
  ASSERT_EQ(stop.exit_code, 0) << stop.err;
  EXPECT_EQ(json::parse(stop.out)["text"], ", there was a ");
  EXPECT_EQ(json::parse(stop.out)["stop_reason"], "stop_string");
}

TEST(Cli, InspectShowsMetadataAndVerifies) {
  auto r = test::run_cli({"inspect", converted("q4s32"), "--verify"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("source model:    stories260K-hf"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("LlamaForCausalLM"), std::string::npos);
  EXPECT_NE(r.out.find("model.layers.4.mlp.up_proj.weight"), std::string::npos);
  EXPECT_NE(r.out.find("q4s32"), std::string::npos);
  EXPECT_NE(r.out.find("4.50"), std::string::npos);  // bits per weight of a q4s32 tensor
  EXPECT_NE(r.out.find("checksums:       all 47 tensors"), std::string::npos);
}

TEST(Cli, TokenizeEveryInputKind) {
  for (const std::string& src :
       {converted("q4s32"), stories_dir(), stories_dir() + "/tokenizer.json"}) {
    auto r = test::run_cli({"tokenize", src, "Once upon a time", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(json::parse(r.out)["ids"], json::parse("[1, 403, 407, 261, 378]")) << src;
  }
  auto r = test::run_cli({"tokenize", stories_dir(), "Once upon a time", "--no-special"});
  EXPECT_EQ(r.out, "403 407 261 378\n");
}

TEST(Cli, HelpIsClear) {
  auto r = test::run_cli({"--help"});
  EXPECT_EQ(r.exit_code, 0);
  for (const char* cmd : {"convert", "generate", "inspect", "tokenize"})
    EXPECT_NE(r.out.find(cmd), std::string::npos);
  r = test::run_cli({"generate", "--help"});
  EXPECT_NE(r.out.find("--max-length"), std::string::npos);
  EXPECT_NE(r.out.find("--repetition-penalty"), std::string::npos);
  r = test::run_cli({"generate"});
  EXPECT_NE(r.exit_code, 0);
}

std::string damaged(const std::string& name, const std::function<void(std::string&)>& damage) {
  std::string bytes = read_file(converted("q4s32"), "test");
  damage(bytes);
  std::string path = test::temp_dir() + "/" + name;
  std::ofstream(path, std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return path;
}

TEST(CliBadInput, TruncatedPackage) {
  auto p = damaged("trunc.clm", [](std::string& b) { b.resize(b.size() - 4096); });
  expect_failure(test::run_cli({"generate", "hi", p}), "[package]");
  expect_failure(test::run_cli({"inspect", p}), "[package]");
  auto r = test::run_cli({"inspect", p});
  EXPECT_NE(r.err.find("truncated"), std::string::npos) << r.err;
}

TEST(CliBadInput, CorruptedHeader) {
  auto p = damaged("header.clm", [](std::string& b) { b[100] ^= 0x21; });
  auto r = test::run_cli({"generate", "hi", p});
  expect_failure(r, "[package]");
  EXPECT_NE(r.err.find("corrupted"), std::string::npos) << r.err;
}

TEST(CliBadInput, TensorOffsetPastTheEnd) {
  auto p = damaged("offset.clm", [](std::string& b) {
    uint64_t header_bytes;
    std::memcpy(&header_bytes, b.data() + 16, 8);
    json h = json::parse(b.substr(64, header_bytes));
    h["tensors"][3]["offset"] = 1ull << 32;
    std::string text = h.dump();
    text.resize(header_bytes, ' ');
    uint32_t crc = crc32_of(text.data(), text.size());
    std::memcpy(b.data() + 12, &crc, 4);
    std::memcpy(b.data() + 64, text.data(), text.size());
  });
  auto r = test::run_cli({"generate", "hi", p});
  expect_failure(r, "[package]");
  EXPECT_NE(r.err.find("past the end"), std::string::npos) << r.err;
}

std::string hf_copy(const std::string& name) {
  std::string dir = test::temp_dir() + "/" + name;
  fs::create_directories(dir);
  for (const auto& e : fs::directory_iterator(stories_dir()))
    fs::copy_file(e.path(), dir + "/" + e.path().filename().string(),
                  fs::copy_options::overwrite_existing);
  return dir;
}

TEST(CliBadInput, SafetensorsWithALyingHeader) {
  std::string dir = hf_copy("lying");
  std::string bytes = read_file(dir + "/model.safetensors", "test");
  uint64_t n;
  std::memcpy(&n, bytes.data(), 8);
  json h = json::parse(bytes.substr(8, n));
  h["model.norm.weight"]["data_offsets"][1] =
      h["model.norm.weight"]["data_offsets"][1].get<uint64_t>() + (1 << 20);
  std::string text = h.dump();
  uint64_t len = text.size();
  std::ofstream out(dir + "/model.safetensors", std::ios::binary);
  out.write(reinterpret_cast<char*>(&len), 8);
  out << text << bytes.substr(8 + n);
  out.close();
  std::string target = test::temp_dir() + "/lying.clm";
  auto r = test::run_cli({"convert", dir, "-o", target});
  expect_failure(r, "[safetensors]");
  EXPECT_NE(r.err.find("model.norm.weight"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(target));
}

TEST(CliBadInput, MissingShardTokenizerAndArchitecture) {
  std::string dir = hf_copy("noshard");
  fs::rename(dir + "/model.safetensors", dir + "/model-00001-of-00002.safetensors");
  std::ofstream(dir + "/model.safetensors.index.json")
      << R"({"weight_map": {"model.norm.weight": "model-00002-of-00002.safetensors"}})";
  expect_failure(test::run_cli({"convert", dir, "-o", test::temp_dir() + "/x.clm"}),
                 "[safetensors] shard");

  dir = hf_copy("notok");
  fs::remove(dir + "/tokenizer.json");
  expect_failure(test::run_cli({"convert", dir, "-o", test::temp_dir() + "/x.clm"}), "[convert]");

  dir = hf_copy("arch");
  json c = json::parse(read_file(dir + "/config.json", "test"));
  c["architectures"] = {"FalconForCausalLM"};
  std::ofstream(dir + "/config.json") << c.dump();
  auto r = test::run_cli({"convert", dir, "-o", test::temp_dir() + "/x.clm"});
  expect_failure(r, "[config] unsupported architecture 'FalconForCausalLM'");
}

TEST(CliBadInput, PromptLongerThanTheContext) {
  auto r =
      test::run_cli({"generate", "Once upon a time there was a little girl named Lily who loved",
                     converted("q4s32"), "--max-context", "8"});
  expect_failure(r, "[generate] the prompt is");
  EXPECT_NE(r.err.find("context holds 8"), std::string::npos) << r.err;
}

TEST(CliBadInput, MissingFilesAndBadOptions) {
  expect_failure(test::run_cli({"generate", "hi", "/nonexistent.clm"}), "[package] cannot open");
  expect_failure(test::run_cli({"generate", "hi", converted("q4s32"), "--kv-cache", "q3"}),
                 "[cli]");
  expect_failure(test::run_cli({"generate", "hi", converted("q4s32"), "--top-p", "0"}), "[sample]");
  expect_failure(
      test::run_cli({"convert", stories_dir(), "-o", test::temp_dir() + "/q.clm", "--quant", "q5"}),
      "[convert]");
  expect_failure(test::run_cli({"generate", "hi", stories_dir()}), "[model]");
}

}  // namespace
}  // namespace corelm

namespace corelm {
namespace {

TEST(CliChat, ChatTemplateRendersAndTokenizes) {
  auto j = json::parse(test::read_data("mistral-chat-templates/generated_renders.json"));
  std::string messages = test::temp_dir() + "/multi_turn.json";
  std::ofstream(messages) << j["conversations"]["multi_turn"].dump();
  for (const auto& r : j["renders"]) {
    if (r["template"] != "v1_spm.jinja" || r["conversation"] != "multi_turn" ||
        !r["add_generation_prompt"].get<bool>())
      continue;
    auto out = test::run_cli({"chat-template", test::data_path("mistral-7b-v0.1-hf"), "--messages",
                              messages, "--template",
                              test::data_path("mistral-chat-templates/v1_spm.jinja"),
                              "--add-generation-prompt", "--json"});
    ASSERT_EQ(out.exit_code, 0) << out.err;
    json got = json::parse(out.out);
    EXPECT_EQ(got["text"], r["rendered"]);
    EXPECT_EQ(got["ids"], r["token_ids"]);
  }
}

TEST(CliChat, GenerateWithChatTemplate) {
  std::string tmpl = test::temp_dir() + "/story.jinja";
  std::ofstream(tmpl) << "{{ bos_token }}{% for m in messages %}{{ m['content'] }}{% endfor %}";
  auto r = test::run_cli({"generate", "Once upon a time", converted("f32"), "--chat", "--template",
                          tmpl, "--max-new-tokens", "5", "--kv-cache", "f32", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["prompt_ids"], json::parse("[1, 403, 407, 261, 378]"));
  EXPECT_EQ(json::parse(r.out)["ids"], json::parse("[432, 383, 286, 261, 376]"));
  expect_failure(test::run_cli({"generate", "hi", converted("q4s32"), "--chat"}),
                 "[chat] the model has no chat template");
  std::ofstream(tmpl) << "{% for m in messages %}\n{{ m | nosuchfilter }}{% endfor %}";
  auto bad = test::run_cli({"generate", "hi", converted("q4s32"), "--chat", "--template", tmpl});
  expect_failure(bad,
                 "[chat] template error at line 2, column 6: unsupported filter 'nosuchfilter'");
}

}  // namespace
}  // namespace corelm

namespace corelm {
namespace {

TEST(CliGguf, GenerateTokenizeInspectConvert) {
  const std::string g = test::data_path("tiny-models/stories260K-gguf/stories260K.gguf");
  auto ref = json::parse(test::read_data("tiny-models/stories260K-gguf/llamacpp_reference.json"));
  const auto& run = ref["runs"][1];  // "Once upon a time"
  auto r = test::run_cli({"generate", "Once upon a time", g, "--max-new-tokens", "60",
                          "--max-context", "512", "--kv-cache", "f32", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json j = json::parse(r.out);
  EXPECT_EQ(j["prompt_ids"], run["prompt_ids"]);
  EXPECT_EQ(j["ids"], run["greedy_ids"]);
  EXPECT_EQ(j["text"], run["greedy_text"]);

  auto t = test::run_cli({"tokenize", g, "Once upon a time", "--json"});
  EXPECT_EQ(json::parse(t.out)["ids"], run["prompt_ids"]);

  auto i = test::run_cli({"inspect", g});
  ASSERT_EQ(i.exit_code, 0) << i.err;
  EXPECT_NE(i.out.find("GGUF v3"), std::string::npos);
  EXPECT_NE(i.out.find("blk.4.ffn_down.weight"), std::string::npos);

  std::string out = test::temp_dir() + "/cli-from-gguf.clm";
  auto c = test::run_cli({"convert", g, "-o", out, "--quant", "f32"});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  EXPECT_NE(c.err.find("added error: 0.000%"), std::string::npos) << c.err;
  auto r2 = test::run_cli({"generate", "Once upon a time", out, "--max-new-tokens", "60",
                           "--max-context", "512", "--kv-cache", "f32", "--json"});
  ASSERT_EQ(r2.exit_code, 0) << r2.err;
  EXPECT_EQ(json::parse(r2.out)["ids"], run["greedy_ids"]);
}

TEST(CliGguf, BrokenGgufIsAClearError) {
  std::string bytes =
      read_file(test::data_path("tiny-models/stories260K-gguf/stories260K.gguf"), "test");
  std::string path = test::temp_dir() + "/cut.gguf";
  std::ofstream(path, std::ios::binary).write(bytes.data(), 5000);
  expect_failure(test::run_cli({"generate", "hi", path}), "[gguf]");
  expect_failure(test::run_cli({"convert", path, "-o", test::temp_dir() + "/cut.clm"}), "[gguf]");
}

}  // namespace
}  // namespace corelm
