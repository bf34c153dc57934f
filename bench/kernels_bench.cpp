// Kernel micro-benchmarks (report only): GB/s of weights and GMAC/s for the matmul kernels at
// the shapes of a 1.1B Llama, decode (n = 1) and prefill (n = 64) on one thread.
//   build/bench/kernels_bench [--benchmark_filter=q4]
#include <benchmark/benchmark.h>

#include <cstring>
#include <random>
#include <vector>

#include "base/aligned_buffer.h"
#include "base/half.h"
#include "kernels/isa.h"
#include "tensor/layout.h"
#include "tensor/quant.h"

namespace {

using namespace corelm;

struct Problem {
  size_t rows, cols;
  DType dtype;
  Layout layout;
  AlignedBuffer<uint8_t> w;
  size_t row_bytes;
  Problem(size_t r, size_t c, DType d, Layout l) : rows(r), cols(c), dtype(d), layout(l) {
    row_bytes = dtype_row_bytes(d, c);
    w.allocate(layout_matrix_bytes(d, l, rows, c));
    std::mt19937 rng(1);
    std::normal_distribution<float> nd(0.0f, 0.02f);
    if (dtype_traits(d).from_float == nullptr) {  // a run-only GGUF type: random blocks, as the
      std::uniform_int_distribution<int> byte(0, 255);  // kernels' speed does not depend on them
      for (size_t i = 0; i < w.size(); ++i) w.data()[i] = static_cast<uint8_t>(byte(rng));
      if (const size_t g = lut_group_rows(l); g != 0) {  // palettized: finite tables (k-means
        const size_t stride = lut_table_bytes(d) + g * row_bytes;  // would take seconds here)
        for (size_t at = 0; at < w.size(); at += stride)
          for (size_t j = 0; j < lut_table_bytes(d) / 2; ++j) {
            const uint16_t h = float_to_fp16(nd(rng));
            std::memcpy(w.data() + at + 2 * j, &h, 2);
          }
      }
      return;
    }
    std::vector<float> row(c);
    std::vector<uint8_t> plain(rows * row_bytes);
    for (size_t r = 0; r < rows; ++r) {
      for (auto& v : row) v = nd(rng);
      quantize_row(d, row.data(), plain.data() + r * row_bytes, c);
    }
    repack_rows(d, l, plain.data(), rows, c, w.data());
  }
};

void run(benchmark::State& state, const KernelTable& k, DType dtype, Layout layout) {
  const size_t rows = static_cast<size_t>(state.range(0)),
               cols = static_cast<size_t>(state.range(1));
  const size_t n = static_cast<size_t>(state.range(2));
  Problem p(rows, cols, dtype, layout);
  std::vector<float> x(n * cols), y(n * rows);
  std::mt19937 rng(2);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (auto& v : x) v = nd(rng);
  const ActivationFormat format = k.activation_for(dtype);
  std::vector<BlockQ8A> xq(n * ((cols + 31) / 32));
  std::vector<BlockQ8K> xk(n * cols / 256);
  for (size_t t = 0; t < n; ++t) {
    if (format == ActivationFormat::kQ8A)
      k.quantize_q8a(x.data() + t * cols, xq.data() + t * cols / 32, cols);
    if (format == ActivationFormat::kQ8K)
      k.quantize_q8k(x.data() + t * cols, xk.data() + t * cols / 256, cols);
  }
  const void* xp = format == ActivationFormat::kQ8A   ? static_cast<const void*>(xq.data())
                   : format == ActivationFormat::kQ8K ? static_cast<const void*>(xk.data())
                                                      : static_cast<const void*>(x.data());
  const size_t stride = format == ActivationFormat::kQ8A   ? cols / 32 * sizeof(BlockQ8A)
                        : format == ActivationFormat::kQ8K ? cols / 256 * sizeof(BlockQ8K)
                                                           : cols * sizeof(float);
  MatmulFn fn = k.matmul_for(dtype, layout);
  for (auto _ : state) {
    fn(p.w.data(), p.row_bytes, xp, stride, n, cols, y.data(), rows, 0, rows);
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["GB/s"] = benchmark::Counter(
      static_cast<double>(rows * p.row_bytes) * static_cast<double>(state.iterations()),
      benchmark::Counter::kIsRate);
  state.counters["GMAC/s"] = benchmark::Counter(
      static_cast<double>(rows * cols * n) * static_cast<double>(state.iterations()) / 1e9,
      benchmark::Counter::kIsRate);
}

// The best table this CPU supports, or the one CORELM_ISA names.
const KernelTable& best() {
  return active_kernels();
}

void q4_interleaved(benchmark::State& s) {
  run(s, best(), DType::kQ4S32, Layout::kInterleaved8);
}
void q4_rows(benchmark::State& s) {
  run(s, best(), DType::kQ4S32, Layout::kRows);
}
void q8_rows(benchmark::State& s) {
  run(s, best(), DType::kQ8S32, Layout::kRows);
}
void q8_interleaved(benchmark::State& s) {
  run(s, best(), DType::kQ8_0, Layout::kInterleaved8);
}
void q4_k_rows(benchmark::State& s) {
  run(s, best(), DType::kQ4_K, Layout::kRows);
}
void q4_k_tiles(benchmark::State& s) {
  run(s, best(), DType::kQ4_K, Layout::kInterleaved16);
}
void q6_k_rows(benchmark::State& s) {
  run(s, best(), DType::kQ6_K, Layout::kRows);
}
void f16_rows(benchmark::State& s) {
  run(s, best(), DType::kF16, Layout::kRows);
}
void lut4_g16(benchmark::State& s) {
  run(s, best(), DType::kLut4, Layout::kLutG16);
}
void lut4_g8(benchmark::State& s) {
  run(s, best(), DType::kLut4, Layout::kLutG8);
}
void lut3_g16(benchmark::State& s) {
  run(s, best(), DType::kLut3, Layout::kLutG16);
}
void lut6_g16(benchmark::State& s) {
  run(s, best(), DType::kLut6, Layout::kLutG16);
}
void q4_interleaved_ref(benchmark::State& s) {
  run(s, reference_kernels(), DType::kQ4S32, Layout::kInterleaved8);
}

// (rows, cols, tokens): the gate projection of a 1.1B model.
// 32768 x 4096 (64-150 MB): decode from memory, past every cache.
BENCHMARK(q4_interleaved)
    ->Args({5632, 2048, 1})
    ->Args({5632, 2048, 64})
    ->Args({32768, 4096, 1})
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(q4_rows)->Args({5632, 2048, 1})->Args({5632, 2048, 64})->Unit(benchmark::kMicrosecond);
BENCHMARK(q8_rows)->Args({5632, 2048, 1})->Args({5632, 2048, 64})->Unit(benchmark::kMicrosecond);
BENCHMARK(q8_interleaved)
    ->Args({5632, 2048, 1})
    ->Args({32768, 4096, 1})
    ->Args({5632, 2048, 64})
    ->Unit(benchmark::kMicrosecond);
// K-quants: the gate projection, and a slice that stays in L2 (compute, not memory).
BENCHMARK(q4_k_rows)
    ->Args({5632, 2048, 1})
    ->Args({5632, 2048, 64})
    ->Args({256, 2048, 1})
    ->Args({256, 2048, 64})
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(q4_k_tiles)
    ->Args({5632, 2048, 1})
    ->Args({32768, 4096, 1})
    ->Args({5632, 2048, 64})
    ->Args({256, 2048, 1})
    ->Args({256, 2048, 64})
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(q6_k_rows)
    ->Args({5632, 2048, 1})
    ->Args({5632, 2048, 64})
    ->Args({256, 2048, 1})
    ->Args({256, 2048, 64})
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(f16_rows)->Args({5632, 2048, 1})->Args({5632, 2048, 64})->Unit(benchmark::kMicrosecond);
BENCHMARK(lut4_g16)
    ->Args({5632, 2048, 1})
    ->Args({5632, 2048, 64})
    ->Args({32768, 4096, 1})
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(lut4_g8)->Args({5632, 2048, 1})->Args({5632, 2048, 64})->Unit(benchmark::kMicrosecond);
BENCHMARK(lut3_g16)->Args({5632, 2048, 1})->Args({5632, 2048, 64})->Unit(benchmark::kMicrosecond);
BENCHMARK(lut6_g16)->Args({5632, 2048, 1})->Args({5632, 2048, 64})->Unit(benchmark::kMicrosecond);
BENCHMARK(q4_interleaved_ref)->Args({512, 2048, 1})->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
