#include "hub_pull.h"

#include <fnmatch.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <set>

#include "base/atomic_file.h"
#include "base/check.h"
#include "base/file_util.h"
#include "base/json_access.h"
#include "corelm/convert.h"
#include "hub_download.h"
#include "hub_http.h"

namespace corelm::hub {

namespace fs = std::filesystem;

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// A repository path from the server: relative, no "..", no empty parts.
bool safe_repo_path(const std::string& p) {
  if (p.empty() || p[0] == '/' || p.find('\\') != std::string::npos || p.find('\0') != p.npos)
    return false;
  size_t start = 0;
  for (;;) {
    size_t end = p.find('/', start);
    std::string part = p.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (part.empty() || part == "." || part == "..") return false;
    if (end == std::string::npos) return true;
    start = end + 1;
  }
}

// ETag header values are quoted, weak ones prefixed "W/"; the blob name is what is inside.
std::string clean_etag(std::string e) {
  if (e.rfind("W/", 0) == 0) e = e.substr(2);
  if (e.size() >= 2 && e.front() == '"' && e.back() == '"') e = e.substr(1, e.size() - 2);
  return e;
}

bool safe_etag(const std::string& e) {
  return !e.empty() && e.size() <= 128 && e != "." && e != ".." &&
         e.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") ==
             std::string::npos;
}

const std::set<std::string> kModelFiles = {
    "config.json",           "generation_config.json", "tokenizer.json",
    "tokenizer_config.json", "tokenizer.model",        "special_tokens_map.json",
    "chat_template.jinja",   "chat_template.json",     "model.safetensors.index.json"};

struct Listing {
  std::string commit;
  std::vector<RepoFile> files;
};

Listing list_repo(HttpClient& http, const std::string& endpoint, const ModelId& id) {
  const std::string url = endpoint + "/api/models/" + id.repo + "/revision/" +
                          url_encode(id.revision, false) + "?blobs=true";
  HttpResponse r = http.get(url);
  if (!r.transport_error.empty())
    fail(ErrorCode::kIo, "hub",
         "cannot reach {} ({}); check the network or HF_ENDPOINT, or set HF_HUB_OFFLINE=1 to use "
         "the cache",
         endpoint, r.transport_error);
  if (!r.ok()) fail_http(r, "model " + id.repo + "@" + id.revision, url);
  const JsonReader j("hub", "the Hub's answer for " + id.repo);
  const auto doc = parse_json(r.body, "hub", "the Hub's answer for " + id.repo);
  Listing l;
  l.commit = j.required_str(j.as_object(doc, "the answer"), "sha");
  if (!is_commit_hash(l.commit))
    fail(ErrorCode::kCorrupt, "hub", "the Hub's commit for {} is not a hash: '{}'", id.repo,
         l.commit);
  const auto& siblings = j.as_array(j.required(doc, "siblings"), "siblings");
  for (const auto& s : siblings) {
    j.as_object(s, "a sibling");
    RepoFile f;
    f.path = j.required_str(s, "rfilename");
    if (!safe_repo_path(f.path))
      fail(ErrorCode::kCorrupt, "hub", "the Hub lists an unsafe file name '{}'", f.path);
    const int64_t max = int64_t{1} << 50;
    if (JsonReader::has(s, "lfs")) {
      const auto& lfs = j.as_object(s["lfs"], "lfs");
      f.lfs = true;
      f.etag = lower(j.str(lfs, "sha256", ""));
      if (JsonReader::has(lfs, "size"))
        f.size = static_cast<uint64_t>(j.integer(lfs, "size", 0, 0, max)), f.size_known = true;
    } else {
      f.etag = j.str(s, "blobId", "");
      if (JsonReader::has(s, "size"))
        f.size = static_cast<uint64_t>(j.integer(s, "size", 0, 0, max)), f.size_known = true;
    }
    l.files.push_back(std::move(f));
  }
  return l;
}

std::vector<std::string> paths_of(const std::vector<RepoFile>& files) {
  std::vector<std::string> v;
  for (const auto& f : files) v.push_back(f.path);
  return v;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

// The GGUF file to use among `ggufs` (by --gguf, else the only one, else the Q4_K_M one).
std::string pick_gguf(const std::vector<std::string>& ggufs, const std::string& wanted,
                      const std::string& repo) {
  std::vector<std::string> hits;
  const std::string key = lower(wanted.empty() ? "q4_k_m" : wanted);
  for (const auto& g : ggufs)
    if (lower(fs::path(g).filename().string()).find(key) != std::string::npos) hits.push_back(g);
  if (wanted.empty() && ggufs.size() == 1) return ggufs[0];
  if (hits.size() == 1) return hits[0];
  if (hits.empty() && !wanted.empty())
    fail(ErrorCode::kNotFound, "hub", "{} has no GGUF file matching --gguf {}; it has: {}", repo,
         wanted, join(ggufs));
  fail(ErrorCode::kInvalidArgument, "hub",
       "{} holds several GGUF files{}; pick one with --gguf (e.g. --gguf Q4_K_M): {}", repo,
       wanted.empty() ? "" : " matching " + wanted, join(hits.empty() ? ggufs : hits));
}

// The files of `all` a pull takes: see hub_pull.h.
std::vector<RepoFile> select_files(const std::vector<RepoFile>& all, const PullOptions& o) {
  std::vector<std::string> safetensors, ggufs;
  bool indexed = false;
  for (const auto& f : all) {
    if (ends_with(f.path, ".gguf")) ggufs.push_back(f.path);
    if (f.path.find('/') == std::string::npos && ends_with(f.path, ".safetensors"))
      safetensors.push_back(f.path);
    if (f.path == "model.safetensors.index.json") indexed = true;
  }
  const bool use_gguf = !ggufs.empty() && (safetensors.empty() || !o.gguf.empty());
  if (!use_gguf && !o.gguf.empty())
    fail(ErrorCode::kNotFound, "hub", "--gguf {}: {} holds no GGUF file", o.gguf, o.id.repo);
  if (!use_gguf && safetensors.empty())
    fail(ErrorCode::kUnsupported, "hub",
         "{} has no .safetensors or .gguf weights (corelm reads those; pytorch .bin files are "
         "not supported); its files: {}",
         o.id.repo, join(paths_of(all)));
  const std::string gguf = use_gguf ? pick_gguf(ggufs, o.gguf, o.id.repo) : "";
  std::vector<RepoFile> chosen;
  for (const auto& f : all) {
    bool take = false;
    if (use_gguf) {
      take = f.path == gguf;
    } else if (f.path.find('/') == std::string::npos) {
      take = kModelFiles.count(f.path) > 0 || (ends_with(f.path, ".safetensors") &&
                                               !(indexed && f.path.rfind("consolidated", 0) == 0));
    }
    for (const auto& glob : o.include)
      if (fnmatch(glob.c_str(), f.path.c_str(), 0) == 0) take = true;
    if (take) chosen.push_back(f);
  }
  return chosen;
}

// The package's size for a conversion of `weights` bytes of 16-bit weights (a rough bound).
uint64_t package_estimate(uint64_t weights, const std::string& quant) {
  double factor = quant == "f32"                        ? 2.0
                  : (quant == "f16" || quant == "bf16") ? 1.0
                  : quant == "q8s32"                    ? 0.6
                                                        : 0.35;
  return static_cast<uint64_t>(static_cast<double>(weights) * factor);
}

std::string model_in_snapshot(const PullOptions& o, const std::string& commit, PullResult& result) {
  const std::string snap = snapshot_dir(o.id.repo, commit);
  std::vector<std::string> ggufs;
  bool has_safetensors = false;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(snap, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    const std::string rel = it->path().lexically_relative(snap).string();
    if (ends_with(rel, ".gguf")) ggufs.push_back(rel);
    if (ends_with(rel, ".safetensors")) has_safetensors = true;
  }
  std::sort(ggufs.begin(), ggufs.end());
  if (!ggufs.empty() && (!has_safetensors || !o.gguf.empty()))
    return snap + "/" + pick_gguf(ggufs, o.gguf, o.id.repo);
  if (!has_safetensors)
    fail(ErrorCode::kNotFound, "hub", "the cached snapshot {} holds no model weights", snap);
  const std::string package = package_path(o.id.repo, commit, o.quant);
  if (file_exists(package) || !o.convert) return package;
  fs::create_directories(fs::path(package).parent_path(), ec);
  if (o.on_note) o.on_note(fmt::format("converting {} to {} ({})", o.id.repo, o.quant, package));
  ConvertOptions co;
  co.source = snap;
  co.output = package;
  co.quant = o.quant;
  co.model_id = o.id.repo;
  ConvertReport r = convert_model(co);
  if (o.on_note)
    o.on_note(fmt::format("converted: {} tensors, {}, {:.2f} bits/weight, {:.1f} s", r.tensors,
                          format_bytes(static_cast<double>(r.file_bytes)), r.bits_per_weight,
                          r.seconds));
  result.converted = true;
  return package;
}

}  // namespace

std::string hub_endpoint() {
  const char* e = std::getenv("HF_ENDPOINT");
  std::string s = e && *e ? e : "https://huggingface.co";
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

bool hub_offline() {
  const char* v = std::getenv("HF_HUB_OFFLINE");
  if (!v) return false;
  const std::string s = lower(v);
  return s == "1" || s == "true" || s == "yes" || s == "on";
}

std::string hub_token() {
  if (const char* t = std::getenv("HF_TOKEN"); t && *t) return t;
  std::string token = read_file_head(hf_home() + "/token", 4096);
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) token.pop_back();
  return token;
}

PullResult pull(const PullOptions& o) {
  PullResult result;
  const bool offline = hub_offline();
  const std::string endpoint = hub_endpoint();
  HttpClient http(hub_token());  // (makes no request by itself)
  std::optional<Listing> listing_or;
  if (!offline) {
    try {
      listing_or = list_repo(http, endpoint, o.id);
    } catch (const Error& e) {
      // The Hub unreachable (or failing) but the revision cached: use the cache, as
      // huggingface_hub does. A 401/404 is an answer, not an outage: it stands.
      if (e.code() != ErrorCode::kIo || !cached_commit(o.id)) throw;
      if (o.on_note)
        o.on_note(fmt::format("warning: {}; using the cached snapshot of {}@{}", e.what(),
                              o.id.repo, o.id.revision));
    }
  }
  if (!listing_or) {
    std::optional<std::string> commit = cached_commit(o.id);
    if (!commit)
      fail(ErrorCode::kNotFound, "hub",
           "HF_HUB_OFFLINE is set and {}@{} is not in the cache ({}); pull it once with network "
           "access (or unset HF_HUB_OFFLINE)",
           o.id.repo, o.id.revision, hub_cache_dir());
    result.commit = *commit;
    result.snapshot = snapshot_dir(o.id.repo, *commit);
    result.model_path = model_in_snapshot(o, *commit, result);
    return result;
  }
  const Listing& listing = *listing_or;
  result.commit = listing.commit;
  result.snapshot = snapshot_dir(o.id.repo, listing.commit);
  std::vector<RepoFile> files = select_files(listing.files, o);
  result.files = files.size();
  auto resolve_url = [&](const RepoFile& f) {
    return endpoint + "/" + o.id.repo + "/resolve/" + listing.commit + "/" +
           url_encode(f.path, true);
  };
  // What the listing leaves out (a mirror without ?blobs=true), from the resolve URL's headers.
  for (auto& f : files) {
    if (!f.etag.empty() && f.size_known) continue;
    HttpResponse h = http.head(resolve_url(f));
    if (!h.transport_error.empty())
      fail(ErrorCode::kIo, "hub", "cannot reach {} ({})", endpoint, h.transport_error);
    if (h.status >= 400) fail_http(h, "file " + f.path + " of " + o.id.repo, resolve_url(f));
    const std::string linked = h.header("x-linked-etag");
    f.lfs = !linked.empty();
    f.etag = lower(clean_etag(f.lfs ? linked : h.header("etag")));
    const std::string size = h.header(f.lfs ? "x-linked-size" : "content-length");
    if (!size.empty() && size.find_first_not_of("0123456789") == std::string::npos &&
        size.size() < 16)
      f.size = std::stoull(size), f.size_known = true;
  }
  uint64_t to_download = 0, weights = 0;
  std::vector<const RepoFile*> missing;
  for (const auto& f : files) {
    if (!safe_etag(f.etag))
      fail(ErrorCode::kCorrupt, "hub", "no usable ETag for {} of {}: '{}'", f.path, o.id.repo,
           f.etag);
    if (ends_with(f.path, ".safetensors")) weights += f.size;
    if (!fs::exists(blob_path(o.id.repo, f.etag))) {
      missing.push_back(&f);
      to_download += bytes_to_download(o.id.repo, f);
    }
  }
  // Enough disk for the downloads and the package, checked before the first byte.
  const std::string blobs = repo_dir(o.id.repo) + "/blobs";
  std::error_code ec;
  fs::create_directories(blobs, ec);
  if (ec) fail(ErrorCode::kIo, "hub", "cannot create {}: {}", blobs, ec.message());
  const bool need_package =
      o.convert && weights > 0 && !file_exists(package_path(o.id.repo, listing.commit, o.quant));
  const uint64_t need = to_download + (need_package ? package_estimate(weights, o.quant) : 0);
  const uint64_t free = AtomicFile::free_space(blobs + "/x");
  if (need > free)
    fail(ErrorCode::kResourceExhausted, "hub",
         "not enough disk space in {}: {} needs about {} ({} to download{}), {} free", blobs,
         o.id.repo, format_bytes(static_cast<double>(need)),
         format_bytes(static_cast<double>(to_download)), need_package ? " and the package" : "",
         format_bytes(static_cast<double>(free)));
  PullProgress p;
  p.all_total = to_download;
  p.file_count = missing.size();
  for (const RepoFile* f : missing) {
    const uint64_t before = p.all_done;
    const uint64_t partial = f->size - bytes_to_download(o.id.repo, *f);
    p.file = f->path;
    p.file_total = f->size;
    auto on_bytes = [&](uint64_t file_bytes) {
      p.file_done = file_bytes;
      p.all_done = before + (file_bytes > partial ? file_bytes - partial : 0);
      if (o.on_progress) o.on_progress(p);
    };
    download_blob(http, resolve_url(*f), o.id.repo, *f, on_bytes);
    p.all_done = before + (f->size - partial);
    ++p.file_index;
    ++result.downloaded_files;
    result.downloaded_bytes += f->size - partial;
    if (o.on_file_done)
      o.on_file_done(fmt::format("{} {}", f->path, format_bytes(static_cast<double>(f->size))));
  }
  // Every blob is there and checked: now the snapshot, then the ref.
  for (const auto& f : files) link_snapshot_file(o.id.repo, listing.commit, f.path, f.etag);
  write_ref(o.id, listing.commit);
  result.model_path = model_in_snapshot(o, listing.commit, result);
  return result;
}

}  // namespace corelm::hub
