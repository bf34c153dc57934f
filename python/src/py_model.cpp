// corelm.Model and corelm.State: a loaded package (or GGUF file) and the stateful KV cache the
// seed's make_state() returns. predict() itself is in py_predict.cpp.
#include <pybind11/stl.h>

#include <optional>
#include <string>

#include "bindings.h"
#include "corelm/tokenizer.h"

namespace corelm::python {

namespace {

py::object json_loads(const std::string& text) {
  return py::module_::import("json").attr("loads")(text);
}

std::shared_ptr<PyModel> load(const std::string& path, int threads) {
  if (threads < 0) raise(ErrorCode::kInvalidArgument, "threads must be >= 0 (0: one per core)");
  auto m = std::make_shared<PyModel>();
  {
    py::gil_scoped_release release;
    LoadOptions options;
    options.n_threads = threads;
    m->model = Model::load(path, options);
  }
  m->tokenizer = std::make_shared<PyTokenizer>();
  // The tokenizer lives inside the Model: share the Model's ownership.
  m->tokenizer->tokenizer = std::shared_ptr<const Tokenizer>(m->model, &m->model->tokenizer());
  const std::string& model_template = m->model->info().chat_template;
  m->tokenizer->chat_template =
      !model_template.empty() ? model_template : m->model->tokenizer().chat_template();
  return m;
}

std::shared_ptr<PyState> make_state(const std::shared_ptr<PyModel>& m,
                                    std::optional<int> max_context, const std::string& kv_cache,
                                    int max_batch, int max_chunk,
                                    const std::optional<std::string>& function,
                                    float function_scale) {
  SessionOptions o;
  if (max_context && *max_context < 1)
    raise(ErrorCode::kInvalidArgument,
          "max_context must be >= 1, got " + std::to_string(*max_context));
  o.max_context = max_context.value_or(0);
  auto type = kv_cache_type_from_name(kv_cache);
  if (!type)
    raise(ErrorCode::kInvalidArgument,
          "kv_cache must be 'f16', 'q8' or 'f32', got '" + kv_cache + "'");
  o.kv_cache = *type;
  o.max_batch = max_batch;
  o.max_chunk = max_chunk;
  o.all_logits = true;  // predict returns logits [batch, q, vocab], as the seed's model
  o.function = function.value_or("");
  o.function_scale = function_scale;
  auto state = std::make_shared<PyState>();
  state->owner = m;
  py::gil_scoped_release release;
  state->session = std::make_unique<Session>(m->model, o);
  return state;
}

py::dict info_dict(const ModelInfo& i) {
  py::dict d;
  d["path"] = i.path;
  d["format"] = i.format;
  d["source_model_id"] = i.source_model_id;
  d["quantization"] = i.quantization;
  d["default_max_context"] = i.default_max_context;
  d["file_bytes"] = i.file_bytes;
  d["weight_bytes"] = i.weight_bytes;
  d["parameter_count"] = i.parameter_count;
  d["generation_config"] = i.generation_config_json.empty() ? py::object(py::none())
                                                            : json_loads(i.generation_config_json);
  return d;
}

}  // namespace

void bind_model(py::module_& m) {
  py::class_<PyModel, std::shared_ptr<PyModel>>(
      m, "Model",
      "A model loaded from a .clm package or a GGUF file: memory-mapped, immutable, shared by "
      "any number of states.")
      .def_static("load", &load, py::arg("path"), py::arg("threads") = 0,
                  "Opens a .clm package or a .gguf file; threads: of the compute pool every "
                  "state shares (0: one per core).")
      .def_property_readonly(
          "config", [](const PyModel& p) { return json_loads(p.model->config().to_hf_json()); },
          "The model's hyper-parameters as a dict with Hugging Face config.json names.")
      .def_property_readonly(
          "user_defined_metadata",
          [](const PyModel& p) {
            const ModelInfo& i = p.model->info();
            py::dict d;
            d["co.huggingface.exporters.name"] = i.source_model_id;
            d["co.huggingface.exporters.architecture"] = p.model->config().architecture;
            d["corelm.format"] = i.format;
            d["corelm.quantization"] = i.quantization;
            d["corelm.max_context"] = std::to_string(i.default_max_context);
            return d;
          },
          "Metadata as coremltools' MLModel.user_defined_metadata: the seed's "
          "'co.huggingface.exporters.name' (the source model id) and corelm's own keys.")
      .def_property_readonly(
          "info", [](const PyModel& p) { return info_dict(p.model->info()); },
          "Where the model came from and how it is stored: path, format, quantization, sizes.")
      .def_property_readonly(
          "tokenizer", [](const PyModel& p) { return p.tokenizer; },
          "The model's tokenizer (with its chat template).")
      .def_property_readonly("vocab_size",
                             [](const PyModel& p) { return p.model->config().vocab_size; })
      .def_property_readonly("threads", [](const PyModel& p) { return p.model->threads(); })
      .def("make_state", &make_state, py::arg("max_context") = py::none(),
           py::arg("kv_cache") = "f16", py::arg("max_batch") = 1, py::arg("max_chunk") = 128,
           py::arg("function") = py::none(), py::arg("function_scale") = 1.0f,
           "A new KV cache state, allocated once for max_context tokens (None: the package's "
           "default) of max_batch sequences; kv_cache 'f16', 'q8' or 'f32'. A predict call "
           "longer than max_chunk tokens runs in chunks of max_chunk. function: one of "
           "model.functions (a LoRA adapter set of the package; None: the base model), its "
           "adapters' scales times function_scale.")
      .def_property_readonly(
          "functions",
          [](const PyModel& p) {
            py::list out;
            for (const FunctionInfo& f : p.model->info().functions) {
              py::dict d = json_loads(f.details_json);
              d["name"] = f.name;
              d["adapters"] = f.adapters;
              d["max_rank"] = f.max_rank;
              d["bytes"] = f.bytes;
              out.append(d);
            }
            return out;
          },
          "The package's functions (LoRA adapter sets over the shared base weights): a dict each "
          "with name, adapters, max_rank, bytes and what the package records (rank, alpha, "
          "target_modules, ...).")
      .def("__repr__", [](const PyModel& p) {
        const ModelInfo& i = p.model->info();
        return "corelm.Model('" + i.path + "', " + p.model->config().architecture + ", " +
               i.quantization + ")";
      });

  py::class_<PyState, std::shared_ptr<PyState>>(
      m, "State",
      "A stateful KV cache (Model.make_state()): allocated once, updated in place by predict.")
      .def_property_readonly(
          "past",
          [](PyState& s) {
            // Wait for a running predict without the GIL (it needs the GIL to finish).
            py::gil_scoped_release release;
            std::lock_guard<std::mutex> lock(s.mutex);
            return s.session->past();
          },
          "Tokens the cache holds (of sequence 0; a [batch, q] predict keeps all at one "
          "position).")
      .def_property_readonly("max_context", [](PyState& s) { return s.session->max_context(); })
      .def_property_readonly("max_batch", [](PyState& s) { return s.session->options().max_batch; })
      .def_property_readonly("max_chunk", [](PyState& s) { return s.session->options().max_chunk; })
      .def_property_readonly(
          "kv_cache", [](PyState& s) { return kv_cache_type_name(s.session->options().kv_cache); })
      .def_property_readonly("kv_cache_bytes",
                             [](PyState& s) { return s.session->kv_cache_bytes(); })
      .def(
          "reset",
          [](PyState& s) {
            py::gil_scoped_release release;
            std::lock_guard<std::mutex> lock(s.mutex);
            s.session->reset();
          },
          "Forgets every position (past becomes 0).")
      .def(
          "set_function",
          [](PyState& s, const std::optional<std::string>& name, float scale) {
            py::gil_scoped_release release;
            std::lock_guard<std::mutex> lock(s.mutex);
            s.session->set_function(name.value_or(""), scale);
          },
          py::arg("name"), py::arg("scale") = 1.0f,
          "Runs function `name` (None: the base model) from now on, its adapters' scales times "
          "`scale`; a change forgets the cache (it was computed under the other function).")
      .def_property_readonly(
          "function",
          [](PyState& s) -> py::object {
            std::string name;
            {
              py::gil_scoped_release release;
              std::lock_guard<std::mutex> lock(s.mutex);
              name = s.session->function();
            }
            if (name.empty()) return py::none();
            return py::str(name);
          },
          "The function the state runs (None: the base model).")
      .def(
          "truncate",
          [](PyState& s, int past) {
            if (past < 0)
              raise(ErrorCode::kInvalidArgument,
                    "truncate(past) needs past >= 0, got " + std::to_string(past));
            py::gil_scoped_release release;
            std::lock_guard<std::mutex> lock(s.mutex);
            s.session->truncate(past);
          },
          py::arg("past"), "Forgets positions [past, ...) of every sequence.")
      .def("__repr__", [](PyState& s) {
        int past = 0;
        {
          py::gil_scoped_release release;
          std::lock_guard<std::mutex> lock(s.mutex);
          past = s.session->past();
        }
        return "corelm.State(past=" + std::to_string(past) +
               ", max_context=" + std::to_string(s.session->max_context()) +
               ", max_batch=" + std::to_string(s.session->options().max_batch) + ", kv_cache='" +
               kv_cache_type_name(s.session->options().kv_cache) + "')";
      });
}

}  // namespace corelm::python
