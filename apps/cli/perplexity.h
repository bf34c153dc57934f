// corelm perplexity: llama.cpp's llama-perplexity method on a Session (windows of ctx ids, each
// from an empty cache with BOS first, the second half scored), and the KL divergence of a model's
// next-token distributions from a base model's saved ones (its --kl-divergence). The statistics
// are llama-perplexity's, so the figures compare directly. docs/quantization.md, "Perplexity".
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace corelm {
class Session;
class Tokenizer;
class ThreadPool;
}  // namespace corelm

namespace corelm::cli {

// The window options that perplexity and imatrix share (-c/--ctx, -b/--batch, --chunks,
// -t/--threads, --kv-cache), registered on `cmd` by add_window_options, which returns --ctx's
// option (to ask whether it was given).
struct WindowOptions {
  int ctx = 512, batch = 0, chunks = -1, threads = 0;
  std::string kv_cache = "f16";
};
CLI::Option* add_window_options(CLI::App* cmd, WindowOptions& w);

// The ids of a whole UTF-8 text file, BOS first when the tokenizer adds one. Throws Error naming
// `component` for a missing or empty file or one that is not UTF-8.
std::vector<int32_t> tokenize_text_file(const Tokenizer& tok, const std::string& path,
                                        const char* component);

// How a text's ids are cut: n_chunks windows of ctx ids (window c is ids [c*ctx, (c+1)*ctx), the
// tail that fills no window is dropped); positions first = ctx/2 .. ctx-2 of each window are
// scored on the id that follows them: scored = ctx - 1 - first per window.
struct PerplexityPlan {
  int ctx = 0, first = 0, scored = 0, n_chunks = 0;
};
// Throws Error (kInvalidArgument) when ctx < 4 or the text has fewer than 2 * ctx ids (saying how
// many it needs); max_chunks < 0 takes every window.
PerplexityPlan plan_perplexity(size_t n_tokens, int ctx, int max_chunks);

// A sample's running sums: its mean and the standard error of the mean as llama-perplexity
// computes it, sqrt((mean(x^2) - mean(x)^2) / (n - 1)) (0 with fewer than 2 values).
struct MeanStat {
  double sum = 0.0, sum2 = 0.0;
  size_t count = 0;
  void add(double x) {
    sum += x;
    sum2 += x * x;
    ++count;
  }
  double mean() const { return count ? sum / static_cast<double>(count) : 0.0; }
  double error() const;
};

// Perplexity from the NLLs of the scored ids: exp(mean NLL), and its uncertainty carried through
// exp: ppl * error(mean NLL).
double perplexity_of(const MeanStat& nll);
double perplexity_error(const MeanStat& nll);

// A model against a base model's saved distributions, over the same scored positions.
struct KlStats {
  MeanStat nll, base_nll, kld;
  double nll_cross = 0.0;  // sum of nll * base_nll (their covariance)
  double kld_max = 0.0;
  size_t same_top = 0;

  void add(double model_nll, double base, double kl, bool same);
  // ln(PPL / PPL(base)) with its uncertainty (the two means' errors and covariance), and
  // exp of it.
  double log_ratio() const { return nll.mean() - base_nll.mean(); }
  double log_ratio_error() const;
  double same_top_fraction() const;
  double same_top_error() const;  // the binomial standard error
};

// Evaluates window `chunk` of `tokens` on `session` from an empty cache (slot 0), its first id
// replaced by `bos` when bos >= 0, in prefill calls of at most `batch` ids. The Session must hold
// ctx positions and keep every position's logits. `logits` receives the rows of the scored
// positions: [scored, vocab].
void evaluate_window(Session& session, std::span<const int32_t> tokens, const PerplexityPlan& plan,
                     int chunk, int batch, int32_t bos, std::vector<float>& logits);

// For each of the `next_ids.size()` rows of `logits` [rows, vocab]: the NLL of its next id
// (log-sum-exp in double) into `nll`, and when `log_probs16` is given its log-softmax rounded to
// fp16 ([rows, vocab], what a logits file stores). Rows are spread over `pool`.
void score_rows(ThreadPool& pool, const float* logits, int vocab, std::span<const int32_t> next_ids,
                std::span<double> nll, uint16_t* log_probs16);

// KL(base || model) of one position from fp16 log-probabilities, both as a logits file stores
// them: sum over p_base > 0 of p_base * (log p_base - log p_model). `same_top`: the argmaxes
// (lowest index on ties) agree. A model compared with its own saved values gives exactly 0.
double kl_divergence16(const uint16_t* base, const uint16_t* model, int vocab, bool& same_top);

}  // namespace corelm::cli
