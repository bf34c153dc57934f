// A small HTTP client on libcurl for the Hugging Face Hub: JSON requests, HEAD requests that keep
// the Hub's own headers (not a CDN's), and resumable downloads into a file. Every request sends
// `Authorization: Bearer TOKEN` when a token is set (curl drops it on a redirect to another
// host, as a CDN's signed URL needs none).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>

namespace corelm::hub {

struct HttpResponse {
  long status = 0;                             // 0: no HTTP response (see `transport_error`)
  std::map<std::string, std::string> headers;  // of the final response, names in lowercase
  std::string body;                            // text requests, and error bodies of downloads
  std::string transport_error;                 // curl's message when the transfer failed
  std::string final_url;
  bool ok() const { return transport_error.empty() && status >= 200 && status < 300; }
  std::string header(const std::string& lowercase_name) const;
};

class HttpClient {
 public:
  explicit HttpClient(std::string token);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // GET, redirects followed.
  HttpResponse get(const std::string& url);
  // HEAD without following redirects: the Hub answers a resolve URL of an LFS file with a
  // redirect that carries X-Linked-Etag / X-Linked-Size.
  HttpResponse head(const std::string& url);
  // GET into the file at `path` from byte `offset` (a Range request when offset > 0), redirects
  // followed. A 206 appends; a 200 (the server ignored the range) rewrites the file from the
  // start. `on_bytes(file_bytes_now)` is called as data arrives. Error statuses leave the file
  // as it was and put the body in `body`.
  HttpResponse download(const std::string& url, const std::string& path, uint64_t offset,
                        const std::function<void(uint64_t)>& on_bytes);

 private:
  void* curl_;  // CURL*
  std::string token_;
};

// Percent-encodes everything but unreserved characters (a revision such as "refs/pr/1" in a
// path segment); `keep_slash` leaves '/' (file paths in a resolve URL).
std::string url_encode(const std::string& s, bool keep_slash);

}  // namespace corelm::hub
