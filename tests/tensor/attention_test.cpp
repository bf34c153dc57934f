// ops::attention (key blocks with an online softmax) against a plain two-pass softmax in double
// precision over the same keys and values: every kernel table, grouped-query heads, KV caches in
// f32, f16 and q8, spans on both sides of the key blocks, query chunks, explicit masks with holes
// and left padding, sliding windows, rows with nothing visible, and several sequences per call.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "base/half.h"
#include "base/thread_pool.h"
#include "kernels/isa.h"
#include "tensor/ops.h"

namespace corelm {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// One sequence's cache in a given dtype, plus the values the kernels will read back (the
// dequantized keys and values) for the reference.
struct Cache {
  size_t max_context, n_kv_heads, head_dim;
  KvDType dtype;
  std::vector<uint8_t> k, v;
  std::vector<float> k_scale, v_scale;
  std::vector<double> k_ref, v_ref;  // [kv head][slot][head_dim]
  KvLayerView view{};

  Cache(KvDType d, size_t ctx, size_t kv_heads, size_t hd, uint32_t seed)
      : max_context(ctx), n_kv_heads(kv_heads), head_dim(hd), dtype(d) {
    const size_t n = kv_heads * ctx * hd;
    const size_t elem = d == KvDType::kF32 ? 4 : d == KvDType::kF16 ? 2 : 1;
    k.assign(n * elem, 0), v.assign(n * elem, 0);
    k_scale.assign(kv_heads * ctx, 0.0f), v_scale.assign(kv_heads * ctx, 0.0f);
    k_ref.assign(n, 0.0), v_ref.assign(n, 0.0);
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    fill(k, k_scale, k_ref, rng, dist);
    fill(v, v_scale, v_ref, rng, dist);
    view = {d, k.data(), v.data(), k_scale.data(), v_scale.data(), ctx * hd, ctx};
  }

