// corelm perplexity MODEL --text FILE: perplexity by llama.cpp's llama-perplexity method (the
// figures compare directly), with --save-logits / --kl-base for the KL divergence, top-1
// agreement and perplexity ratio of a model (a quantization) against a base model.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/check.h"
#include "base/file_util.h"
#include "base/thread_pool.h"
#include "commands.h"
#include "corelm/model.h"
#include "corelm/tokenizer.h"
#include "logits_file.h"
#include "model/model_impl.h"
#include "perplexity.h"

namespace corelm::cli {

namespace {

struct PerplexityArgs {
  std::string model, text, save_logits, kl_base;
  WindowOptions w;
  bool json = false;
  CLI::Option* ctx_option = nullptr;
};

// The windows of a base logits file, checked against the model and the command line.
PerplexityPlan plan_from_base(const LogitsReader& base, const PerplexityArgs& a, int vocab,
                              std::optional<std::span<const int32_t>> text_ids) {
  const LogitsHeader& h = base.header();
  if (a.ctx_option->count() > 0 && static_cast<uint32_t>(a.w.ctx) != h.ctx)
    fail(ErrorCode::kInvalidArgument, "perplexity",
         "--ctx {} differs from the context of the base logits '{}' ({}): leave --ctx out or "
         "save the base again with --ctx {}",
         a.w.ctx, a.kl_base, h.ctx, a.w.ctx);
  if (static_cast<int>(h.vocab) != vocab)
    fail(ErrorCode::kInvalidArgument, "perplexity",
         "the base logits '{}' have a vocabulary of {} but the model has {}", a.kl_base, h.vocab,
         vocab);
  if (text_ids) {
    const auto want = base.tokens();
    for (size_t i = 0; i < want.size(); ++i)
      if (i >= text_ids->size() || (*text_ids)[i] != want[i])
        fail(ErrorCode::kInvalidArgument, "perplexity",
             "the text does not tokenize to the ids of the base logits '{}': they differ at "
             "id {} of {} ({} here, {} there)",
             a.kl_base, i, want.size(),
             i < text_ids->size() ? std::to_string((*text_ids)[i]) : std::string("the end"),
             want[i]);
  }
  PerplexityPlan p;
  p.ctx = static_cast<int>(h.ctx);
  p.first = p.ctx / 2;
  p.scored = static_cast<int>(h.scored);
  p.n_chunks = static_cast<int>(h.n_chunks);
  if (a.w.chunks >= 0) p.n_chunks = std::min(p.n_chunks, a.w.chunks);
  return p;
}

void print_kl_row(std::FILE* out, int chunk, const KlStats& s) {
  std::fprintf(out, "%4d  %10.4f ± %8.4f  %10.5f ± %8.5f  %10.6f ± %9.6f  %7.3f ± %6.3f %%\n",
               chunk, perplexity_of(s.nll), perplexity_error(s.nll), s.log_ratio(),
               s.log_ratio_error(), s.kld.mean(), s.kld.error(), 100.0 * s.same_top_fraction(),
               100.0 * s.same_top_error());
}

}  // namespace

Action add_perplexity(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "perplexity", "Perplexity of MODEL on a text, as llama.cpp's llama-perplexity measures it");
  auto a = std::make_shared<PerplexityArgs>();
  cmd->add_option("model", a->model, "Model package (.clm) or GGUF file")->required();
  cmd->add_option("--text", a->text, "UTF-8 text file (needed unless --kl-base gives the ids)");
  a->ctx_option = add_window_options(cmd, a->w);
  cmd->add_option("--save-logits", a->save_logits,
                  "Save the scored positions' log-probabilities to FILE (for --kl-base)");
  cmd->add_option("--kl-base", a->kl_base,
                  "Compare with a base model's --save-logits FILE: KL divergence, top-1 "
                  "agreement, perplexity ratio");
  cmd->add_flag("--json", a->json, "Print one JSON line");
  return [a]() {
    auto kv = kv_cache_type_from_name(a->w.kv_cache);
    if (!kv)
      fail(ErrorCode::kInvalidArgument, "cli", "unknown --kv-cache '{}' (f16, q8 or f32)",
           a->w.kv_cache);
    if (a->text.empty() && a->kl_base.empty())
      fail(ErrorCode::kInvalidArgument, "cli", "perplexity needs --text FILE (or --kl-base FILE)");
    if (!a->kl_base.empty() && !a->save_logits.empty())
      fail(ErrorCode::kInvalidArgument, "cli", "--save-logits and --kl-base go in separate runs");
    LoadOptions lo;
    lo.n_threads = a->w.threads;
    auto model = Model::load(a->model, lo);
    const Tokenizer& tok = model->tokenizer();
    const int vocab = model->config().vocab_size;

    std::vector<int32_t> tokens;
    std::unique_ptr<LogitsReader> base;
    PerplexityPlan plan;
    if (!a->kl_base.empty()) {
      base = std::make_unique<LogitsReader>(a->kl_base);
      std::optional<std::span<const int32_t>> text_ids;
      if (!a->text.empty()) {
        tokens = tokenize_text_file(tok, a->text, "perplexity");
        text_ids = std::span<const int32_t>(tokens);
      }
      plan = plan_from_base(*base, *a, vocab, text_ids);
      tokens.assign(base->tokens().begin(), base->tokens().end());
    } else {
      tokens = tokenize_text_file(tok, a->text, "perplexity");
    }
    const int ctx = base ? plan.ctx : a->w.ctx;
    const int trained = model->config().max_position_embeddings;
    if (trained > 0 && ctx > trained)
      fail(ErrorCode::kOutOfRange, "perplexity",
           "--ctx {} is more than the model's context ({} positions)", ctx, trained);
    if (!base) plan = plan_perplexity(tokens.size(), ctx, a->w.chunks);
    for (int32_t id : tokens)
      if (id < 0 || id >= vocab)
        fail(ErrorCode::kCorrupt, "perplexity", "token id {} is outside the vocabulary ({})", id,
             vocab);
    const int batch = std::min(a->w.batch > 0 ? a->w.batch : 512, ctx);

    SessionOptions so;
    so.kv_cache = *kv;
    so.max_context = ctx;
    so.max_chunk = batch;
    so.all_logits = true;
    Session session(model, so);
    ThreadPool& pool = ModelAccess::engine(*model).pool();
    const int32_t bos = tok.adds_bos() ? tok.bos_id() : -1;
    std::FILE* progress = a->json ? stderr : stdout;
    std::fprintf(stderr,
                 "perplexity: %zu tokens, %d chunks of %d (%d scored each), batch %d, %d "
                 "threads, kv %s\n",
                 tokens.size(), plan.n_chunks, ctx, plan.scored, batch, model->threads(),
                 a->w.kv_cache.c_str());

    std::unique_ptr<LogitsWriter> writer;
    if (!a->save_logits.empty()) {
      LogitsHeader h{static_cast<uint32_t>(vocab), static_cast<uint32_t>(ctx),
                     static_cast<uint32_t>(plan.n_chunks), static_cast<uint32_t>(plan.scored)};
      writer = std::make_unique<LogitsWriter>(
          a->save_logits, h,
          std::span<const int32_t>(tokens).first(static_cast<size_t>(plan.n_chunks) * ctx));
    }
    const bool need16 = writer || base;
    std::vector<float> logits;
    std::vector<double> nll(static_cast<size_t>(plan.scored));
    std::vector<uint16_t> lp16(need16 ? static_cast<size_t>(plan.scored) * vocab : 0);
    MeanStat stat;
    KlStats kl;
    if (base)
      std::fprintf(progress, "chunk  %10s   %8s  %10s   %8s  %10s   %9s  %s\n", "PPL", "",
                   "ln(PPL/base)", "", "KLD", "", "same top");
    const auto t0 = std::chrono::steady_clock::now();
    for (int c = 0; c < plan.n_chunks; ++c) {
      evaluate_window(session, tokens, plan, c, batch, bos, logits);
      const auto next = std::span<const int32_t>(tokens).subspan(
          static_cast<size_t>(c) * ctx + plan.first + 1, static_cast<size_t>(plan.scored));
      score_rows(pool, logits.data(), vocab, next, nll, need16 ? lp16.data() : nullptr);
      for (int r = 0; r < plan.scored; ++r) {
        const auto row = std::span<const uint16_t>(lp16).subspan(
            need16 ? static_cast<size_t>(r) * vocab : 0, need16 ? vocab : 0);
        stat.add(nll[r]);
        if (writer) writer->add(static_cast<float>(nll[r]), row);
        if (base) {
          bool same = false;
          const double d = kl_divergence16(base->log_probs(c, r), row.data(), vocab, same);
          kl.add(nll[r], base->nll(c, r), d, same);
        }
      }
      if (base)
        print_kl_row(progress, c + 1, kl);
      else
        std::fprintf(progress, "[%d]%.4f,", c + 1, perplexity_of(stat));
      std::fflush(progress);
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!base) std::fprintf(progress, "\n");
    if (writer) writer->commit();

    const double ppl = perplexity_of(stat), err = perplexity_error(stat);
    if (a->json) {
      std::printf(
          "{\"ppl\": %.6f, \"ppl_error\": %.6f, \"n_tokens\": %zu, \"n_chunks\": %d, \"ctx\": %d, "
          "\"scored\": %zu, \"batch\": %d, \"seconds\": %.3f",
          ppl, err, tokens.size(), plan.n_chunks, ctx, stat.count, batch, seconds);
      if (base)
        std::printf(
            ", \"base_ppl\": %.6f, \"base_ppl_error\": %.6f, \"ppl_ratio\": %.6f, "
            "\"ppl_ratio_error\": %.6f, \"kld\": %.8f, \"kld_error\": %.8f, \"kld_max\": %.8f, "
            "\"same_top\": %.6f, \"same_top_error\": %.6f",
            perplexity_of(kl.base_nll), perplexity_error(kl.base_nll), std::exp(kl.log_ratio()),
            std::exp(kl.log_ratio()) * kl.log_ratio_error(), kl.kld.mean(), kl.kld.error(),
            kl.kld_max, kl.same_top_fraction(), kl.same_top_error());
      std::printf("}\n");
      return 0;
    }
    std::printf("Final estimate: PPL = %.4f +/- %.5f\n", ppl, err);
    if (base) {
      const double ratio = std::exp(kl.log_ratio());
      std::printf("Mean PPL(Q)                   : %10.6f ± %10.6f\n", ppl, err);
      std::printf("Mean PPL(base)                : %10.6f ± %10.6f\n", perplexity_of(kl.base_nll),
                  perplexity_error(kl.base_nll));
      std::printf("Mean ln(PPL(Q)/PPL(base))     : %10.6f ± %10.6f\n", kl.log_ratio(),
                  kl.log_ratio_error());
      std::printf("Mean PPL(Q)/PPL(base)         : %10.6f ± %10.6f\n", ratio,
                  ratio * kl.log_ratio_error());
      std::printf("Mean    KLD: %10.6f ± %10.6f\n", kl.kld.mean(), kl.kld.error());
      std::printf("Maximum KLD: %10.6f\n", kl.kld_max);
      std::printf("Same top p: %6.3f ± %5.3f %%\n", 100.0 * kl.same_top_fraction(),
                  100.0 * kl.same_top_error());
    }
    std::fprintf(stderr, "perplexity: %zu positions scored in %.2f s (%.1f tokens/s evaluated)\n",
                 stat.count, seconds,
                 seconds > 0 ? static_cast<double>(plan.n_chunks) * ctx / seconds : 0.0);
    return 0;
  };
}

}  // namespace corelm::cli
