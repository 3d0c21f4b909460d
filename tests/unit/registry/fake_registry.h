// A scripted registry for the client's tests: a thread serving HTTP/1.1 (keep-alive) on a loopback port, speaking
// enough of the distribution API (manifests, blobs, uploads, mounts, token auth) from memory, with knobs that inject
// the failures the client must survive. Every request line is logged for assertions. Bounded: the server thread polls
// with a timeout and stops when the object is destroyed.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "oci/digest.h"
#include "registry/auth.h"

namespace cloudlet::registry::testing {

struct Request {
  std::string method, target, path, query;
  std::map<std::string, std::string> headers;  // lowercase names
  std::string body;
  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

struct Reply {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool head = false;      // HEAD: Content-Length of the body, no body sent
  bool truncate = false;  // send half the body, then close
};

class FakeRegistry {
 public:
  enum class Auth { kNone, kBearer, kBasic };

  // ---- content and knobs (set before requests are made) ----
  Auth auth = Auth::kNone;
  std::string token = "SECRET-TOKEN-4711";
  Credentials basic{"alice", "s3cret-pw"};
  std::map<std::string, std::pair<std::string, std::string>> manifests;  // "repo:ref" -> (media type, bytes)
  std::map<std::string, std::string> blobs;                              // digest -> bytes (any repository)
  std::map<std::string, std::string> corrupt_blobs;                      // digest -> bytes served instead
  int manifest_503s = 0;                                                 // answer the next N manifest GETs with 503
  int manifest_429s = 0;                                                 // ... with 429 Retry-After: 1
  int drop_patch_number = -1;  // the Nth PATCH (0-based) reads part of its body and closes the connection
  bool allow_mount = true;
  bool blob_head_misses = false;
  bool redirect_blobs = false;          // blob GETs answer 307 to /storage/<digest> (as registries redirect to S3)
  int truncate_blob_gets = 0;           // the next N blob GETs send half the body, then close the connection
  bool forget_uploads_on_drop = false;  // a dropped PATCH loses its upload session (status GET: 404)  // HEAD of a blob
                                        // answers 404 (the repository does not hold it)

  FakeRegistry() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd_, 16);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~FakeRegistry() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }

  int port() const { return port_; }
  std::string host() const { return "127.0.0.1:" + std::to_string(port_); }
  std::vector<std::string> log() {
    std::lock_guard<std::mutex> l(mu_);
    return log_;
  }
  int Count(const std::string& prefix) {
    int n = 0;
    for (const auto& line : log()) n += line.starts_with(prefix) ? 1 : 0;
    return n;
  }
  std::vector<std::string> errors_seen;  // Authorization headers the server refused (never shown in client errors)

