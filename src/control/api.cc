// API server (libmicrohttpd on our own unix socket) and client (libcurl), plus the transport-independent router.
#include "control/api.h"

#include <curl/curl.h>
#include <microhttpd.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <mutex>

#include "base/fd.h"

namespace cloudlet {

HttpReply ErrorReply(int code, const std::string& message) { return {code, {{"error", message}}}; }

namespace {

Result<std::string> ProjectField(const nlohmann::json& body) {
  auto it = body.find("project");
  if (it == body.end() || !it->is_string()) return Error("\"project\" must be a string: the absolute path of the file");
  const std::string& p = it->get_ref<const std::string&>();
  if (p.empty() || p[0] != '/') return Error("\"project\" must be an absolute path, got \"" + p + "\"");
  if (p.size() > kMaxProjectPathLength) return Error("\"project\" is longer than 4096 bytes");
  if (p.find('\0') != std::string::npos) return Error("\"project\" contains a NUL byte");
  return p;
}

}  // namespace

HttpReply RouteRequest(ApiBackend& backend, const std::string& method, const std::string& path,
                       const std::string& body) {
  struct Route {
    const char* path;
    const char* method;
  };
  static constexpr Route kRoutes[] = {{"/v1/health", "GET"},
                                      {"/v1/status", "GET"},
                                      {"/v1/up", "POST"},
                                      {"/v1/down", "POST"},
                                      {"/v1/firewall", "POST"},
                                      {"/v1/containers", "GET"},
                                      {"/v1/containers/start", "POST"},
                                      {"/v1/containers/stop", "POST"}};
  const Route* route = nullptr;
  for (const auto& r : kRoutes) {
    if (path == r.path) route = &r;
  }
  if (!route) return ErrorReply(404, "no such endpoint: " + method + " " + path.substr(0, 200));
  if (method != route->method) {
    return ErrorReply(405, std::string(route->path) + " takes " + route->method + ", not " + method.substr(0, 20));
  }
  if (path == "/v1/health") return backend.Health();
  if (path == "/v1/status") return backend.StatusReply();
  if (path == "/v1/containers") return backend.Containers();

  auto json = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return ErrorReply(400, "request body is not valid JSON");
  if (!json.is_object()) return ErrorReply(400, "request body must be a JSON object");
  if (path == "/v1/firewall") {
    auto query = json.find("query");
    if (query == json.end() || !query->is_string()) return ErrorReply(400, "\"query\" must be a string");
    if (json.contains("project")) {
      auto project = ProjectField(json);
      if (!project.ok()) return ErrorReply(400, project.error().message());
    }
    return backend.Firewall(json);
  }
  if (path == "/v1/containers/start" || path == "/v1/containers/stop") {
    auto name = json.find("name");
    if (name == json.end() || !name->is_string() || name->get_ref<const std::string&>().empty() ||
        name->get_ref<const std::string&>().size() > 64) {
      return ErrorReply(400, "\"name\" must be a container's name (its endpoint's name)");
    }
    if (json.contains("project")) {
      auto project = ProjectField(json);
      if (!project.ok()) return ErrorReply(400, project.error().message());
    }
    if (json.contains("timeout")) {
      auto t = json.find("timeout");
      if (!t->is_number_integer() || t->get<int64_t>() < 0 || t->get<int64_t>() > 3600) {
        return ErrorReply(400, "\"timeout\" must be whole seconds, 0 to 3600");
      }
    }
    return backend.ContainerAction(path == "/v1/containers/start" ? "start" : "stop", json);
  }
  auto project = ProjectField(json);
  if (!project.ok()) return ErrorReply(400, project.error().message());
  if (path == "/v1/down") return backend.Down(*project);
  auto config = json.find("config");
  if (config == json.end() || !config->is_object()) return ErrorReply(400, "\"config\" must be a JSON object");
  return backend.Up(*project, *config);
}

// ---------------------------------------------------------------- server

struct ApiServer::Impl {
  std::string socket_path;
  ApiBackend* backend = nullptr;
  size_t max_body = kMaxRequestBody;
  MHD_Daemon* daemon = nullptr;
};

namespace {

struct PendingRequest {
  std::string body;
  bool too_large = false;
};

MHD_Result Send(MHD_Connection* conn, const HttpReply& reply) {
  std::string text = reply.body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  MHD_Response* resp = MHD_create_response_from_buffer(text.size(), text.data(), MHD_RESPMEM_MUST_COPY);
  if (!resp) return MHD_NO;
  MHD_add_response_header(resp, "Content-Type", "application/json");
  MHD_Result r = MHD_queue_response(conn, static_cast<unsigned>(reply.code), resp);
  MHD_destroy_response(resp);
  return r;
}

MHD_Result HandleConnection(void* cls, MHD_Connection* conn, const char* url, const char* method,
                            const char* /*version*/, const char* upload_data, size_t* upload_data_size,
                            void** con_cls) {
  auto* impl = static_cast<ApiServer::Impl*>(cls);
  auto* req = static_cast<PendingRequest*>(*con_cls);
  if (!req) {
    req = new PendingRequest();
    *con_cls = req;
    const char* length = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (length && std::strtoull(length, nullptr, 10) > impl->max_body) {
      // Refuse before reading: MHD closes the connection after this reply instead of taking the body.
      req->too_large = true;
      return Send(conn, ErrorReply(413, "request body larger than " + std::to_string(impl->max_body) + " bytes"));
    }
    return MHD_YES;
  }
  if (*upload_data_size != 0) {
    if (!req->too_large && req->body.size() + *upload_data_size <= impl->max_body) {
      req->body.append(upload_data, *upload_data_size);
    } else {
      req->too_large = true;
      req->body.clear();
    }
    *upload_data_size = 0;
    return MHD_YES;
  }
  if (req->too_large) {
    return Send(conn, ErrorReply(413, "request body larger than " + std::to_string(impl->max_body) + " bytes"));
  }
  HttpReply reply;
  try {
    reply = RouteRequest(*impl->backend, method, url, req->body);
  } catch (const std::exception& e) {
    spdlog::error("api {} {}: {}", method, url, e.what());
    reply = ErrorReply(500, std::string("internal error: ") + e.what());
  }
  return Send(conn, reply);
}

void RequestCompleted(void* /*cls*/, MHD_Connection* /*conn*/, void** con_cls, MHD_RequestTerminationCode /*code*/) {
  delete static_cast<PendingRequest*>(*con_cls);
  *con_cls = nullptr;
}

Result<UniqueFd> BindUnixSocket(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
    return Error("socket path \"" + path + "\" must be 1-" + std::to_string(sizeof(addr.sun_path) - 1) + " bytes");
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);

