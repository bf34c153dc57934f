// The public Tensor type and its operations: hand-computed values for small cases, and large
// random cases against slow double-precision reference loops written here.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <sstream>

#include "corelm/error.h"
#include "corelm/tensor.h"
#include "test_support.h"

namespace corelm {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

template <class F>
void expect_invalid(F&& f, const std::string& fragment) {
  test::expect_error(f, ErrorCode::kInvalidArgument, fragment, "tensor");
}
template <class F>
void expect_out_of_range(F&& f, const std::string& fragment) {
  test::expect_error(f, ErrorCode::kOutOfRange, fragment, "tensor");
}

std::vector<float> f32(const Tensor& t) {
  return t.to_vector<float>();
}
std::vector<int32_t> i32(const Tensor& t) {
  return t.to_vector<int32_t>();
}

// ---- Shape ---------------------------------------------------------------------------------

TEST(Shape, IndexRankNumelAndText) {
  Shape s{2, 5};
  EXPECT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0], 2);
  EXPECT_EQ(s[1], 5);
  EXPECT_EQ(s[-1], 5);
  EXPECT_EQ(s.back(), 5);
  EXPECT_EQ(s.numel(), 10);
  EXPECT_EQ(s.to_string(), "[2, 5]");
  EXPECT_EQ(Shape{}.numel(), 1);  // a scalar
  EXPECT_EQ(Shape{}.to_string(), "[]");
  EXPECT_EQ((Shape{3, 0, 4}.numel()), 0);
  EXPECT_EQ(s, (Shape{2, 5}));
  EXPECT_NE(s, (Shape{5, 2}));
  EXPECT_NE(s, (Shape{2, 5, 1}));
  EXPECT_EQ(s.without_last(), Shape{2});
  std::ostringstream os;
  os << s;
  EXPECT_EQ(os.str(), "[2, 5]");
}

TEST(Shape, RejectsBadDims) {
  expect_invalid([] { Shape{2, -1}; }, "[tensor] negative dimension -1");
  expect_invalid([] { Shape{1, 1, 1, 1, 1, 1, 1, 1, 1}; }, "[tensor] rank 9");
  expect_out_of_range([] { (void)Shape{2, 5}[2]; }, "[tensor] dimension 2 is out of range");
  expect_out_of_range([] { (void)Shape{2, 5}[-3]; }, "[tensor] dimension -3");
  expect_invalid([] { Shape{int64_t{1} << 40, int64_t{1} << 40}; }, "too many elements");
}

// ---- Tensor basics -------------------------------------------------------------------------

TEST(Tensor, DefaultIsEmpty) {
  Tensor t;
  EXPECT_EQ(t.shape().size(), 0u);
  EXPECT_EQ(t.numel(), 0);
  EXPECT_TRUE(t.empty());
  EXPECT_EQ(t.to_string(), "Tensor()");
  expect_invalid([&] { t.item<float>(); }, "[tensor] item() of tensor [] with 0 elements");
}