 private:
  void Serve() {
    for (int rounds = 0; !stop_ && rounds < 100000; ++rounds) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      if (connections_.size() >= 256) {  // bounded
        ::close(c);
        continue;
      }
      // A thread per connection: the client transfers blobs over several connections at once.
      connections_.emplace_back([this, c] {
        ServeConnection(c);
        ::close(c);
      });
    }
    for (auto& t : connections_) t.join();
  }

  // Reads until `buf` holds `n` bytes or the peer stops (bounded by the poll timeout and the stop flag).
  bool ReadMore(int c, std::string& buf) {
    for (int i = 0; i < 200 && !stop_; ++i) {  // 200 x 50 ms
      pollfd p{c, POLLIN, 0};
      int rc = ::poll(&p, 1, 50);
      if (rc == 0) continue;
      char tmp[65536];
      ssize_t n = ::read(c, tmp, sizeof tmp);
      if (n <= 0) return false;
      buf.append(tmp, static_cast<size_t>(n));
      return true;
    }
    return false;
  }

  void ServeConnection(int c) {
    std::string buf;
    for (int requests = 0; requests < 1000 && !stop_; ++requests) {
      size_t end;
      while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
        if (!ReadMore(c, buf)) return;
      }
      Request req;
      std::string head = buf.substr(0, end);
      buf.erase(0, end + 4);
      size_t line_end = head.find("\r\n");
      std::string line = head.substr(0, line_end);
      size_t sp1 = line.find(' '), sp2 = line.rfind(' ');
      req.method = line.substr(0, sp1);
      req.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
      size_t q = req.target.find('?');
      req.path = req.target.substr(0, q);
      req.query = q == std::string::npos ? "" : req.target.substr(q + 1);
      size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
      while (pos < head.size()) {
        size_t e = head.find("\r\n", pos);
        if (e == std::string::npos) e = head.size();
        std::string h = head.substr(pos, e - pos);
        size_t colon = h.find(':');
        if (colon != std::string::npos) {
          std::string name = h.substr(0, colon);
          for (char& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
          size_t v = colon + 1;
          while (v < h.size() && h[v] == ' ') ++v;
          req.headers[name] = h.substr(v);
        }
        pos = e + 2;
      }
      size_t length = req.headers.contains("content-length") ? std::stoul(req.headers["content-length"]) : 0;
      {
        std::lock_guard<std::mutex> l(mu_);
        log_.push_back(req.method + " " + req.target);
      }
      std::unique_lock<std::mutex> handler(handler_mu_);
      if (req.method == "PATCH" && patches_++ == drop_patch_number) {
        // Take part of the body, then vanish: an interrupted upload.
        while (buf.size() < std::min<size_t>(length, 4096)) {
          if (!ReadMore(c, buf)) break;
        }
        if (forget_uploads_on_drop) uploads_.clear();
        return;
      }
      handler.unlock();
      while (buf.size() < length) {
        if (!ReadMore(c, buf)) return;
      }
      req.body = buf.substr(0, length);
      buf.erase(0, length);
      handler.lock();
      Reply reply = Handle(req);
      handler.unlock();
      std::string out = "HTTP/1.1 " + std::to_string(reply.status) + " X\r\n";
      for (const auto& [k, v] : reply.headers) out += k + ": " + v + "\r\n";
      out += "Content-Length: " + std::to_string(reply.body.size()) + "\r\n\r\n";
      if (req.method != "HEAD") out += reply.truncate ? reply.body.substr(0, reply.body.size() / 2) : reply.body;
      size_t sent = 0;
      while (sent < out.size()) {
        ssize_t n = ::send(c, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) return;
        sent += static_cast<size_t>(n);
      }
      if (reply.truncate) return;
    }
  }

  static Reply Json(int status, const std::string& code, const std::string& message) {
    Reply r;
    r.status = status;
    r.headers.emplace_back("Content-Type", "application/json");
    r.body = R"({"errors":[{"code":")" + code + R"(","message":")" + message + R"("}]})";
    return r;
  }

  bool Authorized(const Request& req) {
    const std::string a = req.Header("authorization");
    if (auth == Auth::kNone) return true;
    if (auth == Auth::kBearer) return a == "Bearer " + token;
    return a == "Basic " + Base64Encode(basic.username + ":" + basic.password);
  }

  Reply Challenge() {
    Reply r = Json(401, "UNAUTHORIZED", "authentication required");
    if (auth == Auth::kBearer) {
      r.headers.emplace_back("WWW-Authenticate",
                             "Bearer realm=\"http://" + host() + "/token\",service=\"fake-registry\",scope=\"x\"");
    } else {
      r.headers.emplace_back("WWW-Authenticate", "Basic realm=\"fake\"");
    }
    return r;
  }

  static std::string QueryParam(const std::string& query, const std::string& name) {
    size_t pos = 0;
    while (pos <= query.size()) {
      size_t amp = query.find('&', pos);
      std::string kv = query.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
      if (kv.starts_with(name + "=")) {
        std::string v = kv.substr(name.size() + 1), out;
        for (size_t i = 0; i < v.size(); ++i) {
          if (v[i] == '%' && i + 2 < v.size()) {
            out += static_cast<char>(std::stoi(v.substr(i + 1, 2), nullptr, 16));
            i += 2;
          } else {
            out += v[i];
          }
        }
        return out;
      }
      if (amp == std::string::npos) break;
      pos = amp + 1;
    }
    return "";
  }

  Reply Handle(const Request& req) {
    if (req.path.starts_with("/storage/")) {  // the "object storage" blobs redirect to: no registry auth
      auto it = blobs.find(req.path.substr(9));
      if (it == blobs.end()) return Json(404, "NOT_FOUND", "no such object");
      Reply r;
      r.body = it->second;
      return r;
    }
    if (req.path == "/token") {
      if (!req.Header("authorization").empty() &&
          req.Header("authorization") != "Basic " + Base64Encode(basic.username + ":" + basic.password)) {
        return Json(401, "DENIED", "bad credentials");
      }
      Reply r;
      r.body = R"({"token":")" + token + R"(","expires_in":300})";
      return r;
    }
    if (!Authorized(req)) return Challenge();
    if (req.path == "/v2/" || req.path == "/v2") return Reply{};
    if (!req.path.starts_with("/v2/")) return Json(404, "NOT_FOUND", "no such route");
    std::string rest = req.path.substr(4);
    if (size_t m = rest.find("/manifests/"); m != std::string::npos) {
      std::string key = rest.substr(0, m) + ":" + rest.substr(m + 11);
      if (req.method == "PUT") {
        manifests[key] = {req.Header("content-type"), req.body};
        std::string digest = oci::Digest::Sha256Of(req.body).str();
        manifests[rest.substr(0, m) + ":" + digest] = {req.Header("content-type"), req.body};
        Reply r;
        r.status = 201;
        r.headers.emplace_back("Docker-Content-Digest", digest);
        return r;
      }
      if (manifest_503s > 0) {
        --manifest_503s;
        return Json(503, "UNAVAILABLE", "try later");
      }
      if (manifest_429s > 0) {
        --manifest_429s;
        Reply r = Json(429, "TOOMANYREQUESTS", "slow down");
        r.headers.emplace_back("Retry-After", "1");
        return r;
      }
      auto it = manifests.find(key);
      if (it == manifests.end()) return Json(404, "MANIFEST_UNKNOWN", "manifest unknown");
      Reply r;
      r.headers.emplace_back("Content-Type", it->second.first);
      r.headers.emplace_back("Docker-Content-Digest", oci::Digest::Sha256Of(it->second.second).str());
      r.body = it->second.second;
      return r;
    }
    if (size_t u = rest.find("/blobs/uploads/"); u != std::string::npos) {
      std::string repo = rest.substr(0, u);
      std::string id = rest.substr(u + 15);
      if (req.method == "POST") {
        std::string mount = QueryParam(req.query, "mount");
        if (!mount.empty() && allow_mount && blobs.contains(mount)) {
          Reply r;
          r.status = 201;
          r.headers.emplace_back("Location", "/v2/" + repo + "/blobs/" + mount);
          return r;
        }
        std::string new_id = "upload-" + std::to_string(++upload_counter_);
        uploads_[new_id] = "";
        Reply r;
        r.status = 202;
        r.headers.emplace_back("Location", "/v2/" + repo + "/blobs/uploads/" + new_id + "?_state=abc");
        r.headers.emplace_back("Range", "0-0");
        return r;
      }
      auto it = uploads_.find(id);
      if (it == uploads_.end()) return Json(404, "BLOB_UPLOAD_UNKNOWN", "no such upload");
      auto range_reply = [&](int status) {
        Reply r;
        r.status = status;
        r.headers.emplace_back("Location", "/v2/" + repo + "/blobs/uploads/" + id + "?_state=def");
        size_t n = it->second.size();
        r.headers.emplace_back("Range", "0-" + std::to_string(n == 0 ? 0 : n - 1));
        return r;
      };
      if (req.method == "GET") return range_reply(204);
      if (req.method == "PATCH") {
        std::string cr = req.Header("content-range");
        size_t dash = cr.find('-');
        if (dash == std::string::npos || std::stoul(cr.substr(0, dash)) != it->second.size()) {
          return Json(416, "BLOB_UPLOAD_INVALID", "range mismatch");
        }
        it->second += req.body;
        return range_reply(202);
      }
      if (req.method == "PUT") {
        it->second += req.body;
        std::string digest = QueryParam(req.query, "digest");
        if (oci::Digest::Sha256Of(it->second).str() != digest) return Json(400, "DIGEST_INVALID", "digest mismatch");
        blobs[digest] = it->second;
        uploads_.erase(it);
        Reply r;
        r.status = 201;
        r.headers.emplace_back("Docker-Content-Digest", digest);
        return r;
      }
    }
    if (size_t b = rest.find("/blobs/"); b != std::string::npos) {
      std::string digest = rest.substr(b + 7);
      if (req.method == "HEAD" && blob_head_misses) return Json(404, "BLOB_UNKNOWN", "blob unknown");
      if (req.method == "GET" && redirect_blobs) {
        Reply r;
        r.status = 307;
        r.headers.emplace_back("Location", "http://" + host() + "/storage/" + digest);
        return r;
      }
      auto it = blobs.find(digest);
      if (it == blobs.end()) return Json(404, "BLOB_UNKNOWN", "blob unknown");
      Reply r;
      r.headers.emplace_back("Content-Type", "application/octet-stream");
      r.body = corrupt_blobs.contains(digest) ? corrupt_blobs[digest] : it->second;
      if (req.method == "GET" && truncate_blob_gets > 0) {
        --truncate_blob_gets;
        r.truncate = true;
      }
      return r;
    }
    return Json(404, "NOT_FOUND", "no such route");
  }

  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;          // log_
  std::mutex handler_mu_;  // the registry's state (maps, knobs, counters)
  std::vector<std::thread> connections_;
  std::vector<std::string> log_;
  int patches_ = 0;
  int upload_counter_ = 0;
  std::map<std::string, std::string> uploads_;
};

}  // namespace cloudlet::registry::testing
