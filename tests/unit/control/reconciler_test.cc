// Reconciler (executor) over a fake host and a fake data plane: reports, idempotence, projects, restart, failures.
#include "control/reconciler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "control/naming.h"
#include "fakes.h"

namespace cloudlet {
namespace {

using ::testing::Contains;
using testing::FakeHost;
using testing::FakeRuntime;
using ::testing::HasSubstr;
using testing::QuickstartConfig;

const std::string kProject = "/srv/quickstart.yaml";

class ReconcilerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "cloudlet-rec-XXXXXX").string();
    dir_ = ::mkdtemp(tmpl.data());
    store_ = std::make_unique<StateStore>(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string dir_;
  std::unique_ptr<StateStore> store_;
  FakeHost host_;
  FakeRuntime runtime_;
};

TEST_F(ReconcilerTest, UpReportsWhatChangedAndSecondUpNothing) {
  Reconciler r(host_, runtime_, store_.get());
  CloudConfig cfg = QuickstartConfig();
  auto report = r.Up(kProject, cfg, {{"v", 1}});
  ASSERT_TRUE(report.status.ok()) << report.status.message();
  EXPECT_THAT(report.changes, Contains("created netns a1"));
  EXPECT_THAT(report.changes, Contains("created veth " + EndpointHostIfname(kProject, "a1") + " <-> a1:eth0"));
  EXPECT_THAT(report.changes, Contains("started switch sw1 (3 ports)"));
  EXPECT_EQ(runtime_.applies, 1);
  ASSERT_EQ(runtime_.running.size(), 2u);

  size_t executed = host_.executed.size();
  auto again = r.Up(kProject, cfg, {{"v", 1}});
  ASSERT_TRUE(again.status.ok());
  EXPECT_TRUE(again.changes.empty());
  EXPECT_EQ(host_.executed.size(), executed);  // zero kernel changes
  EXPECT_EQ(runtime_.applies, 1);

  auto state = store_->Load();
  ASSERT_TRUE(state.ok());
  EXPECT_FALSE(state->projects.at(kProject).pending);
}

TEST_F(ReconcilerTest, UpWithRemovalDetachesBeforeDeleting) {
  Reconciler r(host_, runtime_, store_.get());
  CloudConfig cfg = QuickstartConfig();
  ASSERT_TRUE(r.Up(kProject, cfg, {}).status.ok());
  cfg.endpoints.pop_back();
  auto report = r.Up(kProject, cfg, {});
  ASSERT_TRUE(report.status.ok()) << report.status.message();
  EXPECT_EQ(report.changes, (std::vector<std::string>{"deleted veth " + EndpointHostIfname(kProject, "b1"),
                                                      "deleted netns b1", "removed port b1 from sw1"}));
  EXPECT_EQ(runtime_.applies, 2);  // one apply detached b1's port before its veth went; the final one equals it
  EXPECT_FALSE(host_.netns.count("b1"));
}

TEST_F(ReconcilerTest, DownRemovesProjectAndKeepsOthers) {
  Reconciler r(host_, runtime_, store_.get());
  ASSERT_TRUE(r.Up(kProject, QuickstartConfig(), {}).status.ok());
  CloudConfig other;
  SwitchDecl sw;
  sw.name = "other-sw";
  other.switches = {sw};
  EndpointDecl ep;
  ep.name = "o1";
  ep.switch_name = "other-sw";
  ep.vlan = 5;
  other.endpoints = {ep};
  ASSERT_TRUE(r.Up("/srv/other.yaml", other, {}).status.ok());
  EXPECT_EQ(runtime_.running.size(), 3u);

  auto report = r.Down(kProject);
  ASSERT_TRUE(report.status.ok()) << report.status.message();
  EXPECT_THAT(report.changes, Contains("stopped switch sw1"));
  EXPECT_THAT(report.changes, Contains("deleted netns a1"));
  ASSERT_EQ(runtime_.running.size(), 1u);
  EXPECT_EQ(runtime_.running[0].name, "other-sw");
  EXPECT_TRUE(host_.netns.count("o1"));
  EXPECT_EQ(host_.CountPrefix("cll-"), 0u);
  EXPECT_EQ(host_.CountPrefix("clp-"), 1u);

  auto again = r.Down(kProject);
  EXPECT_EQ(again.http_code, 404);
  auto state = store_->Load();
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->projects.size(), 1u);
}

