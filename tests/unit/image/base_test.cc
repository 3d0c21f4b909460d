#include "image/base.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "image/layer.h"
#include "test_util.h"

namespace cloudlet::image {
namespace {

namespace fs = std::filesystem;
using test_util::ReadFile;
using test_util::Shell;
using test_util::TempDir;

bool HaveBusybox() { return ::access("/bin/busybox", X_OK) == 0; }

TEST(BusyboxRootfs, Layout) {
  if (!HaveBusybox()) GTEST_SKIP() << "/bin/busybox missing (Debian package busybox-static)";
  TempDir t;
  auto st = BuildBusyboxRootfs(t / "root");
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(fs::read_symlink(t / "root/bin/sh"), "/bin/busybox");
  EXPECT_EQ(fs::read_symlink(t / "root/usr/bin/env"), "/bin/busybox");
  EXPECT_TRUE(fs::is_symlink(t / "root/bin/ls"));
  EXPECT_FALSE(fs::is_symlink(t / "root/bin/busybox"));
  EXPECT_EQ(fs::file_size(t / "root/bin/busybox"), fs::file_size("/bin/busybox"));
  EXPECT_NE(ReadFile(t / "root/etc/passwd").find("root:x:0:0:"), std::string::npos);
  EXPECT_NE(ReadFile(t / "root/etc/passwd").find("nobody:x:65534:65534:"), std::string::npos);
  EXPECT_NE(ReadFile(t / "root/etc/group").find("nobody:x:65534:"), std::string::npos);
  EXPECT_EQ(ReadFile(t / "root/etc/hostname"), "cloudlet\n");
  struct stat s;
  ASSERT_EQ(::stat((t / "root/tmp").c_str(), &s), 0);
  EXPECT_EQ(s.st_mode & 07777, 01777u);
  ASSERT_EQ(::stat((t / "root/bin/busybox").c_str(), &s), 0);
  EXPECT_EQ(s.st_mode & 07777, 0755u);
  for (const char* d : {"proc", "sys", "dev", "root"}) EXPECT_TRUE(fs::is_directory(t / (std::string("root/") + d)));

  // Building again over the same directory works (links replaced, not duplicated).
  st = BuildBusyboxRootfs(t / "root");
  EXPECT_TRUE(st.ok()) << st.message();
}

TEST(BusyboxRootfs, MissingOrDynamicBusyboxNamesThePackage) {
  TempDir t;
  BusyboxRootfsOptions missing;
  missing.busybox = t / "no-busybox";
  auto st = BuildBusyboxRootfs(t / "root", missing);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("busybox-static"), std::string::npos) << st.message();

  BusyboxRootfsOptions dynamic;
  dynamic.busybox = "/bin/ls";  // dynamically linked on Debian
  st = BuildBusyboxRootfs(t / "root", dynamic);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("dynamically linked"), std::string::npos) << st.message();
}

// The base rootfs, made into a layer and applied elsewhere, runs a shell.
TEST(BusyboxRootfs, RunsAShellThroughALayer) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (chroot)";
  if (!HaveBusybox()) GTEST_SKIP() << "/bin/busybox missing (Debian package busybox-static)";
  TempDir t;
  ASSERT_TRUE(BuildBusyboxRootfs(t / "root").ok());
  int status;
  EXPECT_EQ(Shell("chroot " + (t / "root") + " /bin/sh -c 'echo ok' 2>&1", &status), "ok\n");
  EXPECT_EQ(status, 0);

  auto layer = CreateLayer(t / "root", t / "base.tar.gz");
  ASSERT_TRUE(layer.ok()) << layer.error().message();
  auto again = CreateLayer(t / "root", t / "again.tar.gz");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(layer->digest, again->digest);
  fs::create_directory(t / "applied");
  auto applied = ApplyLayer(t / "base.tar.gz", t / "applied");
  ASSERT_TRUE(applied.ok()) << applied.error().message();
  EXPECT_EQ(Shell("chroot " + (t / "applied") + " /bin/sh -c 'id -un; cat /etc/hostname' 2>&1", &status),
            "root\ncloudlet\n");
  EXPECT_EQ(status, 0);
}

}  // namespace
}  // namespace cloudlet::image
