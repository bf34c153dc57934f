#include "hub_cache.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <system_error>

#include "base/check.h"
#include "base/file_util.h"

namespace corelm::hub {

namespace fs = std::filesystem;

namespace {

bool valid_name(const std::string& s) {
  if (s.empty() || s.size() > 96 || s[0] == '.' || s[0] == '-') return false;
  if (s.find("..") != std::string::npos) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

bool valid_revision(const std::string& s) {
  if (s.empty() || s.size() > 256 || s[0] == '/' || s.back() == '/') return false;
  if (s.find("..") != std::string::npos || s.find("//") != std::string::npos) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return c > ' ' && c != '\\' && c != '%' && c != '?' && c != '#' && c != 0x7f;
  });
}

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

uint64_t tree_bytes(const fs::path& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (it->is_symlink(ec)) continue;  // snapshot links point at blobs counted already
    if (it->is_regular_file(ec)) total += it->file_size(ec);
  }
  return total;
}

}  // namespace

std::optional<ModelId> parse_model_id(const std::string& text) {
  ModelId id;
  std::string repo = text;
  size_t at = text.find('@');
  if (at != std::string::npos) {
    repo = text.substr(0, at);
    id.revision = text.substr(at + 1);
    if (!valid_revision(id.revision)) return std::nullopt;
  }
  size_t slash = repo.find('/');
  if (slash == std::string::npos || repo.find('/', slash + 1) != std::string::npos)
    return std::nullopt;
  if (!valid_name(repo.substr(0, slash)) || !valid_name(repo.substr(slash + 1)))
    return std::nullopt;
  id.repo = repo;
  return id;
}