TEST_F(ReconcilerTest, CollisionIsRejectedWithoutTouchingAnything) {
  Reconciler r(host_, runtime_, store_.get());
  ASSERT_TRUE(r.Up(kProject, QuickstartConfig(), {}).status.ok());
  size_t executed = host_.executed.size();
  auto report = r.Up("/srv/copy.yaml", QuickstartConfig(), {});
  EXPECT_EQ(report.http_code, 409);
  EXPECT_THAT(report.status.message(), HasSubstr(kProject));
  EXPECT_EQ(host_.executed.size(), executed);
  EXPECT_EQ(runtime_.applies, 1);
}

TEST_F(ReconcilerTest, RestartReattachesAndRecreatesMissing) {
  {
    Reconciler r(host_, runtime_, store_.get());
    ASSERT_TRUE(r.Up(kProject, QuickstartConfig(), nlohmann::json{{"v", 1}}).status.ok());
  }
  // The daemon is gone; one veth disappeared meanwhile.
  std::string a2 = EndpointHostIfname(kProject, "a2");
  ASSERT_TRUE(host_.Execute(Action{.kind = ActionKind::kDeleteLink, .ifname = a2}).ok());
  size_t executed = host_.executed.size();
  FakeRuntime fresh;
  Reconciler r(host_, fresh, store_.get());
  auto state = store_->Load();
  ASSERT_TRUE(state.ok());
  auto problems = r.Restore(*state, [](const nlohmann::json&) -> Result<CloudConfig> { return QuickstartConfig(); });
  EXPECT_TRUE(problems.empty()) << problems[0];
  EXPECT_EQ(fresh.running.size(), 2u);
  std::vector<std::string> done;
  for (size_t i = executed; i < host_.executed.size(); ++i) {
    if (!host_.executed[i].quiet) done.push_back(host_.executed[i].Describe());
  }
  EXPECT_EQ(done, (std::vector<std::string>{"created veth " + a2 + " <-> a2:eth0",
                                            "set addresses of a2:eth0: 10.10.0.2/24"}));
  auto status = r.StatusJson();
  EXPECT_EQ(status["endpoints"].size(), 3u);
  EXPECT_EQ(status["switches"][0]["vlans"][0]["name"], "tenant-a");
  EXPECT_EQ(status["switches"][0]["project"], kProject);
}

TEST_F(ReconcilerTest, FailureMidwayKeepsTrackOfEverythingForDown) {
  Reconciler r(host_, runtime_, store_.get());
  host_.fail_on_call = 4;  // after the first few actions
  auto report = r.Up(kProject, QuickstartConfig(), {});
  EXPECT_FALSE(report.status.ok());
  EXPECT_EQ(report.http_code, 500);
  EXPECT_THAT(report.status.message(), HasSubstr("injected failure"));
  auto state = store_->Load();
  ASSERT_TRUE(state.ok());
  EXPECT_TRUE(state->projects.at(kProject).pending);
  EXPECT_EQ(state->projects.at(kProject).netns.size(), 3u);

  host_.fail_on_call = -1;
  auto down = r.Down(kProject);
  ASSERT_TRUE(down.status.ok()) << down.status.message();
  EXPECT_TRUE(host_.netns.empty());
  EXPECT_EQ(host_.CountPrefix("clp-") + host_.CountPrefix("cll-"), 0u);
}

TEST_F(ReconcilerTest, DataPlaneFailureIsReported) {
  Reconciler r(host_, runtime_, store_.get());
  runtime_.fail = true;
  auto report = r.Up(kProject, QuickstartConfig(), {});
  EXPECT_EQ(report.http_code, 500);
  EXPECT_THAT(report.status.message(), HasSubstr("data plane: injected"));
  runtime_.fail = false;
  auto retry = r.Up(kProject, QuickstartConfig(), {});
  ASSERT_TRUE(retry.status.ok());
  EXPECT_THAT(retry.changes, Contains("started switch sw1 (3 ports)"));
}

}  // namespace
}  // namespace cloudlet
