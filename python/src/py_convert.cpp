// corelm.convert: a Hugging Face folder (or GGUF file) to a .clm package, with the GIL released
// while it runs and an optional progress callback (called with the GIL, once per tensor). An
// exception the callback raises stops the conversion (nothing is left at the output) and reaches
// the caller unchanged.
#include <pybind11/functional.h>
#include <pybind11/stl.h>

#include <optional>

#include "bindings.h"
#include "corelm/convert.h"

namespace corelm::python {

namespace {

py::dict convert(const std::string& source, const std::string& output, const std::string& quant,
                 const std::optional<py::function>& progress, bool quantize_embeddings,
                 int max_context, const std::string& model_id, int threads,
                 const py::object& adapters, const std::string& merge_adapter,
                 const std::string& adapter_dtype, int group_size, const std::string& imatrix) {
  ConvertOptions o;
  o.source = source;
  o.output = output;
  o.quant = quant;
  o.quantize_embeddings = quantize_embeddings;
  o.group_size = group_size;
  o.imatrix = imatrix;
  o.max_context = max_context;
  o.model_id = model_id;
  o.n_threads = threads;
  // {NAME: PATH} (in its order) or [(NAME, PATH), ...].
  py::object pairs = py::isinstance<py::dict>(adapters) ? adapters.attr("items")() : adapters;
  for (py::handle pair : pairs) {
    auto [name, path] = pair.cast<std::pair<std::string, std::string>>();
    o.adapters.push_back({name, path});
  }
  o.merge_adapter = merge_adapter;
  o.adapter_dtype = adapter_dtype;
  std::optional<py::error_already_set> callback_error;
  if (progress) {
    o.on_progress = [&](const ConvertProgress& p) {
      py::gil_scoped_acquire acquire;
      try {
        py::dict d;
        d["tensor_index"] = p.tensor_index;
        d["tensor_count"] = p.tensor_count;
        d["tensor_name"] = p.tensor_name;
        d["bytes_done"] = p.bytes_done;
        d["bytes_total"] = p.bytes_total;
        d["seconds"] = p.seconds;
        (*progress)(d);
      } catch (py::error_already_set& e) {
        callback_error = std::move(e);
        raise(ErrorCode::kInvalidArgument, "the progress callback raised an exception");
      }
    };
  }
  ConvertReport r;
  try {
    py::gil_scoped_release release;
    r = convert_model(o);
  } catch (const Error&) {
    if (callback_error) throw *callback_error;
    throw;
  }
  py::dict d;
  d["output"] = r.output;
  d["file_bytes"] = r.file_bytes;
  d["parameters"] = r.parameters;
  d["bits_per_weight"] = r.bits_per_weight;
  d["seconds"] = r.seconds;
  d["tensors"] = r.tensors;
  d["notes"] = r.notes;
  d["source_format"] = r.source_format;
  d["relative_rms_error"] = r.relative_rms_error;
  d["worst_relative_rms_error"] = r.worst_relative_rms_error;
  d["worst_tensor"] = r.worst_tensor;
  return d;
}

}  // namespace

void bind_convert(py::module_& m) {
  m.def("convert", &convert, py::arg("source"), py::arg("output"), py::arg("quant") = "q4s32",
        py::arg("progress") = py::none(), py::arg("quantize_embeddings") = false,
        py::arg("max_context") = 0, py::arg("model_id") = "", py::arg("threads") = 0,
        py::arg("adapters") = py::dict(), py::arg("merge_adapter") = "",
        py::arg("adapter_dtype") = "f16", py::arg("group_size") = 16, py::arg("imatrix") = "",
        "Converts a Hugging Face model folder (or a GGUF file) into a .clm package at `output` "
        "(written atomically). quant: one of quant_names() (lut3 / lut4 / lut6: an 8-, 16- or "
        "64-entry table per group_size output rows, 8, 16 or 32). imatrix: a file of `corelm "
        "imatrix` weighting "
        "q4s32 / q8s32 / lut3 / lut4 / lut6 quantization by the activations. progress(dict) is "
        "called per "
        "tensor. adapters {NAME: PEFT folder or LoRA GGUF} are stored as functions (adapter_dtype "
        "f16, q8s32 or f32); merge_adapter NAME folds that one into the weights instead. Returns "
        "the conversion report as a dict.");
  m.def("quant_names", &convert_quant_names, "The weight formats convert() can write.");
}

}  // namespace corelm::python
