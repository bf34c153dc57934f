// The Hugging Face cache on disk, laid out as huggingface_hub writes it, so corelm and
// transformers share downloads:
//   $HF_HOME/hub/models--ORG--NAME/blobs/<etag>            the files' bytes (sha256 for LFS files)
//                                  blobs/<etag>.incomplete  a download in progress (resumed)
//                                  refs/<revision>          the commit hash the revision resolved
//                                  to snapshots/<commit>/<path> relative symlinks to
//                                  ../../blobs/<etag> corelm/<commit>-<quant>.clm  corelm's package
//                                  of that snapshot
// Nothing here touches the network: `corelm generate ORG/NAME` resolves a model id through it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace corelm::hub {

// "ORG/NAME" or "ORG/NAME@REVISION" (a branch, tag or commit; default "main").
struct ModelId {
  std::string repo;
  std::string revision = "main";
};
// nullopt when `text` is not of that form (names of [A-Za-z0-9._-], no "..", no leading '.' or
// '-'); a revision may hold '/' ("refs/pr/1") but no "..".
std::optional<ModelId> parse_model_id(const std::string& text);

bool is_commit_hash(const std::string& s);  // 40 lowercase hex digits

// $HF_HUB_CACHE, else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else
// ~/.cache/huggingface/hub.
std::string hub_cache_dir();
std::string hf_home();
// hub_cache_dir()/models--ORG--NAME
std::string repo_dir(const std::string& repo);
std::string blob_path(const std::string& repo, const std::string& etag);
std::string snapshot_dir(const std::string& repo, const std::string& commit);
std::string ref_path(const std::string& repo, const std::string& revision);
// repo_dir/corelm/<commit>-<quant>.clm
std::string package_path(const std::string& repo, const std::string& commit,
                         const std::string& quant);

// The commit `id` resolves to in the cache: the revision itself when it is a commit whose
// snapshot is there, else refs/<revision>'s content. nullopt when the cache has neither.
std::optional<std::string> cached_commit(const ModelId& id);

// Writes refs/<revision> (atomically) unless the revision is the commit itself.
void write_ref(const ModelId& id, const std::string& commit);
// snapshots/<commit>/<path> -> ../../blobs/<etag> (deeper paths get more ../), replacing what
// is there, atomically (a temporary link renamed into place).
void link_snapshot_file(const std::string& repo, const std::string& commit, const std::string& path,
                        const std::string& etag);

// The model to load for a cached snapshot: its package (`quant` if given, else q4s32, else the
// newest), else the GGUF file in the snapshot. nullopt when there is neither.
std::optional<std::string> cached_model_file(const std::string& repo, const std::string& commit,
                                             const std::string& quant = "");

// What the CLI's MODEL argument names: an existing path as it is; else an ORG/NAME[@REV] model
// id resolved from the cache (no download); anything else as it is (the loader reports it).
// Throws Error naming `corelm pull` when the id is not cached.
std::string resolve_model_argument(const std::string& arg);

struct CachedRepo {
  std::string repo;                 // ORG/NAME
  uint64_t bytes = 0;               // everything under its folder (blobs, packages, partial files)
  std::vector<std::string> refs;    // "main -> 0123abc..."
  std::vector<std::string> models;  // packages and GGUF files, relative to the repo folder
};
std::vector<CachedRepo> list_cached_repos();
// Removes models--ORG--NAME; returns the bytes freed. Throws kNotFound if it is not cached.
uint64_t remove_cached_repo(const std::string& repo);

}  // namespace corelm::hub
