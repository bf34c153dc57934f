// Model.predict: the seed's Core ML contract, over Session::forward.
//   data["inputIds"]   int32 [batch, q]
//   data["causalMask"] float16 or float32 [batch, 1, q, past + q], additive (0 or -inf)
//   -> {"logits": float32 [batch, q, vocab]}; the state's past advances by q.
// Inputs are read in place when they are C-contiguous (a float16 mask is widened once); a call
// longer than the state's max_chunk runs in chunks, which a causal mask allows (each chunk's
// rows must mask every later column: checked, never assumed). Everything is validated before
// the first token runs, so a bad call leaves the state as it was.
#include <pybind11/numpy.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "base/half.h"
#include "bindings.h"

namespace corelm::python {

namespace {

// Mask values at or below this are "masked": -inf, or a value no score survives (transformers
// fills masks with the dtype's minimum: -65504 in float16, -3.4e38 in float32).
constexpr float kMaskedAtOrBelow = -65504.0f;

std::string shape_text(const py::array& a) {
  std::string s = "[";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s += (i ? ", " : "") + std::to_string(a.shape(i));
  return s + "]";
}

std::string dtype_text(const py::array& a) {
  return py::str(a.dtype()).cast<std::string>();
}

// NumPy's dtype equality, byte order included (an unpickled dtype is equal, not identical).
bool dtype_is(const py::array& a, const char* name) {
  return a.dtype().attr("__eq__")(py::dtype(name)).cast<bool>();
}

py::object item(const py::object& data, const char* key, bool required) {
  if (!PyMapping_Check(data.ptr()) || PyUnicode_Check(data.ptr()))
    raise(ErrorCode::kInvalidArgument,
          "predict(data, state) needs a dict {'inputIds': ..., 'causalMask': ...}");
  if (!py::reinterpret_borrow<py::object>(data).attr("__contains__")(key).cast<bool>()) {
    if (required)
      raise(ErrorCode::kInvalidArgument,
            std::string("predict's data has no '") + key +
                "' (expected {'inputIds': int32 [batch, q], 'causalMask': [batch, 1, q, past+q]})");
    return py::none();
  }
  return data[key];
}

// inputIds as a C-contiguous int32 array [batch, q]. NumPy arrays must be int32 already (the
// seed's contract; a silent cast could change ids); lists of ints are converted.
py::array input_ids(const py::object& value) {
  py::module_ np = py::module_::import("numpy");
  py::array a;
  if (py::isinstance<py::array>(value)) {
    a = py::reinterpret_borrow<py::array>(value);
    if (!dtype_is(a, "=i4"))
      raise(ErrorCode::kInvalidArgument, "inputIds must be an int32 array [batch, q], got dtype " +
                                             dtype_text(a) + " (use ids.astype(np.int32))");
  } else {
    a = np.attr("asarray")(value);
    if (a.dtype().kind() != 'i' && a.dtype().kind() != 'u')
      raise(ErrorCode::kInvalidArgument,
            "inputIds must hold integers [batch, q], got dtype " + dtype_text(a));
    if (a.size() > 0 && (np.attr("min")(a).cast<int64_t>() < std::numeric_limits<int32_t>::min() ||
                         np.attr("max")(a).cast<int64_t>() > std::numeric_limits<int32_t>::max()))
      raise(ErrorCode::kOutOfRange, "inputIds holds values beyond int32");
    a = a.attr("astype")("=i4");
  }
  if (a.ndim() != 2 || a.shape(0) < 1 || a.shape(1) < 1)
    raise(ErrorCode::kInvalidArgument,
          "inputIds must have shape [batch, q] with batch, q >= 1, got " + shape_text(a));
  return np.attr("ascontiguousarray")(a);
}

// causalMask as a C-contiguous float32 or float16 array in the machine's byte order.
py::array causal_mask(const py::object& value) {
  py::module_ np = py::module_::import("numpy");
  py::array a;
  if (py::isinstance<py::array>(value)) {
    a = py::reinterpret_borrow<py::array>(value);
    if (!dtype_is(a, "=f4") && !dtype_is(a, "=f2"))
      raise(ErrorCode::kInvalidArgument,
            "causalMask must be a float16 or float32 array [batch, 1, q, past + q] in the "
            "machine's byte order, got dtype " +
                dtype_text(a));
  } else {
    a = np.attr("asarray")(value, "=f4");
  }
  return np.attr("ascontiguousarray")(a);
}

// Mask value (r, c) of sequence b as float.
struct MaskReader {
  const void* data = nullptr;
  bool half = false;
  size_t q = 0, end = 0;
  float at(size_t b, size_t r, size_t c) const {
    const size_t i = (b * q + r) * end + c;
    return half ? fp16_to_float(static_cast<const uint16_t*>(data)[i])
                : static_cast<const float*>(data)[i];
  }
  bool masked(size_t b, size_t r, size_t c) const { return at(b, r, c) <= kMaskedAtOrBelow; }
};

py::dict predict(const std::shared_ptr<PyModel>& model, const py::object& data,
                 const std::shared_ptr<PyState>& state_ptr) {
  if (!state_ptr)
    raise(ErrorCode::kInvalidArgument,
          "predict needs a state: state = model.make_state(); model.predict(data, state=state)");
  PyState& state = *state_ptr;
  if (state.owner.get() != model.get())
    raise(ErrorCode::kInvalidArgument, "this state was made by another model's make_state()");
  py::array ids = input_ids(item(data, "inputIds", true));
  // Converted before the state's lock is taken: this may run Python code (an __array__).
  py::object mask_value = item(data, "causalMask", false);
  const bool standard = mask_value.is_none();  // no mask: the standard causal one
  py::array mask;
  if (!standard) mask = causal_mask(mask_value);
  const size_t batch = ids.shape(0), q = ids.shape(1);
  Session& session = *state.session;
  const SessionOptions& opt = session.options();
  if (batch > static_cast<size_t>(opt.max_batch))
    raise(ErrorCode::kInvalidArgument,
          "inputIds has batch " + std::to_string(batch) + " but the state holds " +
              std::to_string(opt.max_batch) +
              " sequence(s) (make_state(max_batch=" + std::to_string(batch) + "))");
  const int32_t* id_data = static_cast<const int32_t*>(ids.data());
  const int64_t vocab = model->model->config().vocab_size;
  for (size_t i = 0; i < batch * q; ++i)
    if (id_data[i] < 0 || id_data[i] >= vocab)
      raise(ErrorCode::kOutOfRange, "inputIds holds token id " + std::to_string(id_data[i]) +
                                        ", outside the vocabulary [0, " + std::to_string(vocab) +
                                        ")");

  std::unique_lock<std::mutex> lock(state.mutex, std::defer_lock);
  {
    py::gil_scoped_release release;  // another thread's predict on this state may be running
    lock.lock();
  }
  const size_t past = session.past();
  const size_t end = past + q, context = session.max_context();
  if (end > context)
    raise(ErrorCode::kOutOfRange,
          "past (" + std::to_string(past) + ") + q (" + std::to_string(q) +
              ") = " + std::to_string(end) + " positions exceed the state's max_context " +
              std::to_string(context) + " (make_state(max_context=...), or state.reset())");
  MaskReader reader;
  if (!standard) {
    if (mask.ndim() != 4 || static_cast<size_t>(mask.shape(0)) != batch || mask.shape(1) != 1 ||
        static_cast<size_t>(mask.shape(2)) != q || static_cast<size_t>(mask.shape(3)) != end)
      raise(ErrorCode::kInvalidArgument,
            "causalMask has shape " + shape_text(mask) + ", expected [batch, 1, q, past + q] = [" +
                std::to_string(batch) + ", 1, " + std::to_string(q) + ", " + std::to_string(end) +
                "] (past " + std::to_string(past) + ")");
    reader = {mask.data(), mask.itemsize() == 2, q, end};
  }

  // Chunks of at most max_chunk rows; row r of chunk [r0, r1) sees columns [0, past + r1), so
  // every later column must be masked.
  const size_t chunk = static_cast<size_t>(opt.max_chunk);
  if (q > chunk && !standard) {
    for (size_t b = 0; b < batch; ++b)
      for (size_t r = 0; r < q; ++r) {
        const size_t visible = past + std::min(q, (r / chunk + 1) * chunk);
        for (size_t c = visible; c < end; ++c)
          if (!reader.masked(b, r, c))
            raise(ErrorCode::kInvalidArgument,
                  "causalMask lets query " + std::to_string(r) + " of sequence " +
                      std::to_string(b) + " see position " + std::to_string(c) +
                      " after it: a call longer than max_chunk (" + std::to_string(chunk) +
                      ") runs in chunks and needs a causal mask (or make_state(max_chunk=" +
                      std::to_string(q) + "))");
      }
  }

  py::array_t<float> logits({static_cast<py::ssize_t>(batch), static_cast<py::ssize_t>(q),
                             static_cast<py::ssize_t>(vocab)});
  float* out = logits.mutable_data();
  {
    py::gil_scoped_release release;
    std::vector<int32_t> chunk_ids;
    std::vector<float> chunk_mask;
    for (size_t r0 = 0; r0 < q; r0 += chunk) {
      const size_t n = std::min(chunk, q - r0), chunk_end = past + r0 + n;
      std::span<const int32_t> call_ids(id_data, batch * q);
      if (n != q) {  // this chunk's ids [batch, n]
        chunk_ids.resize(batch * n);
        for (size_t b = 0; b < batch; ++b)
          std::copy_n(id_data + b * q + r0, n, chunk_ids.data() + b * n);
        call_ids = chunk_ids;
      }
      Tensor chunk_logits;
      if (standard) {
        chunk_logits = session.forward(call_ids, static_cast<int>(batch), static_cast<int>(n));
      } else {
        std::span<const float> call_mask;
        if (n == q && !reader.half) {  // one call, float32: read in place
          call_mask = {static_cast<const float*>(reader.data), batch * q * end};
        } else {  // rows [r0, r0 + n) and columns [0, chunk_end) as float32
          chunk_mask.resize(batch * n * chunk_end);
          for (size_t b = 0; b < batch; ++b)
            for (size_t t = 0; t < n; ++t) {
              float* row = chunk_mask.data() + (b * n + t) * chunk_end;
              for (size_t c = 0; c < chunk_end; ++c) row[c] = reader.at(b, r0 + t, c);
            }
          call_mask = chunk_mask;
        }
        chunk_logits =
            session.forward(call_ids, static_cast<int>(batch), static_cast<int>(n), call_mask);
      }
      const float* src = chunk_logits.data<float>();
      for (size_t b = 0; b < batch; ++b)
        std::copy_n(src + b * n * vocab, n * vocab, out + (b * q + r0) * vocab);
    }
  }
  py::dict result;
  result["logits"] = std::move(logits);
  return result;
}

}  // namespace

void bind_predict(py::module_& m) {
  py::class_<PyModel, std::shared_ptr<PyModel>> model_class =
      py::reinterpret_borrow<py::class_<PyModel, std::shared_ptr<PyModel>>>(m.attr("Model"));
  model_class.def("predict", &predict, py::arg("data"), py::arg("state") = nullptr,
                  "The seed's stateful call: data {'inputIds': int32 [batch, q], 'causalMask': "
                  "float16/float32 [batch, 1, q, past + q]} -> {'logits': float32 [batch, q, "
                  "vocab]}; the state's past advances by q. Without 'causalMask' the standard "
                  "causal mask is used.");
}

}  // namespace corelm::python
