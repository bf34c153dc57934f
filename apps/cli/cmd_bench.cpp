// corelm bench MODEL: prefill (pp) and decode (tg) speed as llama-bench measures them, with the
// machine's memory bandwidth measured in the same run to say how close decode gets to it.
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <tuple>

#include "base/aligned_buffer.h"
#include "base/check.h"
#include "base/memory_info.h"
#include "base/thread_pool.h"
#include "commands.h"
#include "corelm/model.h"
#include "generation_flags.h"
#include "hub_cache.h"
#include "kernels/isa.h"
#include "model/model_impl.h"

namespace corelm::cli {

namespace {

using Clock = std::chrono::steady_clock;

struct Stats {
  double mean = 0.0, sd = 0.0;
};

Stats stats(const std::vector<double>& v) {
  Stats s;
  for (double x : v) s.mean += x;
  s.mean /= static_cast<double>(v.size());
  for (double x : v) s.sd += (x - s.mean) * (x - s.mean);
  s.sd = v.size() > 1 ? std::sqrt(s.sd / static_cast<double>(v.size() - 1)) : 0.0;
  return s;
}

// Best of `reps` read-only passes over a 1 GiB buffer, in GB/s.
double measure_bandwidth(int threads, int reps) {
  const size_t n = (1ull << 30) / sizeof(float);
  AlignedBuffer<float> buf(n);
  ThreadPool pool(threads);
  pool.parallel_for(n, 1 << 16, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; ++i) buf[i] = static_cast<float>(i & 7);  // commit the pages
  });
  const auto sum = active_kernels().sum_f32;
  double best = 0.0;
  volatile float sink = 0.0f;
  for (int r = 0; r < reps; ++r) {
    auto t0 = Clock::now();
    pool.parallel_for(n, 1 << 16,
                      [&](size_t b, size_t e) { sink = sink + sum(buf.data() + b, e - b); });
    double s = std::chrono::duration<double>(Clock::now() - t0).count();
    best = std::max(best, static_cast<double>(n * sizeof(float)) / s / 1e9);
  }
  return best;
}

}  // namespace

