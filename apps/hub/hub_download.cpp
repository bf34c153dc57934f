#include "hub_download.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <vector>

#include "base/check.h"
#include "hub_cache.h"

namespace corelm::hub {

namespace fs = std::filesystem;

namespace {

std::string digest_file(const std::string& path, const EVP_MD* md, const std::string& prefix) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(ErrorCode::kIo, "hub", "cannot open {}: {}", path, std::strerror(errno));
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), md, nullptr) != 1) {
    close(fd);
    fail(ErrorCode::kInternal, "hub", "cannot start a digest");
  }
  EVP_DigestUpdate(ctx.get(), prefix.data(), prefix.size());
  std::vector<char> buf(1 << 20);
  for (;;) {
    ssize_t n = read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      close(fd);
      fail(ErrorCode::kIo, "hub", "cannot read {}: {}", path, std::strerror(err));
    }
    if (n == 0) break;
    EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<size_t>(n));
  }
  close(fd);
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), out, &len);
  static const char* hex = "0123456789abcdef";
  std::string s;
  for (unsigned i = 0; i < len; ++i) s += {hex[out[i] >> 4], hex[out[i] & 15]};
  return s;
}

uint64_t size_of(const std::string& path) {
  std::error_code ec;
  const auto n = fs::file_size(path, ec);
  return ec ? 0 : static_cast<uint64_t>(n);
}

bool is_hex(const std::string& s, size_t n) {
  return s.size() == n && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

// The checksum the etag stands for: "" when it is none we know (a mirror's opaque ETag).
std::string actual_checksum(const RepoFile& file, const std::string& path) {
  if (file.lfs || is_hex(file.etag, 64)) return sha256_file(path);
  if (is_hex(file.etag, 40)) return git_blob_sha1_file(path);
  return "";
}

}  // namespace

std::string sha256_file(const std::string& path) {
  return digest_file(path, EVP_sha256(), "");
}

std::string git_blob_sha1_file(const std::string& path) {
  return digest_file(path, EVP_sha1(), "blob " + std::to_string(size_of(path)) + '\0');
}

uint64_t bytes_to_download(const std::string& repo, const RepoFile& file) {
  if (fs::exists(blob_path(repo, file.etag))) return 0;
  const uint64_t partial = size_of(blob_path(repo, file.etag) + ".incomplete");
  return file.size > partial ? file.size - partial : 0;
}

void fail_http(const HttpResponse& r, const std::string& what, const std::string& url) {
  const std::string code = r.header("x-error-code");
  const std::string hub_says = code.empty() ? "" : " (" + code + ")";
  if (r.status == 401 || r.status == 403) {
    if (code == "GatedRepo")
      fail(ErrorCode::kInvalidArgument, "hub",
           "{} is a gated model (HTTP {}): accept its terms on the model's page, then set HF_TOKEN "
           "to an access token of that account{}",
           what, r.status, std::getenv("HF_TOKEN") ? " (the HF_TOKEN set was refused)" : "");
    fail(ErrorCode::kInvalidArgument, "hub",
         "{}: access denied (HTTP {}{}): the model is gated or private (or does not exist); set "
         "HF_TOKEN to an access token with access to it{}",
         what, r.status, hub_says,
         std::getenv("HF_TOKEN") ? " (the HF_TOKEN set was refused)" : "");
  }
  if (r.status == 404) {
    const char* missing = code == "RepoNotFound"       ? "no such model"
                          : code == "RevisionNotFound" ? "no such revision"
                          : code == "EntryNotFound"    ? "no such file"
                                                       : "not found";
    fail(ErrorCode::kNotFound, "hub", "{}: {} (HTTP 404{} for {})", what, missing, hub_says, url);
  }
  fail(ErrorCode::kIo, "hub", "{}: HTTP {}{} for {}", what, r.status, hub_says, url);
}

void download_blob(HttpClient& http, const std::string& url, const std::string& repo,
                   const RepoFile& file, const std::function<void(uint64_t)>& on_bytes) {
  const std::string blob = blob_path(repo, file.etag);
  const std::string partial = blob + ".incomplete";
  std::error_code ec;
  if (fs::exists(blob, ec)) return;
  fs::create_directories(fs::path(blob).parent_path(), ec);
  if (ec)
    fail(ErrorCode::kIo, "hub", "cannot create {}: {}", fs::path(blob).parent_path().string(),
         ec.message());
  HttpResponse last;
  for (int attempt = 0; attempt < 3; ++attempt) {
    const uint64_t have = size_of(partial);
    if (file.size_known && have >= file.size) break;  // all there: check it below
    last = http.download(url, partial, have, on_bytes);
    if (last.transport_error.empty() && last.status >= 200 && last.status < 300) break;
    if (last.status >= 300 && last.transport_error.empty()) {
      if (last.status == 416) {  // the range starts at or past the end: check what we have
        last.status = 206;
        break;
      }
      fail_http(last, "file " + file.path + " of " + repo, url);
    }
    if (size_of(partial) <= have) break;  // no progress: give up for now
  }
  if (!last.transport_error.empty() && !(file.size_known && size_of(partial) == file.size))
    fail(ErrorCode::kIo, "hub",
         "the download of {} was interrupted after {} of {} bytes ({}); the partial file {} "
         "stays, run the same pull again to resume",
         file.path, size_of(partial), file.size_known ? std::to_string(file.size) : "?",
         last.transport_error, partial);
  const uint64_t got = size_of(partial);
  if (file.size_known && got != file.size) {
    fs::remove(partial, ec);
    fail(ErrorCode::kCorrupt, "hub",
         "{}: downloaded {} bytes, the Hub lists {}; the file was discarded, run the pull again",
         file.path, got, file.size);
  }
  const std::string sum = actual_checksum(file, partial);
  if (!sum.empty() && sum != file.etag) {
    fs::remove(partial, ec);
    fail(ErrorCode::kCorrupt, "hub",
         "checksum mismatch for {}: expected {} {}, got {}; the downloaded file was discarded, run "
         "the pull again",
         file.path, sum.size() == 64 ? "sha256" : "git blob id", file.etag, sum);
  }
  if (rename(partial.c_str(), blob.c_str()) != 0)
    fail(ErrorCode::kIo, "hub", "cannot rename {} to {}: {}", partial, blob, std::strerror(errno));
}

}  // namespace corelm::hub
