// The daemon's API path end to end without root: ApiClient -> unix socket -> ApiServer -> DaemonBackend (FromJson
// re-validation) -> Reconciler over a fake host and data plane.
#include "control/daemon_backend.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "config/config.h"
#include "control/api.h"
#include "fakes.h"

namespace cloudlet {
namespace {

using ::testing::Contains;
using testing::FakeHost;
using testing::FakeRuntime;
using ::testing::HasSubstr;
using testing::QuickstartConfig;

class DaemonBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "cloudlet-daemon-XXXXXX").string();
    dir_ = ::mkdtemp(tmpl.data());
    auto s = ApiServer::Start(dir_ + "/api.sock", backend_);
    ASSERT_TRUE(s.ok()) << s.error().message();
    server_ = std::move(s).value();
  }
  void TearDown() override {
    server_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::string dir_;
  FakeHost host_;
  FakeRuntime runtime_;
  Reconciler reconciler_{host_, runtime_, nullptr};
  DaemonBackend backend_{reconciler_};
  std::unique_ptr<ApiServer> server_;
};

TEST_F(DaemonBackendTest, UpStatusDownOverTheSocket) {
  CloudConfig cfg = QuickstartConfig();
  ASSERT_TRUE(ValidateConfig(cfg).ok()) << ValidateConfig(cfg).message();
  ApiClient client(dir_ + "/api.sock", 10);

  auto up = client.Post("/v1/up", {{"project", "/srv/q.yaml"}, {"config", ToJson(cfg)}});
  ASSERT_TRUE(up.ok()) << up.error().message();
  ASSERT_EQ(up->code, 200) << up->body.dump();
  EXPECT_THAT(up->body["changes"], Contains("created netns a1"));

  auto again = client.Post("/v1/up", {{"project", "/srv/q.yaml"}, {"config", ToJson(cfg)}});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->code, 200);
  EXPECT_TRUE(again->body["changes"].empty());

  auto status = client.Get("/v1/status");
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->body["endpoints"].size(), 3u);
  EXPECT_EQ(status->body["switches"].size(), 2u);

  auto clash = client.Post("/v1/up", {{"project", "/srv/other.yaml"}, {"config", ToJson(cfg)}});
  ASSERT_TRUE(clash.ok());
  EXPECT_EQ(clash->code, 409);
  EXPECT_THAT(clash->body["error"].get<std::string>(), HasSubstr("/srv/q.yaml"));

  auto down = client.Post("/v1/down", {{"project", "/srv/q.yaml"}});
  ASSERT_TRUE(down.ok());
  EXPECT_EQ(down->code, 200);
  EXPECT_THAT(down->body["changes"], Contains("deleted netns a1"));
  EXPECT_TRUE(host_.netns.empty());
}

TEST_F(DaemonBackendTest, InvalidConfigFromTheSocketIsRejectedUntouched) {
  ApiClient client(dir_ + "/api.sock", 10);
  nlohmann::json bad = ToJson(QuickstartConfig());
  bad["vlans"][0]["id"] = 4095;
  auto r = client.Post("/v1/up", {{"project", "/srv/q.yaml"}, {"config", bad}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->code, 400);
  EXPECT_THAT(r->body["error"].get<std::string>(), HasSubstr("4095"));

  r = client.Post("/v1/up", {{"project", "/srv/q.yaml"}, {"config", {{"no_such_key", 1}}}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->code, 400);
  EXPECT_TRUE(host_.executed.empty());
  EXPECT_EQ(runtime_.applies, 0);
}

}  // namespace
}  // namespace cloudlet
