// serve_bench: a load generator for OpenAI-compatible servers (corelm serve, llama-server). For
// each concurrency level C it runs C clients at once, each sending R streaming /v1/completions
// requests one after another (a fixed prompt with a distinct prefix per request, so no two share
// a cached prompt; ignore_eos and max_tokens N, so every answer is N tokens), and reports:
// aggregate generated tokens/s over the level's wall time, time to first token (p50, p99) and
// per-request decode tokens/s. One JSON line per level with --json.
//   serve_bench --port 8080 --clients 1,2,4,8 --requests 2 --max-tokens 128
#include <httplib.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {
using Clock = std::chrono::steady_clock;

struct Result {
  bool ok = false;
  std::string error;
  double ttft = 0.0;   // seconds to the first token's event
  double total = 0.0;  // seconds to the end
  int tokens = 0;      // events with text (one token each on both servers)
};

double seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

Result one_request(const std::string& host, int port, const std::string& model,
                   const std::string& prompt, int max_tokens) {
  Result r;
  httplib::Client c(host, port);
  c.set_read_timeout(600, 0);
  nlohmann::json body = {{"prompt", prompt},   {"max_tokens", max_tokens}, {"stream", true},
                         {"temperature", 0.0}, {"ignore_eos", true},       {"cache_prompt", false}};
  if (!model.empty()) body["model"] = model;
  const auto start = Clock::now();
  std::string buffer;
  bool first = true;
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/completions";
  req.body = body.dump();
  req.set_header("Content-Type", "application/json");
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    buffer.append(data, n);
    size_t end;
    while ((end = buffer.find("\n\n")) != std::string::npos) {
      std::string event = buffer.substr(0, end);
      buffer.erase(0, end + 2);
      if (event.rfind("data: ", 0) != 0 || event == "data: [DONE]") continue;
      auto j = nlohmann::json::parse(event.substr(6), nullptr, false);
      if (j.is_discarded() || !j.contains("choices") || j["choices"].empty()) continue;
      const auto& t = j["choices"][0]["text"];
      if (t.is_string() && !t.get<std::string>().empty()) {
        if (first) r.ttft = seconds(start, Clock::now());
        first = false;
        ++r.tokens;
      }
    }
    return true;
  };
  auto res = c.send(req);
  r.total = seconds(start, Clock::now());
  if (!res) {
    r.error = httplib::to_string(res.error());
  } else if (res->status != 200) {
    r.error = "HTTP " + std::to_string(res->status);
  } else {
    r.ok = r.tokens > 0;
    if (!r.ok) r.error = "no tokens";
  }
  return r;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"serve_bench: concurrent streaming clients against an OpenAI-compatible server"};
  std::string host = "127.0.0.1", model, prompt, label;
  int port = 8080, requests = 2, max_tokens = 128, prompt_words = 64;
  std::vector<int> clients = {1, 2, 4, 8};
  bool json = false;
  app.add_option("--host", host);
  app.add_option("--port", port);
  app.add_option("--model", model, "Model name to send (default: none)");
  app.add_option("--clients", clients, "Concurrency levels")->delimiter(',');
  app.add_option("--requests", requests, "Requests per client per level");
  app.add_option("--max-tokens", max_tokens);
  app.add_option("--prompt-words", prompt_words, "Words of the prompt (about 1.3 tokens each)");
  app.add_option("--label", label, "Name printed with each line (e.g. the server)");
  app.add_flag("--json", json);
  CLI11_PARSE(app, argc, argv);

  const char* words[] = {"the", "little", "girl", "walked", "to",  "a",    "big", "park",
                         "and", "saw",    "one",  "happy",  "dog", "with", "red", "ball"};
  std::string base;
  for (int i = 0; i < prompt_words; ++i) base += std::string(i ? " " : "") + words[i % 16];
  // Warm-up: one request, not counted (page faults of the weights, thread start).
  one_request(host, port, model, "Warm up. " + base, 8);
  int serial = 0;
  for (int level : clients) {
    std::vector<Result> results;
    std::mutex mutex;
    const auto start = Clock::now();
    std::vector<std::thread> threads;
    for (int c = 0; c < level; ++c) {
      std::vector<std::string> prompts;
      for (int r = 0; r < requests; ++r)
        prompts.push_back("Story " + std::to_string(++serial) + ": " + base);
      threads.emplace_back([&, prompts] {
        for (const auto& p : prompts) {
          Result res = one_request(host, port, model, p, max_tokens);
          std::lock_guard lock(mutex);
          results.push_back(res);
        }
      });
    }
    for (auto& t : threads) t.join();
    const double wall = seconds(start, Clock::now());
    int tokens = 0, failed = 0;
    std::vector<double> ttft, decode;
    std::string error;
    for (const auto& r : results) {
      if (!r.ok) {
        ++failed;
        error = r.error;
        continue;
      }
      tokens += r.tokens;
      ttft.push_back(r.ttft);
      if (r.tokens > 1 && r.total > r.ttft) decode.push_back((r.tokens - 1) / (r.total - r.ttft));
    }
    const double agg = tokens / wall;
    if (json) {
      nlohmann::json j = {{"label", label},
                          {"clients", level},
                          {"requests", results.size()},
                          {"failed", failed},
                          {"tokens", tokens},
                          {"wall_s", wall},
                          {"tokens_per_s", agg},
                          {"ttft_p50_s", percentile(ttft, 0.5)},
                          {"ttft_p99_s", percentile(ttft, 0.99)},
                          {"decode_tokens_per_s_p50", percentile(decode, 0.5)}};
      std::printf("%s\n", j.dump().c_str());
    } else {
      std::printf(
          "%s clients %d: %zu requests (%d failed%s%s), %d tokens in %.2f s = %.2f tok/s; TTFT "
          "p50 %.3f s p99 %.3f s; per-request decode p50 %.2f tok/s\n",
          label.c_str(), level, results.size(), failed, error.empty() ? "" : ": ", error.c_str(),
          tokens, wall, agg, percentile(ttft, 0.5), percentile(ttft, 0.99),
          percentile(decode, 0.5));
    }
    std::fflush(stdout);
  }
  return 0;
}
