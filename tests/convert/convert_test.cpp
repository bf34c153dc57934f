// convert_model on real and deliberately broken Hugging Face folders.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "base/file_util.h"
#include "convert/safetensors.h"
#include "corelm/convert.h"
#include "corelm/error.h"
#include "corelm/model.h"
#include "corelm/tokenizer.h"
#include "package/reader.h"
#include "safetensors_writer.h"
#include "test_support.h"

namespace corelm {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string stories_copy(const std::string& name) {
  std::string dir = test::temp_dir() + "/" + name;
  fs::create_directories(dir);
  for (const auto& e : fs::directory_iterator(test::data_path("tiny-models/stories260K-hf")))
    fs::copy_file(e.path(), dir + "/" + e.path().filename().string(),
                  fs::copy_options::overwrite_existing);
  return dir;
}

ConvertReport convert(const std::string& src, const std::string& out,
                      const std::string& quant = "f32") {
  ConvertOptions o;
  o.source = src;
  o.output = out;
  o.quant = quant;
  o.n_threads = 2;
  return convert_model(o);
}

TEST(Convert, WritesSourceIdConfigAndTokenizer) {
  std::string out = test::temp_dir() + "/meta.clm";
  ConvertOptions o;
  o.source = test::data_path("tiny-models/stories260K-hf");
  o.output = out;
  o.model_id = "karpathy/stories260K";
  ConvertReport r = convert_model(o);
  EXPECT_EQ(r.tensors, 47u);
  EXPECT_EQ(r.parameters, 260032u);
  ASSERT_EQ(r.notes.size(), 1u);  // the five down_proj matrices (172 columns) stay f16
  EXPECT_NE(r.notes[0].find("5 tensor(s) kept in f16 because rows of 172"), std::string::npos)
      << r.notes[0];
  PackageReader p(out);
  EXPECT_EQ(p.header()["source"]["co.huggingface.exporters.name"], "karpathy/stories260K");
  EXPECT_EQ(p.header()["config"]["hidden_size"], 64);
  EXPECT_EQ(p.header()["quantization"]["default"], "q4s32");
  EXPECT_EQ(p.tensor("model.layers.0.self_attn.q_proj.weight").dtype, DType::kQ4S32);
  EXPECT_EQ(p.tensor("model.layers.0.mlp.down_proj.weight").dtype, DType::kF16);
  EXPECT_EQ(p.tensor("model.norm.weight").dtype, DType::kF32);
  EXPECT_EQ(p.tensor("model.embed_tokens.weight").dtype, DType::kF16);
  EXPECT_EQ(*p.blob("tokenizer.json"),
            read_file(test::data_path("tiny-models/stories260K-hf/tokenizer.json"), "test"));
  EXPECT_EQ(p.header()["generation"]["eos_token_id"], 2);
  p.verify_checksums();
}

TEST(Convert, F32KeepsEveryValueExactly) {
  std::string out = test::temp_dir() + "/exact.clm";
  convert(test::data_path("tiny-models/stories260K-hf"), out, "f32");
  auto src = SafetensorsReader::open_folder(test::data_path("tiny-models/stories260K-hf"));
  PackageReader p(out);
  for (const auto& [name, t] : src->tensors()) {
    const auto& pt = p.tensor(name);
    ASSERT_EQ(pt.bytes, t.bytes) << name;
    EXPECT_EQ(std::memcmp(pt.data, t.data, t.bytes), 0) << name;
  }
}

TEST(Convert, ShardedFolderEqualsSingleFile) {
  std::string dir = stories_copy("sharded");
  auto src = SafetensorsReader::open_file(dir + "/model.safetensors");
  std::map<std::string, test::StTensor> first, second;
  json weight_map;
  size_t i = 0;
  for (const auto& [name, t] : src->tensors()) {
    auto& shard = (i++ % 2 == 0) ? first : second;
    shard[name] = {"F32", t.shape, std::string(reinterpret_cast<const char*>(t.data), t.bytes)};
    weight_map[name] = (&shard == &first) ? "model-00001-of-00002.safetensors"
                                          : "model-00002-of-00002.safetensors";
  }
  src.reset();
  fs::remove(dir + "/model.safetensors");
  test::write_safetensors(dir + "/model-00001-of-00002.safetensors", first);
  test::write_safetensors(dir + "/model-00002-of-00002.safetensors", second);
  std::ofstream(dir + "/model.safetensors.index.json") << json{{"weight_map", weight_map}}.dump();

  std::string a = test::temp_dir() + "/single.clm", b = test::temp_dir() + "/sharded.clm";
  convert(test::data_path("tiny-models/stories260K-hf"), a, "q4s32");
  convert(dir, b, "q4s32");
  PackageReader pa(a), pb(b);
  ASSERT_EQ(pa.tensors().size(), pb.tensors().size());
  for (const auto& t : pa.tensors()) {
    const auto& u = pb.tensor(t.name);
    ASSERT_EQ(t.bytes, u.bytes);
    EXPECT_EQ(std::memcmp(t.data, u.data, t.bytes), 0) << t.name;
  }

  fs::remove(dir + "/model-00002-of-00002.safetensors");
  std::string out = test::temp_dir() + "/missing-shard.clm";
  test::expect_error([&] { convert(dir, out); }, ErrorCode::kNotFound,
                     "model-00002-of-00002.safetensors");
  EXPECT_FALSE(fs::exists(out));
}

TEST(Convert, MissingTokenizerIsAnError) {
  std::string dir = stories_copy("no-tokenizer");
  fs::remove(dir + "/tokenizer.json");
  std::string out = test::temp_dir() + "/no-tokenizer.clm";
  test::expect_error([&] { convert(dir, out); }, ErrorCode::kNotFound,
                     "[convert] '" + dir + "' has no tokenizer.json");
  EXPECT_FALSE(fs::exists(out));
}

TEST(Convert, UnsupportedArchitectureIsAnError) {
  std::string dir = stories_copy("gpt2-arch");
  json c = json::parse(read_file(dir + "/config.json", "test"));
  c["architectures"] = {"GPT2LMHeadModel"};
  c["model_type"] = "gpt2";
  std::ofstream(dir + "/config.json") << c.dump();
  test::expect_error([&] { convert(dir, test::temp_dir() + "/gpt2.clm"); }, ErrorCode::kUnsupported,
                     "[config] unsupported architecture 'GPT2LMHeadModel'");
}

TEST(Convert, ConfigThatContradictsTheWeightsIsAnError) {
  std::string dir = stories_copy("bad-shape");
  json c = json::parse(read_file(dir + "/config.json", "test"));
  c["intermediate_size"] = 176;
  std::ofstream(dir + "/config.json") << c.dump();
  test::expect_error(
      [&] { convert(dir, test::temp_dir() + "/bad-shape.clm"); }, ErrorCode::kCorrupt,
      "[convert] tensor 'model.layers.0.mlp.gate_proj.weight' has shape [172, 64] but "
      "config.json implies [176, 64]");
}

TEST(Convert, MissingTensorAndUnknownQuantAreErrors) {
  std::string dir = stories_copy("bad-quant");
  test::expect_error([&] { convert(dir, test::temp_dir() + "/q3.clm", "q3"); },
                     ErrorCode::kInvalidArgument, "--quant 'q3'");
  test::expect_error([&] { convert(test::temp_dir() + "/nowhere", test::temp_dir() + "/x.clm"); },
                     ErrorCode::kNotFound, "not a Hugging Face model folder");
}

TEST(Config, ParsesMistralAndDefaults) {
  ModelConfig c = ModelConfig::from_hf_json(
      read_file(test::data_path("mistral-7b-v0.1-hf/config.json"), "test"));
  EXPECT_EQ(c.architecture, "MistralForCausalLM");
  EXPECT_EQ(c.head_dim, 128);  // 4096 / 32, not in the file
  EXPECT_EQ(c.num_key_value_heads, 8);
  ASSERT_TRUE(c.sliding_window.has_value());
  EXPECT_EQ(*c.sliding_window, 4096);
  EXPECT_FLOAT_EQ(c.rope_theta, 10000.0f);
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_EQ(c.max_position_embeddings, 32768);
  ModelConfig back = ModelConfig::from_hf_json(c.to_hf_json());
  EXPECT_EQ(back.to_hf_json(), c.to_hf_json());
}

TEST(Config, RejectsBadValues) {
  test::expect_error([] { ModelConfig::from_hf_json("{not json"); }, ErrorCode::kCorrupt,
                     "not valid JSON");
  test::expect_error(
      [] {
        ModelConfig::from_hf_json(R"({"architectures":["LlamaForCausalLM"],"hidden_size":64})");
      },
      ErrorCode::kCorrupt, "config.json: field 'intermediate_size' is missing", "config");
  test::expect_error(
      [] {
        ModelConfig::from_hf_json(
            R"({"architectures":["LlamaForCausalLM"],"hidden_size":64,"intermediate_size":8,
      "num_hidden_layers":1,"num_attention_heads":6,"num_key_value_heads":4,"vocab_size":10})");
      },
      ErrorCode::kCorrupt, "multiple of num_key_value_heads");
}

