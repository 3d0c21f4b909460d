// The reconciler with containers (a fake ContainerRuntime): started after their namespaces exist, left alone by an
// unchanged `up`, changed or removed with the config, stopped before `down` deletes their namespaces, restored after
// a daemon restart, and `cloudlet container start|stop` by name.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "control/reconciler.h"
#include "fakes.h"

namespace cloudlet {
namespace {

using ::testing::Contains;
using testing::FakeContainers;
using testing::FakeHost;
using testing::FakeRuntime;
using ::testing::HasSubstr;
using testing::QuickstartConfig;

const std::string kProject = "/srv/quickstart.yaml";

CloudConfig WithContainers() {
  CloudConfig c = QuickstartConfig();
  for (const char* name : {"a1", "b1"}) {
    for (auto& e : c.endpoints) {
      if (e.name != name) continue;
      e.container = ContainerDecl{};
      e.container->image = "busybox:latest";
      e.container->command = std::vector<std::string>{"sleep", "3600"};
      e.container->hostname = e.name;
    }
  }
  return c;
}

TEST(ReconcilerContainers, StartedAfterTheirNamespacesAndLeftAloneByASecondUp) {
  FakeHost host;
  FakeRuntime runtime;
  FakeContainers containers(&host);
  Reconciler r(host, runtime, nullptr, nullptr, &containers);
  auto report = r.Up(kProject, WithContainers(), {});
  ASSERT_TRUE(report.status.ok()) << report.status.message();
  EXPECT_THAT(report.changes, Contains("started container a1"));
  EXPECT_THAT(report.changes, Contains("started container b1"));
  // Containers come last: after every namespace and switch.
  EXPECT_EQ(report.changes.back(), "started container b1");
  ASSERT_EQ(containers.applies.size(), 1u);
  ASSERT_EQ(containers.applies[0].size(), 2u);
  EXPECT_EQ(containers.applies[0][0].id, ContainerId(kProject, "a1"));
  EXPECT_TRUE(containers.netns_at_apply[0].count("a1"));
  EXPECT_TRUE(containers.netns_at_apply[0].count("b1"));
  EXPECT_EQ(containers.projects[0], kProject);  // only this project's failed containers would be retried

  auto again = r.Up(kProject, WithContainers(), {});
  ASSERT_TRUE(again.status.ok());
  EXPECT_TRUE(again.changes.empty());
  EXPECT_EQ(containers.applies.size(), 1u);  // nothing asked of the runtime

  auto status = r.StatusJson();
  ASSERT_TRUE(status.contains("containers"));
  EXPECT_EQ(status["containers"].size(), 2u);
}

TEST(ReconcilerContainers, ChangedSettingsAndRemovalGoToTheRuntime) {
  FakeHost host;
  FakeRuntime runtime;
  FakeContainers containers(&host);
  Reconciler r(host, runtime, nullptr, nullptr, &containers);
  ASSERT_TRUE(r.Up(kProject, WithContainers(), {}).status.ok());
  CloudConfig changed = WithContainers();
  changed.endpoints[0].container->memory_bytes = 64 << 20;
  auto report = r.Up(kProject, changed, {});
  ASSERT_TRUE(report.status.ok());
  EXPECT_EQ(report.changes, std::vector<std::string>{"restarted container a1"});
  ASSERT_EQ(containers.applies.size(), 2u);
  EXPECT_EQ(containers.running.at(ContainerId(kProject, "a1")).decl.memory_bytes, 64u << 20);

  CloudConfig fewer = changed;
  fewer.endpoints[2].container.reset();  // b1 stays an endpoint, without its container
  report = r.Up(kProject, fewer, {});
  ASSERT_TRUE(report.status.ok());
  EXPECT_EQ(report.changes, std::vector<std::string>{"removed container b1"});
  EXPECT_EQ(containers.running.size(), 1u);
}

TEST(ReconcilerContainers, DownStopsContainersBeforeDeletingNamespacesAndKeepsOtherProjects) {
  FakeHost host;
  FakeRuntime runtime;
  FakeContainers containers(&host);
  Reconciler r(host, runtime, nullptr, nullptr, &containers);
  ASSERT_TRUE(r.Up(kProject, WithContainers(), {}).status.ok());
  CloudConfig other;
  SwitchDecl sw;
  sw.name = "osw";
  other.switches = {sw};
  EndpointDecl e;
  e.name = "o1";
  e.switch_name = "osw";
  e.vlan = 10;
  e.container = ContainerDecl{};
  e.container->image = "busybox:latest";
  other.endpoints = {e};
  ASSERT_TRUE(r.Up("/srv/other.yaml", other, {}).status.ok());
  EXPECT_EQ(containers.running.size(), 3u);

  auto report = r.Down(kProject);
  ASSERT_TRUE(report.status.ok()) << report.status.message();
  EXPECT_EQ(report.changes.front(), "removed container a1");
  EXPECT_TRUE(containers.netns_at_apply.back().count("a1"));  // still there when the containers were stopped
  EXPECT_FALSE(host.netns.count("a1"));
  ASSERT_EQ(containers.running.size(), 1u);
  EXPECT_EQ(containers.running.begin()->second.name, "o1");
}

TEST(ReconcilerContainers, FailureIsReportedAndRetriedByTheNextUp) {
  FakeHost host;
  FakeRuntime runtime;
  FakeContainers containers(&host);
  Reconciler r(host, runtime, nullptr, nullptr, &containers);
  containers.fail = true;
  auto report = r.Up(kProject, WithContainers(), {});
  EXPECT_FALSE(report.status.ok());
  EXPECT_EQ(report.http_code, 500);
  EXPECT_THAT(report.status.message(), HasSubstr("injected container failure"));
  containers.fail = false;
  report = r.Up(kProject, WithContainers(), {});
  ASSERT_TRUE(report.status.ok()) << report.status.message();
  EXPECT_THAT(report.changes, Contains("started container a1"));
}

TEST(ReconcilerContainers, WithoutAContainerRuntimeContainersAreRefused) {
  FakeHost host;
  FakeRuntime runtime;
  Reconciler r(host, runtime, nullptr);
  auto report = r.Up(kProject, WithContainers(), {});
  ASSERT_FALSE(report.status.ok());
  EXPECT_THAT(report.status.message(), HasSubstr("runs no containers"));
  EXPECT_TRUE(r.Up(kProject, QuickstartConfig(), {}).status.ok());
}

TEST(ReconcilerContainers, RestoreAsksTheRuntimeForEveryRecordedContainer) {
  FakeHost host;
  FakeRuntime runtime;
  DaemonState state;
  {
    FakeContainers first(&host);
    Reconciler r(host, runtime, nullptr, nullptr, &first);
    ASSERT_TRUE(r.Up(kProject, WithContainers(), {{"recorded", true}}).status.ok());
    state.projects[kProject] = ProjectRecord{};
    state.projects[kProject].config = {{"recorded", true}};
  }
  FakeContainers second(&host);  // a restarted daemon's runtime knows nothing yet
  Reconciler r(host, runtime, nullptr, nullptr, &second);
  auto problems = r.Restore(state, [](const nlohmann::json&) -> Result<CloudConfig> { return WithContainers(); });
  EXPECT_TRUE(problems.empty());
  ASSERT_FALSE(second.applies.empty());
  EXPECT_EQ(second.running.size(), 2u);
}

TEST(ReconcilerContainers, StartAndStopByName) {
  FakeHost host;
  FakeRuntime runtime;
  FakeContainers containers(&host);
  Reconciler r(host, runtime, nullptr, nullptr, &containers);
  ASSERT_TRUE(r.Up(kProject, WithContainers(), {}).status.ok());
  auto stop = r.ContainerCommand("stop", "a1", "", 3 * kSecond);
  ASSERT_TRUE(stop.status.ok()) << stop.status.message();
  EXPECT_EQ(containers.commands.back(), "stop " + ContainerId(kProject, "a1") + " 3");
  auto start = r.ContainerCommand("start", "a1", kProject, 0);
  ASSERT_TRUE(start.status.ok());
  EXPECT_EQ(containers.commands.back(), "start " + ContainerId(kProject, "a1"));
  auto again = r.ContainerCommand("start", "a1", "", 0);
  EXPECT_EQ(again.http_code, 409);
  auto unknown = r.ContainerCommand("stop", "zz", "", kSecond);
  EXPECT_EQ(unknown.http_code, 404);
  EXPECT_THAT(unknown.status.message(), HasSubstr("cloudlet container ls"));
  auto wrong_project = r.ContainerCommand("stop", "a1", "/srv/other.yaml", kSecond);
  EXPECT_EQ(wrong_project.http_code, 404);
  // A stopped container is no change to `up`: it stays stopped.
  auto up = r.Up(kProject, WithContainers(), {});
  EXPECT_TRUE(up.changes.empty());
}

}  // namespace
}  // namespace cloudlet
