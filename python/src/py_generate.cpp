// corelm.Generation: the Generator (the loop the CLI and the server share) on a worker thread,
// its text pieces handed to Python through a queue, so that a generation is an iterator that
// streams, can be abandoned (the worker stops at the next token) and lets Ctrl-C through
// (Python's signal handlers run while __next__ waits). corelm.generate() in
// python/corelm/_generate.py builds on it.
#include <pybind11/stl.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <optional>
#include <thread>
#include <utility>

#include "bindings.h"

namespace corelm::python {

namespace {

class PyGeneration {
 public:
  PyGeneration(std::shared_ptr<PyModel> model, std::vector<int32_t> prompt_ids,
               GenerateOptions options, int max_context, KvCacheType kv_cache,
               const std::string& function, float function_scale)
      : model_(std::move(model)), prompt_ids_(std::move(prompt_ids)), options_(std::move(options)) {
    if (prompt_ids_.empty()) raise(ErrorCode::kInvalidArgument, "the prompt has no tokens");
    options_.cancel = &cancel_;
    // The context the Session must have: the asked one, else the package's default.
    const int context = max_context > 0 ? max_context : model_->model->info().default_max_context;
    // The model's reusable Session when it is free (and of the asked size), else one of our own.
    bool expected = false;
    if (model_->generating.compare_exchange_strong(expected, true)) {
      try {
        std::lock_guard<std::mutex> lock(model_->generation_mutex);
        if (!model_->session || model_->session->max_context() != context ||
            model_->session->options().kv_cache != kv_cache) {
          model_->generator.reset();
          model_->session.reset();
          model_->session = make_session(max_context, kv_cache);
          model_->generator =
              std::make_unique<Generator>(*model_->session, model_->model->tokenizer());
        }
      } catch (...) {
        model_->generating = false;
        throw;
      }
      shared_ = true;
      generator_ = model_->generator.get();
      session_ = model_->session.get();
    } else {
      own_session_ = make_session(max_context, kv_cache);
      own_generator_ = std::make_unique<Generator>(*own_session_, model_->model->tokenizer());
      generator_ = own_generator_.get();
      session_ = own_session_.get();
    }
    try {
      session_->set_function(function, function_scale);  // (a change empties the cache)
    } catch (...) {
      if (shared_) model_->generating = false;
      throw;
    }
    worker_ = std::thread([this] { run(); });
  }

  ~PyGeneration() {
    cancel();
    if (worker_.joinable()) {
      if (PyGILState_Check()) {
        py::gil_scoped_release release;  // the worker may be inside a forward call
        worker_.join();
      } else {
        worker_.join();
      }
    }
  }

  // The next piece of text; throws StopIteration at the end (the worker's error, if it failed).
  std::string next() {
    while (true) {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!pieces_.empty()) {
          std::string piece = std::move(pieces_.front());
          pieces_.pop_front();
          space_.notify_one();
          return piece;
        }
        if (done_) {
          if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
          throw py::stop_iteration();
        }
      }
      {
        // Wait without the GIL, waking every 100 ms to let Python handle signals (Ctrl-C).
        py::gil_scoped_release release;
        std::unique_lock<std::mutex> lock(mutex_);
        ready_.wait_for(lock, std::chrono::milliseconds(100),
                        [this] { return !pieces_.empty() || done_; });
      }
      // Not under mutex_: a signal handler may read this Generation.
      if (PyErr_CheckSignals() != 0) {
        cancel();
        throw py::error_already_set();
      }
    }
  }

  // Stops at the next token; the text so far stays readable.
  void cancel() {
    cancel_ = true;
    std::lock_guard<std::mutex> lock(mutex_);
    space_.notify_all();
  }

  bool done() {
    std::lock_guard<std::mutex> lock(mutex_);
    return done_ && pieces_.empty();
  }

