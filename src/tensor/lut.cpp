#include "tensor/lut.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "base/half.h"
#include "tensor/kmeans_1d.h"

namespace corelm {

namespace {

constexpr size_t kFp16Keys = 65536;

// A weight as fp16 bits: nearest even, saturated to +-65504, NaN and -0 as +0.
uint16_t weight_fp16(float v) {
  if (std::isnan(v)) return 0;
  const uint16_t h = float_to_fp16(std::clamp(v, -65504.0f, 65504.0f));
  return h == 0x8000 ? uint16_t{0} : h;
}

// fp16 bits <-> a key whose unsigned order is the values' order.
inline uint16_t fp16_key(uint16_t h) {
  return (h & 0x8000) ? static_cast<uint16_t>(~h) : static_cast<uint16_t>(h | 0x8000);
}
inline uint16_t key_fp16(uint16_t k) {
  return (k & 0x8000) ? static_cast<uint16_t>(k & 0x7fff) : static_cast<uint16_t>(~k);
}

// A finite double within fp16's range rounded once to fp16 (nearest, half to even), as NumPy's
// float64 -> float16 cast does: scaled so fp16's spacing at |d| is 1, rounded, scaled back.
uint16_t double_to_fp16(double d) {
  const double a = std::fabs(d);
  if (a == 0.0) return 0;
  int e = 0;
  std::frexp(a, &e);                              // a in [2^(e-1), 2^e)
  const int ulp_exp = std::max(e - 1 - 10, -24);  // fp16's spacing there (subnormals: 2^-24)
  const double r = std::nearbyint(std::ldexp(a, -ulp_exp));
  const float f = static_cast<float>(std::ldexp(r, ulp_exp));  // exact: 12 significant bits
  return float_to_fp16(d < 0 ? -f : f);
}

// For each of the ascending values u, the index of its nearest centroid: the smallest i with the
// least |u - c[i]| (in double), exactly as a scan of all k would find it, in O(n + k) rather than
// O(n k). With the centroids sorted by (value, index), the distances fl(|u - c|) do not increase
// towards u from either side (rounding is monotone), so the least is at the last centroid below
// u or the first at or above it, and every centroid at that same rounded distance lies in the run
// next to them on its side: the smallest index among those runs is the scan's answer.
void assign_nearest(const std::vector<double>& u, const double* c, size_t k, uint8_t* out) {
  uint8_t order[256];
  for (size_t i = 0; i < k; ++i) order[i] = static_cast<uint8_t>(i);
  std::sort(order, order + k,
            [&](uint8_t a, uint8_t b) { return c[a] < c[b] || (c[a] == c[b] && a < b); });
  size_t p = 0;  // the first centroid (in sorted order) at or above the value
  for (size_t v = 0; v < u.size(); ++v) {
    while (p < k && c[order[p]] < u[v]) ++p;
    const double below = p > 0 ? std::fabs(u[v] - c[order[p - 1]]) : HUGE_VAL;
    const double above = p < k ? std::fabs(u[v] - c[order[p]]) : HUGE_VAL;
    const double best = std::min(below, above);
    size_t index = k;
    for (size_t q = p; q > 0 && std::fabs(u[v] - c[order[q - 1]]) == best; --q)
      index = std::min<size_t>(index, order[q - 1]);
    for (size_t q = p; q < k && std::fabs(u[v] - c[order[q]]) == best; ++q)
      index = std::min<size_t>(index, order[q]);
    out[v] = static_cast<uint8_t>(index);
  }
}

// The first index j with u[j] > m (std::upper_bound's answer), searched outwards from `hint` in
// steps that double: O(log |answer - hint|), and the cluster ends move little from pass to pass.
size_t first_above(const std::vector<double>& u, double m, size_t hint) {
  const size_t n = u.size();
  size_t lo = hint, hi = hint;  // the answer is in [lo, hi] once u[lo - 1] <= m and u[hi] > m
  for (size_t step = 1;; step *= 2) {
    const bool lo_ok = lo == 0 || u[lo - 1] <= m;
    const bool hi_ok = hi == n || u[hi] > m;
    if (lo_ok && hi_ok) break;
    if (!lo_ok) lo = lo > step ? lo - step : 0;
    if (!hi_ok) hi = std::min(n, hi + step);
  }
  return static_cast<size_t>(std::upper_bound(u.begin() + static_cast<std::ptrdiff_t>(lo),
                                              u.begin() + static_cast<std::ptrdiff_t>(hi), m) -
                             u.begin());
}

}  // namespace

int lut_fit_group(int bits, const float* x, size_t rows, size_t cols, const float* importance,
                  uint16_t* table, uint8_t* indices, int max_passes, double* centroids) {
  const size_t n = rows * cols, k = size_t{1} << bits;
  // 1. The distinct fp16 values in ascending order (a counting sort on the 65536 keys, scanning
  // only the range of keys present).
  std::vector<uint32_t> id_of(kFp16Keys, 0);
  std::vector<uint16_t> keys(n);
  uint16_t lowest = 0xffff, highest = 0;
  for (size_t i = 0; i < n; ++i) {
    const uint16_t key = fp16_key(weight_fp16(x[i]));
    keys[i] = key;
    ++id_of[key];
    lowest = std::min(lowest, key);
    highest = std::max(highest, key);
  }
  std::vector<double> u, w;
  std::vector<uint64_t> count;
  std::vector<uint16_t> unique_key;
  for (size_t key = lowest; key <= highest; ++key) {
    if (id_of[key] == 0) continue;
    count.push_back(id_of[key]);
    id_of[key] = static_cast<uint32_t>(u.size());
    u.push_back(fp16_to_float(key_fp16(static_cast<uint16_t>(key))));
    unique_key.push_back(static_cast<uint16_t>(key));
  }
  const size_t n_unique = u.size();
  if (importance == nullptr) {
    w.assign(count.begin(), count.end());
  } else {
    w.assign(n_unique, 0.0);
    for (size_t r = 0; r < rows; ++r)
      for (size_t c = 0; c < cols; ++c)
        w[id_of[keys[r * cols + c]]] += static_cast<double>(importance[c]);
  }

  // 2. The starting centroids: the means of an optimal split of the atoms (below) into K
  // contiguous clusters.
  std::vector<double> centroid(k);
  int passes = 0;
  if (n_unique <= k) {
    for (size_t i = 0; i < k; ++i) centroid[i] = u[std::min(i, n_unique - 1)];
  } else {
    // Prefix sums of W, W u and (W u) u in ascending u (never fused into an fma).
    std::vector<double> product(n_unique), sum_w(n_unique + 1), sum_wu(n_unique + 1),
        sum_wuu(n_unique + 1);
    for (size_t v = 0; v < n_unique; ++v) product[v] = w[v] * u[v];
    sum_w[0] = sum_wu[0] = sum_wuu[0] = 0.0;
    for (size_t v = 0; v < n_unique; ++v) {
      sum_w[v + 1] = sum_w[v] + w[v];
      sum_wu[v + 1] = sum_wu[v] + product[v];
      const double square = product[v] * u[v];
      sum_wuu[v + 1] = sum_wuu[v] + square;
    }
    // The atoms: the distinct values whose keys agree but for the lowest `shift` bits, with the
    // least shift that leaves at most kLutMaxAtoms of them (shift 0: the distinct values).
    const auto atom_ends = [&](int shift) {
      std::vector<size_t> ends;
      for (size_t v = 1; v <= n_unique; ++v)
        if (v == n_unique || (unique_key[v] >> shift) != (unique_key[v - 1] >> shift))
          ends.push_back(v);
      return ends;
    };
    std::vector<size_t> atom_end;
    for (int shift = 0;; ++shift) {
      atom_end = atom_ends(shift);
      if (atom_end.size() <= kLutMaxAtoms) break;
    }
    const size_t n_atoms = atom_end.size();
    std::vector<double> atom_p(n_atoms + 1, 0.0), atom_q(n_atoms + 1, 0.0),
        atom_r(n_atoms + 1, 0.0);
    for (size_t a = 0; a < n_atoms; ++a) {
      atom_p[a + 1] = sum_w[atom_end[a]];
      atom_q[a + 1] = sum_wu[atom_end[a]];
      atom_r[a + 1] = sum_wuu[atom_end[a]];
    }
    std::vector<size_t> cluster_end(k);
    optimal_contiguous_clusters(atom_p.data(), atom_q.data(), atom_r.data(), n_atoms, k,
                                cluster_end.data());
    for (size_t i = 0, first = 0; i < k; first = cluster_end[i++]) {
      const size_t a = first == 0 ? 0 : atom_end[first - 1], b = atom_end[cluster_end[i] - 1];
      const double t = sum_w[b] - sum_w[a];
      centroid[i] = t > 0.0 ? std::clamp((sum_wu[b] - sum_wu[a]) / t, u[a], u[b - 1]) : u[a];
    }

    // 3. Lloyd passes on ascending centroids: the clusters are ranges of the distinct values split
    // at the midpoints, and a cluster's sums are differences of prefix sums.
    // end[i]: one past cluster i's last distinct value (end[-1] = 0 implied, end[k - 1] = U).
    std::vector<size_t> end(k, n_unique), previous(k, n_unique);
    for (int it = 0; it < max_passes; ++it) {
      for (size_t i = 0; i + 1 < k; ++i) {
        const double mid = (centroid[i] + centroid[i + 1]) / 2;
        end[i] = it == 0
                     ? static_cast<size_t>(std::upper_bound(u.begin(), u.end(), mid) - u.begin())
                     : first_above(u, mid, previous[i]);
      }
      ++passes;
      if (it > 0 && end == previous) break;
      for (size_t i = 0, a = 0; i < k; a = end[i++]) {
        const size_t b = end[i];
        const double t = sum_w[b] - sum_w[a];
        if (b > a && t > 0.0) centroid[i] = std::clamp((sum_wu[b] - sum_wu[a]) / t, u[a], u[b - 1]);
      }
      previous.swap(end);
    }
  }
  if (centroids != nullptr) std::copy(centroid.begin(), centroid.end(), centroids);

  // 4. The fp16 table and every value's nearest entry.
  std::vector<double> entry(k);
  for (size_t i = 0; i < k; ++i) {
    table[i] = double_to_fp16(centroid[i]);
    entry[i] = fp16_to_float(table[i]);
  }
  std::vector<uint8_t> index_of(n_unique);
  assign_nearest(u, entry.data(), k, index_of.data());
  for (size_t i = 0; i < n; ++i) indices[i] = index_of[id_of[keys[i]]];
  return passes;
}

size_t lut4_byte_offset(size_t r, size_t cols, size_t c, bool* high) {
  constexpr size_t kSet = kLut4SetRows;
  const size_t full = cols / kLut4Chunk;
  if (c < full * kLut4Chunk) {  // a full block: chunk (c % 16) / 4, row r, column c % 4
    const size_t b = c / kLut4Chunk, j = c % kLut4Chunk;
    *high = j >= 16;
    return b * 16 * kSet + (j % 16) / 4 * 4 * kSet + 4 * r + j % 4;
  }
  const size_t w = cols - full * kLut4Chunk, j = c - full * kLut4Chunk;  // the tail, by row
  *high = j >= w / 2;
  return full * 16 * kSet + r * (w / 2) + j % (w / 2);
}

void pack_lut4_set(const uint8_t* indices, size_t rows, size_t cols, uint8_t* out) {
  std::fill(out, out + kLut4SetRows * cols / 2, 0);
  for (size_t r = 0; r < rows; ++r)
    for (size_t c = 0; c < cols; ++c) {
      bool high;
      const size_t at = lut4_byte_offset(r, cols, c, &high);
      out[at] = static_cast<uint8_t>(out[at] | (indices[r * cols + c] << (high ? 4 : 0)));
    }
}

uint8_t lut4_index(const uint8_t* set, size_t r, size_t cols, size_t c) {
  bool high;
  const uint8_t byte = set[lut4_byte_offset(r, cols, c, &high)];
  return high ? byte >> 4 : byte & 0xF;
}

namespace {

// Where a part of an index lives in a set: `width` bits at bit `shift` of byte `byte` hold the
// index's bits from `value_shift` up (tensor/layout.h's byte map).
struct LutPiece {
  size_t byte;
  int shift, width, value_shift;
};

// The pieces of element (r, c) of a set (1 for lut4, 2 for lut3 and lut6).
size_t lut_pieces(int bits, size_t r, size_t cols, size_t c, LutPiece* out) {
  if (bits == 4) {
    bool high;
    out[0] = {lut4_byte_offset(r, cols, c, &high), high ? 4 : 0, 4, 0};
    return 1;
  }
  const size_t full = cols / kLut4Chunk;
  if (c < full * kLut4Chunk) {
    const size_t base = c / kLut4Chunk * lut_block_bytes(bits), j = c % kLut4Chunk;
    const size_t k = (j % 16) / 4, h = j / 16, p = k / 2, i = 2 * (k % 2) + h;
    const size_t at = 4 * r + j % 4;
    if (bits == 6) {
      out[0] = {base + 32 * k + at, static_cast<int>(4 * h), 4, 0};
      out[1] = {base + 128 + 32 * p + at, static_cast<int>(2 * i), 2, 4};
    } else {  // 3
      out[0] = {base + 32 * p + at, static_cast<int>(2 * i), 2, 0};
      out[1] = {base + 64 + at, static_cast<int>(2 * k + h), 1, 2};
    }
    return 2;
  }
  const size_t w = cols - full * kLut4Chunk, t = c - full * kLut4Chunk;
  const size_t tail = full * lut_block_bytes(bits) + r * w * static_cast<size_t>(bits) / 8;
  if (bits == 6) {
    out[0] = {tail + t % (w / 2), t >= w / 2 ? 4 : 0, 4, 0};
    out[1] = {tail + w / 2 + t % (w / 4), static_cast<int>(2 * (t / (w / 4))), 2, 4};
  } else {  // 3
    out[0] = {tail + t % (w / 4), static_cast<int>(2 * (t / (w / 4))), 2, 0};
    out[1] = {tail + w / 4 + t % (w / 8), static_cast<int>(t / (w / 8)), 1, 2};
  }
  return 2;
}

}  // namespace

void pack_lut_set(int bits, const uint8_t* indices, size_t rows, size_t cols, uint8_t* out) {
  std::fill(out, out + kLut4SetRows * cols * static_cast<size_t>(bits) / 8, 0);
  LutPiece piece[2];
  for (size_t r = 0; r < rows; ++r)
    for (size_t c = 0; c < cols; ++c) {
      const unsigned v = indices[r * cols + c];
      for (size_t i = 0, n = lut_pieces(bits, r, cols, c, piece); i < n; ++i) {
        const unsigned part = (v >> piece[i].value_shift) & ((1u << piece[i].width) - 1);
        out[piece[i].byte] = static_cast<uint8_t>(out[piece[i].byte] | (part << piece[i].shift));
      }
    }
}

uint8_t lut_index(int bits, const uint8_t* set, size_t r, size_t cols, size_t c) {
  LutPiece piece[2];
  unsigned v = 0;
  for (size_t i = 0, n = lut_pieces(bits, r, cols, c, piece); i < n; ++i)
    v |= ((set[piece[i].byte] >> piece[i].shift) & ((1u << piece[i].width) - 1))
         << piece[i].value_shift;
  return static_cast<uint8_t>(v);
}

LutIntTable lut_int_table(const uint8_t* table, size_t entries) {
  LutIntTable out{};
  float t[64], m = 0.0f;
  for (size_t j = 0; j < entries; ++j) {
    uint16_t h;
    std::memcpy(&h, table + 2 * j, 2);
    t[j] = fp16_to_float(h);
    m = std::max(m, std::fabs(t[j]));
  }
  if (!(m > 0.0f) || !std::isfinite(m)) return out;  // all zero (the converter writes finite)
  const float inv = 8191.0f / m;
  for (size_t j = 0; j < entries; ++j)
    out.q[j] = static_cast<int16_t>(std::clamp(std::nearbyint(t[j] * inv), -8191.0f, 8191.0f));
  out.scale = m / 8191.0f;
  return out;
}

int quantize_lut_group(DType dtype, const float* x, size_t rows, size_t cols,
                       const float* importance, uint8_t* out) {
  const TypeTraits& t = dtype_traits(dtype);
  const size_t k = size_t{1} << t.lut_bits, row_bytes = dtype_row_bytes(dtype, cols);
  std::vector<uint16_t> table(k);
  std::vector<uint8_t> indices(rows * cols);
  const int passes =
      lut_fit_group(t.lut_bits, x, rows, cols, importance, table.data(), indices.data());
  std::memcpy(out, table.data(), k * sizeof(uint16_t));
  uint8_t* packed = out + lut_table_bytes(dtype);
  for (size_t r = 0; r < rows; r += kLut4SetRows)
    pack_lut_set(t.lut_bits, indices.data() + r * cols, std::min(kLut4SetRows, rows - r), cols,
                 packed + r * row_bytes);  // a short last set padded to 8 rows
  return passes;
}

void quantize_lut_matrix(DType dtype, Layout layout, const float* x, size_t rows, size_t cols,
                         const float* importance, uint8_t* out) {
  const size_t g = lut_group_rows(layout);
  const size_t stride = lut_table_bytes(dtype) + g * dtype_row_bytes(dtype, cols);
  for (size_t r0 = 0; r0 < rows; r0 += g)
    quantize_lut_group(dtype, x + r0 * cols, std::min(g, rows - r0), cols, importance,
                       out + r0 / g * stride);
}

void dequantize_lut_row(DType dtype, Layout layout, const uint8_t* base, size_t row, size_t cols,
                        float* out) {
  const size_t g = lut_group_rows(layout), table_bytes = lut_table_bytes(dtype);
  const size_t row_bytes = dtype_row_bytes(dtype, cols);
  const uint8_t* group = base + row / g * (table_bytes + g * row_bytes);
  const size_t set_first = row % g / kLut4SetRows * kLut4SetRows;
  const uint8_t* set = group + table_bytes + set_first * row_bytes;
  const int bits = dtype_traits(dtype).lut_bits;
  float entry[64];
  for (size_t i = 0; i < (size_t{1} << bits); ++i) {
    uint16_t h;
    std::memcpy(&h, group + 2 * i, 2);
    entry[i] = fp16_to_float(h);
  }
  for (size_t c = 0; c < cols; ++c)
    out[c] = entry[lut_index(bits, set, row % g - set_first, cols, c)];
}

}  // namespace corelm
