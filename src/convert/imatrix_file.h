// An importance matrix: per weight tensor (by its Hugging Face name), the mean of x_j^2 over
// every token of a text for each input column j of the activations it multiplies. Made by
// `corelm imatrix MODEL --text FILE`, read by `corelm convert --imatrix FILE`, which weights the
// rounding (q4s32, q8s32) or the k-means (lut4) by it. Little-endian, documented in
// docs/quantization.md ("Importance matrix"):
//
//   offset  size            what
//   0       8               magic "CLMIMAT1"
//   8       8               u64 tokens: the ids evaluated (chunks x ctx)
//   16      4 x u32         ctx, chunks, tensor count T, bytes L of the text's name
//   32      L               the text's name (its file name, UTF-8)
//   ...     4 + M           u32 M, the model's id (UTF-8; as the package or GGUF records it)
//   ...     T records       u32 N, the tensor's name (N bytes, UTF-8), u32 C (its columns),
//                           C x f32 mean x_j^2 (finite, >= 0)
//   end-4   4               u32 CRC-32 (zlib) of every byte before it
//
// The reader checks every length against the file, the CRC, the names (UTF-8, unique) and the
// values before anything is used, so a truncated or damaged file is an error naming what is wrong.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace corelm {

struct ImatrixTensor {
  std::string name;           // e.g. "model.layers.0.self_attn.q_proj.weight"
  std::vector<float> values;  // mean x_j^2, one per input column
};

struct Imatrix {
  std::string text_name;  // the text file's name
  std::string model_id;
  uint64_t tokens = 0;
  uint32_t ctx = 0, chunks = 0;
  std::vector<ImatrixTensor> tensors;

  // The tensor named `name`, or nullptr.
  const ImatrixTensor* find(const std::string& name) const;
};

// Writes `m` to `path` atomically (a temporary file renamed into place). Throws Error.
void write_imatrix(const std::string& path, const Imatrix& m);
// Reads and validates a whole file. Throws Error (kCorrupt naming the problem, kNotFound).
Imatrix read_imatrix(const std::string& path);

}  // namespace corelm
