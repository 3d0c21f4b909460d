#include "container/state.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

namespace cloudlet::container {
namespace {

ContainerRecord Sample() {
  ContainerRecord r;
  r.oci_version = "1.0.2";
  r.id = "web";
  r.pid = 4242;
  r.start_time = 123456;
  r.bundle = "/b";
  r.rootfs = "/b/rootfs";
  r.created = "2026-01-02T03:04:05.000000006Z";
  r.annotations = {{"a", "b"}};
  r.cgroups_path = "/x/y";
  r.has_cgroup = true;
  return r;
}

TEST(StateTest, RecordRoundTrips) {
  auto back = RecordFromJson(RecordToJson(Sample()));
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(*back, Sample());
}

TEST(StateTest, RecordRejectsGarbage) {
  EXPECT_FALSE(RecordFromJson("{").ok());
  EXPECT_FALSE(RecordFromJson("[]").ok());
  EXPECT_FALSE(RecordFromJson(R"({"pid": 1})").ok());  // no id
}

TEST(StateTest, StateJsonHasRuncFields) {
  auto j = nlohmann::json::parse(StateJson(Sample(), ContainerStatus::kRunning));
  EXPECT_EQ(j["ociVersion"], "1.0.2");
  EXPECT_EQ(j["id"], "web");
  EXPECT_EQ(j["pid"], 4242);
  EXPECT_EQ(j["status"], "running");
  EXPECT_EQ(j["bundle"], "/b");
  EXPECT_EQ(j["rootfs"], "/b/rootfs");
  EXPECT_EQ(j["created"], "2026-01-02T03:04:05.000000006Z");
  EXPECT_EQ(j["annotations"]["a"], "b");
  // A stopped container's pid is 0, as runc reports it.
  EXPECT_EQ(nlohmann::json::parse(StateJson(Sample(), ContainerStatus::kStopped))["pid"], 0);
}

TEST(StateTest, HookStateIsTheSpecsStateObject) {
  auto j = nlohmann::json::parse(HookStateJson(Sample(), ContainerStatus::kCreating));
  EXPECT_EQ(j["status"], "creating");
  EXPECT_EQ(j["pid"], 4242);
  EXPECT_TRUE(j.contains("annotations"));
  EXPECT_FALSE(j.contains("rootfs"));
}

TEST(StateTest, StatStartTimeWithAwkwardCommandNames) {
  std::string tail = " S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 777 19 20";
  auto t = ParseStatStartTime("42 (a) b) c)" + tail);
  ASSERT_TRUE(t.ok()) << t.error().message();
  EXPECT_EQ(*t, 777u);
  EXPECT_EQ(*ParseStatState("42 (x (y)) Z 1"), 'Z');
  EXPECT_FALSE(ParseStatStartTime("42 (a) S 1 2").ok());
  EXPECT_FALSE(ParseStatStartTime("garbage").ok());
}

TEST(StateTest, OwnProcessIsAliveOnlyWithItsStartTime) {
  auto stat = ReadProcStat(getpid());
  ASSERT_TRUE(stat.has_value());
  auto st = ParseStatStartTime(*stat);
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(ProcessAlive(getpid(), *st));
  EXPECT_FALSE(ProcessAlive(getpid(), *st + 1));  // a recycled pid
  EXPECT_FALSE(ProcessAlive(0, 0));
}

TEST(StateTest, ValidateId) {
  EXPECT_TRUE(ValidateId("abc-1.2_3+x").ok());
  EXPECT_FALSE(ValidateId("").ok());
  EXPECT_FALSE(ValidateId("..").ok());
  EXPECT_FALSE(ValidateId("a/b").ok());
  EXPECT_FALSE(ValidateId("a b").ok());
}

TEST(StateTest, Rfc3339) {
  std::string t = NowRfc3339();
  ASSERT_EQ(t.size(), 30u) << t;
  EXPECT_EQ(t[4], '-');
  EXPECT_EQ(t[10], 'T');
  EXPECT_EQ(t.back(), 'Z');
}

}  // namespace
}  // namespace cloudlet::container