  std::error_code ec;
  auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) {
    std::filesystem::create_directories(parent, ec);
    if (ec) return Error("cannot create directory " + parent.string() + " for the socket: " + ec.message());
  }

  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) return Error(path + " exists and is not a socket; refusing to replace it");
    UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (probe.valid() && ::connect(probe.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
      return Error("another daemon is already listening on " + path + "; stop it first or use --socket");
    }
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return ErrnoError("cannot remove stale socket " + path);
    spdlog::info("replaced stale socket file {}", path);
  }

  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd.valid()) return ErrnoError("socket(AF_UNIX)");
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return ErrnoError("bind " + path);
  if (::chmod(path.c_str(), 0660) != 0) return ErrnoError("chmod 0660 " + path);
  if (::listen(fd.get(), 64) != 0) return ErrnoError("listen " + path);
  return fd;
}

}  // namespace

ApiServer::ApiServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<ApiServer>> ApiServer::Start(const std::string& socket_path, ApiBackend& backend,
                                                    size_t max_body) {
  auto fd = BindUnixSocket(socket_path);
  if (!fd.ok()) return fd.error();
  auto impl = std::make_unique<Impl>();
  impl->socket_path = socket_path;
  impl->backend = &backend;
  impl->max_body = max_body;
  int listen_fd = fd->get();
  impl->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL, 0,
                                  nullptr, nullptr, &HandleConnection, impl.get(), MHD_OPTION_LISTEN_SOCKET, listen_fd,
                                  MHD_OPTION_NOTIFY_COMPLETED, &RequestCompleted, nullptr, MHD_OPTION_CONNECTION_LIMIT,
                                  64u, MHD_OPTION_CONNECTION_TIMEOUT, 60u, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                                  static_cast<size_t>(256 * 1024), MHD_OPTION_END);
  if (!impl->daemon) {
    ::unlink(socket_path.c_str());
    return Error("cannot start the API server on " + socket_path + " (libmicrohttpd refused the socket)");
  }
  fd->release();  // MHD owns and closes the listening socket now
  return std::unique_ptr<ApiServer>(new ApiServer(std::move(impl)));
}