TEST(Config, WrongJsonTypesNameTheField) {
  // Before: nlohmann::type_error escaped from the parser for each of these.
  const std::string base =
      R"("hidden_size":64,"intermediate_size":128,"num_hidden_layers":1,"num_attention_heads":4,
         "vocab_size":10)";
  struct Case {
    const char* fields;
    const char* message;
  };
  for (const Case& c : std::vector<Case>{
           {R"("architectures":["LlamaForCausalLM"],"hidden_act":null)",
            "field 'hidden_act' must be a string, got null"},
           {R"("model_type":5)", "field 'model_type' must be a string, got the number 5"},
           {R"("architectures":"LlamaForCausalLM")",
            "field 'architectures' must be an array, got a string"},
           {R"("architectures":[7])", "architectures[0] must be a string, got the number 7"},
           {R"("model_type":"llama","rms_norm_eps":"small")",
            "field 'rms_norm_eps' must be a number, got a string"},
           {R"("model_type":"llama","tie_word_embeddings":1)",
            "field 'tie_word_embeddings' must be true or false, got the number 1"},
           {R"("model_type":"llama","eos_token_id":[2,"x"])",
            "eos_token_id[1] must be an integer in [0, 2147483647], got a string"},
           {R"("model_type":"llama","bos_token_id":1e10)",
            "field 'bos_token_id' must be an integer"},
           {R"("model_type":"llama","rope_scaling":"linear")",
            "field 'rope_scaling' must be an object, got a string"},
           {R"("model_type":"llama","rope_scaling":{"type":"linear","factor":[2]})",
            "field 'factor' must be a number, got an array"},
           {R"("model_type":"llama","sliding_window":-1)",
            "field 'sliding_window' must be an integer in [0, 2147483647], got the number -1"},
           {R"("model_type":"llama","rope_theta":1e300)", "field 'rope_theta' is out of range"},
           // Degenerate scaling divided by zero in the RoPE tables (NaN logits, no error).
           {R"("model_type":"llama","rope_scaling":{"type":"linear","factor":0})",
            "rope_scaling factor must be positive, got 0"},
           {R"("model_type":"llama","rope_scaling":{"rope_type":"llama3","factor":8,
               "low_freq_factor":4,"high_freq_factor":4})",
            "llama3 rope_scaling needs 0 < low_freq_factor < high_freq_factor"},
       }) {
    SCOPED_TRACE(c.fields);
    test::expect_error([&] { ModelConfig::from_hf_json("{" + base + "," + c.fields + "}"); },
                       ErrorCode::kCorrupt, c.message, "config");
  }
  test::expect_error([] { ModelConfig::from_hf_json("[1]"); }, ErrorCode::kCorrupt,
                     "the document must be an object, got an array", "config");
  // Hugging Face's None means "not set": the defaults apply.
  ModelConfig c = ModelConfig::from_hf_json(
      "{" + base +
      R"(,"model_type":"llama","sliding_window":null,"rope_scaling":null,"bos_token_id":null})");
  EXPECT_FALSE(c.sliding_window.has_value());
  EXPECT_EQ(c.bos_token_id, -1);
}

}  // namespace
}  // namespace corelm

