// lut4's k-means (tensor/lut.h) on one matrix: time per matrix on one thread (wall and the
// thread's CPU time, best of the repeats: the CPU time is the figure on a shared machine), Lloyd
// passes per group, and the relative RMS error of the palettized matrix against the f32 input
// (report only).
//   build/bench/lut_kmeans [ROWS=5632] [COLS=2048] [REPEATS=3] [DIST=normal|t4]
// The matrix is N(0, 0.02^2) (make_random_model.py's weights), or Student-t with 4 degrees of
// freedom scaled by 0.01 for heavy tails; a fixed seed, so every run sees the same values.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#include "base/half.h"
#include "tensor/layout.h"
#include "tensor/lut.h"

using namespace corelm;

namespace {

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

}  // namespace

int main(int argc, char** argv) {
  const size_t rows = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 5632;
  const size_t cols = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 2048;
  const int repeats = argc > 3 ? std::atoi(argv[3]) : 3;
  const std::string dist = argc > 4 ? argv[4] : "normal";
  if (rows == 0 || cols == 0 || cols % 2 != 0 || repeats < 1 ||
      (dist != "normal" && dist != "t4")) {
    std::fprintf(stderr, "usage: lut_kmeans [ROWS] [COLS (even)] [REPEATS] [normal|t4]\n");
    return 2;
  }
  std::mt19937 rng(20261204);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  std::student_t_distribution<float> t4(4.0f);
  std::vector<float> x(rows * cols);
  for (auto& v : x) v = dist == "normal" ? normal(rng) : 0.01f * t4(rng);

  std::printf("%zu x %zu, %s, one thread, best of %d\n", rows, cols, dist.c_str(), repeats);
  for (size_t g : {8, 16, 32}) {
    const Layout layout = *lut_layout_for_group(g);
    const size_t row_bytes = dtype_row_bytes(DType::kLut4, cols);
    const size_t stride = lut_table_bytes(DType::kLut4) + g * row_bytes;
    std::vector<uint8_t> bytes(layout_matrix_bytes(DType::kLut4, layout, rows, cols));
    double best = HUGE_VAL, best_cpu = HUGE_VAL;
    std::vector<int> passes;
    for (int r = 0; r < repeats; ++r) {
      passes.clear();
      const auto t0 = std::chrono::steady_clock::now();
      const double cpu0 = thread_cpu_seconds();
      for (size_t r0 = 0; r0 < rows; r0 += g)
        passes.push_back(quantize_lut_group(DType::kLut4, x.data() + r0 * cols,
                                            std::min(g, rows - r0), cols, nullptr,
                                            bytes.data() + r0 / g * stride));
      best_cpu = std::min(best_cpu, thread_cpu_seconds() - cpu0);
      best = std::min(best,
                      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    double err2 = 0.0, ref2 = 0.0;
    std::vector<float> row(cols);
    for (size_t r = 0; r < rows; ++r) {
      dequantize_lut_row(DType::kLut4, layout, bytes.data(), r, cols, row.data());
      for (size_t c = 0; c < cols; ++c) {
        const double d = static_cast<double>(row[c]) - x[r * cols + c];
        err2 += d * d;
        ref2 += static_cast<double>(x[r * cols + c]) * x[r * cols + c];
      }
    }
    std::sort(passes.begin(), passes.end());
    double mean = 0.0;
    for (int p : passes) mean += p;
    mean /= static_cast<double>(passes.size());
    std::printf(
        "G = %2zu: %.3f s/matrix wall, %.3f s CPU (%.0f us/group), passes mean %.1f median %d "
        "max %d, %zu of %zu groups at the cap (%d), error %.4f%% RMS\n",
        g, best, best_cpu, 1e6 * best_cpu / static_cast<double>(passes.size()), mean,
        passes[passes.size() / 2], passes.back(),
        static_cast<size_t>(std::count(passes.begin(), passes.end(), kLutMaxIterations)),
        passes.size(), kLutMaxIterations, 100.0 * std::sqrt(err2 / ref2));
  }
  return 0;
}
