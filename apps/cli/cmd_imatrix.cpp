// corelm imatrix MODEL --text FILE [-o OUT]: the importance matrix of a model on a text: for
// every linear layer's input, the mean of x_j^2 per input column over every token, per weight
// tensor name (q/k/v share one input, as do gate/up; each is stored under its own name), for
// `corelm convert --imatrix`. The text is cut as `corelm perplexity` cuts it: tokenized once
// with BOS first, non-overlapping windows of --ctx ids each run from an empty cache with BOS as
// its first id. docs/quantization.md, "Importance matrix".
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/check.h"
#include "commands.h"
#include "convert/imatrix_file.h"
#include "corelm/model.h"
#include "corelm/tokenizer.h"
#include "model/activation_observer.h"
#include "perplexity.h"

namespace corelm::cli {

namespace {

constexpr const char* kComponent = "imatrix";

struct ImatrixArgs {
  std::string model, text, output = "imatrix.clmi";
  WindowOptions w;
};

// Sums of x_j^2 (in double) and the rows seen, per (layer, site).
class ImatrixCollector final : public ActivationObserver {
 public:
  explicit ImatrixCollector(int layers)
      : layers_(layers), sites_(static_cast<size_t>(layers + 1) * kActivationSites) {}

  void observe(int layer, ActivationSite site, const float* rows, size_t n_rows,
               size_t cols) override {
    Site& s = sites_[index(layer, site)];
    if (s.sum.empty()) s.sum.assign(cols, 0.0);
    if (s.sum.size() != cols)
      fail(ErrorCode::kInternal, kComponent, "layer {} site {}: {} columns, then {}", layer,
           static_cast<int>(site), s.sum.size(), cols);
    for (size_t r = 0; r < n_rows; ++r) {
      const float* x = rows + r * cols;
      for (size_t j = 0; j < cols; ++j) s.sum[j] += static_cast<double>(x[j]) * x[j];
    }
    s.rows += n_rows;
  }

  // Every tensor's mean x_j^2: layer by layer, the sites in order, then lm_head.
  std::vector<ImatrixTensor> tensors() const {
    std::vector<ImatrixTensor> out;
    auto add = [&](int layer, ActivationSite site) {
      const Site& s = sites_[index(layer, site)];
      if (s.rows == 0) return;
      std::vector<float> mean(s.sum.size());
      for (size_t j = 0; j < mean.size(); ++j)
        mean[j] = static_cast<float>(s.sum[j] / static_cast<double>(s.rows));
      for (auto& name : site_tensor_names(layer, site)) out.push_back({std::move(name), mean});
    };
    for (int l = 0; l < layers_; ++l)
      for (int k = 0; k < kActivationSites; ++k)
        if (static_cast<ActivationSite>(k) != ActivationSite::kFinal)
          add(l, static_cast<ActivationSite>(k));
    add(-1, ActivationSite::kFinal);
    return out;
  }

