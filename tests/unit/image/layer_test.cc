#include "image/layer.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "image/rootfs.h"
#include "oci/digest.h"
#include "test_util.h"

namespace cloudlet::image {
namespace {

namespace fs = std::filesystem;
using test_util::Exists;
using test_util::ReadFile;
using test_util::Shell;
using test_util::TempDir;
using test_util::WriteFile;

bool IsRoot() { return ::geteuid() == 0; }

std::string Sha256Sum(const std::string& cmd) {
  std::string out = Shell(cmd + " | sha256sum");
  return "sha256:" + out.substr(0, 64);
}

// Writes test layers entry by entry with libarchive, as a hostile or unusual producer might.
class TarBuilder {
 public:
  explicit TarBuilder(const std::string& path, Compression c = Compression::kNone) : a_(archive_write_new()) {
    archive_write_set_format_pax_restricted(a_);
    if (c == Compression::kGzip) archive_write_add_filter_gzip(a_);
    if (c == Compression::kZstd) archive_write_add_filter_zstd(a_);
    EXPECT_EQ(archive_write_open_filename(a_, path.c_str()), ARCHIVE_OK);
  }
  ~TarBuilder() { Close(); }
  void Close() {
    if (a_ != nullptr) {
      archive_write_close(a_);
      archive_write_free(a_);
      a_ = nullptr;
    }
  }
  TarBuilder& File(const std::string& path, const std::string& content, mode_t mode = 0644, int uid = 0, int gid = 0,
                   time_t mtime = 1000) {
    archive_entry* e = New(path, AE_IFREG, mode, uid, gid, mtime);
    archive_entry_set_size(e, static_cast<la_int64_t>(content.size()));
    for (auto& [k, v] : xattrs_) archive_entry_xattr_add_entry(e, k.c_str(), v.data(), v.size());
    xattrs_.clear();
    Write(e, content);
    return *this;
  }
  TarBuilder& Dir(const std::string& path, mode_t mode = 0755, int uid = 0, int gid = 0, time_t mtime = 1000) {
    Write(New(path, AE_IFDIR, mode, uid, gid, mtime));
    return *this;
  }
  TarBuilder& Symlink(const std::string& path, const std::string& target) {
    archive_entry* e = New(path, AE_IFLNK, 0777, 0, 0, 1000);
    archive_entry_set_symlink(e, target.c_str());
    Write(e);
    return *this;
  }
  TarBuilder& Hardlink(const std::string& path, const std::string& target) {
    archive_entry* e = New(path, AE_IFREG, 0644, 0, 0, 1000);
    archive_entry_set_hardlink(e, target.c_str());
    archive_entry_set_size(e, 0);
    Write(e);
    return *this;
  }
  TarBuilder& Node(const std::string& path, mode_t type, int maj, int min, mode_t mode = 0600) {
    archive_entry* e = New(path, type, mode, 0, 0, 1000);
    archive_entry_set_rdevmajor(e, maj);
    archive_entry_set_rdevminor(e, min);
    Write(e);
    return *this;
  }
  TarBuilder& Xattr(const std::string& name, const std::string& value) {
    xattrs_[name] = value;
    return *this;
  }

 private:
  archive_entry* New(const std::string& path, mode_t type, mode_t mode, int uid, int gid, time_t mtime) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, path.c_str());
    archive_entry_set_filetype(e, type);
    archive_entry_set_perm(e, mode);
    archive_entry_set_uid(e, uid);
    archive_entry_set_gid(e, gid);
    archive_entry_set_mtime(e, mtime, 0);
    return e;
  }
  void Write(archive_entry* e, const std::string& content = "") {
    EXPECT_EQ(archive_write_header(a_, e), ARCHIVE_OK) << archive_error_string(a_);
    if (!content.empty()) {
      EXPECT_EQ(archive_write_data(a_, content.data(), content.size()), static_cast<la_ssize_t>(content.size()));
    }
    archive_entry_free(e);
  }

  archive* a_;
  std::map<std::string, std::string> xattrs_;
};

