// `corelm pull`: a model from the Hugging Face Hub into the cache, converted once.
//  1. GET {endpoint}/api/models/{repo}/revision/{rev}?blobs=true: the commit and each file's size,
//     git blob id and LFS sha256 (a HEAD of the resolve URL fills in what a mirror leaves out);
//  2. the files corelm needs: config.json, generation_config.json, tokenizer files, the
//     safetensors shards (or one GGUF file), plus --include globs;
//  3. free disk space checked, each file downloaded into blobs/ (resumed, checked), then the
//     snapshot's symlinks and refs/<revision> written: a snapshot appears only when complete;
//  4. the snapshot converted into corelm/<commit>-<quant>.clm (a GGUF file runs as it is).
// With HF_HUB_OFFLINE=1 only steps 4 runs, on what the cache holds.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "hub_cache.h"

namespace corelm::hub {

struct PullProgress {
  std::string file;
  uint64_t file_done = 0, file_total = 0;  // file_total 0: unknown
  uint64_t all_done = 0, all_total = 0;    // bytes of this pull's downloads
  size_t file_index = 0, file_count = 0;   // among the files downloaded
};

struct PullOptions {
  ModelId id;
  std::vector<std::string> include;  // extra files (globs on the repository path)
  std::string quant = "q4s32";       // the package's weight format
  std::string gguf;                  // pick the GGUF file whose name holds this (e.g. Q4_K_M)
  bool convert = true;
  std::function<void(const PullProgress&)> on_progress;  // while a file downloads
  std::function<void(const std::string&)> on_file_done;  // "config.json 576 B"
  std::function<void(const std::string&)> on_note;       // plain lines for the user
};

struct PullResult {
  std::string commit;
  std::string snapshot;    // snapshots/<commit>
  std::string model_path;  // the package (or the GGUF file) to load
  size_t files = 0;        // files in the snapshot selection
  size_t downloaded_files = 0;
  uint64_t downloaded_bytes = 0;
  bool converted = false;  // a package was written by this pull
};

// The Hub's address: $HF_ENDPOINT without a trailing '/', else https://huggingface.co.
std::string hub_endpoint();
// HF_HUB_OFFLINE set to 1/true/yes/on.
bool hub_offline();
// $HF_TOKEN, else the token file huggingface-cli login writes ($HF_HOME/token); "" for none.
std::string hub_token();

PullResult pull(const PullOptions& options);

}  // namespace corelm::hub
