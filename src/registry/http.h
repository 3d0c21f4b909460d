// One HTTP/1.1 connection's worth of libcurl: a CURL easy handle reused for every request to one registry, so
// requests share a kept-alive connection (and TLS session). Sans policy: no retries, no auth — client.cc decides
// those. Response bodies are either buffered (bounded) or streamed into a sink; request bodies either a string or a
// reader, so blobs of any size stream without being held in memory.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"

namespace cloudlet::registry {

struct HttpRequest {
  std::string method = "GET";  // GET, HEAD, POST, PUT, PATCH, DELETE
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  // Request body: `body`, or when `reader` is set, `body_size` bytes pulled from it.
  std::string body;
  // Fills up to `len` bytes, returns how many (0 only at the end); an error aborts the transfer.
  std::function<Result<size_t>(char* buf, size_t len)> reader;
  int64_t body_size = 0;
  // Response body: handed to `sink` when set (an error aborts the transfer), else buffered up to `max_body` bytes.
  std::function<Status(const char* data, size_t len)> sink;
  uint64_t max_body = 16 << 20;
  bool follow_redirects = false;  // blob downloads: registries redirect to their storage
  bool allow_http = false;        // may plain http be used (the URL, and redirects)
  bool verify_tls = true;
};

struct HttpResponse {
  long status = 0;                                           // 0: the transfer failed (see `error`)
  std::vector<std::pair<std::string, std::string>> headers;  // of the final response; names lowercased
  std::string body;                                          // unless a sink took it
  std::string error;                                         // transport failure, or why the sink refused
  bool sink_failed = false;    // the sink (or the body bound) refused the data: not worth retrying
  bool upload_failed = false;  // the request body's reader failed

  // The first header of that (lowercase) name, "" if absent.
  std::string Header(std::string_view name) const;
};

class HttpClient {
 public:
  HttpClient();
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Performs the request. Never throws; a transport failure gives status 0 and `error`.
  HttpResponse Perform(const HttpRequest& request);

  // Connection timeout and the stall limit: a transfer moving less than 1 byte/s for this long is aborted.
  void SetTimeouts(long connect_seconds, long stall_seconds) {
    connect_timeout_ = connect_seconds;
    stall_timeout_ = stall_seconds;
  }

 private:
  void* curl_;
  long connect_timeout_ = 30;
  long stall_timeout_ = 60;
};

// Whether `host` (no port; IPv6 without brackets) is a loopback name or address: localhost, 127.0.0.0/8, ::1.
bool IsLoopbackHost(std::string_view host);
// Splits "host:port" / "[v6]:port" / "host" into the host part.
std::string HostOf(std::string_view authority);
// Percent-encodes a query component.
std::string UrlEncode(std::string_view text);

}  // namespace cloudlet::registry