#include "tiny_model.h"

namespace corelm {
namespace {

TEST(Convert, FolderWithOnlyASentencePieceModel) {
  // Mistral-7B-Instruct-v0.3 ships tokenizer.model; mistral-common's v3 models exist only so.
  const std::string spm_path =
      test::data_path("mistral-spm-models/mistral_instruct_tokenizer_240323.model.v3");
  std::string dir = test::temp_dir() + "/spm-only";
  test::TinyShape shape;
  shape.vocab = 32768;
  test::write_tiny_model(dir, shape);
  std::filesystem::copy_file(spm_path, dir + "/tokenizer.model",
                             std::filesystem::copy_options::overwrite_existing);
  std::string out = test::temp_dir() + "/spm-only.clm";
  convert(dir, out, "q4s32");
  PackageReader p(out);
  ASSERT_TRUE(p.blob("tokenizer.model").has_value());
  EXPECT_EQ(*p.blob("tokenizer.model"), read_file(spm_path, "test"));  // byte for byte
  EXPECT_FALSE(p.blob("tokenizer.json").has_value());

  // The packaged tokenizer against ids made outside corelm for this very model file: the
  // aknorw peer cases (v3) and Google SentencePiece's own encodings (SOURCES.md).
  auto model = Model::load(out);
  const Tokenizer& tok = model->tokenizer();
  size_t checked = 0;
  for (const auto& c :
       json::parse(test::read_data("mistral-tokenizer-vectors/aknorw_bpe_cases.json"))) {
    EXPECT_EQ(tok.encode(c["text"].get<std::string>()),
              c["ids_with_bos"]["v3"].get<std::vector<int32_t>>())
        << c["title"];
    ++checked;
  }
  auto ref = json::parse(test::read_data("mistral-tokenizer-vectors/generated_spm_reference.json"));
  for (const auto& e : ref["entries"]) {
    if (!e.contains("mistral_v3_ids")) continue;
    const auto text = e["text"].get<std::string>();
    const auto ids = e["mistral_v3_ids"].get<std::vector<int32_t>>();
    EXPECT_EQ(tok.encode(text), ids) << e["id"];
    EXPECT_EQ(tok.decode(ids), text) << e["id"];
    ++checked;
  }
  EXPECT_GT(checked, 30u);
  // [INST] is id 3 and a control token in the v3 model (SOURCES.md); BOS 1, EOS 2.
  EXPECT_EQ(tok.token_to_id("[INST]"), 3);
  EXPECT_TRUE(tok.is_special(3));
  EXPECT_EQ(tok.vocab_size(), 32768);

  Session s(model, {});
  const auto hello = tok.encode("Hello");
  auto logits = s.forward(hello, 1, static_cast<int>(hello.size())).span<float>();
  EXPECT_EQ(logits.size(), 32768u);  // vocab_size of config.json
}

}  // namespace
}  // namespace corelm