  py::object stats() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!done_) return py::none();
    const GenerationStats& s = result_.stats;
    py::dict d;
    d["prompt_tokens"] = s.prompt_tokens;
    d["generated_tokens"] = s.generated_tokens;
    d["reused_tokens"] = s.reused_tokens;
    d["prefill_seconds"] = s.prefill_seconds;
    d["decode_seconds"] = s.decode_seconds;
    d["prefill_tokens_per_s"] = s.prefill_tokens_per_s();
    d["decode_tokens_per_s"] = s.decode_tokens_per_s();
    d["stop_reason"] = s.stop_reason;
    return d;
  }

  std::optional<std::vector<int32_t>> ids() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!done_) return std::nullopt;
    return result_.ids;
  }

  const std::vector<int32_t>& prompt_ids() const { return prompt_ids_; }

 private:
  std::unique_ptr<Session> make_session(int max_context, KvCacheType kv_cache) {
    SessionOptions o;
    o.max_context = max_context;  // 0: the package's default, as the CLI
    o.kv_cache = kv_cache;
    return std::make_unique<Session>(model_->model, o);
  }

  void run() {
    GenerationResult result;
    std::exception_ptr error;
    try {
      result = generator_->generate(prompt_ids_, options_, [this](std::string_view piece) {
        // At most kMaxQueued pieces ahead of the reader: a stream nobody reads waits.
        std::unique_lock<std::mutex> lock(mutex_);
        space_.wait(lock, [this] { return pieces_.size() < kMaxQueued || cancel_.load(); });
        if (cancel_) return false;
        pieces_.emplace_back(piece);
        ready_.notify_one();
        return true;
      });
    } catch (...) {
      error = std::current_exception();
    }
    if (shared_) model_->generating = false;  // the model's Session is free for the next one
    {
      std::lock_guard<std::mutex> lock(mutex_);
      result_ = std::move(result);
      error_ = error;
      done_ = true;
    }
    ready_.notify_one();
  }

  std::shared_ptr<PyModel> model_;
  std::vector<int32_t> prompt_ids_;
  GenerateOptions options_;
  bool shared_ = false;  // generator_ is the model's reusable one
  std::unique_ptr<Session> own_session_;
  std::unique_ptr<Generator> own_generator_;
  Generator* generator_ = nullptr;
  Session* session_ = nullptr;  // generator_'s
  std::thread worker_;
  std::atomic<bool> cancel_{false};
  std::mutex mutex_;
  std::condition_variable ready_;  // a piece arrived, or the worker is done
  std::condition_variable space_;  // the reader took a piece, or cancel
  static constexpr size_t kMaxQueued = 64;
  std::deque<std::string> pieces_;
  bool done_ = false;
  std::exception_ptr error_;
  GenerationResult result_;
};

std::unique_ptr<PyGeneration> start(
    const std::shared_ptr<PyModel>& model, std::vector<int32_t> prompt_ids, int max_new_tokens,
    float temperature, float top_p, int top_k, float min_p, float repetition_penalty,
    std::optional<uint64_t> seed, std::vector<std::string> stop, bool ignore_eos, int max_context,
    const std::string& kv_cache, const std::optional<std::string>& function, float function_scale) {
  if (max_new_tokens < -1)
    raise(ErrorCode::kInvalidArgument, "max_new_tokens must be >= 0 (or None: no limit)");
  if (!(temperature >= 0.0f)) raise(ErrorCode::kInvalidArgument, "temperature must be >= 0");
  if (!(top_p > 0.0f && top_p <= 1.0f))
    raise(ErrorCode::kInvalidArgument, "top_p must be in (0, 1]");
  if (top_k < 0) raise(ErrorCode::kInvalidArgument, "top_k must be >= 0 (0: off)");
  if (!(min_p >= 0.0f && min_p <= 1.0f))
    raise(ErrorCode::kInvalidArgument, "min_p must be in [0, 1]");
  if (!(repetition_penalty > 0.0f))
    raise(ErrorCode::kInvalidArgument, "repetition_penalty must be > 0");
  if (max_context < 0) raise(ErrorCode::kInvalidArgument, "max_context must be >= 1");
  auto kv = kv_cache_type_from_name(kv_cache);
  if (!kv)
    raise(ErrorCode::kInvalidArgument,
          "kv_cache must be 'f16', 'q8' or 'f32', got '" + kv_cache + "'");
  GenerateOptions o;
  o.max_new_tokens = max_new_tokens;
  o.sampling.temperature = temperature;
  o.sampling.top_p = top_p;
  o.sampling.top_k = top_k;
  o.sampling.min_p = min_p;
  o.sampling.repetition_penalty = repetition_penalty;
  o.sampling.seed = seed;
  o.stop_strings = std::move(stop);
  o.ignore_eos = ignore_eos;
  py::gil_scoped_release release;  // a new Session allocates its cache
  return std::make_unique<PyGeneration>(model, std::move(prompt_ids), std::move(o), max_context,
                                        *kv, function.value_or(""), function_scale);
}

}  // namespace

void bind_generate(py::module_& m) {
  py::class_<PyGeneration>(m, "Generation",
                           "A running generation (corelm.generate(..., stream=True)): iterate "
                           "for text pieces; stats and ids once it is done.")
      .def("__iter__", [](PyGeneration& g) -> PyGeneration& { return g; })
      .def("__next__", &PyGeneration::next)
      .def("cancel", &PyGeneration::cancel, "Stops at the next token.")
      .def_property_readonly("done", &PyGeneration::done)
      .def_property_readonly("stats", &PyGeneration::stats,
                             "Token counts, speeds and stop_reason ('eos', 'length', "
                             "'stop_string', 'context', 'callback'); None until done.")
      .def_property_readonly("ids", &PyGeneration::ids,
                             "The generated ids (EOS not included); None until done.")
      .def_property_readonly("prompt_ids", &PyGeneration::prompt_ids);

  m.def("_start_generation", &start, py::arg("model"), py::arg("prompt_ids"),
        py::arg("max_new_tokens"), py::arg("temperature"), py::arg("top_p"), py::arg("top_k"),
        py::arg("min_p"), py::arg("repetition_penalty"), py::arg("seed"), py::arg("stop"),
        py::arg("ignore_eos"), py::arg("max_context"), py::arg("kv_cache"),
        py::arg("function") = py::none(), py::arg("function_scale") = 1.0f);
}

}  // namespace corelm::python
