// The container routes of the API: checked field by field before the backend sees them; a backend without
// containers answers 404.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "control/api.h"

namespace cloudlet {
namespace {

using ::testing::HasSubstr;

class ContainerBackend final : public ApiBackend {
 public:
  std::string last_action;
  nlohmann::json last_request;
  HttpReply Health() override { return {200, {{"ok", true}}}; }
  HttpReply StatusReply() override { return {200, nlohmann::json::object()}; }
  HttpReply Up(const std::string&, const nlohmann::json&) override { return {200, nlohmann::json::object()}; }
  HttpReply Down(const std::string&) override { return {200, nlohmann::json::object()}; }
  HttpReply Containers() override { return {200, {{"containers", nlohmann::json::array({{{"name", "web1"}}})}}}; }
  HttpReply ContainerAction(const std::string& action, const nlohmann::json& request) override {
    last_action = action;
    last_request = request;
    return {200, {{"changes", {action + "ed"}}}};
  }
};

class Bare final : public ApiBackend {
 public:
  HttpReply Health() override { return {200, {{"ok", true}}}; }
  HttpReply StatusReply() override { return {200, nlohmann::json::object()}; }
  HttpReply Up(const std::string&, const nlohmann::json&) override { return {200, nlohmann::json::object()}; }
  HttpReply Down(const std::string&) override { return {200, nlohmann::json::object()}; }
};

TEST(ContainerRoutes, ListStartStop) {
  ContainerBackend b;
  auto ls = RouteRequest(b, "GET", "/v1/containers", "");
  EXPECT_EQ(ls.code, 200);
  EXPECT_EQ(ls.body["containers"][0]["name"], "web1");
  auto start = RouteRequest(b, "POST", "/v1/containers/start", R"({"name":"web1"})");
  EXPECT_EQ(start.code, 200);
  EXPECT_EQ(b.last_action, "start");
  auto stop = RouteRequest(b, "POST", "/v1/containers/stop", R"({"name":"web1","project":"/srv/a.yaml","timeout":3})");
  EXPECT_EQ(stop.code, 200);
  EXPECT_EQ(b.last_action, "stop");
  EXPECT_EQ(b.last_request["timeout"], 3);
  EXPECT_EQ(RouteRequest(b, "GET", "/v1/containers/stop", "").code, 405);
  EXPECT_EQ(RouteRequest(b, "POST", "/v1/containers", "{}").code, 405);
}

TEST(ContainerRoutes, BadFieldsAre400AndNeverReachTheBackend) {
  ContainerBackend b;
  for (const char* body : {R"({})", R"({"name":""})", R"({"name":7})", R"({"name":"a","project":"rel.yaml"})",
                           R"({"name":"a","timeout":-1})", R"({"name":"a","timeout":1.5})",
                           R"({"name":"a","timeout":99999})", R"([1])", "not json"}) {
    auto r = RouteRequest(b, "POST", "/v1/containers/stop", body);
    EXPECT_EQ(r.code, 400) << body;
  }
  EXPECT_TRUE(b.last_action.empty());
  auto r = RouteRequest(b, "POST", "/v1/containers/start", R"({"name":"a","project":"rel.yaml"})");
  EXPECT_THAT(r.body.value("error", ""), HasSubstr("absolute path"));
}

TEST(ContainerRoutes, BackendWithoutContainersSays404) {
  Bare b;
  EXPECT_EQ(RouteRequest(b, "GET", "/v1/containers", "").code, 404);
  auto r = RouteRequest(b, "POST", "/v1/containers/start", R"({"name":"web1"})");
  EXPECT_EQ(r.code, 404);
  EXPECT_THAT(r.body.value("error", ""), HasSubstr("no containers"));
}

}  // namespace
}  // namespace cloudlet
