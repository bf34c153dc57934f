// corelm serve with a package's functions: "model": "MODEL:NAME" picks a LoRA function per
// request, /v1/models lists them. Expected text: the NumPy-merged model run alone.
#include <gtest/gtest.h>
#include <httplib.h>

#include <thread>

#include "corelm/generate.h"
#include "corelm/tokenizer.h"
#include "serve/server.h"
#include "test_support.h"

namespace corelm::serve {
namespace {

using nlohmann::json;

std::string alone(const std::shared_ptr<Model>& model, const std::string& prompt, int max_new) {
  return test::generate_alone(model, model->tokenizer().encode(prompt, true), max_new).text;
}

TEST(ServerFunctions, ModelColonFunctionPicksTheAdapterAndModelsListsThem) {
  auto model = Model::load(test::stories_functions_package());
  ServerOptions o;
  o.port = 0;
  o.parallel = 3;
  o.kv_cache = KvCacheType::kF32;
  o.model_name = "stories";
  Server server(model, o);
  const int port = server.bind();
  std::thread thread([&] { server.run(); });
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(60, 0);

  auto models = c.Get("/v1/models");
  ASSERT_TRUE(models);
  json list = json::parse(models->body)["data"];
  std::vector<std::string> ids;
  for (const auto& m : list) ids.push_back(m["id"].get<std::string>());
  EXPECT_EQ(ids, (std::vector<std::string>{"stories", "stories:r4", "stories:r16", "stories:rslora",
                                           "stories:fan_in_fan_out"}));
  EXPECT_EQ(list[2]["meta"]["function"]["max_rank"], 16);
  auto one = c.Get("/v1/models/stories:r16");
  ASSERT_TRUE(one);
  EXPECT_EQ(json::parse(one->body)["id"], "stories:r16");

  // Three requests at once, three functions: each the text its model gives alone.
  const std::vector<std::pair<std::string, std::shared_ptr<Model>>> cases = {
      {"stories:r4", test::stories_merged_model("r4")},
      {"stories", test::stories_model("f32")},
      {"stories:r16", test::stories_merged_model("r16")}};
  std::vector<std::string> got(cases.size());
  std::vector<std::thread> clients;
  for (size_t i = 0; i < cases.size(); ++i)
    clients.emplace_back([&, i] {
      httplib::Client ci("127.0.0.1", port);
      ci.set_read_timeout(60, 0);
      json body = {{"model", cases[i].first},
                   {"prompt", "Once upon a time"},
                   {"max_tokens", 24},
                   {"temperature", 0},
                   {"ignore_eos", true}};
      auto r = ci.Post("/v1/completions", body.dump(), "application/json");
      if (r && r->status == 200) {
        const json answer = json::parse(r->body);
        got[i] = answer["choices"][0]["text"].get<std::string>();
        if (answer["model"] != cases[i].first) got[i] = "answered as " + answer["model"].dump();
      }
    });
  for (auto& t : clients) t.join();
  for (size_t i = 0; i < cases.size(); ++i)
    EXPECT_EQ(got[i], alone(cases[i].second, "Once upon a time", 24)) << cases[i].first;
  EXPECT_NE(got[0], got[1]);

  auto missing = c.Post("/v1/completions", json{{"model", "stories:nope"}, {"prompt", "x"}}.dump(),
                        "application/json");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_NE(missing->body.find("stories:r4"), std::string::npos) << missing->body;
  server.stop();
  thread.join();
}

TEST(ServerFunctions, DefaultFunctionServesRequestsNamingTheModelAlone) {
  auto model = Model::load(test::stories_functions_package());
  ServerOptions o;
  o.port = 0;
  o.parallel = 2;
  o.kv_cache = KvCacheType::kF32;
  o.model_name = "stories";
  o.function = "r16";
  Server server(model, o);
  const int port = server.bind();
  std::thread thread([&] { server.run(); });
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(60, 0);
  auto ask = [&](const std::string& id) {
    json body = {{"model", id},
                 {"prompt", "Once upon a time"},
                 {"max_tokens", 20},
                 {"temperature", 0},
                 {"ignore_eos", true}};
    auto r = c.Post("/v1/completions", body.dump(), "application/json");
    return r && r->status == 200 ? json::parse(r->body)["choices"][0]["text"].get<std::string>()
                                 : std::string("failed");
  };
  EXPECT_EQ(ask("stories"), alone(test::stories_merged_model("r16"), "Once upon a time", 20));
  EXPECT_EQ(ask("stories:main"), alone(test::stories_model("f32"), "Once upon a time", 20));
  server.stop();
  thread.join();
  ServerOptions bad = o;
  bad.function = "nope";
  test::expect_error([&] { Server s(model, bad); }, ErrorCode::kNotFound, "no function 'nope'",
                     "serve");
}

}  // namespace
}  // namespace corelm::serve
