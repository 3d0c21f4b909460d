// API server and client over a real unix socket in a temp dir, with a fake backend.
#include "control/api.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "base/fd.h"

namespace cloudlet {
namespace {

using ::testing::HasSubstr;

class FakeBackend final : public ApiBackend {
 public:
  std::string last_project;
  nlohmann::json last_config;
  HttpReply Health() override { return {200, {{"ok", true}}}; }
  HttpReply StatusReply() override { return {200, {{"switches", nlohmann::json::array()}}}; }
  HttpReply Up(const std::string& project, const nlohmann::json& config) override {
    last_project = project;
    last_config = config;
    return {200, {{"changes", {"created netns a1"}}}};
  }
  HttpReply Down(const std::string& project) override {
    last_project = project;
    if (project == "/unknown.yaml") return ErrorReply(404, "project /unknown.yaml is not up");
    return {200, {{"changes", nlohmann::json::array()}}};
  }
  int firewall_calls = 0;
  nlohmann::json last_firewall;
  HttpReply Firewall(const nlohmann::json& request) override {
    ++firewall_calls;
    last_firewall = request;
    return {200, {{"rules", nlohmann::json::array({{{"name", "web-to-db"}}})}}};
  }
};

// A backend without a firewall: the default Firewall() answers.
class NoFirewallBackend final : public ApiBackend {
 public:
  HttpReply Health() override { return {200, {{"ok", true}}}; }
  HttpReply StatusReply() override { return {200, nlohmann::json::object()}; }
  HttpReply Up(const std::string&, const nlohmann::json&) override { return {200, nlohmann::json::object()}; }
  HttpReply Down(const std::string&) override { return {200, nlohmann::json::object()}; }
};

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "cloudlet-api-XXXXXX").string();
    dir_ = ::mkdtemp(tmpl.data());
    socket_ = dir_ + "/run/cloudlet.sock";  // the parent directory does not exist yet
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<ApiServer> Start(size_t max_body = kMaxRequestBody) {
    auto s = ApiServer::Start(socket_, backend_, max_body);
    EXPECT_TRUE(s.ok()) << s.error().message();
    return s.ok() ? std::move(s).value() : nullptr;
  }

  std::string dir_;
  std::string socket_;
  FakeBackend backend_;
};