TEST(Tensor, FromVectorOwnsAndChecksNumel) {
  auto t = Tensor::from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_EQ(t.shape(), (Shape{2, 3}));
  EXPECT_EQ(t.dtype(), ElementType::kF32);
  EXPECT_EQ(t.numel(), 6);
  EXPECT_TRUE(t.writable());
  EXPECT_EQ(t.data<float>()[4], 5.0f);
  EXPECT_EQ(f32(t), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  auto i = Tensor::from_vector(std::vector<int32_t>{7}, {});
  EXPECT_EQ(i.dtype(), ElementType::kI32);
  EXPECT_EQ(i.item<int32_t>(), 7);
  expect_invalid(
      [] {
        Tensor::from_vector(std::vector<float>{1, 2, 3}, {2, 2});
      },
      "[tensor] 3 values for shape [2, 2] (4 elements)");
  expect_invalid([] { Tensor::from_vector(std::vector<int32_t>{1}, {0}); },
                 "[tensor] 1 values for shape [0]");
}

TEST(Tensor, Zeros) {
  auto z = Tensor::zeros({2, 2});
  EXPECT_EQ(f32(z), (std::vector<float>{0, 0, 0, 0}));
  auto zi = Tensor::zeros({3}, ElementType::kI32);
  EXPECT_EQ(i32(zi), (std::vector<int32_t>{0, 0, 0}));
  EXPECT_EQ(Tensor::zeros({0, 4}).numel(), 0);
}

TEST(Tensor, DtypeMismatchThrows) {
  auto t = Tensor::from_vector(std::vector<float>{1, 2}, {2});
  expect_invalid([&] { t.data<int32_t>(); }, "[tensor] tensor [2] holds f32 elements, not i32");
  expect_invalid([&] { t.to_vector<int32_t>(); }, "not i32");
  auto i = Tensor::zeros({2}, ElementType::kI32);
  expect_invalid([&] { i.mutable_data<float>(); }, "[tensor] tensor [2] holds i32 elements");
}

TEST(Tensor, ReadOnlyViewRejectsWrites) {
  std::vector<float> memory{1, 2, 3, 4};
  auto v = Tensor::view(memory.data(), {2, 2});
  EXPECT_FALSE(v.writable());
  EXPECT_EQ(v.data<float>(), memory.data());  // no copy
  expect_invalid([&] { v.mutable_data<float>(); }, "[tensor] tensor [2, 2] is a read-only view");
  Tensor r = v.row(1);
  expect_invalid([&] { r.mutable_data<float>(); }, "read-only view");
  auto c = v.clone();
  c.mutable_data<float>()[0] = 10;  // a clone is writable and separate
  EXPECT_EQ(memory[0], 1.0f);
  EXPECT_EQ(c.data<float>()[0], 10.0f);
  expect_invalid([] { Tensor::view(static_cast<const float*>(nullptr), {2}); },
                 "[tensor] view of shape [2] over a null pointer");
}

TEST(Tensor, MutableViewWritesThrough) {
  std::vector<int32_t> memory{1, 2, 3};
  auto v = Tensor::mutable_view(memory.data(), {3});
  v.mutable_data<int32_t>()[2] = 30;
  EXPECT_EQ(memory[2], 30);
}

TEST(Tensor, KeepAliveHoldsTheOwner) {
  auto owner = std::make_shared<std::vector<float>>(std::vector<float>{4, 5, 6});
  std::weak_ptr<std::vector<float>> watch = owner;
  Tensor v = Tensor::view(owner->data(), {3}, owner);
  owner.reset();
  EXPECT_FALSE(watch.expired());
  EXPECT_EQ(f32(v.row(-1).reshape({1})), (std::vector<float>{6}));
  Tensor row = v.row(0);  // views of the view hold it as well
  v = Tensor();
  EXPECT_FALSE(watch.expired());
  EXPECT_EQ(row.item<float>(), 4.0f);
  row = Tensor();
  EXPECT_TRUE(watch.expired());
}

TEST(Tensor, RowViewsShareMemory) {
  auto t = Tensor::from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor r1 = t.row(1);
  EXPECT_EQ(r1.shape(), Shape{3});
  EXPECT_EQ(f32(r1), (std::vector<float>{4, 5, 6}));
  EXPECT_EQ(r1.data<float>(), t.data<float>() + 3);
  r1.mutable_data<float>()[0] = 40;
  EXPECT_EQ(t.data<float>()[3], 40.0f);
  EXPECT_EQ(t.row(-1).data<float>(), r1.data<float>());
  EXPECT_EQ(t.row(-2).data<float>(), t.data<float>());
  Tensor scalar = t.row(0).row(2);
  EXPECT_EQ(scalar.shape().size(), 0u);
  EXPECT_EQ(scalar.item<float>(), 3.0f);
  auto t3 = Tensor::zeros({2, 3, 4});
  EXPECT_EQ(t3.row(1).shape(), (Shape{3, 4}));
  EXPECT_EQ(t3.row(1).data<float>(), t3.data<float>() + 12);
  expect_out_of_range([&] { t.row(2); }, "[tensor] row 2 is out of range for shape [2, 3]");
  expect_out_of_range([&] { t.row(-3); }, "[tensor] row -3 is out of range");
  expect_invalid([&] { scalar.row(0); }, "[tensor] row() of a rank-0 tensor");
}

TEST(Tensor, CopiesShareElementsCloneDoesNot) {
  auto a = Tensor::from_vector(std::vector<float>{1, 2}, {2});
  Tensor b = a;
  b.mutable_data<float>()[0] = 5;
  EXPECT_EQ(a.data<float>()[0], 5.0f);
  Tensor c = a.clone();
  c.mutable_data<float>()[0] = 7;
  EXPECT_EQ(a.data<float>()[0], 5.0f);
}

TEST(Tensor, Reshape) {
  auto t = Tensor::from_vector(std::vector<int32_t>{1, 2, 3, 4, 5, 6}, {2, 3});
  auto r = t.reshape({3, 2});
  EXPECT_EQ(r.shape(), (Shape{3, 2}));
  EXPECT_EQ(i32(r.row(1)), (std::vector<int32_t>{3, 4}));
  EXPECT_EQ(r.data<int32_t>(), t.data<int32_t>());
  expect_invalid(
      [&] {
        t.reshape({4, 2});
      },
      "[tensor] cannot reshape [2, 3] (6 elements) to [4, 2]");
}

TEST(Tensor, ItemNeedsOneElement) {
  auto t = Tensor::from_vector(std::vector<float>{1, 2}, {2});
  expect_invalid([&] { t.item<float>(); }, "[tensor] item() of tensor [2] with 2 elements");
  EXPECT_EQ(t.reshape({1, 2}).row(0).row(1).item<float>(), 2.0f);
}

TEST(Tensor, Printing) {
  auto t = Tensor::from_vector(std::vector<float>{1, 2.5f, 3, 4, 5, -6}, {2, 3});
  EXPECT_EQ(t.to_string(), "Tensor(f32, [2, 3]) [[1, 2.5, 3], [4, 5, -6]]");
  std::vector<int32_t> ten(10);
  std::iota(ten.begin(), ten.end(), 0);
  EXPECT_EQ(Tensor::from_vector(ten, {10}).to_string(),
            "Tensor(i32, [10]) [0, 1, 2, ..., 7, 8, 9]");
  EXPECT_EQ(Tensor::from_vector(std::vector<int32_t>{3}, {}).to_string(), "Tensor(i32, []) 3");
  std::ostringstream os;
  os << Tensor::from_vector(std::vector<float>{kNegInf}, {1});
  EXPECT_EQ(os.str(), "Tensor(f32, [1]) [-inf]");
}

// ---- softmax / log_softmax -----------------------------------------------------------------

TEST(Softmax, HandComputed) {
  // e^1 = 2.718281828, e^2 = 7.389056099, e^3 = 20.085536923; sum = 30.192874850
  // -> 0.090030573, 0.244728471, 0.665240956; log(sum) = 3.407605964
  auto logits = Tensor::from_vector(std::vector<float>{1, 2, 3}, {3});
  auto p = softmax(logits);
  EXPECT_EQ(p.shape(), Shape{3});
  EXPECT_NEAR(p.data<float>()[0], 0.090030573f, 1e-7);
  EXPECT_NEAR(p.data<float>()[1], 0.244728471f, 1e-7);
  EXPECT_NEAR(p.data<float>()[2], 0.665240956f, 1e-7);
  auto lp = log_softmax(logits);
  EXPECT_NEAR(lp.data<float>()[0], 1 - 3.407605964f, 1e-6);
  EXPECT_NEAR(lp.data<float>()[1], 2 - 3.407605964f, 1e-6);
  EXPECT_NEAR(lp.data<float>()[2], 3 - 3.407605964f, 1e-6);
  EXPECT_EQ(f32(logits), (std::vector<float>{1, 2, 3}));  // the input is left alone
}

TEST(Softmax, AlongTheLastAxisOfEachRow) {
  // Row 0: softmax(0, ln 3) = (1/4, 3/4). Row 1: equal logits (1000: no overflow) -> 1/2 each.
  auto t = Tensor::from_vector(std::vector<float>{0, std::log(3.0f), 1000, 1000}, {2, 1, 2});
  auto p = softmax(t);
  EXPECT_EQ(p.shape(), (Shape{2, 1, 2}));
  auto v = f32(p);
  EXPECT_NEAR(v[0], 0.25f, 1e-7);
  EXPECT_NEAR(v[1], 0.75f, 1e-7);
  EXPECT_NEAR(v[2], 0.5f, 1e-7);
  EXPECT_NEAR(v[3], 0.5f, 1e-7);
  auto lp = f32(log_softmax(t));
  EXPECT_NEAR(lp[0], std::log(0.25f), 1e-6);
  EXPECT_NEAR(lp[1], std::log(0.75f), 1e-6);
  EXPECT_NEAR(lp[2], -0.693147181f, 1e-6);
}

TEST(Softmax, MinusInfinityGetsZeroProbability) {
  auto t =
      Tensor::from_vector(std::vector<float>{0, kNegInf, 0, kNegInf, kNegInf, kNegInf}, {2, 3});
  auto p = f32(softmax(t));
  EXPECT_EQ(p[1], 0.0f);
  EXPECT_NEAR(p[0], 0.5f, 1e-7);
  EXPECT_NEAR(p[2], 0.5f, 1e-7);
  EXPECT_EQ((std::vector<float>(p.begin() + 3, p.end())), (std::vector<float>{0, 0, 0}));
  auto lp = f32(log_softmax(t));
  EXPECT_EQ(lp[1], kNegInf);
  EXPECT_NEAR(lp[0], -0.693147181f, 1e-6);
  EXPECT_EQ((std::vector<float>(lp.begin() + 3, lp.end())),
            (std::vector<float>{kNegInf, kNegInf, kNegInf}));
}

TEST(Softmax, ErrorsNeedAnF32Axis) {
  expect_invalid([] { softmax(Tensor()); },
                 "[tensor] softmax needs a tensor of rank >= 1, got an empty tensor");
  expect_invalid([] { log_softmax(Tensor::from_vector(std::vector<float>{1}, {})); },
                 "[tensor] log_softmax needs a tensor of rank >= 1, got a rank-0 scalar");
  expect_invalid([] { softmax(Tensor::zeros({2}, ElementType::kI32)); },
                 "[tensor] softmax needs f32 elements, got i32 (shape [2])");
}

TEST(Softmax, OutFormReusesMemoryAndRunsInPlace) {
  auto a = Tensor::from_vector(std::vector<float>{1, 2, 3}, {3});
  Tensor out;
  softmax(a, out);
  const float* first = out.data<float>();
  softmax(Tensor::from_vector(std::vector<float>{0, 0}, {2}), out);  // smaller: same memory
  EXPECT_EQ(out.data<float>(), first);
  EXPECT_EQ(out.shape(), Shape{2});
  EXPECT_EQ(f32(out), (std::vector<float>{0.5f, 0.5f}));
  // In place on an owning tensor.
  softmax(a, a);
  EXPECT_NEAR(a.data<float>()[2], 0.665240956f, 1e-7);
  // A read-only view passed as its own output is replaced, not written, and still read right.
  std::vector<float> memory{0, std::log(3.0f)};
  auto v = Tensor::view(memory.data(), {2});
  softmax(v, v);
  EXPECT_NE(v.data<float>(), memory.data());
  EXPECT_NEAR(v.data<float>()[1], 0.75f, 1e-7);
  EXPECT_EQ(memory[0], 0.0f);
  // An output overlapping the input elsewhere than in place is replaced too (here it has room).
  std::vector<float> shared{0, std::log(3.0f), 5, 6, 7, 8, 9, 10};
  auto input = Tensor::view(shared.data(), {2});
  Tensor shifted = Tensor::mutable_view(shared.data() + 1, {6});
  softmax(input, shifted);
  EXPECT_EQ(shared[1], std::log(3.0f));
  EXPECT_EQ(shifted.shape(), Shape{2});
  EXPECT_NEAR(shifted.data<float>()[1], 0.75f, 1e-7);
  // A writable output that does not overlap and has room is written in place.
  Tensor tail = Tensor::mutable_view(shared.data() + 4, {4});
  softmax(input, tail);
  EXPECT_EQ(tail.data<float>(), shared.data() + 4);
  EXPECT_NEAR(shared[5], 0.75f, 1e-7);
}

// ---- argmax / topk / sum / max -------------------------------------------------------------

TEST(Argmax, TiesGoToTheLowestIndex) {
  auto a = argmax(Tensor::from_vector(std::vector<float>{1, 3, 3, 2}, {4}));
  EXPECT_EQ(a.dtype(), ElementType::kI32);
  EXPECT_EQ(a.shape().size(), 0u);
  EXPECT_EQ(a.item<int32_t>(), 1);
  auto b = argmax(
      Tensor::from_vector(std::vector<float>{1, 3, 3, 5, 0, 5, kNegInf, kNegInf, kNegInf}, {3, 3}));
  EXPECT_EQ(b.shape(), Shape{3});
  EXPECT_EQ(i32(b), (std::vector<int32_t>{1, 0, 0}));
  // NaN ranks below every number.
  EXPECT_EQ(
      argmax(Tensor::from_vector(std::vector<float>{kNaN, -5, kNaN, -2}, {4})).item<int32_t>(), 3);
  EXPECT_EQ(argmax(Tensor::from_vector(std::vector<float>{kNaN, kNaN}, {2})).item<int32_t>(), 0);
  expect_invalid(
      [] {
        argmax(Tensor::zeros({2, 0}));
      },
      "[tensor] argmax of shape [2, 0]: the last axis is empty");
  expect_invalid([] { argmax(Tensor()); }, "[tensor] argmax needs a tensor of rank >= 1");
}

TEST(Topk, SortedDescendingWithTiesByLowerIndex) {
  auto [values, indices] =
      topk(Tensor::from_vector(std::vector<float>{0.1f, 0.4f, 0.05f, 0.4f, 0.3f}, {5}), 3);
  EXPECT_EQ(values.dtype(), ElementType::kF32);
  EXPECT_EQ(indices.dtype(), ElementType::kI32);
  EXPECT_EQ(values.shape(), Shape{3});
  EXPECT_EQ(f32(values), (std::vector<float>{0.4f, 0.4f, 0.3f}));
  EXPECT_EQ(i32(indices), (std::vector<int32_t>{1, 3, 4}));
  // A tie across the k-th place: the lower indices win.
  auto [v2, i2] = topk(Tensor::from_vector(std::vector<float>{1, 2, 2, 2}, {4}), 2);
  EXPECT_EQ(i32(i2), (std::vector<int32_t>{1, 2}));
  // The heap path (k much smaller than the row): 40 equal values then a larger one.
  std::vector<float> flat(40, 1.0f);
  flat[33] = 2.0f;
  flat[7] = kNegInf;
  auto [v3, i3] = topk(Tensor::from_vector(flat, {40}), 4);
  EXPECT_EQ(i32(i3), (std::vector<int32_t>{33, 0, 1, 2}));
  EXPECT_EQ(f32(v3), (std::vector<float>{2, 1, 1, 1}));
  // -inf and NaN come last (NaN after -inf).
  auto [v4, i4] = topk(Tensor::from_vector(std::vector<float>{kNaN, kNegInf, 0}, {3}), 3);
  EXPECT_EQ(i32(i4), (std::vector<int32_t>{2, 1, 0}));
}

TEST(Topk, PerRowShapeAndErrors) {
  auto t = Tensor::from_vector(std::vector<float>{5, 1, 4, 0, 9, 2, 7, 3}, {2, 1, 4});
  auto [v, i] = topk(t, 2);
  EXPECT_EQ(v.shape(), (Shape{2, 1, 2}));
  EXPECT_EQ(f32(v), (std::vector<float>{5, 4, 9, 7}));
  EXPECT_EQ(i32(i), (std::vector<int32_t>{0, 2, 0, 2}));
  auto [v0, i0] = topk(t, 0);
  EXPECT_EQ(v0.shape(), (Shape{2, 1, 0}));
  expect_invalid([&] { topk(t, 5); }, "[tensor] topk k=5 is outside [0, 4] for shape [2, 1, 4]");
  expect_invalid([&] { topk(t, -1); }, "[tensor] topk k=-1");
  expect_invalid([] { topk(Tensor::zeros({3}, ElementType::kI32), 1); }, "topk needs f32 elements");
}

TEST(Topk, OutFormReusesMemory) {
  auto t = Tensor::from_vector(std::vector<float>{3, 1, 2}, {3});
  Tensor values, indices;
  topk(t, 3, values, indices);
  const int32_t* first = indices.data<int32_t>();
  topk(t, 1, values, indices);
  EXPECT_EQ(indices.data<int32_t>(), first);
  EXPECT_EQ(i32(indices), (std::vector<int32_t>{0}));
  // The input itself as an output is replaced, never overwritten while read.
  Tensor same = t;
  topk(same, 3, same, indices);
  EXPECT_EQ(f32(t), (std::vector<float>{3, 1, 2}));
  EXPECT_EQ(f32(same), (std::vector<float>{3, 2, 1}));
}

TEST(Reductions, SumAndMax) {
  auto t = Tensor::from_vector(std::vector<float>{1, 2, 3.5f, -1, kNegInf, -7}, {2, 3});
  EXPECT_EQ(f32(sum(t)), (std::vector<float>{6.5f, kNegInf}));
  EXPECT_EQ(f32(max(t)), (std::vector<float>{3.5f, -1}));
  EXPECT_EQ(max(t.row(0)).item<float>(), 3.5f);
  EXPECT_EQ(f32(sum(Tensor::zeros({2, 0}))), (std::vector<float>{0, 0}));
  expect_invalid([] { max(Tensor::zeros({0})); },
                 "[tensor] max of shape [0]: the last axis is empty");
}

// ---- large random cases against double-precision references --------------------------------

struct Case {
  int64_t rows, n;
  std::vector<float> x;
};

Case random_logits(int64_t rows, int64_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> normal(0.0f, 4.0f);
  std::uniform_int_distribution<int> pick(0, 99);
  Case c{rows, n, std::vector<float>(static_cast<size_t>(rows * n))};
  for (auto& v : c.x) {
    const int p = pick(gen);
    v = p == 0 ? kNegInf : p < 5 ? std::round(normal(gen)) : normal(gen);  // -inf, ties, others
  }
  return c;
}

TEST(TensorOpsRandom, MatchDoublePrecisionReferences) {
  const Case c = random_logits(3, 32000, 1234);
  const auto t = Tensor::from_vector(c.x, {c.rows, c.n});
  const auto p = softmax(t), lp = log_softmax(t), am = argmax(t), s = sum(t), mx = max(t);
  for (int64_t r = 0; r < c.rows; ++r) {
    const float* x = c.x.data() + r * c.n;
    double m = -INFINITY, z = 0.0, total = 0.0;
    int64_t best = 0;
    for (int64_t i = 0; i < c.n; ++i) {
      m = std::max(m, double(x[i]));
      if (x[i] > x[best]) best = i;
      total += x[i];
    }
    for (int64_t i = 0; i < c.n; ++i) z += std::exp(double(x[i]) - m);
    const float* pr = p.data<float>() + r * c.n;
    const float* lpr = lp.data<float>() + r * c.n;
    double mass = 0.0;
    for (int64_t i = 0; i < c.n; ++i) {
      const double ref = std::exp(double(x[i]) - m) / z;
      // The kernels sum 32000 terms in f32 (the reference kernel one by one): ~5e-5 relative.
      ASSERT_NEAR(pr[i], ref, 1e-4 * ref + 1e-12) << "row " << r << " i " << i;
      mass += pr[i];
      if (x[i] == kNegInf) {
        ASSERT_EQ(pr[i], 0.0f);
        ASSERT_EQ(lpr[i], kNegInf);
      } else {
        ASSERT_NEAR(lpr[i], double(x[i]) - m - std::log(z), 1e-5) << "row " << r << " i " << i;
      }
    }
    EXPECT_NEAR(mass, 1.0, 1e-4);
    EXPECT_EQ(am.data<int32_t>()[r], best);
    EXPECT_EQ(s.data<float>()[r], total);  // -inf entries make both -inf
    EXPECT_EQ(mx.data<float>()[r], float(m));
  }
}

TEST(TensorOpsRandom, TopkMatchesAFullSort) {
  const Case c = random_logits(2, 5000, 99);
  const auto t = Tensor::from_vector(c.x, {c.rows, c.n});
  // Both strategies: a heap for small k, nth_element for large k (and k = n).
  for (int k : {1, 7, 40, 600, 2500, 4999, 5000}) {
    auto [values, indices] = topk(t, k);
    ASSERT_EQ(values.shape(), (Shape{c.rows, k}));
    for (int64_t r = 0; r < c.rows; ++r) {
      const float* x = c.x.data() + r * c.n;
      std::vector<int32_t> order(static_cast<size_t>(c.n));
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(),
                       [&](int32_t a, int32_t b) { return x[a] > x[b]; });
      order.resize(static_cast<size_t>(k));
      const auto got = i32(indices.row(r));
      ASSERT_EQ(got, order) << "k " << k << " row " << r;
      for (int j = 0; j < k; ++j) ASSERT_EQ(values.row(r).data<float>()[j], x[order[j]]);
    }
  }
}

}  // namespace
}  // namespace corelm
