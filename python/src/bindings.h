// The Python module's C++ side (corelm._corelm): the objects Python holds and the functions that
// register each part. Ownership: Python holds a PyModel by shared_ptr; a PyState, a PyTokenizer
// of the model and a PyGeneration each keep their PyModel (and so the mapped package) alive.
// Every corelm::Error becomes corelm.Error (a RuntimeError) in Python, with the message unchanged
// and its code as `code`.
#pragma once

#include <pybind11/pybind11.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>

#include "corelm/error.h"
#include "corelm/generate.h"
#include "corelm/model.h"
#include "corelm/tokenizer.h"

namespace corelm::python {

namespace py = pybind11;

// A tokenizer and the chat template that goes with it (the model's, else the tokenizer's own).
struct PyTokenizer {
  std::shared_ptr<const Tokenizer> tokenizer;
  std::string chat_template;
};

struct PyModel {
  std::shared_ptr<Model> model;
  std::shared_ptr<PyTokenizer> tokenizer;
  // The Session and Generator corelm.generate reuses from call to call (so a prompt extending
  // the previous one only prefills the new tokens). `generating` marks them in use: a second
  // generation started meanwhile (another thread, or an unfinished stream) gets its own Session.
  std::mutex generation_mutex;  // guards creating/replacing the two below
  std::unique_ptr<Session> session;
  std::unique_ptr<Generator> generator;
  std::atomic<bool> generating{false};
};

// One make_state(): a Session whose every call keeps the logits of every position. Lock order:
// a thread waits for `mutex` only without the GIL (a holder of `mutex` may need the GIL).
struct PyState {
  std::shared_ptr<PyModel> owner;
  std::unique_ptr<Session> session;
  std::mutex mutex;  // one predict at a time (a Session is not thread-safe)
};

// Throws corelm::Error{code, "[python] <message>"}.
[[noreturn]] void raise(ErrorCode code, const std::string& message);

void bind_errors(py::module_& m);
void bind_model(py::module_& m);
void bind_predict(py::module_& m);
void bind_tokenizer(py::module_& m);
void bind_generate(py::module_& m);
void bind_convert(py::module_& m);

}  // namespace corelm::python