ApiServer::~ApiServer() {
  if (impl_->daemon) MHD_stop_daemon(impl_->daemon);
  ::unlink(impl_->socket_path.c_str());
}

// ---------------------------------------------------------------- client

std::string DaemonUnreachableMessage(const std::string& socket_path, const std::string& reason) {
  return "cannot reach the daemon at " + socket_path + " (" + reason + ") — start it with `cloudlet daemon --detach`";
}

namespace {

constexpr size_t kMaxReplyBytes = 64u << 20;

size_t CollectReply(char* data, size_t size, size_t nmemb, void* userp) {
  auto* out = static_cast<std::string*>(userp);
  size_t n = size * nmemb;
  if (out->size() + n > kMaxReplyBytes) return 0;  // aborts the transfer
  out->append(data, n);
  return n;
}

void GlobalCurlInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

}  // namespace

ApiClient::ApiClient(std::string socket_path, long timeout_seconds)
    : socket_path_(std::move(socket_path)), timeout_seconds_(timeout_seconds) {}

Result<HttpReply> ApiClient::Get(const std::string& path) const { return Request("GET", path, nullptr); }

Result<HttpReply> ApiClient::Post(const std::string& path, const nlohmann::json& body) const {
  std::string text = body.dump();
  return Request("POST", path, &text);
}

Result<HttpReply> ApiClient::Request(const std::string& method, const std::string& path,
                                     const std::string* body) const {
  GlobalCurlInit();
  // Check the socket first: curl's own message would not say whether the file is missing or nobody listens.
  struct stat st {};
  if (::stat(socket_path_.c_str(), &st) != 0)
    return Error(DaemonUnreachableMessage(socket_path_, std::strerror(errno)));

  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), &curl_easy_cleanup);
  if (!curl) return Error("cannot initialise libcurl");
  std::string reply_text;
  char errbuf[CURL_ERROR_SIZE] = {};
  std::string url = "http://cloudlet" + path;
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> headers_guard(headers, &curl_slist_free_all);
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, socket_path_.c_str());
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout_seconds_);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &CollectReply);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &reply_text);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  if (method == "POST") {
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body->data() : "");
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body ? body->size() : 0));
  }
  CURLcode rc = curl_easy_perform(c);
  if (rc == CURLE_COULDNT_CONNECT) {
    long os_errno = 0;
    curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &os_errno);
    return Error(DaemonUnreachableMessage(
        socket_path_, os_errno ? std::strerror(static_cast<int>(os_errno)) : curl_easy_strerror(rc)));
  }
  if (rc != CURLE_OK) {
    std::string why = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    return Error("request " + method + " " + path + " to the daemon at " + socket_path_ + " failed: " + why);
  }
  long code = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  auto json = nlohmann::json::parse(reply_text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) {
    return Error("the daemon at " + socket_path_ + " sent a reply that is not JSON (HTTP " + std::to_string(code) +
                 ")");
  }
  return HttpReply{static_cast<int>(code), std::move(json)};
}

}  // namespace cloudlet
