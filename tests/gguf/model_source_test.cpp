// ModelSource: stories260K from its Hugging Face folder, from a package converted from that
// folder, and from llama.cpp's GGUF of the same checkpoint present the same model: the same
// config, the same tensors under the same names, and (in transformers' row order, the GGUF's
// interleaved q/k rows put back) the same values.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "convert/hf_source.h"
#include "corelm/convert.h"
#include "gguf/gguf_source.h"
#include "model/model_impl.h"
#include "package/package_source.h"
#include "source/llama_tensors.h"
#include "test_support.h"

namespace corelm {
namespace {

std::string gguf_path() {
  return test::data_path("tiny-models/stories260K-gguf/stories260K.gguf");
}

std::set<std::string> names_of(const ModelSource& s) {
  auto v = s.tensor_names();
  return {v.begin(), v.end()};
}

// All values of tensor `name` as floats, rows in transformers' order.
std::vector<float> values(const ModelSource& s, const std::string& name) {
  auto t = s.tensor(name);
  EXPECT_TRUE(t.has_value()) << name;
  if (!t) return {};
  std::vector<float> out(t->rows() * t->cols());
  for (uint64_t r = 0; r < t->rows(); ++r)
    read_row_as_float(*t, r, static_cast<uint64_t>(s.config().head_dim), &out[r * t->cols()]);
  return out;
}

void expect_same_architecture(const ModelConfig& a, const ModelConfig& b) {
  EXPECT_EQ(a.hidden_size, b.hidden_size);
  EXPECT_EQ(a.intermediate_size, b.intermediate_size);
  EXPECT_EQ(a.num_hidden_layers, b.num_hidden_layers);
  EXPECT_EQ(a.num_attention_heads, b.num_attention_heads);
  EXPECT_EQ(a.num_key_value_heads, b.num_key_value_heads);
  EXPECT_EQ(a.head_dim, b.head_dim);
  EXPECT_EQ(a.vocab_size, b.vocab_size);
  EXPECT_FLOAT_EQ(a.rms_norm_eps, b.rms_norm_eps);
  EXPECT_FLOAT_EQ(a.rope_theta, b.rope_theta);
  EXPECT_EQ(a.bos_token_id, b.bos_token_id);
  EXPECT_EQ(a.eos_token_ids, b.eos_token_ids);
}

TEST(ModelSource, PackageAndGgufOfOneModelAgree) {
  ConvertOptions o;
  o.source = test::data_path("tiny-models/stories260K-hf");
  o.output = test::temp_dir() + "/source-test-f32.clm";
  o.quant = "f32";
  convert_model(o);
  PackageSource package(o.output);
  HfFolderSource folder(o.source);
  GgufSource gguf(gguf_path());

  expect_same_architecture(package.config(), gguf.config());
  expect_same_architecture(folder.config(), gguf.config());
  EXPECT_EQ(package.metadata().format, "clm");
  EXPECT_EQ(folder.metadata().format, "safetensors");
  EXPECT_EQ(gguf.metadata().format, "gguf");

  // The HF export ties the output projection to the embedding; llama.cpp's file stores it.
  ASSERT_TRUE(package.config().tie_word_embeddings);
  ASSERT_FALSE(gguf.config().tie_word_embeddings);
  const auto expected = expected_tensors(package.config(), false);
  std::set<std::string> want;
  for (const auto& e : expected) want.insert(e.name);
  EXPECT_EQ(names_of(package), want);
  EXPECT_EQ(names_of(folder), want);
  std::set<std::string> gguf_names = names_of(gguf);
  EXPECT_EQ(gguf_names.erase("lm_head.weight"), 1u);
  EXPECT_EQ(gguf_names, want);

  for (const auto& e : expected) {
    SCOPED_TRACE(e.name);
    auto p = package.tensor(e.name), g = gguf.tensor(e.name);
    ASSERT_TRUE(p && g);
    EXPECT_EQ(p->shape, e.shape);
    EXPECT_EQ(g->shape, e.shape);
    const bool qk = e.name.ends_with("q_proj.weight") || e.name.ends_with("k_proj.weight");
    EXPECT_EQ(g->rotary_interleaved, qk);
    EXPECT_FALSE(p->rotary_interleaved);
    // Both are the f32 weights of one checkpoint.
    EXPECT_EQ(values(package, e.name), values(gguf, e.name));
    EXPECT_EQ(values(folder, e.name), values(gguf, e.name));
  }
  EXPECT_EQ(values(gguf, "lm_head.weight"), values(package, "model.embed_tokens.weight"));
}

TEST(ModelSource, LoadedModelsHaveTheSameTensorsAndRotaryLayoutFromTheSource) {
  auto from_gguf = Model::load(gguf_path());
  auto from_clm = test::stories_model("f32");
  auto g = model_tensors(*from_gguf), p = model_tensors(*from_clm);
  ASSERT_EQ(g.size(), p.size() + 1);  // lm_head: untied in the GGUF
  for (size_t i = 0; i < p.size(); ++i) {
    EXPECT_EQ(g[i].name, p[i].name);
    EXPECT_EQ(g[i].shape, p[i].shape);
    EXPECT_EQ(g[i].type, "f32");
    EXPECT_EQ(p[i].type, "f32");
  }
  EXPECT_EQ(g.back().name, "lm_head.weight");
  EXPECT_TRUE(model_weights(*from_gguf).rope_interleaved);
  EXPECT_FALSE(model_weights(*from_clm).rope_interleaved);
  EXPECT_EQ(from_gguf->info().format, "gguf");
  EXPECT_EQ(from_clm->info().format, "clm");
  EXPECT_EQ(from_gguf->tokenizer().vocab_size(), from_clm->tokenizer().vocab_size());
}

TEST(ModelSource, TensorNamesMapBetweenHfAndGguf) {
  EXPECT_EQ(gguf_tensor_name("model.layers.12.self_attn.q_proj.weight"), "blk.12.attn_q.weight");
  EXPECT_EQ(gguf_tensor_name("model.layers.0.mlp.down_proj.weight"), "blk.0.ffn_down.weight");
  EXPECT_EQ(gguf_tensor_name("model.embed_tokens.weight"), "token_embd.weight");
  EXPECT_EQ(gguf_tensor_name("model.layers.x.mlp.down_proj.weight"), std::nullopt);
  EXPECT_EQ(gguf_tensor_name("model.layers.1.mlp.down_proj.bias"), std::nullopt);
  EXPECT_EQ(hf_tensor_name("blk.3.ffn_norm.weight"),
            "model.layers.3.post_attention_layernorm.weight");
  EXPECT_EQ(hf_tensor_name("output.weight"), "lm_head.weight");
  EXPECT_EQ(hf_tensor_name("blk.3.unknown.weight"), "");
  // GGUF row 2i + j of a head holds transformers' row j * head_dim/2 + i (head_dim 8).
  const uint64_t expect[8] = {0, 2, 4, 6, 1, 3, 5, 7};
  for (uint64_t r = 0; r < 8; ++r) EXPECT_EQ(interleaved_rotary_row(r, 8), expect[r]) << r;
  EXPECT_EQ(interleaved_rotary_row(8 + 5, 8), 8u + 3u);
}

}  // namespace
}  // namespace corelm
