// cloudlet's HTTP+JSON API on a unix socket: the server the daemon runs (libmicrohttpd on a socket we create, so we
// control its path and mode) and the client every other command uses (libcurl with CURLOPT_UNIX_SOCKET_PATH).
//
//   GET  /v1/health                                   -> {"ok":true,"pid":N}
//   GET  /v1/status                                   -> the status JSON (switches, endpoints)
//   POST /v1/up   {"project": ABS_PATH, "config": {...}} -> {"changes":[...]}
//   POST /v1/down {"project": ABS_PATH}               -> {"changes":[...]}
//   POST /v1/firewall {"query": "rules"|"connections"|"trace", "project"?: ABS_PATH, ...} -> see RouterSet::Query
//   GET  /v1/containers                               -> {"containers":[...]} (as in the status JSON)
//   POST /v1/containers/start {"name": NAME, "project"?: ABS_PATH}                 -> {"changes":[...]}
//   POST /v1/containers/stop  {"name": NAME, "project"?: ABS_PATH, "timeout"?: S}  -> {"changes":[...]}
// Errors are {"error":"..."} with a 4xx/5xx code. Request bodies are bounded (413 beyond the limit), must be JSON
// objects (400 otherwise) and are checked field by field before the backend sees them.
#pragma once

#include <cstddef>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "base/status.h"

namespace cloudlet {

constexpr size_t kMaxRequestBody = 64u << 20;  // a config as JSON (16 MiB of YAML, with source lines)
constexpr size_t kMaxProjectPathLength = 4096;

struct HttpReply {
  int code = 200;
  nlohmann::json body = nlohmann::json::object();
};

HttpReply ErrorReply(int code, const std::string& message);

// What the routes do; the daemon implements it with the reconciler, tests with a fake.
class ApiBackend {
 public:
  virtual ~ApiBackend() = default;
  virtual HttpReply Health() = 0;
  virtual HttpReply StatusReply() = 0;
  virtual HttpReply Up(const std::string& project, const nlohmann::json& config) = 0;
  virtual HttpReply Down(const std::string& project) = 0;
  // `request` is a checked JSON object with a string "query".
  virtual HttpReply Firewall(const nlohmann::json& request) {
    (void)request;
    return ErrorReply(404, "this daemon has no firewall");
  }
  virtual HttpReply Containers() { return ErrorReply(404, "this daemon runs no containers"); }
  // `action` is "start" or "stop"; `request` is checked: "name" a container name, "project" absent or an absolute
  // path, "timeout" absent or whole seconds 0..3600.
  virtual HttpReply ContainerAction(const std::string& action, const nlohmann::json& request) {
    (void)action;
    (void)request;
    return ErrorReply(404, "this daemon runs no containers");
  }
};

// Routing and request checks, independent of the transport (unit-tested directly and through the server).
HttpReply RouteRequest(ApiBackend& backend, const std::string& method, const std::string& path,
                       const std::string& body);

class ApiServer {
 public:
  // Creates the socket (parent directory made if missing, a stale socket file replaced, a live one refused, mode
  // 0660) and serves on it from libmicrohttpd's threads until destroyed.
  static Result<std::unique_ptr<ApiServer>> Start(const std::string& socket_path, ApiBackend& backend,
                                                  size_t max_body = kMaxRequestBody);
  ~ApiServer();  // stops serving and removes the socket file
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  struct Impl;

 private:
  explicit ApiServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// "cloudlet: cannot reach the daemon at PATH (REASON) — start it with `cloudlet daemon --detach`"
std::string DaemonUnreachableMessage(const std::string& socket_path, const std::string& reason);

class ApiClient {
 public:
  explicit ApiClient(std::string socket_path, long timeout_seconds = 300);
  // A reply with any HTTP code is a success here; transport failures (no daemon, timeout, non-JSON reply) are errors.
  Result<HttpReply> Get(const std::string& path) const;
  Result<HttpReply> Post(const std::string& path, const nlohmann::json& body) const;
  const std::string& socket_path() const { return socket_path_; }

 private:
  Result<HttpReply> Request(const std::string& method, const std::string& path, const std::string* body) const;
  std::string socket_path_;
  long timeout_seconds_;
};

}  // namespace cloudlet