TEST_F(ApiTest, RoutesOverTheSocket) {
  auto server = Start();
  ASSERT_TRUE(server);
  struct stat st {};
  ASSERT_EQ(::stat(socket_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0660u);

  ApiClient client(socket_, 10);
  auto health = client.Get("/v1/health");
  ASSERT_TRUE(health.ok()) << health.error().message();
  EXPECT_EQ(health->code, 200);
  EXPECT_EQ(health->body["ok"], true);

  auto status = client.Get("/v1/status");
  ASSERT_TRUE(status.ok());
  EXPECT_TRUE(status->body["switches"].is_array());

  auto up = client.Post("/v1/up", {{"project", "/srv/q.yaml"}, {"config", {{"switches", nlohmann::json::array()}}}});
  ASSERT_TRUE(up.ok());
  EXPECT_EQ(up->code, 200);
  EXPECT_EQ(up->body["changes"][0], "created netns a1");
  EXPECT_EQ(backend_.last_project, "/srv/q.yaml");
  EXPECT_TRUE(backend_.last_config.contains("switches"));

  auto down = client.Post("/v1/down", {{"project", "/unknown.yaml"}});
  ASSERT_TRUE(down.ok());
  EXPECT_EQ(down->code, 404);
  EXPECT_THAT(down->body["error"].get<std::string>(), HasSubstr("not up"));
}

TEST_F(ApiTest, RejectsUnknownRoutesMethodsAndBadBodies) {
  auto server = Start();
  ASSERT_TRUE(server);
  ApiClient client(socket_, 10);
  auto r = client.Get("/v1/nope");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->code, 404);
  EXPECT_THAT(r->body["error"].get<std::string>(), HasSubstr("no such endpoint"));

  r = client.Get("/v1/up");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->code, 405);

  r = client.Post("/v1/up", {{"project", "relative.yaml"}, {"config", nlohmann::json::object()}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->code, 400);
  EXPECT_THAT(r->body["error"].get<std::string>(), HasSubstr("absolute path"));

  r = client.Post("/v1/up", {{"project", "/a.yaml"}, {"config", "not an object"}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->code, 400);

  r = client.Post("/v1/down", nlohmann::json::array({1, 2}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->code, 400);
  EXPECT_THAT(r->body["error"].get<std::string>(), HasSubstr("JSON object"));
  EXPECT_EQ(backend_.last_project, "");  // the backend never saw any of these
}

TEST(ApiRoute, BadJsonIs400) {
  FakeBackend backend;
  auto r = RouteRequest(backend, "POST", "/v1/up", "{\"project\": ");
  EXPECT_EQ(r.code, 400);
  EXPECT_THAT(r.body["error"].get<std::string>(), HasSubstr("not valid JSON"));
  r = RouteRequest(backend, "POST", "/v1/down", "{\"project\": 5}");
  EXPECT_EQ(r.code, 400);
  r = RouteRequest(backend, "POST", "/v1/down", "{\"project\": \"/x.yaml\"}");
  EXPECT_EQ(r.code, 200);
}

TEST(ApiRoute, FirewallQueryIsCheckedThenRouted) {
  FakeBackend backend;
  auto r = RouteRequest(backend, "POST", "/v1/firewall",
                        R"({"query": "trace", "project": "/srv/r.yaml", "from": "web", "dport": 22})");
  EXPECT_EQ(r.code, 200);
  EXPECT_EQ(r.body["rules"][0]["name"], "web-to-db");
  ASSERT_EQ(backend.firewall_calls, 1);
  EXPECT_EQ(backend.last_firewall["query"], "trace");
  EXPECT_EQ(backend.last_firewall["project"], "/srv/r.yaml");
  EXPECT_EQ(backend.last_firewall["from"], "web");  // the query's arguments reach the backend untouched
  EXPECT_EQ(backend.last_firewall["dport"], 22);

  // "project" is optional.
  r = RouteRequest(backend, "POST", "/v1/firewall", R"({"query": "rules"})");
  EXPECT_EQ(r.code, 200);
  EXPECT_EQ(backend.firewall_calls, 2);
  EXPECT_FALSE(backend.last_firewall.contains("project"));

  // Bad bodies never reach the backend.
  for (const char* body : {R"({})", R"({"query": 5})", R"({"query": null})", R"({"query": ["rules"]})",
                           R"({"query": "rules", "project": "relative.yaml"})", R"({"query": "rules", "project": 7})",
                           R"(["rules"])", R"({"query": )"}) {
    r = RouteRequest(backend, "POST", "/v1/firewall", body);
    EXPECT_EQ(r.code, 400) << body;
    EXPECT_TRUE(r.body["error"].is_string()) << body;
  }
  r = RouteRequest(backend, "POST", "/v1/firewall", R"({"project": "/srv/r.yaml"})");
  EXPECT_THAT(r.body["error"].get<std::string>(), HasSubstr("\"query\" must be a string"));
  r = RouteRequest(backend, "POST", "/v1/firewall", R"({"query": "rules", "project": "relative.yaml"})");
  EXPECT_THAT(r.body["error"].get<std::string>(), HasSubstr("absolute path"));
  EXPECT_EQ(backend.firewall_calls, 2);

  // GET is not allowed.
  r = RouteRequest(backend, "GET", "/v1/firewall", "");
  EXPECT_EQ(r.code, 405);
  EXPECT_THAT(r.body["error"].get<std::string>(), HasSubstr("POST"));
  EXPECT_EQ(backend.firewall_calls, 2);

  // A daemon without a firewall says so.
  NoFirewallBackend plain;
  r = RouteRequest(plain, "POST", "/v1/firewall", R"({"query": "rules"})");
  EXPECT_EQ(r.code, 404);
  EXPECT_THAT(r.body["error"].get<std::string>(), HasSubstr("no firewall"));
}

TEST_F(ApiTest, FirewallOverTheSocket) {
  auto server = Start();
  ASSERT_TRUE(server);
  ApiClient client(socket_, 10);
  auto r = client.Post("/v1/firewall", {{"query", "connections"}, {"limit", 10}});
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->code, 200);
  EXPECT_EQ(backend_.last_firewall["query"], "connections");
  EXPECT_EQ(backend_.last_firewall["limit"], 10);
  r = client.Get("/v1/firewall");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->code, 405);
  r = client.Post("/v1/firewall", {{"query", 1}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->code, 400);
  EXPECT_EQ(backend_.firewall_calls, 1);
}

// Sends a raw HTTP request and returns the raw reply (for bodies the client would not send).
std::string RawRequest(const std::string& socket_path, const std::string& request) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, socket_path.c_str(), sizeof(addr.sun_path) - 1);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return "connect failed";
  timeval tv{5, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  (void)::send(fd.get(), request.data(), request.size(), MSG_NOSIGNAL);
  std::string reply;
  char buf[4096];
  for (int i = 0; i < 100; ++i) {
    ssize_t n = ::recv(fd.get(), buf, sizeof(buf), 0);
    if (n <= 0) break;
    reply.append(buf, static_cast<size_t>(n));
  }
  return reply;
}

