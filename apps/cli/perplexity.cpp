#include "perplexity.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "base/check.h"
#include "base/file_util.h"
#include "base/half.h"
#include "base/thread_pool.h"
#include "commands.h"
#include "corelm/model.h"
#include "corelm/tokenizer.h"

namespace corelm::cli {

CLI::Option* add_window_options(CLI::App* cmd, WindowOptions& w) {
  CLI::Option* ctx = cmd->add_option("-c,--ctx", w.ctx, "Tokens per window")
                         ->capture_default_str()
                         ->check(CLI::Range(4, 1 << 24));
  cmd->add_option("-b,--batch", w.batch, "Tokens per prefill call (default: min(ctx, 512))")
      ->check(CLI::Range(1, 1 << 24));
  cmd->add_option("--chunks", w.chunks, "Windows to evaluate at most (default: all)")
      ->check(CLI::Range(1, 1 << 30));
  cmd->add_option("-t,--threads", w.threads, "Threads (default: physical cores)");
  cmd->add_option("--kv-cache", w.kv_cache, "KV cache format: f16, q8, f32")->capture_default_str();
  return ctx;
}

std::vector<int32_t> tokenize_text_file(const Tokenizer& tok, const std::string& path,
                                        const char* component) {
  const std::string text = read_file(path, component);
  if (text.empty())
    fail(ErrorCode::kInvalidArgument, component, "the text file '{}' is empty", path);
  require_utf8(text, "the text file '" + path + "'");
  return tok.encode(text, true);
}

PerplexityPlan plan_perplexity(size_t n_tokens, int ctx, int max_chunks) {
  if (ctx < 4)
    fail(ErrorCode::kInvalidArgument, "perplexity", "--ctx {} is too small: at least 4", ctx);
  if (n_tokens < 2 * static_cast<size_t>(ctx))
    fail(ErrorCode::kInvalidArgument, "perplexity",
         "the text is {} tokens; a context of {} needs at least {} (2 x ctx): give a longer text "
         "or a smaller --ctx",
         n_tokens, ctx, 2 * static_cast<size_t>(ctx));
  PerplexityPlan p;
  p.ctx = ctx;
  p.first = ctx / 2;
  p.scored = ctx - 1 - p.first;
  const size_t windows = n_tokens / static_cast<size_t>(ctx);
  p.n_chunks = static_cast<int>(std::min<size_t>(windows, std::numeric_limits<int>::max()));
  if (max_chunks >= 0) p.n_chunks = std::min(p.n_chunks, max_chunks);
  return p;
}

double MeanStat::error() const {
  if (count < 2) return 0.0;
  const double m = mean();
  const double var = sum2 / static_cast<double>(count) - m * m;
  return var > 0.0 ? std::sqrt(var / static_cast<double>(count - 1)) : 0.0;
}

double perplexity_of(const MeanStat& nll) {
  return std::exp(nll.mean());
}

double perplexity_error(const MeanStat& nll) {
  return perplexity_of(nll) * nll.error();
}

void KlStats::add(double model_nll, double base, double kl, bool same) {
  nll.add(model_nll);
  base_nll.add(base);
  kld.add(kl);
  nll_cross += model_nll * base;
  kld_max = std::max(kld_max, kl);
  same_top += same ? 1 : 0;
}

double KlStats::log_ratio_error() const {
  const size_t n = nll.count;
  if (n < 2) return 0.0;
  // The covariance of the two means: cov(nll, base_nll) / (n - 1).
  const double cov = (nll_cross / static_cast<double>(n) - nll.mean() * base_nll.mean()) /
                     static_cast<double>(n - 1);
  const double e = nll.error(), b = base_nll.error();
  return std::sqrt(std::max(0.0, e * e + b * b - 2.0 * cov));
}

double KlStats::same_top_fraction() const {
  return nll.count ? static_cast<double>(same_top) / static_cast<double>(nll.count) : 0.0;
}

double KlStats::same_top_error() const {
  const size_t n = nll.count;
  if (n < 2) return 0.0;
  const double p = same_top_fraction();
  return std::sqrt(p * (1.0 - p) / static_cast<double>(n - 1));
}

void evaluate_window(Session& session, std::span<const int32_t> tokens, const PerplexityPlan& plan,
                     int chunk, int batch, int32_t bos, std::vector<float>& logits) {
  const int vocab = session.vocab_size();
  std::vector<int32_t> window(tokens.begin() + static_cast<ptrdiff_t>(chunk) * plan.ctx,
                              tokens.begin() + static_cast<ptrdiff_t>(chunk + 1) * plan.ctx);
  if (bos >= 0) window[0] = bos;
  logits.resize(static_cast<size_t>(plan.scored) * static_cast<size_t>(vocab));
  session.reset();
  const int last_scored = plan.first + plan.scored - 1;  // ctx - 2
  for (int pos = 0; pos < plan.ctx; pos += batch) {
    const int len = std::min(batch, plan.ctx - pos);
    const Tensor out = session.forward(std::span<const int32_t>(window).subspan(pos, len), 1, len);
    const float* rows = out.data<float>();  // [1, len, vocab]
    const int from = std::max(pos, plan.first), to = std::min(pos + len - 1, last_scored);
    for (int p = from; p <= to; ++p)
      std::memcpy(logits.data() + static_cast<size_t>(p - plan.first) * vocab,
                  rows + static_cast<size_t>(p - pos) * vocab, sizeof(float) * vocab);
  }
}

void score_rows(ThreadPool& pool, const float* logits, int vocab, std::span<const int32_t> next_ids,
                std::span<double> nll, uint16_t* log_probs16) {
  const size_t n = static_cast<size_t>(vocab);
  pool.parallel_for(next_ids.size(), 1, [&](size_t begin, size_t end) {
    for (size_t r = begin; r < end; ++r) {
      const float* x = logits + r * n;
      const float m = *std::max_element(x, x + n);
      double s = 0.0;
      for (size_t i = 0; i < n; ++i) s += std::exp(static_cast<double>(x[i]) - m);
      const double lse = static_cast<double>(m) + std::log(s);
      nll[r] = lse - static_cast<double>(x[next_ids[r]]);
      if (log_probs16 != nullptr) {
        uint16_t* y = log_probs16 + r * n;
        for (size_t i = 0; i < n; ++i)
          y[i] = float_to_fp16(static_cast<float>(static_cast<double>(x[i]) - lse));
      }
    }
  });
}

double kl_divergence16(const uint16_t* base, const uint16_t* model, int vocab, bool& same_top) {
  double kl = 0.0;
  float best_base = -std::numeric_limits<float>::infinity(), best_model = best_base;
  int top_base = 0, top_model = 0;
  for (int i = 0; i < vocab; ++i) {
    const float b = fp16_to_float(base[i]), q = fp16_to_float(model[i]);
    if (b > best_base) best_base = b, top_base = i;
    if (q > best_model) best_model = q, top_model = i;
    if (b == -std::numeric_limits<float>::infinity()) continue;  // p_base = 0
    kl += std::exp(static_cast<double>(b)) * (static_cast<double>(b) - static_cast<double>(q));
  }
  same_top = top_base == top_model;
  return kl;
}

}  // namespace corelm::cli
