#include "container/process_setup.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "container/runtime.h"
#include "container/state.h"

namespace cloudlet::container {
namespace {

TEST(ProcessSetupTest, IdMapText) {
  EXPECT_EQ(IdMapText({{0, 100000, 65536}, {65536, 1000, 1}}), "0 100000 65536\n65536 1000 1\n");
  EXPECT_EQ(IdMapText({}), "");
}

TEST(ProcessSetupTest, CapabilityNames) {
  auto caps = CapabilityNumbers({"CAP_CHOWN", "CAP_NET_ADMIN", "CAP_SYS_ADMIN"});
  ASSERT_TRUE(caps.ok());
  EXPECT_EQ(*caps, (std::vector<int>{0, 12, 21}));
  EXPECT_FALSE(CapabilityNumbers({"CAP_FLY"}).ok());
}

TEST(ProcessSetupTest, FindExecutableUsesTheProcessPath) {
  auto sh = FindExecutable("sh", {"PATH=/nonexistent:/bin:/usr/bin"});
  ASSERT_TRUE(sh.ok()) << sh.error().message();
  EXPECT_TRUE(*sh == "/bin/sh" || *sh == "/usr/bin/sh") << *sh;
  EXPECT_FALSE(FindExecutable("sh", {"PATH=/nonexistent"}).ok());
  EXPECT_FALSE(FindExecutable("/no/such/file", {}).ok());
  EXPECT_TRUE(FindExecutable("/bin/sh", {"PATH="}).ok());
}

class HookTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("hook_test." + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(HookTest, HookGetsStateOnStdinArgsAndEnv) {
  oci::Hook h;
  h.path = "/bin/sh";
  h.args = {"sh", "-c", "cat > \"$OUT\"; echo \"$0\" >> \"$OUT\"", "arg0"};
  h.env = {"OUT=" + (dir_ / "out").string()};
  ASSERT_TRUE(RunHook(h, R"({"id":"x"})").ok());
  std::ifstream f(dir_ / "out");
  std::string all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_EQ(all, "{\"id\":\"x\"}arg0\n");
}

TEST_F(HookTest, FailuresAndTimeouts) {
  oci::Hook fail;
  fail.path = "/bin/sh";
  fail.args = {"sh", "-c", "exit 3"};
  Status s = RunHook(fail, "{}");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("exited with 3"), std::string::npos) << s.message();

  oci::Hook slow;
  slow.path = "/bin/sh";
  slow.args = {"sh", "-c", "sleep 30"};
  slow.timeout = 1;
  s = RunHook(slow, "{}");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("timed out"), std::string::npos) << s.message();

  oci::Hook missing;
  missing.path = "/no/such/hook";
  EXPECT_FALSE(RunHook(missing, "{}").ok());
}

TEST(RuntimeTest, ParseProcessJson) {
  auto p = Runtime::ParseProcess(R"({"args":["sh","-c","true"],"cwd":"/tmp","env":["A=1"],"user":{"uid":5,"gid":6}})");
  ASSERT_TRUE(p.ok()) << p.error().message();
  EXPECT_EQ(p->args.size(), 3u);
  EXPECT_EQ(p->cwd, "/tmp");
  EXPECT_EQ(p->user.uid, 5u);
  EXPECT_FALSE(Runtime::ParseProcess("[1]").ok());
  EXPECT_FALSE(Runtime::ParseProcess(R"({"args":[]})").ok());
}

TEST(RuntimeTest, StateOfUnknownContainer) {
  RuntimeOptions o;
  o.root = "/nonexistent-cloudlet-runtime-root";
  Runtime rt(o);
  auto s = rt.State("nope");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message().find("does not exist"), std::string::npos);
  EXPECT_FALSE(rt.State("../etc").ok());
  auto l = rt.List();
  ASSERT_TRUE(l.ok());
  EXPECT_TRUE(l->empty());
}

}  // namespace
}  // namespace cloudlet::container
