// AVX-VNNI kernels: AVX2 machines whose CPU also has the VEX-encoded vpdpbusd (CPUID leaf 7
// subleaf 1, EAX bit 4). Compiled with -mavx2 -mfma -mf16c -mavxvnni and only called after
// cpu_has_avxvnni() said yes. The table is avx2's with the integer dot products of the q4 and
// q8 matmuls done by vpdpbusd (one instruction where avx2 needs vpmaddubsw + vpmaddwd and
// 16-bit adds); the kernels themselves are the shared 256-bit ones in vnni256.h.
#include <immintrin.h>

#include "kernels/kernel_table.h"
#include "kernels/x86/lut36_avx2.h"
#include "kernels/x86/lut_avx2.h"
#include "kernels/x86/q4k_tiles256.h"
#include "kernels/x86/vnni256.h"
#include "kernels/x86/x86.h"

namespace corelm {

namespace {

struct DpAvx {
  static __m256i dp(__m256i acc, __m256i u8, __m256i s8) {
    return _mm256_dpbusd_avx_epi32(acc, u8, s8);
  }
};

void matmul_q4_interleaved(const uint8_t* w, size_t row_bytes, const void* x, size_t x_stride,
                           size_t n, size_t k, float* y, size_t y_stride, size_t r0, size_t r1) {
  const size_t nb = k / kQuantBlock;
  const size_t group_bytes = kInterleaveRows * row_bytes;
  const size_t chunk = vnni256::q4_token_chunk(nb);
  for (size_t t0 = 0; t0 < n; t0 += chunk) {
    const size_t t1 = std::min(n, t0 + chunk);
    for (size_t r = r0; r < r1; r += kInterleaveRows)
      vnni256::q4_group_tokens<DpAvx>(w + (r / kInterleaveRows) * group_bytes, nb, x, x_stride, t0,
                                      t1, y, y_stride, r);
  }
}

KernelTable make_avxvnni() {
  KernelTable t = avx2_kernels();  // avx2's kernels, the integer dot products replaced
  t.name = "avxvnni";
  auto set = [&](DType d, Layout l, MatmulFn fn) {
    t.matmul[static_cast<size_t>(d)][static_cast<size_t>(l)] = fn;
  };
  set(DType::kQ4S32, Layout::kRows, vnni256::matmul_q4_rows<DpAvx>);
  set(DType::kQ4_0, Layout::kRows, vnni256::matmul_q4_rows<DpAvx>);
  set(DType::kQ8S32, Layout::kRows, vnni256::matmul_q8_rows<DpAvx>);
  set(DType::kQ8_0, Layout::kRows, vnni256::matmul_q8_rows<DpAvx>);
  set(DType::kQ4S32, Layout::kInterleaved8, matmul_q4_interleaved);
  set(DType::kQ4_0, Layout::kInterleaved8, matmul_q4_interleaved);
  set(DType::kQ8S32, Layout::kInterleaved8, vnni256::matmul_q8_interleaved<DpAvx>);
  set(DType::kQ8_0, Layout::kInterleaved8, vnni256::matmul_q8_interleaved<DpAvx>);
  set(DType::kLut4, Layout::kLutG8, lut_avx2::matmul_lut4<8, DpAvx>);
  set(DType::kLut4, Layout::kLutG16, lut_avx2::matmul_lut4<16, DpAvx>);
  set(DType::kLut4, Layout::kLutG32, lut_avx2::matmul_lut4<32, DpAvx>);
  set(DType::kLut3, Layout::kLutG8, lut36_avx2::matmul_lut<3, 8, DpAvx>);
  set(DType::kLut3, Layout::kLutG16, lut36_avx2::matmul_lut<3, 16, DpAvx>);
  set(DType::kLut3, Layout::kLutG32, lut36_avx2::matmul_lut<3, 32, DpAvx>);
  set(DType::kLut6, Layout::kLutG8, lut36_avx2::matmul_lut<6, 8, DpAvx>);
  set(DType::kLut6, Layout::kLutG16, lut36_avx2::matmul_lut<6, 16, DpAvx>);
  set(DType::kLut6, Layout::kLutG32, lut36_avx2::matmul_lut<6, 32, DpAvx>);
  t.interleave_q8 = true;
  t.matmul[static_cast<size_t>(DType::kQ4_K)][static_cast<size_t>(Layout::kInterleaved16)] =
      q4k256::matmul_q4_k_tiles<DpAvx>;
  return t;
}

}  // namespace

const KernelTable& avxvnni_kernels() {
  static const KernelTable table = make_avxvnni();
  return table;
}

}  // namespace corelm