TEST_F(ApiTest, OversizedBodyIsRejected) {
  auto server = Start(/*max_body=*/1024);
  ASSERT_TRUE(server);
  ApiClient client(socket_, 10);
  std::string big(4096, 'x');
  auto r = client.Post("/v1/up", {{"project", "/a.yaml"}, {"config", {{"pad", big}}}});
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->code, 413);
  EXPECT_EQ(backend_.last_project, "");

  // Without a Content-Length (chunked), the limit still holds.
  std::string chunk(2000, 'y');
  std::string req = "POST /v1/up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
  char size[16];
  std::snprintf(size, sizeof(size), "%zx\r\n", chunk.size());
  req += size + chunk + "\r\n0\r\n\r\n";
  EXPECT_THAT(RawRequest(socket_, req), HasSubstr("413"));
  EXPECT_EQ(backend_.last_project, "");

  // The server is still healthy afterwards.
  auto h = client.Get("/v1/health");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->code, 200);
}

TEST_F(ApiTest, StaleSocketIsReplacedLiveOneRefused) {
  {
    auto first = Start();
    ASSERT_TRUE(first);
    auto second = ApiServer::Start(socket_, backend_);
    ASSERT_FALSE(second.ok());
    EXPECT_THAT(second.error().message(), HasSubstr("already listening"));
  }
  EXPECT_FALSE(std::filesystem::exists(socket_));  // a clean stop removes its socket

  // A stale socket file left by a crashed daemon: bound, nobody listening.
  {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, socket_.c_str(), sizeof(addr.sun_path) - 1);
    std::filesystem::create_directories(std::filesystem::path(socket_).parent_path());
    ASSERT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  }
  ASSERT_TRUE(std::filesystem::exists(socket_));
  ApiClient client(socket_, 10);
  auto refused = client.Get("/v1/health");
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.error().message(), HasSubstr("Connection refused"));

  auto server = Start();
  ASSERT_TRUE(server);
  auto h = client.Get("/v1/health");
  ASSERT_TRUE(h.ok()) << h.error().message();

  // A regular file is never removed.
  server.reset();
  { std::ofstream(socket_) << "not a socket"; }
  auto s = ApiServer::Start(socket_, backend_);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.error().message(), HasSubstr("not a socket"));
}

TEST_F(ApiTest, DaemonNotRunningMessage) {
  ApiClient client(dir_ + "/missing.sock", 10);
  auto r = client.Get("/v1/status");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(), "cannot reach the daemon at " + dir_ +
                                     "/missing.sock (No such file or directory) — start it with `cloudlet daemon "
                                     "--detach`");
}

}  // namespace
}  // namespace cloudlet