Action add_bench(CLI::App& app) {
  auto* cmd = app.add_subcommand("bench", "Measure prefill and decode speed (llama-bench style)");
  struct Args {
    std::string model;
    int p = 512, n = 128, threads = 0, reps = 3;
    bool json = false, no_bandwidth = false;
    std::string kv_cache = "f16";
    std::string function;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("model", a->model,
                  "Model package (.clm), GGUF file or pulled model id ORG/NAME[@REV]")
      ->required();
  cmd->add_option("-p,--prompt", a->p, "Prompt tokens for the prefill test (0: skip)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1 << 20));
  cmd->add_option("-n,--gen", a->n, "Tokens for the decode test (0: skip)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1 << 20));
  cmd->add_option("-t,--threads", a->threads, "Threads (default: physical cores)");
  cmd->add_option("-r,--reps", a->reps, "Repetitions per test")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  cmd->add_option("--kv-cache", a->kv_cache, "KV cache format: f16, q8, f32")
      ->capture_default_str();
  cmd->add_option("--function", a->function,
                  "Run the package's function (LoRA adapter) NAME[:SCALE] (default: the base)");
  cmd->add_flag("--no-bandwidth", a->no_bandwidth, "Skip the memory bandwidth measurement");
  cmd->add_flag("--json", a->json, "Print one JSON line");
  return [a]() {
    if (a->reps < 1 || a->p < 0 || a->n < 0)
      fail(ErrorCode::kInvalidArgument, "cli", "bench needs -r >= 1, -p >= 0, -n >= 0");
    auto kv = kv_cache_type_from_name(a->kv_cache);
    if (!kv) fail(ErrorCode::kInvalidArgument, "cli", "unknown --kv-cache '{}'", a->kv_cache);
    const int threads = a->threads > 0 ? a->threads : ThreadPool::default_thread_count();
    LoadOptions lo;
    lo.n_threads = threads;
    auto model = Model::load(hub::resolve_model_argument(a->model), lo);
    const auto& cfg = model->config();
    SessionOptions so;
    so.kv_cache = *kv;
    so.max_context = std::max(a->p, a->n) + 1;
    so.max_chunk = std::max(1, std::min(a->p, 512));
    std::tie(so.function, so.function_scale) = parse_function_flag(a->function);
    Session session(model, so);
    std::mt19937 rng(1234);
    std::uniform_int_distribution<int32_t> token(3, cfg.vocab_size - 1);
    std::vector<int32_t> prompt(static_cast<size_t>(a->p));
    for (auto& t : prompt) t = token(rng);

    auto run_pp = [&]() {
      session.reset();
      auto t0 = Clock::now();
      for (size_t pos = 0; pos < prompt.size(); pos += static_cast<size_t>(so.max_chunk)) {
        size_t len = std::min(prompt.size() - pos, static_cast<size_t>(so.max_chunk));
        session
            .forward(std::span<const int32_t>(prompt).subspan(pos, len), 1, static_cast<int>(len))
            .span<float>();
      }
      return static_cast<double>(prompt.size()) /
             std::chrono::duration<double>(Clock::now() - t0).count();
    };
    auto run_tg = [&]() {
      session.reset();
      std::vector<int32_t> one{1};
      auto t0 = Clock::now();
      for (int i = 0; i < a->n; ++i) {
        auto logits = session.forward(one, 1, 1).span<float>();
        one[0] =
            static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
      }
      return static_cast<double>(a->n) / std::chrono::duration<double>(Clock::now() - t0).count();
    };
    // Warm-up: fault the weights in and settle the threads.
    if (a->p > 0) run_pp();
    if (a->n > 0) {
      session.reset();
      std::vector<int32_t> one{1};
      for (int i = 0; i < std::min(a->n, 8); ++i) session.forward(one, 1, 1).span<float>();
    }
    std::vector<double> pp, tg;
    for (int r = 0; r < a->reps; ++r) {
      if (a->p > 0) pp.push_back(run_pp());
      if (a->n > 0) tg.push_back(run_tg());
    }
    const uint64_t peak = peak_rss_bytes();
    // Bytes a decode step reads: every weight except the embedding table (one row), plus on
    // average half the KV cache of the generated length.
    const std::vector<ModelTensor> tensors = model_tensors(*model);
    const double embed_bytes = static_cast<double>(tensors.front().bytes);  // embed_tokens
    const bool tied = cfg.tie_word_embeddings;
    double per_token = static_cast<double>(model->info().weight_bytes) - (tied ? 0.0 : embed_bytes);
    const double kv_per_token = 2.0 * cfg.num_hidden_layers * cfg.num_key_value_heads *
                                cfg.head_dim *
                                (*kv == KvCacheType::kF32   ? 4.0
                                 : *kv == KvCacheType::kF16 ? 2.0
                                                            : 1.0);
    per_token += kv_per_token * a->n / 2.0;
    const double bw = a->no_bandwidth ? 0.0 : measure_bandwidth(threads, 5);
    Stats sp = pp.empty() ? Stats{} : stats(pp), st = tg.empty() ? Stats{} : stats(tg);
    const double effective = st.mean * per_token / 1e9;
    const double fraction = bw > 0.0 ? effective / bw : 0.0;
    const auto& info = model->info();
    if (a->json) {
      std::printf(
          "{\"model\": %s, \"format\": %s, \"quantization\": %s, \"isa\": \"%s\", \"threads\": %d, "
          "\"p\": %d, "
          "\"n\": %d, \"reps\": %d, \"pp_tokens_per_s\": %.3f, \"pp_sd\": %.3f, "
          "\"tg_tokens_per_s\": %.3f, "
          "\"tg_sd\": %.3f, \"peak_rss_bytes\": %llu, \"bytes_per_token\": %.0f, "
          "\"effective_gb_per_s\": %.3f, "
          "\"bandwidth_gb_per_s\": %.3f, \"bandwidth_fraction\": %.4f}\n",
          json_quote(a->model).c_str(), json_quote(info.format).c_str(),
          json_quote(info.quantization).c_str(), active_kernels().name, threads, a->p, a->n,
          a->reps, sp.mean, sp.sd, st.mean, st.sd, static_cast<unsigned long long>(peak), per_token,
          effective, bw, fraction);
      return 0;
    }
    std::printf("| %-28s | %10s | %8s | %-5s | %7s | %-6s | %16s |\n", "model", "size", "params",
                "isa", "threads", "test", "t/s");
    std::printf("|%s|%s|%s|%s|%s|%s|%s|\n", std::string(30, '-').c_str(),
                std::string(12, '-').c_str(), std::string(10, '-').c_str(),
                std::string(7, '-').c_str(), std::string(9, '-').c_str(),
                std::string(8, '-').c_str(), std::string(18, '-').c_str());
    std::string name = info.source_model_id + " " + info.quantization;
    auto row = [&](const std::string& test, const Stats& s) {
      std::printf("| %-28s | %10s | %7.2fB | %-5s | %7d | %-6s | %7.2f ± %6.2f |\n",
                  name.substr(0, 28).c_str(),
                  format_bytes(static_cast<double>(info.weight_bytes)).c_str(),
                  static_cast<double>(info.parameter_count) / 1e9, active_kernels().name, threads,
                  test.c_str(), s.mean, s.sd);
    };
    if (!pp.empty()) row("pp" + std::to_string(a->p), sp);
    if (!tg.empty()) row("tg" + std::to_string(a->n), st);
    std::printf("\npeak RSS %s; decode reads %s per token = %.2f GB/s",
                format_mem(static_cast<double>(peak)).c_str(), format_bytes(per_token).c_str(),
                effective);
    if (bw > 0.0) std::printf(" of %.2f GB/s measured (%.0f%%)", bw, 100.0 * fraction);
    std::printf("\n");
    return 0;
  };
}

}  // namespace corelm::cli
