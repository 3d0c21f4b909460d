#include "registry/http.h"

#include <arpa/inet.h>
#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <mutex>

namespace cloudlet::registry {
namespace {

struct Transfer {
  CURL* curl;
  const HttpRequest* request;
  HttpResponse* response;
  uint64_t uploaded = 0;
  bool in_headers = true;
};

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view line(data, size * n);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (line.starts_with("HTTP/")) {
    // A new response (after a redirect or a 100 Continue): only the final one's headers count.
    t->response->headers.clear();
    return size * n;
  }
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return size * n;
  std::string name(line.substr(0, colon));
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  t->response->headers.emplace_back(std::move(name), std::string(value));
  return size * n;
}

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t len = size * n;
  // An error response's body (JSON errors) is not the content the sink expects: it is kept, bounded, for the message.
  long code = 0;
  curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &code);
  const bool success = code >= 200 && code < 300;
  if (t->request->sink && success) {
    Status st = t->request->sink(data, len);
    if (!st.ok()) {
      t->response->error = st.message();
      t->response->sink_failed = true;
      return CURL_WRITEFUNC_ERROR;
    }
    return len;
  }
  const uint64_t bound = success ? t->request->max_body : 64 * 1024;
  if (t->response->body.size() + len > bound) {
    if (!success) return len;  // enough of an error body for a message

    t->response->error = "response body larger than " + std::to_string(bound) + " bytes";
    t->response->sink_failed = true;
    return CURL_WRITEFUNC_ERROR;
  }
  t->response->body.append(data, len);
  return len;
}

size_t OnRead(char* buf, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const HttpRequest& r = *t->request;
  size_t want = size * n;
  if (r.reader) {
    uint64_t left = static_cast<uint64_t>(r.body_size) - t->uploaded;
    want = static_cast<size_t>(std::min<uint64_t>(want, left));
    if (want == 0) return 0;
    Result<size_t> got = r.reader(buf, want);
    if (!got.ok()) {
      t->response->error = got.error().message();
      t->response->upload_failed = true;
      return CURL_READFUNC_ABORT;
    }
    t->uploaded += *got;
    return *got;
  }
  size_t left = r.body.size() - t->uploaded;
  want = std::min(want, left);
  std::memcpy(buf, r.body.data() + t->uploaded, want);
  t->uploaded += want;
  return want;
}

}  // namespace

std::string HttpResponse::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k == name) return v;
  }
  return "";
}

HttpClient::HttpClient() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  curl_ = curl_easy_init();
}

HttpClient::~HttpClient() { curl_easy_cleanup(static_cast<CURL*>(curl_)); }

HttpResponse HttpClient::Perform(const HttpRequest& request) {
  HttpResponse response;
  CURL* c = static_cast<CURL*>(curl_);
  if (c == nullptr) {
    response.error = "libcurl could not be initialized";
    return response;
  }
  // Reset clears the options of the previous request but keeps the connection cache: keep-alive across requests.
  curl_easy_reset(c);
  Transfer t{c, &request, &response};
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, request.allow_http ? "http,https" : "https");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, request.allow_http ? "http,https" : "https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, request.follow_redirects ? 1L : 0L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, connect_timeout_);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, stall_timeout_);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(c, CURLOPT_READFUNCTION, OnRead);
  curl_easy_setopt(c, CURLOPT_READDATA, &t);
  curl_easy_setopt(c, CURLOPT_BUFFERSIZE, 512L * 1024);
  curl_easy_setopt(c, CURLOPT_UPLOAD_BUFFERSIZE, 2L * 1024 * 1024);
  if (!request.verify_tls) {
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
  }

  const int64_t body_size = request.reader ? request.body_size : static_cast<int64_t>(request.body.size());
  const std::string& m = request.method;
  if (m == "HEAD") {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (m == "GET") {
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  } else if (m == "POST" && body_size == 0) {
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(0));
  } else {
    // PUT, PATCH, POST with a body: an upload with an explicit length (no chunked encoding).
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(body_size));
    if (m != "PUT") curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, m.c_str());
  }

  curl_slist* headers = nullptr;
  for (const auto& h : request.headers) headers = curl_slist_append(headers, h.c_str());
  headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip before each upload
  headers = curl_slist_append(headers, "User-Agent: cloudlet/0.1");
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);

  CURLcode rc = curl_easy_perform(c);
  curl_slist_free_all(headers);
  if (rc != CURLE_OK) {
    response.status = 0;
    if (response.error.empty()) response.error = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    return response;
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &response.status);
  return response;
}

bool IsLoopbackHost(std::string_view host) {
  if (host == "localhost" || host.ends_with(".localhost")) return true;
  std::string h(host);
  in_addr a4{};
  if (::inet_pton(AF_INET, h.c_str(), &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127;
  in6_addr a6{};
  if (::inet_pton(AF_INET6, h.c_str(), &a6) == 1) return IN6_IS_ADDR_LOOPBACK(&a6);
  return false;
}

std::string HostOf(std::string_view authority) {
  if (authority.starts_with("[")) {
    size_t end = authority.find(']');
    return std::string(authority.substr(1, end == std::string_view::npos ? std::string_view::npos : end - 1));
  }
  size_t colon = authority.rfind(':');
  return std::string(colon == std::string_view::npos ? authority : authority.substr(0, colon));
}

std::string UrlEncode(std::string_view text) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace cloudlet::registry