  void fill(std::vector<uint8_t>& bytes, std::vector<float>& scales, std::vector<double>& ref,
            std::mt19937& rng, std::normal_distribution<float>& dist) {
    for (size_t h = 0; h < n_kv_heads; ++h)
      for (size_t j = 0; j < max_context; ++j) {
        const size_t e = (h * max_context + j) * head_dim;
        std::vector<float> row(head_dim);
        for (auto& x : row) x = dist(rng);
        if (dtype == KvDType::kF32) {
          std::memcpy(bytes.data() + e * 4, row.data(), head_dim * 4);
          for (size_t d = 0; d < head_dim; ++d) ref[e + d] = row[d];
        } else if (dtype == KvDType::kF16) {
          for (size_t d = 0; d < head_dim; ++d) {
            const uint16_t hv = float_to_fp16(row[d]);
            std::memcpy(bytes.data() + (e + d) * 2, &hv, 2);
            ref[e + d] = fp16_to_float(hv);
          }
        } else {
          float amax = 0.0f;
          for (float x : row) amax = std::max(amax, std::fabs(x));
          const float s = amax / 127.0f;
          scales[h * max_context + j] = s;
          for (size_t d = 0; d < head_dim; ++d) {
            const auto q = static_cast<int8_t>(std::nearbyint(row[d] / s));
            bytes[e + d] = static_cast<uint8_t>(q);
            ref[e + d] = static_cast<double>(s) * q;
          }
        }
      }
  }
};

// Softmax(q k^T * scale + mask) v in double for one query row; zeros when nothing is visible.
std::vector<double> reference_row(const Cache& c, size_t kvh, const float* q, size_t end,
                                  float scale, const std::vector<float>& mask_row) {
  const size_t hd = c.head_dim;
  std::vector<double> s(end, -INFINITY);
  double m = -INFINITY;
  for (size_t j = 0; j < end; ++j) {
    if (mask_row[j] == kNegInf) continue;
    double dot = 0.0;
    for (size_t d = 0; d < hd; ++d) dot += q[d] * c.k_ref[(kvh * c.max_context + j) * hd + d];
    s[j] = dot * scale + mask_row[j];
    m = std::max(m, s[j]);
  }
  std::vector<double> out(hd, 0.0);
  if (m == -INFINITY) return out;
  double sum = 0.0;
  for (size_t j = 0; j < end; ++j) sum += s[j] == -INFINITY ? 0.0 : std::exp(s[j] - m);
  for (size_t j = 0; j < end; ++j) {
    if (s[j] == -INFINITY) continue;
    const double p = std::exp(s[j] - m) / sum;
    for (size_t d = 0; d < hd; ++d) out[d] += p * c.v_ref[(kvh * c.max_context + j) * hd + d];
  }
  return out;
}

struct Case {
  size_t n_heads, n_kv_heads, head_dim;
  KvDType dtype;
  std::vector<size_t> q_lens, ends;  // per sequence
  enum { kCausal, kWindow, kExplicit } mask;
  float q_scale = 1.0f;  // large: scores far apart, so the rescale of earlier blocks underflows
};

std::string describe(const Case& c) {
  std::string seqs;
  for (size_t i = 0; i < c.q_lens.size(); ++i)
    seqs += fmt::format(" {}@{}", c.q_lens[i], c.ends[i]);
  return fmt::format("{}/{} heads, hd {}, kv {}, mask {}, seqs{}", c.n_heads, c.n_kv_heads,
                     c.head_dim, static_cast<int>(c.dtype), static_cast<int>(c.mask), seqs);
}

void check(const Case& c, const KernelTable& table) {
  SCOPED_TRACE(fmt::format("{} on {}", describe(c), table.name));
  const size_t window = 37, max_ctx = 200, hd = c.head_dim;
  const size_t group = c.n_heads / c.n_kv_heads;
  std::vector<Cache> caches;
  for (size_t i = 0; i < c.q_lens.size(); ++i)
    caches.emplace_back(c.dtype, max_ctx, c.n_kv_heads, hd, static_cast<uint32_t>(11 + i));
  size_t rows = 0;
  for (size_t q : c.q_lens) rows += q;
  std::mt19937 rng(5);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> q(rows * c.n_heads * hd), out(q.size(), 123.0f);
  for (auto& x : q) x = dist(rng) * c.q_scale;
  // Explicit masks: left padding of 3, a hole every 7th key, a whole block of 64 keys hidden
  // ([64, 128)) from the odd queries, and the last query of each sequence sees nothing at all.
  std::vector<std::vector<float>> masks(c.q_lens.size());
  std::vector<ops::AttentionSequence> seqs;
  size_t first = 0;
  for (size_t i = 0; i < c.q_lens.size(); ++i) {
    const size_t ql = c.q_lens[i], end = c.ends[i];
    if (c.mask == Case::kExplicit) {
      masks[i].assign(ql * end, kNegInf);
      for (size_t t = 0; t + 1 < ql; ++t)
        for (size_t j = 3; j <= end - ql + t; ++j)
          if (j % 7 != 5 && !(t % 2 == 1 && j >= 64 && j < 128))
            masks[i][t * end + j] = j % 3 == 0 ? -0.5f : 0.0f;
    }
    seqs.push_back({&caches[i].view, first, ql, end, masks[i].empty() ? nullptr : masks[i].data()});
    first += ql;
  }
  ThreadPool pool(2);
  ComputeContext ctx(pool, rows, 64, hd);
  ops::AttentionArgs args{q.data(),
                          out.data(),
                          seqs,
                          c.n_heads,
                          c.n_kv_heads,
                          hd,
                          1.0f / std::sqrt(static_cast<float>(hd)),
                          c.mask == Case::kWindow ? window : 0};
  ops::attention(ctx, args);
  // f32 rounding: a score of size S is off by about S * 2^-24, and the exponential turns that
  // into the same relative error of its probability; the large-score case allows for it.
  const double tol = c.q_scale > 1.0f ? 5e-4 : 2e-5;
  for (size_t i = 0; i < seqs.size(); ++i) {
    const auto& s = seqs[i];
    for (size_t t = 0; t < s.q_len; ++t) {
      const size_t pos = s.end - s.q_len + t;
      std::vector<float> mask_row(s.end, kNegInf);
      if (c.mask == Case::kExplicit) {
        mask_row.assign(masks[i].begin() + t * s.end, masks[i].begin() + (t + 1) * s.end);
      } else {
        const size_t lo = c.mask == Case::kWindow && pos + 1 > window ? pos + 1 - window : 0;
        for (size_t j = lo; j <= pos; ++j) mask_row[j] = 0.0f;
      }
      for (size_t h = 0; h < c.n_heads; ++h) {
        const size_t row = (s.first_row + t) * c.n_heads + h;
        const auto ref =
            reference_row(caches[i], h / group, q.data() + row * hd, s.end, args.scale, mask_row);
        for (size_t d = 0; d < hd; ++d)
          ASSERT_NEAR(out[row * hd + d], ref[d], tol * (1.0 + std::fabs(ref[d])))
              << "sequence " << i << " query " << t << " head " << h << " dim " << d;
      }
    }
  }
}

TEST(Attention, KeyBlocksWithOnlineSoftmaxEqualATwoPassSoftmax) {
  const KernelTable& original = active_kernels();
  std::vector<Case> cases = {
      // Decode: one query over spans below, at and past the 64-key blocks.
      {32, 8, 128, KvDType::kF16, {1}, {1}, Case::kCausal},
      {32, 8, 128, KvDType::kF16, {1}, {64}, Case::kCausal},
      {32, 8, 128, KvDType::kF16, {1}, {65}, Case::kCausal},
      {32, 8, 128, KvDType::kQ8, {1}, {190}, Case::kCausal},
      // Prefill: chunks of 16 queries and their tails, after a past.
      {8, 2, 64, KvDType::kF32, {17}, {17}, Case::kCausal},
      {8, 2, 64, KvDType::kF16, {33}, {150}, Case::kCausal},
      {8, 8, 64, KvDType::kQ8, {70}, {130}, Case::kCausal},   // one head per KV head
      {8, 1, 80, KvDType::kF16, {20}, {100}, Case::kCausal},  // all heads share one KV head
      // Sliding window (37 positions): blocks wholly before the window are skipped.
      {8, 2, 64, KvDType::kF16, {40}, {190}, Case::kWindow},
      {8, 2, 64, KvDType::kF32, {1}, {150}, Case::kWindow},
      // Explicit masks, several sequences of different lengths in one call.
      {8, 2, 64, KvDType::kF16, {5, 18, 1}, {70, 18, 129}, Case::kExplicit},
      {4, 4, 32, KvDType::kQ8, {3, 2}, {3, 66}, Case::kExplicit},
      {8, 2, 64, KvDType::kF32, {9, 4}, {190, 150}, Case::kExplicit},
      // 32 heads per KV head: chunks of 4 queries; 160: more than a tile, in slices.
      {32, 1, 32, KvDType::kF16, {9}, {100}, Case::kCausal},
      {160, 1, 16, KvDType::kF32, {3}, {70}, Case::kCausal},
      // Scores hundreds apart: a block with a higher max rescales the earlier ones to ~0.
      {8, 2, 64, KvDType::kF32, {18}, {160}, Case::kCausal, 40.0f},
  };
  for (const IsaEntry* e : supported_isas()) {
    set_active_kernels(e->table());
    for (const Case& c : cases) check(c, e->table());
  }
  set_active_kernels(original);
}

// A query's output does not depend on what else shares the call: the same query in a 150-token
// prefill, in chunks of 37, and decoded one token at a time (causal, with and without a sliding
// window) gives bit-identical rows on every table.
TEST(Attention, ResultsDoNotDependOnTheBatch) {
  const KernelTable& original = active_kernels();
  const size_t n_heads = 8, n_kv = 2, hd = 64, ctx_len = 150;
  Cache cache(KvDType::kF16, ctx_len, n_kv, hd, 21);
  std::mt19937 rng(8);
  std::normal_distribution<float> dist(0.0f, 2.0f);
  std::vector<float> q(ctx_len * n_heads * hd);
  for (auto& x : q) x = dist(rng);
  for (const IsaEntry* e : supported_isas()) {
    set_active_kernels(e->table());
    ThreadPool pool(2);
    ComputeContext ctx(pool, ctx_len, 64, hd);
    for (size_t window : {size_t{0}, size_t{50}}) {
      auto run = [&](size_t step) {
        std::vector<float> out(q.size(), 0.0f);
        for (size_t first = 0; first < ctx_len; first += step) {
          const size_t len = std::min(step, ctx_len - first);
          ops::AttentionSequence seq{&cache.view, 0, len, first + len, nullptr};
          ops::AttentionArgs args{q.data() + first * n_heads * hd,
                                  out.data() + first * n_heads * hd,
                                  std::span<const ops::AttentionSequence>(&seq, 1),
                                  n_heads,
                                  n_kv,
                                  hd,
                                  0.125f,
                                  window};
          ops::attention(ctx, args);
        }
        return out;
      };
      const auto whole = run(ctx_len), chunked = run(37), decoded = run(1);
      EXPECT_EQ(chunked, whole) << e->name << " window " << window;
      EXPECT_EQ(decoded, whole) << e->name << " window " << window;
    }
  }
  set_active_kernels(original);
}

}  // namespace
}  // namespace corelm
