#include "container/mounts.h"

#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

namespace cloudlet::container {
namespace {

TEST(MountOptionsTest, FlagsDataAndPropagation) {
  auto o = ParseMountOptions({"nosuid", "noexec", "nodev", "ro", "mode=755", "size=65536k", "rprivate"});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->flags, static_cast<unsigned long>(MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RDONLY));
  EXPECT_EQ(o->data, "mode=755,size=65536k");
  ASSERT_EQ(o->propagation.size(), 1u);
  EXPECT_EQ(o->propagation[0], static_cast<unsigned long>(MS_PRIVATE | MS_REC));
  EXPECT_FALSE(o->bind);
}

TEST(MountOptionsTest, BindAndClearingWords) {
  auto o = ParseMountOptions({"rbind", "ro", "rw", "nosuid", "suid", "shared"});
  ASSERT_TRUE(o.ok());
  EXPECT_TRUE(o->bind);
  EXPECT_TRUE(o->recursive);
  EXPECT_EQ(o->flags, static_cast<unsigned long>(MS_BIND | MS_REC));  // rw cleared ro, suid cleared nosuid
  EXPECT_EQ(o->propagation, std::vector<unsigned long>{MS_SHARED});
  EXPECT_TRUE(o->data.empty());
}

TEST(MountOptionsTest, RefusesIdmap) { EXPECT_FALSE(ParseMountOptions({"idmap"}).ok()); }

TEST(MountOptionsTest, RootfsPropagation) {
  EXPECT_EQ(*ParsePropagation(""), static_cast<unsigned long>(MS_PRIVATE | MS_REC));
  EXPECT_EQ(*ParsePropagation("rslave"), static_cast<unsigned long>(MS_SLAVE | MS_REC));
  EXPECT_FALSE(ParsePropagation("sideways").ok());
}

class ResolveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = std::filesystem::temp_directory_path() / ("resolve_test." + std::to_string(getpid()));
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_ / "usr/lib");
    std::filesystem::create_directories(root_ / "real");
    std::filesystem::create_symlink("/etc", root_ / "etclink");        // absolute: must stay inside
    std::filesystem::create_symlink("../../../../..", root_ / "up");   // climbs: stops at the root
    std::filesystem::create_symlink("usr/lib", root_ / "lib");         // relative
    std::filesystem::create_symlink("/real", root_ / "usr/lib/jump");  // absolute from below
    std::filesystem::create_symlink("loop2", root_ / "loop1");
    std::filesystem::create_symlink("loop1", root_ / "loop2");
  }
  void TearDown() override { std::filesystem::remove_all(root_); }
  std::string R(const std::string& p) { return root_.string() + p; }
  std::filesystem::path root_;
};

TEST_F(ResolveTest, PlainPaths) {
  EXPECT_EQ(*ResolveInRoot(root_, "/usr/lib"), R("/usr/lib"));
  EXPECT_EQ(*ResolveInRoot(root_, "/"), R(""));
  EXPECT_EQ(*ResolveInRoot(root_, "/missing/a/b"), R("/missing/a/b"));
  EXPECT_EQ(*ResolveInRoot(root_, "/usr/./lib//"), R("/usr/lib"));
}

TEST_F(ResolveTest, SymlinksStayInside) {
  EXPECT_EQ(*ResolveInRoot(root_, "/etclink/passwd"), R("/etc/passwd"));
  EXPECT_EQ(*ResolveInRoot(root_, "/up/etc/shadow"), R("/etc/shadow"));
  EXPECT_EQ(*ResolveInRoot(root_, "/../../etc"), R("/etc"));
  EXPECT_EQ(*ResolveInRoot(root_, "/lib/x"), R("/usr/lib/x"));
  EXPECT_EQ(*ResolveInRoot(root_, "/lib/jump/y"), R("/real/y"));
  EXPECT_FALSE(ResolveInRoot(root_, "/loop1/x").ok());
}

TEST_F(ResolveTest, CreateInRootFollowsTheSameRules) {
  auto d = CreateInRoot(root_, "/etclink/sub/dir", false);
  ASSERT_TRUE(d.ok()) << d.error().message();
  EXPECT_EQ(*d, R("/etc/sub/dir"));
  EXPECT_TRUE(std::filesystem::is_directory(R("/etc/sub/dir")));
  auto f = CreateInRoot(root_, "/up/file", true);
  ASSERT_TRUE(f.ok());
  EXPECT_TRUE(std::filesystem::is_regular_file(R("/file")));
}

TEST(DevicesTest, DefaultDevices) {
  auto devs = DefaultDevices();
  ASSERT_EQ(devs.size(), 6u);
  EXPECT_EQ(devs[0].path, "/dev/null");
  EXPECT_EQ(devs[0].major, 1);
  EXPECT_EQ(devs[0].minor, 3);
}

}  // namespace
}  // namespace cloudlet::container
