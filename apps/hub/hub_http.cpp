#include "hub_http.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <mutex>

#include "base/check.h"

namespace corelm::hub {

namespace {

constexpr size_t kMaxErrorBody = 64 * 1024;

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// Headers of the latest response: a status line starts a new one (redirects, 100 Continue).
size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* headers = static_cast<std::map<std::string, std::string>*>(user);
  std::string line(data, size * n);
  if (line.rfind("HTTP/", 0) == 0) {
    headers->clear();
    return size * n;
  }
  size_t colon = line.find(':');
  if (colon == std::string::npos) return size * n;
  std::string name = line.substr(0, colon), value = line.substr(colon + 1);
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  auto not_space = [](unsigned char c) { return !std::isspace(c); };
  value.erase(value.begin(), std::find_if(value.begin(), value.end(), not_space));
  value.erase(std::find_if(value.rbegin(), value.rend(), not_space).base(), value.end());
  (*headers)[name] = value;
  return size * n;
}

size_t on_text(char* data, size_t size, size_t n, void* user) {
  auto* body = static_cast<std::string*>(user);
  if (body->size() < 64 * 1024 * 1024) body->append(data, size * n);
  return size * n;
}

struct DownloadSink {
  CURL* curl;
  int fd;
  uint64_t offset;  // where the next byte goes
  bool started = false;
  bool writing = false;  // a 200/206 body (not an error page)
  HttpResponse* response;
  const std::function<void(uint64_t)>* on_bytes;
  std::string error;
};

size_t on_download(char* data, size_t size, size_t n, void* user) {
  auto* s = static_cast<DownloadSink*>(user);
  const size_t bytes = size * n;
  if (!s->started) {
    s->started = true;
    long status = 0;
    curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status == 200 && s->offset > 0) {
      // The server sent the whole file: start over.
      if (ftruncate(s->fd, 0) != 0) {
        s->error = std::strerror(errno);
        return 0;
      }
      s->offset = 0;
    } else if (status == 206) {
      // "bytes START-END/TOTAL" must start where the partial file ends.
      const std::string range = s->response->header("content-range");
      const size_t space = range.find(' '), dash = range.find('-');
      if (space == std::string::npos || dash == std::string::npos ||
          range.substr(space + 1, dash - space - 1) != std::to_string(s->offset)) {
        s->error = "the server answered range " + std::to_string(s->offset) +
                   "- with Content-Range '" + range + "'";
        return 0;
      }
    }
    s->writing = status == 200 || status == 206;
  }
  if (!s->writing) {
    if (s->response->body.size() < kMaxErrorBody) s->response->body.append(data, bytes);
    return bytes;
  }
  size_t done = 0;
  while (done < bytes) {
    ssize_t w = pwrite(s->fd, data + done, bytes - done, static_cast<off_t>(s->offset));
    if (w < 0) {
      if (errno == EINTR) continue;
      s->error = std::strerror(errno);
      return 0;
    }
    done += static_cast<size_t>(w);
    s->offset += static_cast<uint64_t>(w);
  }
  if (*s->on_bytes) (*s->on_bytes)(s->offset);
  return bytes;
}

}  // namespace

std::string HttpResponse::header(const std::string& lowercase_name) const {
  auto it = headers.find(lowercase_name);
  return it == headers.end() ? "" : it->second;
}

HttpClient::HttpClient(std::string token) : token_(std::move(token)) {
  global_init();
  curl_ = curl_easy_init();
  if (!curl_) fail(ErrorCode::kInternal, "hub", "curl_easy_init failed");
}

HttpClient::~HttpClient() {
  curl_easy_cleanup(static_cast<CURL*>(curl_));
}

namespace {

struct Request {
  CURL* curl;
  curl_slist* headers = nullptr;
  HttpResponse response;
  char error[CURL_ERROR_SIZE] = {};

  Request(CURL* c, const std::string& url, const std::string& token, bool follow) : curl(c) {
    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, follow ? 1L : 0L);
    curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 30L);
    // A stalled connection (under 1 byte/s for a minute) is an error, resumed by the next try.
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "corelm/0.1 (hf-hub compatible)");
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &response.headers);
    if (!token.empty())
      headers = curl_slist_append(headers, ("Authorization: Bearer " + token).c_str());
    headers = curl_slist_append(headers, "Accept-Encoding: identity");
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  }
  ~Request() { curl_slist_free_all(headers); }

  HttpResponse run() {
    CURLcode rc = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
    char* final_url = nullptr;
    curl_easy_getinfo(curl, CURLINFO_EFFECTIVE_URL, &final_url);
    if (final_url) response.final_url = final_url;
    if (rc != CURLE_OK) response.transport_error = error[0] ? error : curl_easy_strerror(rc);
    return std::move(response);
  }
};

}  // namespace

HttpResponse HttpClient::get(const std::string& url) {
  Request r(static_cast<CURL*>(curl_), url, token_, true);
  curl_easy_setopt(r.curl, CURLOPT_WRITEFUNCTION, on_text);
  curl_easy_setopt(r.curl, CURLOPT_WRITEDATA, &r.response.body);
  return r.run();
}

HttpResponse HttpClient::head(const std::string& url) {
  Request r(static_cast<CURL*>(curl_), url, token_, false);
  curl_easy_setopt(r.curl, CURLOPT_NOBODY, 1L);
  return r.run();
}

HttpResponse HttpClient::download(const std::string& url, const std::string& path, uint64_t offset,
                                  const std::function<void(uint64_t)>& on_bytes) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) fail(ErrorCode::kIo, "hub", "cannot open {}: {}", path, std::strerror(errno));
  Request r(static_cast<CURL*>(curl_), url, token_, true);
  DownloadSink sink{r.curl, fd, offset, false, false, &r.response, &on_bytes, {}};
  curl_easy_setopt(r.curl, CURLOPT_WRITEFUNCTION, on_download);
  curl_easy_setopt(r.curl, CURLOPT_WRITEDATA, &sink);
  const std::string range = std::to_string(offset) + "-";
  if (offset > 0) curl_easy_setopt(r.curl, CURLOPT_RANGE, range.c_str());
  HttpResponse response = r.run();
  const bool synced = fsync(fd) == 0;
  close(fd);
  if (!sink.error.empty()) response.transport_error = sink.error;
  if (!synced && response.transport_error.empty())
    response.transport_error = std::string("fsync: ") + std::strerror(errno);
  return response;
}

std::string url_encode(const std::string& s, bool keep_slash) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
        (keep_slash && c == '/')) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

}  // namespace corelm::hub