bool is_commit_hash(const std::string& s) {
  return s.size() == 40 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

std::string hf_home() {
  if (std::string h = env("HF_HOME"); !h.empty()) return h;
  if (std::string x = env("XDG_CACHE_HOME"); !x.empty()) return x + "/huggingface";
  std::string home = env("HOME");
  if (home.empty())
    fail(ErrorCode::kInvalidArgument, "hub", "neither HF_HOME nor HOME is set: no cache folder");
  return home + "/.cache/huggingface";
}

std::string hub_cache_dir() {
  if (std::string c = env("HF_HUB_CACHE"); !c.empty()) return c;
  return hf_home() + "/hub";
}

std::string repo_dir(const std::string& repo) {
  const size_t slash = repo.find('/');
  const std::string folder =
      slash == std::string::npos ? repo : repo.substr(0, slash) + "--" + repo.substr(slash + 1);
  return hub_cache_dir() + "/models--" + folder;
}

std::string blob_path(const std::string& repo, const std::string& etag) {
  return repo_dir(repo) + "/blobs/" + etag;
}

std::string snapshot_dir(const std::string& repo, const std::string& commit) {
  return repo_dir(repo) + "/snapshots/" + commit;
}

std::string ref_path(const std::string& repo, const std::string& revision) {
  return repo_dir(repo) + "/refs/" + revision;
}

std::string package_path(const std::string& repo, const std::string& commit,
                         const std::string& quant) {
  return repo_dir(repo) + "/corelm/" + commit + "-" + quant + ".clm";
}

std::optional<std::string> cached_commit(const ModelId& id) {
  std::error_code ec;
  if (is_commit_hash(id.revision) && fs::is_directory(snapshot_dir(id.repo, id.revision), ec))
    return id.revision;
  const std::string ref = ref_path(id.repo, id.revision);
  if (!file_exists(ref)) return std::nullopt;
  std::string commit = read_file(ref, "hub");
  while (!commit.empty() && (commit.back() == '\n' || commit.back() == '\r')) commit.pop_back();
  if (!is_commit_hash(commit))
    fail(ErrorCode::kCorrupt, "hub", "{} does not hold a commit hash", ref);
  return commit;
}

void write_ref(const ModelId& id, const std::string& commit) {
  if (id.revision == commit) return;
  const std::string ref = ref_path(id.repo, id.revision);
  std::error_code ec;
  fs::create_directories(fs::path(ref).parent_path(), ec);
  write_file_atomic(ref, commit, "hub");
}

void link_snapshot_file(const std::string& repo, const std::string& commit, const std::string& path,
                        const std::string& etag) {
  const fs::path link = fs::path(snapshot_dir(repo, commit)) / path;
  std::error_code ec;
  fs::create_directories(link.parent_path(), ec);
  if (ec)
    fail(ErrorCode::kIo, "hub", "cannot create {}: {}", link.parent_path().string(), ec.message());
  // From snapshots/<commit>/<dirs...>/ up to the repo folder, then into blobs/.
  std::string target;
  for (size_t i = 0, ups = 2 + static_cast<size_t>(std::count(path.begin(), path.end(), '/'));
       i < ups; ++i)
    target += "../";
  target += "blobs/" + etag;
  const std::string temp = link.string() + ".tmp-" + std::to_string(getpid());
  fs::remove(temp, ec);
  if (symlink(target.c_str(), temp.c_str()) != 0 || rename(temp.c_str(), link.c_str()) != 0) {
    const int err = errno;
    fs::remove(temp, ec);
    fail(ErrorCode::kIo, "hub", "cannot link {} to {}: {}", link.string(), target,
         std::generic_category().message(err));
  }
}

std::optional<std::string> cached_model_file(const std::string& repo, const std::string& commit,
                                             const std::string& quant) {
  std::error_code ec;
  if (!quant.empty()) {
    const std::string p = package_path(repo, commit, quant);
    if (file_exists(p)) return p;
    return std::nullopt;
  }
  const std::string preferred = package_path(repo, commit, "q4s32");
  if (file_exists(preferred)) return preferred;
  std::optional<std::string> newest;
  fs::file_time_type newest_time{};
  for (auto it = fs::directory_iterator(repo_dir(repo) + "/corelm", ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind(commit + "-", 0) != 0 || it->path().extension() != ".clm") continue;
    auto t = it->last_write_time(ec);
    if (!newest || t > newest_time) newest = it->path().string(), newest_time = t;
  }
  if (newest) return newest;
  for (auto it = fs::recursive_directory_iterator(snapshot_dir(repo, commit), ec);
       !ec && it != fs::end(it); it.increment(ec))
    if (it->path().extension() == ".gguf") return it->path().string();
  return std::nullopt;
}

std::string resolve_model_argument(const std::string& arg) {
  std::error_code ec;
  if (fs::exists(arg, ec)) return arg;
  std::optional<ModelId> id = parse_model_id(arg);
  if (!id) return arg;  // a path: the loader says what is wrong with it
  std::optional<std::string> commit = cached_commit(*id);
  if (!commit)
    fail(ErrorCode::kNotFound, "hub",
         "'{}' is neither a file nor a model in the cache ({}); download it with `corelm pull {}` "
         "(or `corelm run {}`)",
         arg, hub_cache_dir(), arg, arg);
  std::optional<std::string> file = cached_model_file(id->repo, *commit);
  if (!file)
    fail(ErrorCode::kNotFound, "hub",
         "{} (commit {}) is in the cache but has no corelm package; run `corelm pull {}` to "
         "convert it",
         arg, *commit, arg);
  return *file;
}

std::vector<CachedRepo> list_cached_repos() {
  std::vector<CachedRepo> repos;
  std::error_code ec;
  for (auto it = fs::directory_iterator(hub_cache_dir(), ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind("models--", 0) != 0 || !it->is_directory(ec)) continue;
    std::string repo = name.substr(8);
    size_t sep = repo.find("--");
    if (sep == std::string::npos) continue;
    repo = repo.substr(0, sep) + "/" + repo.substr(sep + 2);
    CachedRepo r;
    r.repo = repo;
    r.bytes = tree_bytes(it->path());
    const fs::path refs = it->path() / "refs";
    std::error_code ec2;
    for (auto ref = fs::recursive_directory_iterator(refs, ec2); !ec2 && ref != fs::end(ref);
         ref.increment(ec2)) {
      if (!ref->is_regular_file(ec2)) continue;
      std::string commit = read_file_head(ref->path().string(), 64);
      r.refs.push_back(ref->path().lexically_relative(refs).string() + " -> " + commit);
    }
    for (auto f = fs::recursive_directory_iterator(it->path(), ec2); !ec2 && f != fs::end(f);
         f.increment(ec2)) {
      const auto ext = f->path().extension();
      if (ext == ".clm" || ext == ".gguf")
        r.models.push_back(f->path().lexically_relative(it->path()).string());
    }
    std::sort(r.refs.begin(), r.refs.end());
    std::sort(r.models.begin(), r.models.end());
    repos.push_back(std::move(r));
  }
  std::sort(repos.begin(), repos.end(),
            [](const CachedRepo& a, const CachedRepo& b) { return a.repo < b.repo; });
  return repos;
}

uint64_t remove_cached_repo(const std::string& repo) {
  const std::string dir = repo_dir(repo);
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    fail(ErrorCode::kNotFound, "hub", "{} is not in the cache ({})", repo, hub_cache_dir());
  const uint64_t bytes = tree_bytes(dir);
  fs::remove_all(dir, ec);
  if (ec) fail(ErrorCode::kIo, "hub", "cannot remove {}: {}", dir, ec.message());
  return bytes;
}

}  // namespace corelm::hub
