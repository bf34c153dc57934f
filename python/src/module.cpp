// corelm._corelm: the pybind11 module behind the Python package `corelm` (python/corelm).
#include <pybind11/pybind11.h>

#include <string_view>

#include "bindings.h"
#include "corelm/error.h"

namespace corelm::python {

namespace {
// corelm.Error: created once, kept for the module's lifetime (never freed: Python owns it).
PyObject* g_error_type = nullptr;
}  // namespace

void raise(ErrorCode code, const std::string& message) {
  throw Error(code, "[python] " + message);
}

void bind_errors(py::module_& m) {
  g_error_type = PyErr_NewExceptionWithDoc(
      "corelm.Error",
      "An error from corelm: the message starts with the component in brackets "
      "('[package] ...'); `code` names its kind ('invalid_argument', 'not_found', ...).",
      PyExc_RuntimeError, nullptr);
  if (g_error_type == nullptr) throw py::error_already_set();
  // The class attribute is the default for errors raised in Python code without one.
  if (PyObject_SetAttrString(g_error_type, "code", py::str("invalid_argument").ptr()) != 0)
    throw py::error_already_set();
  m.add_object("Error", py::handle(g_error_type));
  py::register_exception_translator([](std::exception_ptr p) {
    if (!p) return;
    try {
      std::rethrow_exception(p);
    } catch (const Error& e) {
      // A message quoting a corrupt file's bytes may not be UTF-8: shown with U+FFFD.
      const std::string_view what = e.what();
      py::object message = py::reinterpret_steal<py::object>(
          PyUnicode_DecodeUTF8(what.data(), static_cast<Py_ssize_t>(what.size()), "replace"));
      if (!message) return;
      py::object instance = py::reinterpret_steal<py::object>(
          PyObject_CallFunctionObjArgs(g_error_type, message.ptr(), nullptr));
      if (!instance) return;  // the call's own exception is set
      instance.attr("code") = error_code_name(e.code());
      PyErr_SetObject(g_error_type, instance.ptr());
    }
  });
}

}  // namespace corelm::python

PYBIND11_MODULE(_corelm, m) {
  using namespace corelm::python;
  m.doc() = "corelm's C++ engine: models, stateful prediction, tokenizers, generation, conversion";
  bind_errors(m);
  bind_tokenizer(m);
  bind_model(m);
  bind_predict(m);
  bind_generate(m);
  bind_convert(m);
}
