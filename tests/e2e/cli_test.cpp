// The corelm command line, run as a user would: convert, generate, inspect, tokenize, and every
// kind of bad input ending in a clear "[component] ..." error and exit status 1.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "base/file_util.h"
#include "outside_refs.h"
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
  return test::cli_converted(quant);
}

// llama2.c's run.c outputs for stories260K (SOURCES.md).
const json& run_c() {
  static const json j =
      json::parse(test::read_data("tiny-models/stories260K/reference_outputs.json"));
  return j;
}

const json& stories_tokenizer_json() {
  static const json j = json::parse(test::read_data("tiny-models/stories260K-hf/tokenizer.json"));
  return j;
}

std::vector<int> ints(const json& j) {
  return j.get<std::vector<int>>();
}

std::vector<int> slice(const std::vector<int>& v, size_t begin, size_t end) {
  return std::vector<int>(v.begin() + static_cast<std::ptrdiff_t>(begin),
                          v.begin() + static_cast<std::ptrdiff_t>(end));
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
  // run.c's greedy continuation of "Once upon a time", decoded here from tokenizer.json's
  // vocabulary: what must stream to stdout.
  const auto& ref = run_c()["greedy_with_prompt"];
  const auto prompt_ids = ints(ref["prompt_ids"]);
  const auto after_bos = ints(ref["ids_after_bos"]);  // the 4 prompt tokens, then generated ones
  const size_t n_new = 40 - prompt_ids.size();
  const std::string expected =
      test::decode_with_vocab(stories_tokenizer_json(), slice(after_bos, 4, 4 + n_new));
  ASSERT_EQ(ref["text"].get<std::string>().substr(16, expected.size()), expected);

  const auto start = std::chrono::steady_clock::now();
  auto r = test::run_cli({"generate", "Once upon a time", converted("f32"), "--max-length", "40",
                          "--kv-cache", "f32"});
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, expected + "\n");  // a final newline, as run.c prints

  // "prefill: 5 tokens, X tokens/s | decode: 35 tokens, Y tokens/s | stop: length | ..."
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.err, m,
                                std::regex("prefill: (\\d+) tokens, ([0-9.]+) tokens/s \\| "
                                           "decode: (\\d+) tokens, ([0-9.]+) tokens/s")))
      << r.err;
  EXPECT_EQ(std::stoul(m[1]), prompt_ids.size());
  EXPECT_EQ(std::stoul(m[3]), n_new);
  const double prefill_rate = std::stod(m[2]), decode_rate = std::stod(m[4]);
  ASSERT_GT(prefill_rate, 0.0);
  ASSERT_GT(decode_rate, 0.0);
  // The times those speeds imply fit inside the process's run as this test clocked it.
  EXPECT_LT(static_cast<double>(prompt_ids.size()) / prefill_rate +
                static_cast<double>(n_new) / decode_rate,
            wall)
      << r.err;
  EXPECT_NE(r.err.find("stop: length"), std::string::npos) << r.err;
}

