#include <map>
#include <mutex>
#include <nlohmann/json.hpp>

#include "corelm/convert.h"
#include "corelm/tokenizer.h"
#include "test_support.h"

namespace corelm::test {

const std::string& stories_package(const std::string& quant) {
  static std::mutex mu;
  static std::map<std::string, std::string> packages;
  std::lock_guard<std::mutex> lock(mu);
  auto it = packages.find(quant);
  if (it != packages.end()) return it->second;
  ConvertOptions o;
  o.source = data_path("tiny-models/stories260K-hf");
  o.output = temp_dir() + "/stories260K-" + quant + ".clm";
  o.quant = quant;
  o.n_threads = 1;
  convert_model(o);
  return packages[quant] = o.output;
}

const std::string& stories_functions_package() {
  static std::once_flag once;
  static std::string path;
  std::call_once(once, [] {
    ConvertOptions o;
    o.source = data_path("tiny-models/stories260K-hf");
    o.output = temp_dir() + "/stories-functions.clm";
    o.quant = "f32";
    o.adapter_dtype = "f32";
    o.n_threads = 1;
    for (const char* name : {"r4", "r16", "rslora", "fan_in_fan_out"})
      o.adapters.push_back({name, lora_fixture(name)});
    convert_model(o);
    path = o.output;
  });
  return path;
}

std::shared_ptr<Model> stories_merged_model(const std::string& name) {
  static std::mutex mu;
  static std::map<std::string, std::shared_ptr<Model>> models;
  std::lock_guard<std::mutex> lock(mu);
  auto& m = models[name];
  if (!m) {
    ConvertOptions o;
    o.source = lora_fixture("merged_" + name);
    o.output = temp_dir() + "/merged-" + name + ".clm";
    o.quant = "f32";
    o.n_threads = 1;
    convert_model(o);
    m = Model::load(o.output);
  }
  return m;
}

GenerationResult generate_alone(const std::shared_ptr<Model>& model,
                                const std::vector<int32_t>& prompt, int max_new) {
  SessionOptions so;
  so.kv_cache = KvCacheType::kF32;
  Session session(model, so);
  Generator g(session, model->tokenizer());
  GenerateOptions o;
  o.max_new_tokens = max_new;
  o.ignore_eos = true;
  return g.generate(prompt, o);
}

const std::string& cli_converted(const std::string& quant) {
  static std::mutex mu;
  static std::map<std::string, std::string> paths;
  std::lock_guard<std::mutex> lock(mu);
  auto it = paths.find(quant);
  if (it != paths.end()) return it->second;
  std::string out = temp_dir() + "/cli-" + quant + ".clm";
  auto r =
      run_cli({"convert", data_path("tiny-models/stories260K-hf"), "-o", out, "--quant", quant});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return paths[quant] = out;
}

const std::vector<int32_t>& runc_greedy_story() {
  static const std::vector<int32_t> story = [] {
    auto ref = nlohmann::json::parse(read_data("tiny-models/stories260K/reference_outputs.json"));
    std::vector<int32_t> ids{1};
    for (const auto& id : ref["greedy_from_bos"]["ids"]) ids.push_back(id.get<int32_t>());
    return ids;
  }();
  return story;
}

std::shared_ptr<Model> stories_model(const std::string& quant) {
  return Model::load(stories_package(quant));
}

}  // namespace corelm::test
