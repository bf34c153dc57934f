// corelm serve over real HTTP (cpp-httplib's client) on a loopback port. Expected answers come
// from the slower path: the same prompt generated alone by the Generator.
#include "serve/server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "base/file_util.h"
#include "chat_prompt.h"
#include "corelm/chat.h"
#include "corelm/tokenizer.h"
#include "test_support.h"

namespace corelm::serve {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

class Running {
 public:
  explicit Running(ServerOptions o = {}, const std::string& quant = "f32") {
    model_ = test::stories_model(quant);
    o.port = 0;
    o.kv_cache = KvCacheType::kF32;  // as the Generator runs alone
    server_ = std::make_unique<Server>(model_, o);
    port_ = server_->bind();
    thread_ = std::thread([this] { server_->run(); });
  }
  ~Running() {
    server_->stop();
    thread_.join();
  }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(60, 0);
    return c;
  }
  int port() const { return port_; }
  Server& server() { return *server_; }
  const std::shared_ptr<Model>& model() const { return model_; }

 private:
  std::shared_ptr<Model> model_;
  std::unique_ptr<Server> server_;
  int port_ = 0;
  std::thread thread_;
};

json post(const httplib::Client& c0, const std::string& path, const json& body,
          int* status = nullptr, const httplib::Headers& headers = {}) {
  auto& c = const_cast<httplib::Client&>(c0);
  auto r = c.Post(path, headers, body.dump(), "application/json");
  EXPECT_TRUE(r) << "no response from " << path;
  if (!r) return {};
  if (status) *status = r->status;
  return json::parse(r->body);
}

// The greedy answer the Generator gives alone for `text` (the rendered prompt).
std::string alone(const std::shared_ptr<Model>& model, const std::string& text, bool add_bos,
                  int max_new, std::vector<int32_t>* ids = nullptr) {
  SessionOptions so;
  so.kv_cache = KvCacheType::kF32;
  Session s(model, so);
  Generator g(s, model->tokenizer());
  GenerateOptions o;
  o.max_new_tokens = max_new;
  auto r = g.generate(model->tokenizer().encode(text, add_bos), o);
  if (ids) *ids = r.ids;
  return r.text;
}

std::string chatml(const std::string& user) {
  return "<|im_start|>user\n" + user + "<|im_end|>\n<|im_start|>assistant\n";
}

// The data lines of an SSE body.
std::vector<std::string> sse_data(const std::string& body) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < body.size()) {
    size_t end = body.find("\n\n", pos);
    EXPECT_NE(end, std::string::npos) << "an event without its blank line: " << body.substr(pos);
    if (end == std::string::npos) break;
    std::string event = body.substr(pos, end - pos);
    EXPECT_EQ(event.rfind("data: ", 0), 0u) << event;
    out.push_back(event.substr(6));
    pos = end + 2;
  }
  return out;
}

