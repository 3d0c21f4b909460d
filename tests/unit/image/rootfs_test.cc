#include "image/rootfs.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "test_util.h"

namespace cloudlet::image {
namespace {

namespace fs = std::filesystem;
using test_util::Exists;
using test_util::ReadFile;
using test_util::TempDir;
using test_util::WriteFile;

// Unmounts on scope exit when a test stops early, so no mount outlives the test.
class MountGuard {
 public:
  explicit MountGuard(std::string target) : target_(std::move(target)) {}
  ~MountGuard() {
    if (mounted) (void)UnmountRootfs(target_);
  }
  bool mounted = true;

 private:
  std::string target_;
};

TEST(OverlayOptions, OrderAndFlags) {
  EXPECT_EQ(OverlayOptions({"/l/top", "/l/base"}, "/c/upper", "/c/work"),
            "lowerdir=/l/top:/l/base,upperdir=/c/upper,workdir=/c/work,redirect_dir=off,metacopy=off");
  EXPECT_EQ(OverlayOptions({"/a", "/b"}, "", ""), "lowerdir=/a:/b,redirect_dir=off,metacopy=off");
}

TEST(MountRootfs, RejectsNothingToMount) {
  TempDir t;
  fs::create_directory(t / "m");
  EXPECT_FALSE(MountRootfs({}, "", "", t / "m").ok());
  auto st = MountRootfs({t / "m"}, t / "m", "", t / "m");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("work dir"), std::string::npos) << st.message();
}

// Three layers: the top-most wins, a whiteout hides, writes land in the upper dir and no layer changes.
TEST(MountRootfs, ThreeLayersMergedWritesGoToUpper) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (mounting overlayfs)";
  TempDir t;
  WriteFile(t / "l1/a", "1");
  WriteFile(t / "l1/b", "1");
  WriteFile(t / "l1/dir/one", "1");
  WriteFile(t / "l2/b", "2");
  WriteFile(t / "l2/c", "2");
  WriteFile(t / "l3/c", "3");
  WriteFile(t / "l3/dir/three", "3");
  ASSERT_EQ(::mknod((t / "l3/a").c_str(), S_IFCHR | 0, makedev(0, 0)), 0);  // overlayfs whiteout
  for (const char* d : {"upper", "work", "merged"}) fs::create_directory(t / d);

  ASSERT_TRUE(MountRootfs({t / "l3", t / "l2", t / "l1"}, t / "upper", t / "work", t / "merged").ok());
  MountGuard guard(t / "merged");
  EXPECT_FALSE(Exists(t / "merged/a"));
  EXPECT_EQ(ReadFile(t / "merged/b"), "2");
  EXPECT_EQ(ReadFile(t / "merged/c"), "3");
  EXPECT_EQ(ReadFile(t / "merged/dir/one"), "1");
  EXPECT_EQ(ReadFile(t / "merged/dir/three"), "3");

  WriteFile(t / "merged/new", "new");
  WriteFile(t / "merged/b", "changed");
  fs::remove(t / "merged/c");
  EXPECT_EQ(ReadFile(t / "upper/new"), "new");
  EXPECT_EQ(ReadFile(t / "upper/b"), "changed");
  EXPECT_EQ(ReadFile(t / "l2/b"), "2");
  EXPECT_EQ(ReadFile(t / "l1/b"), "1");
  EXPECT_EQ(ReadFile(t / "l3/c"), "3");
  EXPECT_FALSE(Exists(t / "l3/new"));

  guard.mounted = false;
  ASSERT_TRUE(UnmountRootfs(t / "merged").ok());
  EXPECT_FALSE(Exists(t / "merged/b"));
  EXPECT_FALSE(UnmountRootfs(t / "merged").ok());  // not mounted any more
}

TEST(MountRootfs, SingleLayerReadOnlyIsABindMount) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (mounting)";
  TempDir t;
  WriteFile(t / "layer/f", "f");
  fs::create_directory(t / "m");
  ASSERT_TRUE(MountRootfs({t / "layer"}, "", "", t / "m").ok());
  MountGuard guard(t / "m");
  EXPECT_EQ(ReadFile(t / "m/f"), "f");
  int fd = ::open((t / "m/x").c_str(), O_WRONLY | O_CREAT, 0644);
  EXPECT_LT(fd, 0);
  EXPECT_EQ(errno, EROFS);
  if (fd >= 0) ::close(fd);
  bool bind = false;
  std::ifstream mounts("/proc/self/mountinfo");
  for (std::string line; std::getline(mounts, line);) {
    if (line.find(" " + (t / "m") + " ") != std::string::npos) bind = line.find(" - overlay ") == std::string::npos;
  }
  EXPECT_TRUE(bind);
}

TEST(MountRootfs, ReadOnlyOverlayOfTwoLayers) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (mounting overlayfs)";
  TempDir t;
  WriteFile(t / "top/f", "top");
  WriteFile(t / "base/f", "base");
  WriteFile(t / "base/g", "g");
  fs::create_directory(t / "m");
  ASSERT_TRUE(MountRootfs({t / "top", t / "base"}, "", "", t / "m").ok());
  MountGuard guard(t / "m");
  EXPECT_EQ(ReadFile(t / "m/f"), "top");
  EXPECT_EQ(ReadFile(t / "m/g"), "g");
  EXPECT_LT(::open((t / "m/x").c_str(), O_WRONLY | O_CREAT, 0644), 0);
}

// Lower paths too long for one page of mount options (and one with a ':' in its name) still mount.
TEST(MountRootfs, LongLowerPathsFallBackToDescriptors) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (mounting overlayfs)";
  TempDir t;
  std::vector<std::string> lowers;
  for (int i = 0; i < 40; ++i) {
    std::string dir = t / (std::string(180, 'l') + std::to_string(i));
    WriteFile(dir + "/f" + std::to_string(i), std::to_string(i));
    WriteFile(dir + "/shared", std::to_string(i));
    lowers.insert(lowers.begin(), dir);  // top-most first: the last written wins
  }
  WriteFile(t / "odd:name,x/odd", "odd");
  lowers.push_back(t / "odd:name,x");
  ASSERT_GT(OverlayOptions(lowers, t / "upper", t / "work").size(), 4096u);
  for (const char* d : {"upper", "work", "merged"}) fs::create_directory(t / d);
  auto st = MountRootfs(lowers, t / "upper", t / "work", t / "merged");
  ASSERT_TRUE(st.ok()) << st.message();
  MountGuard guard(t / "merged");
  EXPECT_EQ(ReadFile(t / "merged/f0"), "0");
  EXPECT_EQ(ReadFile(t / "merged/f39"), "39");
  EXPECT_EQ(ReadFile(t / "merged/shared"), "39");
  EXPECT_EQ(ReadFile(t / "merged/odd"), "odd");
}

TEST(MountRootfs, UpperOnlyForAnImageWithoutLayers) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (mounting)";
  TempDir t;
  fs::create_directory(t / "upper");
  fs::create_directory(t / "m");
  ASSERT_TRUE(MountRootfs({}, t / "upper", t / "work", t / "m").ok());
  MountGuard guard(t / "m");
  WriteFile(t / "m/f", "f");
  EXPECT_EQ(ReadFile(t / "upper/f"), "f");
}

}  // namespace
}  // namespace cloudlet::image