 private:
  struct Site {
    std::vector<double> sum;
    uint64_t rows = 0;
  };
  size_t index(int layer, ActivationSite site) const {
    const int slot = site == ActivationSite::kFinal ? layers_ : layer;
    if (slot < 0 || slot > layers_)
      fail(ErrorCode::kInternal, kComponent, "layer {} outside the model's {}", layer, layers_);
    return static_cast<size_t>(slot) * kActivationSites + static_cast<size_t>(site);
  }
  int layers_;
  std::vector<Site> sites_;
};

}  // namespace

Action add_imatrix(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "imatrix",
      "Importance matrix of MODEL on a text (mean x^2 of every linear layer's input columns), "
      "for convert --imatrix");
  auto a = std::make_shared<ImatrixArgs>();
  cmd->add_option("model", a->model, "Model package (.clm) or GGUF file (best: f32 or f16)")
      ->required();
  cmd->add_option("--text", a->text, "UTF-8 text file")->required();
  cmd->add_option("-o,--output", a->output, "Output file")->capture_default_str();
  add_window_options(cmd, a->w);
  return [a]() {
    auto kv = kv_cache_type_from_name(a->w.kv_cache);
    if (!kv)
      fail(ErrorCode::kInvalidArgument, "cli", "unknown --kv-cache '{}' (f16, q8 or f32)",
           a->w.kv_cache);
    LoadOptions lo;
    lo.n_threads = a->w.threads;
    auto model = Model::load(a->model, lo);
    const Tokenizer& tok = model->tokenizer();
    const ModelConfig& cfg = model->config();
    const std::vector<int32_t> tokens = tokenize_text_file(tok, a->text, kComponent);
    const int ctx = a->w.ctx;
    if (cfg.max_position_embeddings > 0 && ctx > cfg.max_position_embeddings)
      fail(ErrorCode::kOutOfRange, kComponent,
           "--ctx {} is more than the model's context ({} positions)", ctx,
           cfg.max_position_embeddings);
    const size_t windows = tokens.size() / static_cast<size_t>(ctx);
    if (windows == 0)
      fail(ErrorCode::kInvalidArgument, kComponent,
           "the text is {} tokens, shorter than one window of --ctx {}: give a longer text or a "
           "smaller --ctx",
           tokens.size(), ctx);
    for (int32_t id : tokens)
      if (id < 0 || id >= cfg.vocab_size)
        fail(ErrorCode::kCorrupt, kComponent, "token id {} is outside the vocabulary ({})", id,
             cfg.vocab_size);
    const int n_chunks =
        static_cast<int>(a->w.chunks > 0 ? std::min<size_t>(windows, a->w.chunks) : windows);
    const int batch = std::min(a->w.batch > 0 ? a->w.batch : 512, ctx);
    std::string stored = model->info().quantization;
    for (char& ch : stored) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (!stored.empty() && stored != "f32" && stored != "f16" && stored != "bf16")
      std::fprintf(stderr,
                   "note: %s stores %s weights: the statistics are those of its activations, "
                   "not of the original model's (an f16 or f32 model gives those)\n",
                   a->model.c_str(), model->info().quantization.c_str());

    SessionOptions so;
    so.kv_cache = *kv;
    so.max_context = ctx;
    so.max_chunk = batch;
    so.all_logits = true;  // lm_head sees every position, as the other projections do
    Session session(model, so);
    ImatrixCollector collector(cfg.num_hidden_layers);
    SessionAccess::set_observer(session, &collector);
    const int32_t bos = tok.adds_bos() ? tok.bos_id() : -1;
    std::fprintf(stderr, "imatrix: %zu tokens, %d chunks of %d, batch %d, %d threads\n",
                 tokens.size(), n_chunks, ctx, batch, model->threads());
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<int32_t> window(static_cast<size_t>(ctx));
    for (int c = 0; c < n_chunks; ++c) {
      const auto from = tokens.begin() + static_cast<ptrdiff_t>(c) * ctx;
      window.assign(from, from + ctx);
      if (bos >= 0) window[0] = bos;
      session.reset();
      for (int pos = 0; pos < ctx; pos += batch) {
        const int len = std::min(batch, ctx - pos);
        session.forward(std::span<const int32_t>(window).subspan(static_cast<size_t>(pos), len), 1,
                        len);
      }
      std::fprintf(stderr, "\r[%d/%d]", c + 1, n_chunks);
      std::fflush(stderr);
    }
    SessionAccess::set_observer(session, nullptr);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    Imatrix m;
    m.text_name = std::filesystem::path(a->text).filename().string();
    m.model_id = model->info().source_model_id;
    m.ctx = static_cast<uint32_t>(ctx);
    m.chunks = static_cast<uint32_t>(n_chunks);
    m.tokens = static_cast<uint64_t>(n_chunks) * static_cast<uint64_t>(ctx);
    m.tensors = collector.tensors();
    write_imatrix(a->output, m);
    std::fprintf(stderr, "\nimatrix: wrote %s: %zu tensors, %llu tokens of %s in %.2f s\n",
                 a->output.c_str(), m.tensors.size(), static_cast<unsigned long long>(m.tokens),
                 m.text_name.c_str(), seconds);
    return 0;
  };
}

}  // namespace corelm::cli