TEST(Server, ChatCompletionIsTheGreedyAnswerOfTheRenderedPrompt) {
  Running s;
  int status = 0;
  json r = post(s.client(), "/v1/chat/completions",
                {{"messages", {{{"role", "user"}, {"content", "Once upon a time"}}}},
                 {"max_tokens", 30},
                 {"temperature", 0}},
                &status);
  ASSERT_EQ(status, 200) << r.dump();
  std::vector<int32_t> ids;
  std::string expected = alone(s.model(), chatml("Once upon a time"), true, 30, &ids);
  EXPECT_EQ(r["object"], "chat.completion");
  EXPECT_EQ(r["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(r["choices"][0]["message"]["content"], expected);
  EXPECT_EQ(r["usage"]["completion_tokens"], ids.size());
  EXPECT_EQ(r["usage"]["prompt_tokens"],
            s.model()->tokenizer().encode(chatml("Once upon a time"), true).size());
  EXPECT_EQ(r["choices"][0]["finish_reason"], ids.size() == 30 ? "length" : "stop");
}

TEST(Server, StreamedChunksAddUpToTheSameAnswerAndEndWithDone) {
  Running s;
  json body = {{"messages", {{{"role", "user"}, {"content", "Lily and Tom"}}}},
               {"max_tokens", 40},
               {"temperature", 0},
               {"stream", true},
               {"stream_options", {{"include_usage", true}}}};
  auto c = s.client();
  auto r = c.Post("/v1/chat/completions", body.dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/event-stream");
  auto events = sse_data(r->body);
  ASSERT_GE(events.size(), 4u);
  EXPECT_EQ(events.back(), "[DONE]");
  std::string content;
  int finishes = 0;
  json usage;
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    json e = json::parse(events[i]);
    EXPECT_EQ(e["object"], "chat.completion.chunk");
    if (e.contains("usage") && !e["usage"].is_null()) usage = e["usage"];
    if (e["choices"].empty()) continue;
    const json& ch = e["choices"][0];
    if (i == 0) {
      EXPECT_EQ(ch["delta"]["role"], "assistant");
    }
    if (ch["delta"].contains("content")) content += ch["delta"]["content"].get<std::string>();
    if (!ch["finish_reason"].is_null()) ++finishes;
  }
  std::vector<int32_t> ids;
  EXPECT_EQ(content, alone(s.model(), chatml("Lily and Tom"), true, 40, &ids));
  EXPECT_EQ(finishes, 1);
  ASSERT_FALSE(usage.is_null()) << "include_usage: the last chunk carries usage";
  EXPECT_EQ(usage["completion_tokens"], ids.size());
}

TEST(Server, CompletionsModelsHealthAndMetrics) {
  ServerOptions o;
  o.model_name = "stories";
  Running s(o);
  int status = 0;
  json r = post(s.client(), "/v1/completions",
                {{"model", "stories"},
                 {"prompt", "Once upon a time"},
                 {"max_tokens", 20},
                 {"temperature", 0},
                 {"echo", true}},
                &status);
  ASSERT_EQ(status, 200) << r.dump();
  EXPECT_EQ(r["object"], "text_completion");
  EXPECT_EQ(r["choices"][0]["text"],
            "Once upon a time" + alone(s.model(), "Once upon a time", true, 20));
  auto c = s.client();
  auto m = c.Get("/v1/models");
  ASSERT_TRUE(m);
  json models = json::parse(m->body);
  EXPECT_EQ(models["data"][0]["id"], "stories");
  auto h = c.Get("/health");
  ASSERT_TRUE(h);
  EXPECT_EQ(json::parse(h->body)["status"], "ok");
  auto met = c.Get("/metrics");
  ASSERT_TRUE(met);
  EXPECT_NE(met->body.find("corelm_requests_total{endpoint=\"/v1/completions\",status=\"200\"} 1"),
            std::string::npos)
      << met->body;
  EXPECT_NE(met->body.find("corelm_slots_total 4"), std::string::npos);
  EXPECT_NE(met->body.find("corelm_generated_tokens_total 20"), std::string::npos);
}

void expect_api_error(const json& body, int status, int expected_status, const std::string& type,
                      const std::string& fragment) {
  EXPECT_EQ(status, expected_status) << body.dump();
  ASSERT_TRUE(body.contains("error")) << body.dump();
  EXPECT_EQ(body["error"]["type"], type) << body.dump();
  EXPECT_NE(body["error"]["message"].get<std::string>().find(fragment), std::string::npos)
      << body.dump();
  EXPECT_TRUE(body["error"].contains("param"));
  EXPECT_TRUE(body["error"].contains("code"));
}

TEST(Server, BadRequestsGetOpenAIErrorsAndTheServerGoesOn) {
  ServerOptions o;
  o.max_context = 64;
  o.max_body_bytes = 4096;
  Running s(o);
  auto c = s.client();
  auto raw = [&](const std::string& path, const std::string& body, int* status) {
    auto r = c.Post(path, body, "application/json");
    EXPECT_TRUE(r);
    *status = r ? r->status : 0;
    return r ? json::parse(r->body) : json();
  };
  int status = 0;
  json e = raw("/v1/chat/completions", "{\"messages\": [", &status);
  expect_api_error(e, status, 400, "invalid_request_error", "JSON");
  e = raw("/v1/chat/completions", "{\"messages\": 7}", &status);
  expect_api_error(e, status, 400, "invalid_request_error", "messages");
  e = post(c, "/v1/chat/completions",
           {{"model", "gpt-4"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}}, &status);
  expect_api_error(e, status, 404, "invalid_request_error", "gpt-4");
  e = raw("/v1/chat/completions", std::string(5000, ' ') + "{}", &status);
  expect_api_error(e, status, 413, "invalid_request_error", "4096");
  e = post(c, "/v1/nothing", json::object(), &status);
  expect_api_error(e, status, 404, "invalid_request_error", "/v1/nothing");
  // A prompt longer than the context: both numbers.
  std::string long_text;
  for (int i = 0; i < 40; ++i) long_text += "Once upon a time ";
  e = post(c, "/v1/completions", {{"prompt", long_text}}, &status);
  expect_api_error(e, status, 400, "invalid_request_error", "holds 64");
  // A huge max_tokens is capped by the context, not an error.
  json ok = post(c, "/v1/completions",
                 {{"prompt", "Once upon a time"}, {"max_tokens", 1000000}, {"ignore_eos", true}},
                 &status);
  ASSERT_EQ(status, 200) << ok.dump();
  EXPECT_EQ(ok["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(ok["usage"]["prompt_tokens"].get<int>() + ok["usage"]["completion_tokens"].get<int>(),
            64);
  // Logit bias on an id outside the vocabulary.
  e = post(c, "/v1/completions", {{"prompt", "Once"}, {"logit_bias", {{"99999", 5}}}}, &status);
  expect_api_error(e, status, 400, "invalid_request_error", "99999");
  auto h = c.Get("/health");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
}

TEST(Server, AnApiKeyGuardsTheApiButNotHealth) {
  ServerOptions o;
  o.api_key = "sesame";
  Running s(o);
  auto c = s.client();
  json body = {{"prompt", "Once"}, {"max_tokens", 2}};
  int status = 0;
  json e = post(c, "/v1/completions", body, &status);
  expect_api_error(e, status, 401, "authentication_error", "API key");
  e = post(c, "/v1/completions", body, &status, {{"Authorization", "Bearer wrong"}});
  expect_api_error(e, status, 401, "authentication_error", "invalid");
  post(c, "/v1/completions", body, &status, {{"Authorization", "Bearer sesame"}});
  EXPECT_EQ(status, 200);
  auto h = c.Get("/health");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  auto m = c.Get("/v1/models");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->status, 401);
}

// Opens a raw connection, sends a streaming request, reads a little, then closes it.
void abandon_stream(int port, const std::string& body) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  std::string req =
      "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  ASSERT_EQ(send(fd, req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
  char buf[512];
  ASSERT_GT(recv(fd, buf, sizeof(buf), 0), 0);  // the headers and the first events
  close(fd);
}

int metric(httplib::Client& c, const std::string& name) {
  auto r = c.Get("/metrics");
  if (!r) return -1;
  size_t at = r->body.find("\n" + name + " ");
  if (at == std::string::npos) return -1;
  return std::stoi(r->body.substr(at + name.size() + 2));
}

TEST(Server, AClientThatDisconnectsMidStreamFreesItsSlot) {
  ServerOptions o;
  o.max_context = 8192;  // an answer of thousands of tokens unless cancelled
  o.parallel = 2;
  Running s(o);
  json body = {
      {"prompt", "Once upon a time"}, {"stream", true}, {"ignore_eos", true}, {"max_tokens", 8000}};
  abandon_stream(s.port(), body.dump());
  auto c = s.client();
  int busy = -1;
  for (int i = 0; i < 200 && busy != 0; ++i) {
    busy = metric(c, "corelm_slots_busy");
    if (busy != 0) std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(busy, 0) << "the abandoned request still holds its slot";
  EXPECT_LT(metric(c, "corelm_generated_tokens_total"), 8000);
}

TEST(Server, FiftyRapidRequestsOverFourSlotsAreAnsweredOrRefused) {
  ServerOptions o;
  o.queue_limit = 4;
  Running s(o);
  std::atomic<int> ok = 0, busy = 0, other = 0;
  std::vector<std::thread> clients;
  for (int i = 0; i < 50; ++i) {
    clients.emplace_back([&, i] {
      httplib::Client c("127.0.0.1", s.port());
      c.set_read_timeout(60, 0);
      json body = {{"prompt", "Once upon a time"},
                   {"max_tokens", 16 + i % 8},
                   {"seed", i},
                   {"temperature", 0.8}};
      auto r = c.Post("/v1/completions", body.dump(), "application/json");
      if (r && r->status == 200)
        ++ok;
      else if (r && r->status == 503 && r->get_header_value("Retry-After") == "1")
        ++busy;
      else {
        ++other;
        ADD_FAILURE() << "request " << i << ": "
                      << (r ? "HTTP " + std::to_string(r->status) + " " + r->body
                            : "no response: " + httplib::to_string(r.error()));
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok + busy, 50);
  EXPECT_EQ(other, 0);
  EXPECT_GE(ok, 8);
  auto c = s.client();
  auto h = c.Get("/health");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  EXPECT_EQ(metric(c, "corelm_slots_busy"), 0);
}

TEST(Server, ToolsAreRenderedThroughTheChatTemplate) {
  ServerOptions o;
  o.chat_template_file = test::data_path("mistral-chat-templates/v3_spm.jinja");
  Running s(o);
  json tools = json::parse(R"([{"type": "function", "function": {"name": "get_weather",
      "description": "Weather of a city", "parameters": {"type": "object",
      "properties": {"city": {"type": "string"}}, "required": ["city"]}}}])");
  json messages = {{{"role", "user"}, {"content", "Weather in Paris?"}}};
  int status = 0;
  json r = post(s.client(), "/apply-template", {{"messages", messages}, {"tools", tools}}, &status);
  ASSERT_EQ(status, 200) << r.dump();
  // What Python's Jinja2 renders for the same template and conversation.
  ChatTemplateOptions co;
  co.add_generation_prompt = true;
  co.bos_token = s.model()->tokenizer().bos_token();
  co.eos_token = s.model()->tokenizer().eos_token();
  co.tools_json = tools.dump();
  const std::string source = read_file(o.chat_template_file, "test");
  EXPECT_EQ(r["prompt"], ChatTemplate::compile(source)->render(messages.dump(), co));
  EXPECT_NE(r["prompt"].get<std::string>().find("[AVAILABLE_TOOLS]"), std::string::npos);
  EXPECT_NE(r["prompt"].get<std::string>().find("get_weather"), std::string::npos);
  // tool_choice "none": no tools in the prompt.
  r = post(s.client(), "/apply-template",
           {{"messages", messages}, {"tools", tools}, {"tool_choice", "none"}}, &status);
  EXPECT_EQ(r["prompt"].get<std::string>().find("[AVAILABLE_TOOLS]"), std::string::npos);
}

TEST(Server, StopEndsRunningStreamsWithinTheGracePeriod) {
  ServerOptions o;
  o.max_context = 8192;
  o.grace_seconds = 0;
  auto model = test::stories_model("f32");
  o.port = 0;
  Server server(model, o);
  int port = server.bind();
  std::thread run([&] { server.run(); });
  std::string body;
  std::thread client([&] {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(60, 0);
    json req = {{"prompt", "Once"}, {"stream", true}, {"ignore_eos", true}, {"max_tokens", 8000}};
    auto r = c.Post("/v1/completions", req.dump(), "application/json");
    if (r) body = r->body;
  });
  // Stop once the answer is running (an emulated build may take a while to get there).
  httplib::Client probe("127.0.0.1", port);
  for (int i = 0; i < 3000; ++i) {
    auto h = probe.Get("/health");
    if (h && json::parse(h->body)["slots_processing"].get<int>() > 0) break;
    std::this_thread::sleep_for(10ms);
  }
  server.stop();
  run.join();  // returns: every connection is done
  client.join();
  ASSERT_FALSE(body.empty());
  EXPECT_NE(body.find("data: [DONE]"), std::string::npos) << "the stream ended properly";
}

}  // namespace
}  // namespace corelm::serve
