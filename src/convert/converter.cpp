// convert_model: a Hugging Face folder or a GGUF file -> .clm package, one tensor at a time.
// Source rows are read in chunks; each chunk is converted in parallel, written, and its source
// pages are dropped, so resident memory stays near one chunk regardless of model size. The
// error that quantization adds is measured on the fly (each row is dequantized again).
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>

#include "base/boundary.h"
#include "base/check.h"
#include "base/file_util.h"
#include "base/thread_pool.h"
#include "base/utf8.h"
#include "convert/adapter_store.h"
#include "convert/hf_source.h"
#include "convert/imatrix_file.h"
#include "convert/tensor_plan.h"
#include "corelm/convert.h"
#include "package/package_source.h"
#include "package/writer.h"
#include "tensor/layout.h"
#include "tensor/lut.h"
#include "tensor/quant.h"
#include "tokenizer/tokenizer_data.h"

namespace corelm {

namespace {

constexpr const char* kComponent = "convert";
constexpr uint64_t kChunkBytes = 8ull << 20;  // output bytes converted per step
using nlohmann::json;
namespace fs = std::filesystem;

// The importance of each matrix the plan stores in `quant` (by name), from the imatrix `m` read
// from `path`: every such matrix but the embedding needs its statistics with its column count;
// a tensor the imatrix has and the model lacks means it was made for another model (lm_head of a
// model that ties it to the embedding excepted: no tensor to weight).
std::map<std::string, const float*> plan_importance(const Imatrix& m, const std::string& path,
                                                    const TensorPlan& plan, DType quant) {
  std::map<std::string, const float*> out;
  std::map<std::string, uint64_t> matrices;
  for (const auto& e : plan.entries)
    if (e.shape.size() == 2) matrices[e.name] = e.shape[1];
  for (const auto& t : m.tensors)
    if (!matrices.count(t.name) && t.name != "lm_head.weight")
      fail(ErrorCode::kInvalidArgument, kComponent,
           "the imatrix '{}' has statistics for '{}', which the model does not have: it was made "
           "for another model ('{}')",
           path, t.name, m.model_id);
  for (const auto& e : plan.entries) {
    if (e.shape.size() != 2 || e.dtype != quant || e.name == "model.embed_tokens.weight") continue;
    const ImatrixTensor* t = m.find(e.name);
    if (t == nullptr)
      fail(ErrorCode::kInvalidArgument, kComponent,
           "the imatrix '{}' has no statistics for '{}' (it holds {} tensors of model '{}')", path,
           e.name, m.tensors.size(), m.model_id);
    if (t->values.size() != e.shape[1])
      fail(ErrorCode::kInvalidArgument, kComponent,
           "the imatrix '{}' has {} columns for '{}', which has {}: it was made for another "
           "model ('{}')",
           path, t->values.size(), e.name, e.shape[1], m.model_id);
    out[e.name] = t->values.data();
  }
  return out;
}

}  // namespace

std::vector<std::string> convert_quant_names() {
  return conversion_dtype_names();
}

ConvertReport convert_model(const ConvertOptions& o) {
  try {
    const auto start = std::chrono::steady_clock::now();
    auto elapsed = [&] {
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    };
    auto quant = dtype_from_name(o.quant);
    if (!quant || !dtype_traits(*quant).conversion_target)
      fail(ErrorCode::kInvalidArgument, kComponent, "unknown --quant '{}' (choose {})", o.quant,
           fmt::join(conversion_dtype_names(), ", "));
    if (o.output.empty())
      fail(ErrorCode::kInvalidArgument, kComponent, "no output path (-o OUT.clm)");
    std::error_code ec;
    const fs::path out_dir = fs::absolute(o.output).parent_path();
    if (!fs::is_directory(out_dir, ec))
      fail(ErrorCode::kNotFound, kComponent, "the output folder '{}' does not exist",
           out_dir.string());

    std::unique_ptr<ModelSource> source = open_conversion_source(o.source);
    const ModelConfig& config = source->config();
    const SourceMetadata& m = source->metadata();
    // Built here to validate it before anything is written; its files travel as blobs.
    const TokenizerFiles& tf = source->tokenizer_files();
    std::shared_ptr<Tokenizer> tokenizer = tokenizer_from_files(tf, o.source);
    if (tokenizer->vocab_size() > config.vocab_size)
      fail(ErrorCode::kCorrupt, kComponent,
           "the tokenizer has {} tokens but the model's vocab_size is {}", tokenizer->vocab_size(),
           config.vocab_size);
    std::vector<PlannedBlob> blobs;
    if (tf.tokenizer_json)
      blobs.push_back({"tokenizer.json", *tf.tokenizer_json});
    else if (tf.tokenizer_model)
      blobs.push_back({"tokenizer.model", *tf.tokenizer_model});
    else if (tf.data)
      blobs.push_back({"tokenizer_data.json", tf.data->to_json().dump()});
    if (tf.tokenizer_config) blobs.push_back({"tokenizer_config.json", *tf.tokenizer_config});
    std::string chat_template = tokenizer->chat_template();
    if (chat_template.empty()) chat_template = m.chat_template;
    const bool palettized = dtype_traits(*quant).lut_bits > 0;
    if (palettized &&
        (o.group_size <= 0 || !lut_layout_for_group(static_cast<size_t>(o.group_size))))
      fail(ErrorCode::kInvalidArgument, kComponent, "--group-size {} is not 8, 16 or 32",
           o.group_size);
    TensorPlan plan = make_tensor_plan(*source, *quant, o.quantize_embeddings, o.interleave,
                                       static_cast<size_t>(o.group_size));
    // The importance matrix: read and matched to every tensor it weights before a byte is written.
    Imatrix imatrix;
    std::map<std::string, const float*> importance_of;
    if (!o.imatrix.empty()) {
      if (!palettized && !has_weighted_quantizer(*quant))
        fail(ErrorCode::kInvalidArgument, kComponent,
             "--imatrix weights q4s32, q8s32 and lut3/lut4/lut6 quantization, not {}", o.quant);
      imatrix = read_imatrix(o.imatrix);
      importance_of = plan_importance(imatrix, o.imatrix, plan, *quant);
    }

    // Adapters: every one is read and checked against the model before a byte is written.
    const DType adapter_dtype = adapter_dtype_from_name(o.adapter_dtype);
    std::vector<StoredFunction> functions;
    std::optional<StoredFunction> merged;
    for (const auto& a : o.adapters) {
      check_function_name(a.name);
      for (const auto& f : functions)
        if (f.name == a.name)
          fail(ErrorCode::kInvalidArgument, kComponent, "two adapters are named '{}'", a.name);
      if (merged && merged->name == a.name)
        fail(ErrorCode::kInvalidArgument, kComponent, "two adapters are named '{}'", a.name);
      StoredFunction f{a.name, read_adapter(a.path, *source)};
      if (a.name == o.merge_adapter)
        merged = std::move(f);
      else
        functions.push_back(std::move(f));
    }
    // A package source's functions are copied as they are (bytes, dtypes, scales).
    const std::vector<FunctionRef>& copied = source->functions();
    for (const auto& f : copied)
      for (const auto& a : o.adapters)
        if (a.name == f.name)
          fail(ErrorCode::kInvalidArgument, kComponent,
               "the source package already has a function named '{}'", a.name);
    if (!o.merge_adapter.empty() && !merged)
      fail(ErrorCode::kInvalidArgument, kComponent,
           "--merge-adapter '{}' is not one of the --adapter names", o.merge_adapter);
    // The module each base weight is merged with (by its tensor name).
    std::map<std::string, const LoadedModule*> merge_of;
    if (merged)
      for (const auto& m : merged->adapter.modules) merge_of[m.module + ".weight"] = &m;

    std::string model_id = !o.model_id.empty() ? o.model_id : m.model_id;
    if (model_id.empty()) model_id = fs::absolute(o.source).lexically_normal().filename().string();
    if (model_id.empty())
      model_id = fs::absolute(o.source).lexically_normal().parent_path().filename().string();
    int max_context =
        o.max_context > 0 ? o.max_context : std::min(2048, config.max_position_embeddings);
    if (max_context <= 0)
      fail(ErrorCode::kOutOfRange, kComponent, "--max-context must be positive");

    // The header is JSON text: a name from a GGUF file that is not UTF-8 is shown with U+FFFD,
    // a template that is not cannot be stored.
    model_id = utf8::sanitize(model_id);
    if (!utf8::is_valid(chat_template))
      fail(ErrorCode::kCorrupt, kComponent,
           "the chat template is not UTF-8 (byte {}): a package cannot store it",
           utf8::first_invalid(chat_template));
    json meta;
    meta["source"] = {{"co.huggingface.exporters.name", model_id},
                      {"format", m.format},
                      {"converter", "corelm convert"}};
    meta["config"] = json::parse(config.to_hf_json());
    meta["quantization"] = {{"default", dtype_name(*quant)},
                            {"mode", "linear_symmetric"},
                            {"block_size", 32},
                            {"embeddings", dtype_name(plan.entries.front().dtype)}};
    if (palettized)  // Core ML's per-grouped-channel palettization (docs/lut-plan.md)
      meta["quantization"] = {{"default", dtype_name(*quant)},
                              {"mode", "palettization"},
                              {"granularity", "per_grouped_channel"},
                              {"group_size", o.group_size},
                              {"lut_entries", 1 << dtype_traits(*quant).lut_bits},
                              {"kmeans", "deterministic"},
                              {"embeddings", dtype_name(plan.entries.front().dtype)}};
    if (!o.imatrix.empty())
      meta["quantization"]["imatrix"] = {
          {"text", imatrix.text_name}, {"tokens", imatrix.tokens},
          {"ctx", imatrix.ctx},        {"chunks", imatrix.chunks},
          {"model", imatrix.model_id}, {"weighted_tensors", importance_of.size()}};
    meta["max_context"] = max_context;
    meta["generation"] = m.generation.is_null() ? json::object() : m.generation;
    meta["chat_template"] = chat_template.empty() ? json(nullptr) : json(chat_template);
    if (!m.named_templates.empty()) meta["chat_templates"] = m.named_templates;
    meta["functions"] = json::array({{{"name", "main"}, {"adapters", json::array()}}});
    for (const auto& f : copied) {
      json entry = {{"name", f.name}};
      entry.update(f.info);
      entry["adapters"] = json::array();
      for (const auto& a : f.adapters)
        entry["adapters"].push_back(
            {{"module", a.module}, {"scale", a.scale}, {"lora_A", a.a.name}, {"lora_B", a.b.name}});
      meta["functions"].push_back(std::move(entry));
    }
    for (const auto& f : functions) meta["functions"].push_back(function_header(f, adapter_dtype));
    if (auto* pkg = dynamic_cast<const PackageSource*>(source.get());
        pkg && pkg->reader().header().contains("merged_adapters"))
      meta["merged_adapters"] = pkg->reader().header()["merged_adapters"];
    if (merged) {
      json entry = {{"name", merged->name}};
      entry.update(merged->adapter.info);
      if (!meta.contains("merged_adapters")) meta["merged_adapters"] = json::array();
      meta["merged_adapters"].push_back(std::move(entry));
    }

    std::vector<PlannedTensor> planned;
    for (const auto& e : plan.entries) planned.push_back({e.name, e.dtype, e.shape, e.layout});
    for (const auto& f : copied)
      for (const auto& a : f.adapters)
        for (const TensorRef* t : {&a.a, &a.b})
          planned.push_back({t->name, *t->dtype(), t->shape, t->layout});
    for (const auto& f : functions)
      for (auto& t : plan_function(f, adapter_dtype)) planned.push_back(std::move(t));
    PackageWriter writer(o.output, meta, planned, blobs);

    ThreadPool pool(o.n_threads);
    struct Scratch {
      std::vector<float> row, back, rows;  // rows: a lut group's source rows [G, cols]
      std::vector<BlockQ4> group;          // 8 quantized rows before interleaving
      double err2 = 0.0, ref2 = 0.0;
      // Quantizes one row into `dst` and accumulates the error it adds.
      void convert(const PlanEntry& e, const LoadedModule* merge, const float* importance,
                   uint64_t r, uint64_t cols, uint64_t head_dim, uint8_t* dst) {
        read_row_as_float(e.source, r, head_dim, row.data());
        if (merge) add_lora_row(*merge, r, row.data());
        if (importance)
          quantize_row_weighted(e.dtype, row.data(), importance, dst, cols);
        else
          quantize_row(e.dtype, row.data(), dst, cols);
        if (e.dtype == DType::kF32) return;
        dequantize_row(e.dtype, dst, back.data(), cols);
        for (uint64_t c = 0; c < cols; ++c) {
          const double d = static_cast<double>(back[c]) - row[c];
          err2 += d * d;
          ref2 += static_cast<double>(row[c]) * row[c];
        }
      }
      // Quantizes the `n` rows from `r` (one lut group) into `dst`, with their error.
      void convert_lut(const PlanEntry& e, const LoadedModule* merge, const float* importance,
                       uint64_t r, uint64_t n, uint64_t cols, uint64_t head_dim, uint8_t* dst) {
        for (uint64_t i = 0; i < n; ++i) {
          read_row_as_float(e.source, r + i, head_dim, &rows[i * cols]);
          if (merge) add_lora_row(*merge, r + i, &rows[i * cols]);
        }
        quantize_lut_group(e.dtype, rows.data(), n, cols, importance, dst);
        for (uint64_t i = 0; i < n; ++i) {
          dequantize_matrix_row(e.dtype, e.layout, dst, i, cols, back.data());
          for (uint64_t c = 0; c < cols; ++c) {
            const double d = static_cast<double>(back[c]) - rows[i * cols + c];
            err2 += d * d;
            ref2 += static_cast<double>(rows[i * cols + c]) * rows[i * cols + c];
          }
        }
      }
    };
    std::vector<Scratch> scratch(static_cast<size_t>(pool.size()));
    const uint64_t head_dim = static_cast<uint64_t>(config.head_dim);
    std::vector<uint8_t> chunk;
    uint64_t done = 0, params = 0, weight_bytes = 0;
    double total_err2 = 0.0, total_ref2 = 0.0, worst = 0.0;
    std::string worst_name;
    for (size_t i = 0; i < plan.entries.size(); ++i) {
      const PlanEntry& e = plan.entries[i];
      const uint64_t n_rows = e.shape.size() == 2 ? e.shape[0] : 1, cols = e.shape.back();
      const uint64_t out_row = dtype_row_bytes(e.dtype, cols);
      const bool interleaved = e.layout == Layout::kInterleaved8;
      const uint64_t lut_group = lut_group_rows(e.layout);  // 0 unless palettized
      const auto merge_it = merge_of.find(e.name);
      const LoadedModule* merge = merge_it == merge_of.end() ? nullptr : merge_it->second;
      const auto importance_it = importance_of.find(e.name);
      const float* importance =
          importance_it == importance_of.end() ? nullptr : importance_it->second;
      // Rows converted together, and their bytes (a lut group: its table, then its rows).
      const uint64_t unit = interleaved ? kInterleaveRows : lut_group > 0 ? lut_group : 1;
      const uint64_t unit_bytes = layout_matrix_bytes(e.dtype, e.layout, unit, cols);
      const uint64_t rows_per_chunk =
          std::max<uint64_t>(1, kChunkBytes / std::max<uint64_t>(out_row, 1) / unit) * unit;
      for (auto& s : scratch) {
        s.err2 = s.ref2 = 0.0;
        s.row.resize(cols);
        s.back.resize(cols);
        s.group.resize(interleaved ? kInterleaveRows * cols / kQuantBlock : 0);
        s.rows.resize(lut_group * cols);
      }
      if (o.on_progress)
        o.on_progress({i, plan.entries.size(), e.name, done, writer.total_bytes(), elapsed()});
      for (uint64_t r0 = 0; r0 < n_rows; r0 += rows_per_chunk) {
        const uint64_t r1 = std::min(n_rows, r0 + rows_per_chunk);
        chunk.resize(layout_matrix_bytes(e.dtype, e.layout, r1 - r0, cols));
        pool.run([&](int thread, int n_threads) {
          Scratch& s = scratch[static_cast<size_t>(thread)];
          for (uint64_t u = r0 + unit * static_cast<uint64_t>(thread); u < r1;
               u += unit * static_cast<uint64_t>(n_threads)) {
            uint8_t* dst = chunk.data() + (u - r0) / unit * unit_bytes;
            if (lut_group > 0) {
              s.convert_lut(e, merge, importance, u, std::min(unit, r1 - u), cols, head_dim, dst);
              continue;
            }
            if (!interleaved) {
              s.convert(e, merge, importance, u, cols, head_dim, dst);
              continue;
            }
            const size_t blocks = cols / kQuantBlock;
            const BlockQ4* rows[kInterleaveRows];
            for (uint64_t r = 0; r < kInterleaveRows; ++r) {
              BlockQ4* q = s.group.data() + r * blocks;
              s.convert(e, merge, importance, u + r, cols, head_dim, reinterpret_cast<uint8_t*>(q));
              rows[r] = q;
            }
            interleave_q4_group(rows, blocks, dst);
          }
        });
        writer.write(chunk.data(), chunk.size());
        // Done with these source rows: drop their pages (rows read out of order are kept).
        const TensorRef& src = e.source;
        if (src.file && !src.rotary_interleaved && src.rows() == n_rows)
          src.file->drop_pages(src.file_offset + r0 * src.row_bytes(), (r1 - r0) * src.row_bytes());
      }
      writer.end_tensor();
      double err2 = 0.0, ref2 = 0.0;
      for (const auto& s : scratch) err2 += s.err2, ref2 += s.ref2;
      total_err2 += err2;
      total_ref2 += ref2;
      const double rel = ref2 > 0.0 ? std::sqrt(err2 / ref2) : 0.0;
      if (rel > worst) worst = rel, worst_name = e.name;
      const uint64_t matrix_bytes = layout_matrix_bytes(e.dtype, e.layout, n_rows, cols);
      done += matrix_bytes;
      params += n_rows * cols;
      weight_bytes += matrix_bytes;
    }
    for (const auto& f : copied)
      for (const auto& a : f.adapters)
        for (const TensorRef* t : {&a.a, &a.b}) {
          writer.write(t->data, t->bytes);
          writer.end_tensor();
        }
    for (const auto& f : functions) write_function(writer, f, adapter_dtype);
    if (o.on_progress)
      o.on_progress(
          {plan.entries.size(), plan.entries.size(), "", done, writer.total_bytes(), elapsed()});
    writer.commit();

    ConvertReport report;
    report.output = o.output;
    report.file_bytes = writer.total_bytes();
    report.parameters = params;
    report.bits_per_weight =
        params ? 8.0 * static_cast<double>(weight_bytes) / static_cast<double>(params) : 0.0;
    report.seconds = elapsed();
    report.tensors = planned.size();
    report.notes = plan.notes;
    report.source_format = m.format;
    report.relative_rms_error = total_ref2 > 0.0 ? std::sqrt(total_err2 / total_ref2) : 0.0;
    report.worst_relative_rms_error = worst;
    report.worst_tensor = worst_name;
    for (const auto& f : functions)
      report.notes.push_back(fmt::format("function '{}': {} adapted matrices ({})", f.name,
                                         f.adapter.modules.size(), dtype_name(adapter_dtype)));
    if (merged)
      report.notes.push_back(fmt::format("adapter '{}' merged into the weights ({} matrices)",
                                         merged->name, merged->adapter.modules.size()));
    return report;
  } catch (...) {
    rethrow_as_error("convert");
  }
}

}  // namespace corelm
