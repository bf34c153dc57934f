// One file of a Hub repository into the cache's blobs/: resumed from blobs/<etag>.incomplete with
// an HTTP Range request, checked (size, then sha256 for LFS files or the git blob id for the
// others), then renamed to blobs/<etag>. A file that fails its check is deleted.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "hub_http.h"

namespace corelm::hub {

struct RepoFile {
  std::string path;   // in the repository ("config.json", "sub/x.json")
  std::string etag;   // blob name: the LFS sha256, else the git blob id (sha1)
  uint64_t size = 0;  // bytes (0 with size_known false: unknown)
  bool size_known = false;
  bool lfs = false;  // etag is the file's sha256
};

// sha256 of a file's bytes / git's blob id (sha1 of "blob SIZE\0" + bytes), lowercase hex.
std::string sha256_file(const std::string& path);
std::string git_blob_sha1_file(const std::string& path);

// Bytes of `file` not yet in the cache (0 when blobs/<etag> is there).
uint64_t bytes_to_download(const std::string& repo, const RepoFile& file);

// Makes blobs/<etag> hold `file`, downloading from `url` (resuming a partial file; up to three
// attempts while each makes progress). `on_bytes(file_bytes)` reports progress. Throws Error:
// kCorrupt for a size or checksum mismatch (the partial file is deleted), kIo for a transfer
// that fails three times (the partial file stays for the next pull), HTTP errors by status.
void download_blob(HttpClient& http, const std::string& url, const std::string& repo,
                   const RepoFile& file, const std::function<void(uint64_t)>& on_bytes);

// The message for an HTTP error status of `what` ("model test/x", "file config.json"), with
// the Hub's X-Error-Code when it sent one: 401/403 name HF_TOKEN, 404 says what is missing.
[[noreturn]] void fail_http(const HttpResponse& r, const std::string& what, const std::string& url);

}  // namespace corelm::hub