TEST(Cli, Q4S32GreedyFollowsRunCWhereTheNumPySimulationIsSure) {
  // tests/data/q4s32_stories260K.json: NumPy's q4s32 top-1 along run.c's greedy path and the
  // margin to the second best. While the margins exceed the simulation's own float noise twice
  // over, q4s32 greedy decoding must pick run.c's tokens.
  const auto fx = json::parse(test::read_fixture("q4s32_stories260K.json"));
  const float noise = fx["q8_activations_float32_vs_float64"]["max_abs_error"].get<float>();
  const auto top1 = ints(fx["q8_activations"]["top1"]);
  const auto margin = fx["q8_activations"]["top1_margin"].get<std::vector<float>>();
  const auto ref = ints(run_c()["greedy_from_bos"]["ids"]);
  size_t sure = 0;
  while (sure < margin.size() && margin[sure] > 2 * noise && top1[sure] == ref[sure]) ++sure;
  ASSERT_GE(sure, 10u);
  auto r = test::run_cli({"generate", "", converted("q4s32"), "--max-new-tokens",
                          std::to_string(sure), "--kv-cache", "f32", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ints(json::parse(r.out)["ids"]), slice(ref, 0, sure));
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

TEST(Cli, SampledRunEqualsRunCsDocumentedSample) {
  // run.c -t 1.0 -p 0.9 -s 133742 from BOS: 256 tokens, the sample in llama2.c's
  // doc/stories260K.md (run.c prints a final newline).
  const auto& ref = run_c()["sampled_t1_p09_seed133742"];
  std::vector<std::string> args{
      "generate", "",       converted("f32"), "--temperature", "1.0",        "--top-p", "0.9",
      "--seed",   "133742", "--max-length",   "257",           "--kv-cache", "f32",     "--json"};
  auto r = test::run_cli(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json j = json::parse(r.out);
  EXPECT_EQ(ints(j["prompt_ids"]), std::vector<int>{1});
  EXPECT_EQ(ints(j["ids"]), ints(ref["ids"]));
  EXPECT_EQ(j["text"].get<std::string>() + "\n", ref["text"].get<std::string>());

  // Another seed draws another story.
  args[8] = "133743";
  auto other = test::run_cli(args);
  ASSERT_EQ(other.exit_code, 0) << other.err;
  EXPECT_NE(ints(json::parse(other.out)["ids"]), ints(ref["ids"]));
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
  ASSERT_EQ(b.exit_code, 0) << b.err;
  const auto ids = ints(json::parse(a.out)["ids"]);
  EXPECT_EQ(ids.size(), 30u);
  EXPECT_EQ(ints(json::parse(b.out)["ids"]), ids) << "the same seed twice";
  args[14] = "43";
  auto c = test::run_cli(args);
  ASSERT_EQ(c.exit_code, 0) << c.err;
  EXPECT_NE(ints(json::parse(c.out)["ids"]), ids) << "another seed";

  // Filters that leave one candidate make any temperature and seed greedy: run.c's ids.
  const auto& greedy = run_c()["greedy_with_prompt"];
  const auto expected = slice(ints(greedy["ids_after_bos"]), 4, 24);
  for (const std::vector<std::string>& only_one :
       {std::vector<std::string>{"--top-k", "1"}, std::vector<std::string>{"--min-p", "1"},
        std::vector<std::string>{"--top-p", "1e-6"}}) {
    std::vector<std::string> g{"generate",
                               "Once upon a time",
                               converted("f32"),
                               "--temperature",
                               "1.5",
                               "--seed",
                               "7",
                               "--max-new-tokens",
                               "20",
                               "--kv-cache",
                               "f32",
                               "--json"};
    g.insert(g.end(), only_one.begin(), only_one.end());
    auto r = test::run_cli(g);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(ints(json::parse(r.out)["ids"]), expected) << only_one[0];
  }

  // --stop ends the text before the stop string, wherever run.c's greedy text has it.
  const std::string text = greedy["text"].get<std::string>().substr(16);
  auto stop = test::run_cli({"generate", "Once upon a time", converted("f32"), "--stop", "little",
                             "--kv-cache", "f32", "--json"});
  ASSERT_EQ(stop.exit_code, 0) << stop.err;
  EXPECT_EQ(json::parse(stop.out)["text"], text.substr(0, text.find("little")));
  EXPECT_EQ(json::parse(stop.out)["stop_reason"], "stop_string");
}

TEST(Cli, TokenizeEveryInputKind) {
  // A package, a Hugging Face folder and its tokenizer.json: run.c's encoding of the prompt.
  const auto prompt_ids = ints(run_c()["greedy_with_prompt"]["prompt_ids"]);
  for (const std::string& src :
       {converted("q4s32"), stories_dir(), stories_dir() + "/tokenizer.json"}) {
    auto r = test::run_cli({"tokenize", src, "Once upon a time", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(ints(json::parse(r.out)["ids"]), prompt_ids) << src;
  }
  auto r = test::run_cli({"tokenize", stories_dir(), "Once upon a time", "--no-special"});
  std::string plain;
  for (size_t i = 1; i < prompt_ids.size(); ++i)
    plain += (i > 1 ? " " : "") + std::to_string(prompt_ids[i]);
  EXPECT_EQ(r.out, plain + "\n");

  // The Llama 2 tokenizer folder: transformers' ids (swift-transformers baselines).
  auto inputs = json::parse(test::read_data("swift-transformers-vectors/multilingual/inputs.json"));
  std::map<std::string, std::string> text_of;
  for (const auto& in : inputs) text_of[in["id"]] = in["text"];
  auto hf = json::parse(
      test::read_data("swift-transformers-vectors/multilingual/tinyllama_multilingual.json"));
  size_t n = 0;
  for (size_t i = 0; i < hf["entries"].size(); i += 5, ++n) {
    const auto& e = hf["entries"][i];
    auto t = test::run_cli(
        {"tokenize", "--json", "--", test::data_path("llama2-tokenizer"), text_of.at(e["id"])});
    ASSERT_EQ(t.exit_code, 0) << t.err;
    EXPECT_EQ(json::parse(t.out)["ids"], e["input_ids"]) << e["id"];
  }
  EXPECT_GE(n, 8u);

  // A SentencePiece .model file: the aknorw peer ids (Mistral v3).
  for (const auto& c :
       json::parse(test::read_data("mistral-tokenizer-vectors/aknorw_bpe_cases.json"))) {
    auto t = test::run_cli(
        {"tokenize", "--json", "--",
         test::data_path("mistral-spm-models/mistral_instruct_tokenizer_240323.model.v3"),
         c["text"].get<std::string>()});
    ASSERT_EQ(t.exit_code, 0) << t.err;
    EXPECT_EQ(json::parse(t.out)["ids"], c["ids_with_bos"]["v3"]) << c["title"];
  }

  // A GGUF vocabulary: llama.cpp's own ids (no BOS), one output line per input.
  const std::string sep = "\n__ggml_vocab_test__\n";
  const std::string inp = test::read_data("llamacpp-vocab-tests/ggml-vocab-llama-spm.gguf.inp");
  std::istringstream out(test::read_data("llamacpp-vocab-tests/ggml-vocab-llama-spm.gguf.out"));
  size_t cases = 0;
  for (size_t pos = 0, at; (at = inp.find(sep, pos)) != std::string::npos && cases < 12;
       pos = at + sep.size(), ++cases) {
    std::string line;
    std::getline(out, line);
    auto t = test::run_cli({"tokenize", "--no-special", "--",
                            test::data_path("llamacpp-vocab-tests/ggml-vocab-llama-spm.gguf"),
                            inp.substr(pos, at - pos)});
    ASSERT_EQ(t.exit_code, 0) << t.err;
    // llama.cpp writes " id id ..." and corelm "id id ...": compare the numbers.
    std::istringstream a(line), b(t.out);
    std::vector<int> expected_ids{std::istream_iterator<int>(a), std::istream_iterator<int>()};
    std::vector<int> got_ids{std::istream_iterator<int>(b), std::istream_iterator<int>()};
    EXPECT_EQ(got_ids, expected_ids)
        << "case " << cases << ": '" << inp.substr(pos, at - pos) << "'";
  }
  EXPECT_EQ(cases, 12u);
}

// The usage block of README.md (```sh lines starting "corelm SUBCOMMAND").
std::map<std::string, std::set<std::string>> readme_options() {
  std::ifstream in(std::string(CORELM_SOURCE_DIR) + "/README.md");
  std::map<std::string, std::set<std::string>> options;
  std::string line;
  const std::regex command("^corelm ([a-z][a-z-]*) "), option("(--[a-z][a-z-]*)");
  while (std::getline(in, line)) {
    std::smatch m;
    if (!std::regex_search(line, m, command)) continue;
    auto& set = options[m[1]];
    const std::string code = line.substr(0, line.find('#'));
    for (std::sregex_iterator it(code.begin(), code.end(), option), end; it != end; ++it)
      set.insert((*it)[1]);
  }
  return options;
}

TEST(Cli, HelpIsClear) {
  auto r = test::run_cli({"--help"});
  EXPECT_EQ(r.exit_code, 0);
  // Every subcommand README.md shows is listed, has its own help, and that help lists every
  // option README.md uses with it.
  const auto readme = readme_options();
  ASSERT_GE(readme.size(), 6u);
  for (const auto& [cmd, options] : readme) {
    EXPECT_TRUE(std::regex_search(r.out, std::regex("\\n  " + cmd + " +[A-Z]"))) << cmd;
    auto h = test::run_cli({cmd, "--help"});
    EXPECT_EQ(h.exit_code, 0) << cmd;
    EXPECT_NE(h.out.find("Usage: "), std::string::npos) << cmd;
    EXPECT_NE(h.out.find(" " + cmd + " [OPTIONS]"), std::string::npos) << h.out;
    for (const auto& o : options)
      EXPECT_TRUE(std::regex_search(h.out, std::regex("[ ,]" + o + "[ ,=\\n]")))
          << "README.md uses " << cmd << " " << o << " but its --help does not list it";
  }
  // Every option `generate --help` lists is one the parser accepts.
  auto g = test::run_cli({"generate", "--help"});
  std::set<std::string> listed;
  const std::regex listed_option("  (--[a-z][a-z-]*)");
  for (std::sregex_iterator it(g.out.begin(), g.out.end(), listed_option), end; it != end; ++it)
    listed.insert((*it)[1]);
  EXPECT_GE(listed.size(), 15u);
  for (const auto& o : {"--max-length", "--repetition-penalty", "--seed", "--kv-cache"})
    EXPECT_TRUE(listed.count(o)) << o;
  // Usage errors: one `error: [cli] ...` line naming what is wrong and where help is, status 2
  // (main.cpp's contract; runtime errors are status 1).
  r = test::run_cli({"generate"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "error: [cli] prompt is required (see corelm generate --help)\n");
  r = test::run_cli({"generate", "hi", converted("f32"), "--no-such-option"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("error: [cli] "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--no-such-option"), std::string::npos) << r.err;
  r = test::run_cli({});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("error: [cli] A subcommand is required"), std::string::npos) << r.err;
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
  // The template renders "<s>Once upon a time": run.c's prompt and continuation.
  const auto& ref = run_c()["greedy_with_prompt"];
  EXPECT_EQ(json::parse(r.out)["prompt_ids"], ref["prompt_ids"]);
  EXPECT_EQ(ints(json::parse(r.out)["ids"]), slice(ints(ref["ids_after_bos"]), 4, 9));
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

TEST(CliGguf, GenerateTokenizeConvert) {
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

  // `inspect` on GGUF files: tests/e2e/cli_inspect_test.cpp.

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

namespace corelm {
namespace {

TEST(CliBadInput, InvalidUtf8AndNegativeCounts) {
  // Before: an invalid UTF-8 prompt was tokenized byte by byte (and with --chat, nlohmann's
  // type_error reached the catch-all); negative counts meant "no limit".
  const std::string pkg = test::cli_converted("q4s32");
  auto r = test::run_cli({"generate", "Once \xff upon", pkg, "--max-length", "8"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("[cli] the prompt is not valid UTF-8 (byte 0xff at offset 5)"),
            std::string::npos)
      << r.err;
  r = test::run_cli({"generate", "\xc3", pkg, "--chat", "--template", "/dev/null"});
  EXPECT_NE(r.err.find("[cli] the prompt is not valid UTF-8"), std::string::npos) << r.err;
  r = test::run_cli({"generate", "hi", pkg, "--stop", "\xed\xa0\x80"});  // a surrogate
  EXPECT_NE(r.err.find("[cli] --stop is not valid UTF-8"), std::string::npos) << r.err;
  r = test::run_cli({"tokenize", pkg, "\xc0\xaf"});  // overlong '/'
  EXPECT_NE(r.err.find("[cli] the text is not valid UTF-8"), std::string::npos) << r.err;
  for (const char* flag : {"--max-length", "--max-new-tokens", "--max-context", "--seed"}) {
    r = test::run_cli({"generate", "hi", pkg, flag, "-5"});
    EXPECT_EQ(r.exit_code, 2) << flag << ": " << r.err;
    EXPECT_NE(r.err.find("[cli]"), std::string::npos) << r.err;
  }
}

}  // namespace
}  // namespace corelm

namespace corelm {
namespace {

TEST(CliBadInput, DeeplyNestedMessagesAreRefused) {
  // Before: a stack overflow (signal 11) while the CLI re-serialised the messages.
  const std::string path = test::temp_dir() + "/deep-messages.json";
  std::ofstream(path) << R"([{"role": "user", "content": "hi", "x": )" << std::string(300000, '[')
                      << std::string(300000, ']') << "}]";
  auto r = test::run_cli({"chat-template", test::cli_converted("q4s32"), "--messages", path});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("nests arrays or objects more than 128 deep"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace corelm