// A listing of a tree (type, mode, owner, content or link target) for comparing two trees.
std::map<std::string, std::string> Snapshot(const std::string& root) {
  std::map<std::string, std::string> out;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator(); ++it) {
    std::string rel = fs::relative(it->path(), root).string();
    struct stat st;
    ::lstat(it->path().c_str(), &st);
    std::ostringstream desc;
    desc << std::oct << st.st_mode << std::dec << " " << st.st_uid << ":" << st.st_gid << " ";
    if (S_ISREG(st.st_mode)) desc << ReadFile(it->path());
    if (S_ISLNK(st.st_mode)) desc << fs::read_symlink(it->path()).string();
    if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) desc << major(st.st_rdev) << "," << minor(st.st_rdev);
    out[rel] = desc.str();
  }
  return out;
}

// vfs_cap_data revision 2, effective, permitted = CAP_NET_RAW.
const std::string kCapNetRaw("\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", 20);

TEST(LayerApply, EveryEntryKind) {
  if (!IsRoot()) GTEST_SKIP() << "needs root (device nodes, chown)";
  TempDir t;
  const std::string layer = t / "layer.tar";
  {
    TarBuilder b(layer);
    b.Dir("d/", 0750, 1000, 1001, 5000)
        .File("d/f", "hello", 04755, 1000, 1001, 6000)
        .Dir("sticky", 01777)
        .Symlink("d/l", "f")
        .Symlink("abs", "/etc/passwd")
        .Hardlink("d/h", "d/f")
        .Node("dev/null", AE_IFCHR, 1, 3, 0666)
        .Node("dev/loop0", AE_IFBLK, 7, 0, 0660)
        .Node("p", AE_IFIFO, 0, 0, 0644)
        .Xattr("user.note", "v1")
        .File("x", "xattr")
        .File("./dot/../plain", "p")
        .File("nodir/deep/file", "created parents")
        .Xattr("security.capability", kCapNetRaw)
        .File("cap", "owned by 1000, with a file capability", 0755, 1000, 1000);
  }
  fs::create_directory(t / "out");
  auto stats = ApplyLayer(layer, t / "out");
  ASSERT_TRUE(stats.ok()) << stats.error().message();
  EXPECT_EQ(stats->compression, Compression::kNone);
  EXPECT_EQ(stats->entries, 13u);
  EXPECT_EQ(stats->skipped_devices, 0u);

  struct stat st;
  ASSERT_EQ(::lstat((t / "out/d").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0750u);
  EXPECT_EQ(st.st_uid, 1000u);
  EXPECT_EQ(st.st_gid, 1001u);
  EXPECT_EQ(st.st_mtim.tv_sec, 5000);  // set after its contents were written

  ASSERT_EQ(::lstat((t / "out/d/f").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 04755u);  // setuid survives the chown
  EXPECT_EQ(st.st_uid, 1000u);
  EXPECT_EQ(st.st_mtim.tv_sec, 6000);
  EXPECT_EQ(st.st_nlink, 2u);
  EXPECT_EQ(ReadFile(t / "out/d/f"), "hello");
  struct stat h;
  ASSERT_EQ(::lstat((t / "out/d/h").c_str(), &h), 0);
  EXPECT_EQ(h.st_ino, st.st_ino);

  ASSERT_EQ(::lstat((t / "out/sticky").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 01777u);
  EXPECT_EQ(fs::read_symlink(t / "out/d/l"), "f");
  EXPECT_EQ(fs::read_symlink(t / "out/abs"), "/etc/passwd");

  ASSERT_EQ(::lstat((t / "out/dev/null").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_rdev, makedev(1, 3));
  EXPECT_EQ(st.st_mode & 07777, 0666u);
  ASSERT_EQ(::lstat((t / "out/dev/loop0").c_str(), &st), 0);
  EXPECT_TRUE(S_ISBLK(st.st_mode));
  EXPECT_EQ(st.st_rdev, makedev(7, 0));
  ASSERT_EQ(::lstat((t / "out/p").c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));

  char v[16] = {};
  ssize_t vl = ::getxattr((t / "out/x").c_str(), "user.note", v, sizeof(v));
  if (vl < 0 && errno == ENOTSUP) {
    EXPECT_EQ(stats->xattr_failures, 1u);
  } else {
    EXPECT_EQ(std::string(v, static_cast<size_t>(vl)), "v1");
  }
  // Set after the chown, which would have cleared it.
  char cap[64];
  ASSERT_EQ(::getxattr((t / "out/cap").c_str(), "security.capability", cap, sizeof(cap)),
            static_cast<ssize_t>(kCapNetRaw.size()));
  EXPECT_EQ(std::string(cap, kCapNetRaw.size()), kCapNetRaw);
  ASSERT_EQ(::lstat((t / "out/cap").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 1000u);
  EXPECT_EQ(ReadFile(t / "out/plain"), "p");
  EXPECT_EQ(ReadFile(t / "out/nodir/deep/file"), "created parents");
}

// In a user namespace mknod of a device is refused: the node is skipped and counted, the rest still applies.
TEST(LayerApply, DevicesSkippedInAUserNamespace) {
  TempDir t;
  { TarBuilder(t / "l.tar").Node("dev/null", AE_IFCHR, 1, 3, 0666).Node("fifo", AE_IFIFO, 0, 0).File("f", "f"); }
  fs::create_directory(t / "out");
  ::chmod((t / "out").c_str(), 0777);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::unshare(CLONE_NEWUSER) != 0) ::_exit(10);
    ApplyOptions o;
    o.preserve_ownership = false;
    auto stats = ApplyLayer(t / "l.tar", t / "out", o);
    if (!stats.ok()) ::_exit(11);
    ::_exit(stats->skipped_devices == 1 ? 0 : 12);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  if (WEXITSTATUS(status) == 10) GTEST_SKIP() << "user namespaces not available";
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_FALSE(Exists(t / "out/dev/null"));
  struct stat st;
  ASSERT_EQ(::lstat((t / "out/fifo").c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  EXPECT_EQ(ReadFile(t / "out/f"), "f");
}

TEST(LayerApply, OwnershipShiftAndUnprivilegedMode) {
  if (!IsRoot()) GTEST_SKIP() << "needs root (chown to other ids)";
  TempDir t;
  { TarBuilder(t / "l.tar").File("f", "x", 0644, 1000, 2000); }
  fs::create_directory(t / "a");
  ApplyOptions shifted;
  shifted.uid_offset = 100000;
  shifted.gid_offset = 200000;
  ASSERT_TRUE(ApplyLayer(t / "l.tar", t / "a", shifted).ok());
  struct stat st;
  ASSERT_EQ(::lstat((t / "a/f").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 101000u);
  EXPECT_EQ(st.st_gid, 202000u);

  fs::create_directory(t / "b");
  ApplyOptions mine;
  mine.preserve_ownership = false;
  ASSERT_TRUE(ApplyLayer(t / "l.tar", t / "b", mine).ok());
  ASSERT_EQ(::lstat((t / "b/f").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, ::geteuid());
}

// The lower content whiteouts act on, and a layer with every whiteout form.
void MakeLower(const std::string& dir) {
  WriteFile(dir + "/a/keep", "keep");
  WriteFile(dir + "/a/gone", "gone");
  WriteFile(dir + "/b/x", "x");
  WriteFile(dir + "/b/sub/y", "y");
  WriteFile(dir + "/c/deep/z", "z");
  WriteFile(dir + "/top", "top");
}

void MakeWhiteoutLayer(const std::string& path) {
  TarBuilder(path)
      .Dir("a/")
      .File("a/.wh.gone", "")
      .Dir("b/")
      .File("b/new", "new")  // before the opaque marker: it is this layer's and stays
      .Dir("b/sub/")
      .File("b/sub/mine", "mine")
      .File("b/.wh..wh..opq", "")
      .File(".wh.c", "")
      .File("same", "same layer")
      .File(".wh.same", "")  // a whiteout does not hide its own layer's files
      .File(".wh.absent", "");
}

TEST(LayerApply, WhiteoutsFlattened) {
  TempDir t;
  MakeLower(t / "root");
  MakeWhiteoutLayer(t / "wh.tar");
  auto stats = ApplyLayer(t / "wh.tar", t / "root");
  ASSERT_TRUE(stats.ok()) << stats.error().message();
  EXPECT_EQ(stats->whiteouts, 5u);
  EXPECT_TRUE(Exists(t / "root/a/keep"));
  EXPECT_FALSE(Exists(t / "root/a/gone"));
  EXPECT_FALSE(Exists(t / "root/a/.wh.gone"));
  EXPECT_EQ(ReadFile(t / "root/b/new"), "new");
  EXPECT_EQ(ReadFile(t / "root/b/sub/mine"), "mine");
  EXPECT_FALSE(Exists(t / "root/b/x"));
  EXPECT_FALSE(Exists(t / "root/b/sub/y"));  // under a directory this layer wrote, but lower content
  EXPECT_FALSE(Exists(t / "root/b/.wh..wh..opq"));
  EXPECT_FALSE(Exists(t / "root/c"));
  EXPECT_TRUE(Exists(t / "root/same"));
  EXPECT_TRUE(Exists(t / "root/top"));
  EXPECT_FALSE(Exists(t / "root/absent"));
}

TEST(LayerApply, WhiteoutsAsOverlayMarkersGiveTheFlattenedView) {
  if (!IsRoot()) GTEST_SKIP() << "needs root (whiteout device nodes, trusted.* xattrs, mounting overlayfs)";
  TempDir t;
  MakeLower(t / "lower");
  MakeLower(t / "flat");
  MakeWhiteoutLayer(t / "wh.tar");
  ASSERT_TRUE(ApplyLayer(t / "wh.tar", t / "flat").ok());
  fs::create_directory(t / "layer");
  ApplyOptions overlay;
  overlay.whiteouts = WhiteoutMode::kOverlay;
  auto stats = ApplyLayer(t / "wh.tar", t / "layer", overlay);
  ASSERT_TRUE(stats.ok()) << stats.error().message();

  struct stat st;
  ASSERT_EQ(::lstat((t / "layer/a/gone").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_rdev, makedev(0, 0));
  ASSERT_EQ(::lstat((t / "layer/c").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  char v[4] = {};
  EXPECT_EQ(::getxattr((t / "layer/b").c_str(), "trusted.overlay.opaque", v, sizeof(v)), 1);
  EXPECT_EQ(v[0], 'y');
  EXPECT_FALSE(Exists(t / "layer/a/.wh.gone"));
  EXPECT_TRUE(S_ISREG((::lstat((t / "layer/same").c_str(), &st), st.st_mode)));

  fs::create_directory(t / "merged");
  ASSERT_TRUE(MountRootfs({t / "layer", t / "lower"}, "", "", t / "merged").ok());
  auto merged = Snapshot(t / "merged");
  ASSERT_TRUE(UnmountRootfs(t / "merged").ok());
  EXPECT_EQ(merged, Snapshot(t / "flat"));
}

// Every escape attempt fails the apply (or is confined, for absolute paths) and leaves nothing outside the target.
TEST(LayerApply, PathTraversalIsRefused) {
  TempDir t;
  WriteFile(t / "outside/secret", "secret");
  struct Case {
    const char* name;
    std::function<void(TarBuilder&)> build;
    bool ok;
  };
  const std::string outside = t / "outside";
  std::vector<Case> cases = {
      {"dotdot", [](TarBuilder& b) { b.File("../escaped", "x"); }, false},
      {"inner dotdot", [](TarBuilder& b) { b.File("a/../../escaped", "x"); }, false},
      {"absolute symlink then through it", [&](TarBuilder& b) { b.Symlink("evil", outside).File("evil/escaped", "x"); },
       false},
      {"relative symlink then through it",
       [](TarBuilder& b) { b.Symlink("evil", "../outside").File("evil/escaped", "x"); }, false},
      {"hardlink outside", [](TarBuilder& b) { b.Hardlink("h", "../outside/secret"); }, false},
      {"hardlink through symlink", [&](TarBuilder& b) { b.Symlink("s", outside).Hardlink("h", "s/secret"); }, false},
      {"hardlink absolute", [](TarBuilder& b) { b.Hardlink("h", "/etc/passwd"); }, false},
      {"absolute path is confined", [](TarBuilder& b) { b.File("/confined", "x"); }, true},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string target = t / "target";
    fs::remove_all(target);
    fs::create_directory(target);
    {
      TarBuilder b(t / "evil.tar");
      c.build(b);
    }
    auto stats = ApplyLayer(t / "evil.tar", target);
    EXPECT_EQ(stats.ok(), c.ok) << (stats.ok() ? "" : stats.error().message());
    EXPECT_FALSE(Exists(t / "escaped"));
    EXPECT_FALSE(Exists(t / "outside/escaped"));
    EXPECT_FALSE(Exists("/confined"));
    EXPECT_EQ(ReadFile(t / "outside/secret"), "secret");
    struct stat st;
    ASSERT_EQ(::lstat((t / "outside/secret").c_str(), &st), 0);
    EXPECT_EQ(st.st_nlink, 1u);
    if (c.ok) {
      EXPECT_EQ(ReadFile(target + "/confined"), "x");
    }
  }
}

// A symlink already in the target (from a lower layer) is never followed, neither as a parent nor as the entry.
TEST(LayerApply, ExistingSymlinkInTargetIsNotFollowed) {
  TempDir t;
  WriteFile(t / "outside/secret", "secret");
  fs::create_directory(t / "target");
  fs::create_directory_symlink(t / "outside", t / "target/lnk");
  fs::create_symlink(t / "outside/secret", t / "target/file");

  { TarBuilder(t / "through.tar").File("lnk/escaped", "x"); }
  EXPECT_FALSE(ApplyLayer(t / "through.tar", t / "target").ok());
  EXPECT_FALSE(Exists(t / "outside/escaped"));

  { TarBuilder(t / "over.tar").File("file", "replaced"); }
  ASSERT_TRUE(ApplyLayer(t / "over.tar", t / "target").ok());
  EXPECT_EQ(ReadFile(t / "outside/secret"), "secret");
  EXPECT_FALSE(fs::is_symlink(t / "target/file"));
  EXPECT_EQ(ReadFile(t / "target/file"), "replaced");

  // A whiteout naming the symlink removes the link, not what it points at.
  { TarBuilder(t / "wh.tar").File(".wh.lnk", ""); }
  ASSERT_TRUE(ApplyLayer(t / "wh.tar", t / "target").ok());
  EXPECT_FALSE(Exists(t / "target/lnk"));
  EXPECT_EQ(ReadFile(t / "outside/secret"), "secret");
}

TEST(LayerApply, CompressionDetectedAndDigestsComputed) {
  TempDir t;
  const std::string big(300 * 1024, 'z');  // several reads at every level
  struct Variant {
    Compression c;
    const char* file;
    const char* cat;
  };
  std::vector<Variant> variants = {{Compression::kNone, "l.tar", "cat"},
                                   {Compression::kGzip, "l.tar.gz", "zcat"},
                                   {Compression::kZstd, "l.tar.zst", "zstdcat"}};
  std::string plain_diff_id;
  for (const Variant& v : variants) {
    SCOPED_TRACE(CompressionName(v.c));
    const std::string path = t / v.file;
    { TarBuilder(path, v.c).Dir("d").File("d/big", big).File("small", "s"); }
    const std::string target = t / (std::string("out-") + CompressionName(v.c));
    fs::create_directory(target);
    auto stats = ApplyLayer(path, target);
    ASSERT_TRUE(stats.ok()) << stats.error().message();
    EXPECT_EQ(stats->compression, v.c);
    EXPECT_EQ(stats->diff_id.str(), Sha256Sum(std::string(v.cat) + " " + path));
    EXPECT_EQ(stats->digest.str(), Sha256Sum("cat " + path));
    EXPECT_EQ(stats->size, fs::file_size(path));
    EXPECT_EQ(stats->file_bytes, big.size() + 1);
    EXPECT_EQ(ReadFile(target + "/d/big"), big);
    if (plain_diff_id.empty()) plain_diff_id = stats->diff_id.str();
    EXPECT_EQ(stats->diff_id.str(), plain_diff_id);  // the same tar inside each

    // From an fd too.
    int fd = ::open(path.c_str(), O_RDONLY);
    fs::remove_all(target);
    fs::create_directory(target);
    auto by_fd = ApplyLayerFd(fd, target);
    ::close(fd);
    ASSERT_TRUE(by_fd.ok()) << by_fd.error().message();
    EXPECT_EQ(by_fd->digest, stats->digest);
  }
}

TEST(LayerApply, GarbageAndEmptyInputFail) {
  TempDir t;
  WriteFile(t / "garbage", std::string(4096, 'g'));
  WriteFile(t / "empty", "");
  WriteFile(t / "bad.gz", std::string("\x1f\x8b\x08\x00", 4) + std::string(100, 'x'));
  fs::create_directory(t / "out");
  for (const char* f : {"garbage", "empty", "bad.gz"}) {
    SCOPED_TRACE(f);
    auto r = ApplyLayer(t / f, t / "out");
    EXPECT_FALSE(r.ok());
    if (!r.ok()) {
      EXPECT_NE(r.error().message().find(f), std::string::npos) << r.error().message();
    }
  }
  EXPECT_FALSE(ApplyLayer(t / "missing", t / "out").ok());
  EXPECT_FALSE(ApplyLayer(t / "garbage", t / "no-such-dir").ok());
}

TEST(LayerApply, TarBombLimits) {
  TempDir t;
  { TarBuilder(t / "l.tar").File("a", "1").File("b", "2").File("c", "0123456789A"); }
  fs::create_directory(t / "out");
  ApplyOptions few;
  few.max_entries = 2;
  auto r = ApplyLayer(t / "l.tar", t / "out", few);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("more than 2 entries"), std::string::npos) << r.error().message();
  ApplyOptions small;
  small.max_total_bytes = 10;
  r = ApplyLayer(t / "l.tar", t / "out", small);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("more than 10 bytes"), std::string::npos) << r.error().message();
  EXPECT_FALSE(Exists(t / "out/c"));
}

void MakeTree(const std::string& dir) {
  WriteFile(dir + "/etc/conf", "conf");
  WriteFile(dir + "/bin/tool", "#!/bin/sh\n");
  ::chmod((dir + "/bin/tool").c_str(), 0755);
  WriteFile(dir + "/a-b", "dash");  // after "a" and its contents (names sort per directory), though "-" < "/"
  WriteFile(dir + "/a/z", "z");
  WriteFile(dir + "/a/" + std::string(150, 'n') + "/long", "needs pax");
  fs::create_symlink("../etc/conf", dir + "/bin/conf");
  ::link((dir + "/etc/conf").c_str(), (dir + "/etc/conf-link").c_str());
  fs::create_directory(dir + "/empty");
  ::setxattr((dir + "/etc/conf").c_str(), "user.kept", "1", 1, 0);  // best effort: tmpfs may refuse
}

TEST(LayerCreate, ReproducibleAndReadableByGnuTar) {
  TempDir t;
  MakeTree(t / "tree");
  for (Compression c : {Compression::kGzip, Compression::kZstd, Compression::kNone}) {
    SCOPED_TRACE(CompressionName(c));
    CreateOptions o;
    o.compression = c;
    o.mtime = 1700000000;
    auto first = CreateLayer(t / "tree", t / "one", o);
    ASSERT_TRUE(first.ok()) << first.error().message();
    // Touch everything: mtimes and atimes must not reach the bytes.
    for (auto& e : fs::recursive_directory_iterator(t / "tree")) {
      const timespec now[2] = {{0, UTIME_NOW}, {0, UTIME_NOW}};
      ::utimensat(AT_FDCWD, e.path().c_str(), now, AT_SYMLINK_NOFOLLOW);
    }
    auto second = CreateLayer(t / "tree", t / "two", o);
    ASSERT_TRUE(second.ok());
    EXPECT_EQ(first->digest, second->digest);
    EXPECT_EQ(first->diff_id, second->diff_id);
    EXPECT_EQ(ReadFile(t / "one"), ReadFile(t / "two"));
    EXPECT_EQ(first->digest.str(), Sha256Sum("cat " + t / "one"));
    EXPECT_EQ(first->size, fs::file_size(t / "one"));
    EXPECT_EQ(first->media_type, LayerMediaType(c));
    const char* cat = c == Compression::kGzip ? "zcat" : c == Compression::kZstd ? "zstdcat" : "cat";
    EXPECT_EQ(first->diff_id.str(), Sha256Sum(std::string(cat) + " " + t / "one"));
    if (c == Compression::kGzip) {
      std::string bytes = ReadFile(t / "one");
      ASSERT_GT(bytes.size(), 10u);
      EXPECT_EQ(bytes.substr(4, 4), std::string(4, '\0'));  // no timestamp
      EXPECT_EQ(bytes[3] & 0x08, 0);                        // no file name
      int st;
      Shell("gzip -t " + t / "one" + " 2>&1", &st);  // no trailing garbage
      EXPECT_EQ(st, 0);
    }
    if (c == Compression::kNone) {
      EXPECT_EQ(first->digest, first->diff_id);
    }

    int status;
    std::string errors = Shell("tar -tvf " + t / "one" + " 2>&1 >/dev/null", &status);
    EXPECT_EQ(status, 0);
    EXPECT_EQ(errors, "");
    std::string names = Shell("tar -tf " + t / "one");
    const std::string expected = "a/\na/" + std::string(150, 'n') + "/\na/" + std::string(150, 'n') +
                                 "/long\na/z\na-b\nbin/\nbin/conf\nbin/tool\nempty/\netc/\netc/conf\netc/conf-link\n";
    EXPECT_EQ(names, expected);
    std::string verbose = Shell("tar -tvf " + t / "one");
    EXPECT_NE(verbose.find("2023-11-14"), std::string::npos) << verbose;  // the fixed mtime
    EXPECT_NE(verbose.find("etc/conf-link link to etc/conf"), std::string::npos) << verbose;

    // Round trip through ApplyLayer.
    const std::string back = t / "back";
    fs::remove_all(back);
    fs::create_directory(back);
    auto applied = ApplyLayer(t / "one", back);
    ASSERT_TRUE(applied.ok()) << applied.error().message();
    EXPECT_EQ(applied->diff_id, first->diff_id);
    EXPECT_EQ(applied->digest, first->digest);
    EXPECT_EQ(Snapshot(back), Snapshot(t / "tree"));
    char v[4];
    if (::getxattr((t / "tree/etc/conf").c_str(), "user.kept", v, sizeof(v)) == 1) {
      EXPECT_EQ(::getxattr((back + "/etc/conf").c_str(), "user.kept", v, sizeof(v)), 1);
    }
  }
}

TEST(LayerCreate, MissingDirectoryFails) {
  TempDir t;
  auto r = CreateLayer(t / "nope", t / "out");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("nope"), std::string::npos);
}

// A RUN step's changes, as overlayfs records them in the upper dir, replayed onto the lower give the merged view.
TEST(LayerDiff, OverlayUpperReplaysToMergedView) {
  if (!IsRoot()) GTEST_SKIP() << "needs root (mounting overlayfs)";
  TempDir t;
  auto make_lower = [](const std::string& d) {
    WriteFile(d + "/modify", "old");
    WriteFile(d + "/del/file", "del");
    WriteFile(d + "/del/keep", "keep");
    WriteFile(d + "/opaque/old1", "1");
    WriteFile(d + "/opaque/sub/old2", "2");
    WriteFile(d + "/gone/x", "x");
  };
  make_lower(t / "lower");
  make_lower(t / "copy");
  for (const char* d : {"upper", "work", "merged"}) fs::create_directory(t / d);
  ASSERT_TRUE(MountRootfs({t / "lower"}, t / "upper", t / "work", t / "merged").ok());
  const std::string m = t / "merged";
  WriteFile(m + "/modify", "new");
  fs::remove(m + "/del/file");
  fs::remove_all(m + "/opaque");
  fs::create_directory(m + "/opaque");  // overlayfs makes it opaque
  WriteFile(m + "/opaque/fresh", "fresh");
  fs::remove_all(m + "/gone");
  WriteFile(m + "/added/dir/file", "added");
  ::chmod((m + "/del/keep").c_str(), 0600);
  auto merged = Snapshot(m);
  ASSERT_TRUE(UnmountRootfs(m).ok());

  auto diff = DiffLayer(t / "upper", t / "diff.tar.gz");
  ASSERT_TRUE(diff.ok()) << diff.error().message();
  std::string names = Shell("tar -tzf " + t / "diff.tar.gz");
  EXPECT_NE(names.find("opaque/.wh..wh..opq"), std::string::npos) << names;
  EXPECT_NE(names.find("del/.wh.file"), std::string::npos) << names;
  EXPECT_NE(names.find(".wh.gone"), std::string::npos) << names;

  auto applied = ApplyLayer(t / "diff.tar.gz", t / "copy");
  ASSERT_TRUE(applied.ok()) << applied.error().message();
  EXPECT_EQ(Snapshot(t / "copy"), merged);
  EXPECT_EQ(applied->diff_id, diff->diff_id);
}

}  // namespace
}  // namespace cloudlet::image
