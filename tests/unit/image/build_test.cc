#include "image/build.h"

#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "image/import.h"
#include "image/layer.h"
#include "image/unpack.h"
#include "oci/runtime_spec.h"
#include "test_util.h"

namespace cloudlet::image {
namespace {

using test_util::Exists;
using test_util::ReadFile;
using test_util::TempDir;
using test_util::WriteFile;

class BuildTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<ImageStore> s = ImageStore::Open(dir_ / "store");
    ASSERT_TRUE(s.ok()) << s.error().message();
    store_.emplace(std::move(*s));
    std::filesystem::create_directories(context());
  }

  std::string context() const { return dir_ / "ctx"; }

  Result<BuildResult> BuildText(const std::string& text, BuildOptions options = {}) {
    if (options.tags.empty()) options.tags = {"localhost/test:1"};
    options.progress = [this](const std::string& line) { lines_.push_back(line); };
    lines_.clear();
    return BuildFromText(*store_, text, "Containerfile", context(), options);
  }

  BuildResult MustBuild(const std::string& text, BuildOptions options = {}) {
    Result<BuildResult> r = BuildText(text, std::move(options));
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message());
    return r.ok() ? *r : BuildResult{};
  }

  std::string BuildError(const std::string& text, BuildOptions options = {}) {
    Result<BuildResult> r = BuildText(text, std::move(options));
    EXPECT_FALSE(r.ok());
    return r.ok() ? "" : r.error().message();
  }

  oci::ImageConfig Config(const BuildResult& r) {
    Result<oci::ImageConfig> c = store_->ReadConfig(r.config);
    EXPECT_TRUE(c.ok());
    return c.ok() ? *c : oci::ImageConfig{};
  }

  // The image's layers applied in order onto a fresh directory (flattened).
  void Flatten(const BuildResult& r, const std::string& target) {
    std::filesystem::create_directories(target);
    Result<oci::Manifest> m = store_->ReadManifest(r.manifest);
    ASSERT_TRUE(m.ok());
    ApplyOptions options;
    options.preserve_ownership = ::geteuid() == 0;
    for (const oci::Descriptor& l : m->layers) {
      Result<ApplyStats> st = ApplyLayer(store_->BlobPath(l.digest), target, options);
      ASSERT_TRUE(st.ok()) << st.error().message();
    }
  }

  // A COPY onto earlier layers mounts them with overlayfs: root only. A build whose only layer step is its first
  // one on scratch needs no privileges.
  bool SkipUnlessRoot() {
    if (::geteuid() == 0) return false;
    return true;
  }

  TempDir dir_{"build_test"};
  std::optional<ImageStore> store_;
  std::vector<std::string> lines_;
};

constexpr char kScratchCopy[] = R"(# a scratch image made of copies
FROM scratch
ENV GREETING=hello \
    WHERE="the world"
LABEL version=1
COPY a.txt /a.txt
COPY dir /opt/dir/
WORKDIR /opt
COPY --chmod=0600 ["a.txt", "rel/"]
EXPOSE 8080 53/udp
USER 1000:1000
ENTRYPOINT ["/opt/dir/run.sh"]
CMD ["--${GREETING}"]
)";

void MakeContext(const std::string& ctx) {
  WriteFile(ctx + "/a.txt", "alpha\n");
  WriteFile(ctx + "/dir/run.sh", "#!/bin/sh\necho run\n");
  ::chmod((ctx + "/dir/run.sh").c_str(), 0755);
  WriteFile(ctx + "/dir/sub/data", "data");
  std::filesystem::create_symlink("run.sh", ctx + "/dir/link");
}

TEST_F(BuildTest, ScratchCopyIsReproducibleCachedOrNot) {
  if (SkipUnlessRoot()) GTEST_SKIP() << "several layer steps: COPY onto earlier layers mounts an overlay (root)";
  MakeContext(context());
  BuildResult first = MustBuild(kScratchCopy);
  EXPECT_EQ(first.layers_built, 3);
  EXPECT_EQ(first.layers_cached, 0);
  EXPECT_EQ(first.steps, 11);
  ASSERT_EQ(first.references, std::vector<std::string>{"localhost/test:1"});
  EXPECT_EQ(lines_.front(), "STEP 1/11: FROM scratch");
  EXPECT_EQ(lines_[3], "STEP 4/11: COPY a.txt /a.txt");

  BuildResult cached = MustBuild(kScratchCopy);
  EXPECT_EQ(cached.manifest.digest, first.manifest.digest);
  EXPECT_EQ(cached.layers_cached, 3);
  EXPECT_EQ(cached.layers_built, 0);
  EXPECT_EQ(lines_[3], "STEP 4/11: COPY a.txt /a.txt (cached)");

  BuildOptions no_cache;
  no_cache.no_cache = true;
  BuildResult fresh = MustBuild(kScratchCopy, no_cache);
  EXPECT_EQ(fresh.manifest.digest, first.manifest.digest);
  EXPECT_EQ(fresh.layers_built, 3);

  std::filesystem::remove_all(BuildCacheDir(*store_));
  EXPECT_EQ(MustBuild(kScratchCopy).manifest.digest, first.manifest.digest);

  // Another epoch: other timestamps, another digest.
  BuildOptions later;
  later.epoch = 1700000000;
  BuildResult other = MustBuild(kScratchCopy, later);
  EXPECT_NE(other.manifest.digest, first.manifest.digest);
  EXPECT_EQ(Config(other).created, "2023-11-14T22:13:20Z");

  Result<oci::Descriptor> tagged = store_->Resolve("localhost/test:1");
  ASSERT_TRUE(tagged.ok());
  EXPECT_EQ(tagged->digest, other.manifest.digest);
}

TEST_F(BuildTest, ScratchCopyConfigAndContents) {
  if (SkipUnlessRoot()) GTEST_SKIP() << "several layer steps: COPY onto earlier layers mounts an overlay (root)";
  MakeContext(context());
  BuildResult r = MustBuild(kScratchCopy);
  oci::ImageConfig c = Config(r);
  EXPECT_EQ(c.created, "1970-01-01T00:00:00Z");
  EXPECT_EQ(c.config.env, (std::vector<std::string>{"GREETING=hello", "WHERE=the world"}));
  EXPECT_EQ(c.config.labels, (std::map<std::string, std::string>{{"version", "1"}}));
  EXPECT_EQ(c.config.working_dir, "/opt");
  EXPECT_EQ(c.config.user, "1000:1000");
  EXPECT_EQ(c.config.exposed_ports, (std::set<std::string>{"8080/tcp", "53/udp"}));
  EXPECT_EQ(c.config.entrypoint, (std::vector<std::string>{"/opt/dir/run.sh"}));
  EXPECT_EQ(c.config.cmd, (std::vector<std::string>{"--${GREETING}"}));  // exec form: no substitution
  ASSERT_EQ(c.diff_ids.size(), 3u);
  ASSERT_EQ(c.history.size(), 10u);
  int empty = 0;
  for (const auto& h : c.history) empty += h.empty_layer ? 1 : 0;
  EXPECT_EQ(empty, 7);
  EXPECT_EQ(c.history[2].created_by, "COPY a.txt /a.txt");

  std::string root = dir_ / "flat";
  Flatten(r, root);
  EXPECT_EQ(ReadFile(root + "/a.txt"), "alpha\n");
  EXPECT_EQ(ReadFile(root + "/opt/dir/run.sh"), "#!/bin/sh\necho run\n");
  EXPECT_EQ(ReadFile(root + "/opt/dir/sub/data"), "data");
  EXPECT_EQ(ReadFile(root + "/opt/rel/a.txt"), "alpha\n");
  struct stat st {};
  ASSERT_EQ(::stat((root + "/opt/dir/run.sh").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  ASSERT_EQ(::stat((root + "/opt/rel/a.txt").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(st.st_mtime, 0);
  if (::geteuid() == 0) {
    EXPECT_EQ(st.st_uid, 0u);
  }
  ASSERT_EQ(::lstat((root + "/opt/dir/link").c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
}

TEST_F(BuildTest, WorkdirCreatesAMissingDirectoryOnly) {
  BuildResult r = MustBuild("FROM scratch\nWORKDIR /data/sub\nWORKDIR ..\nWORKDIR /data/sub\n");
  EXPECT_EQ(r.layers_built, 1);
  oci::ImageConfig c = Config(r);
  EXPECT_EQ(c.config.working_dir, "/data/sub");
  ASSERT_EQ(c.history.size(), 3u);
  EXPECT_FALSE(c.history[0].empty_layer);
  EXPECT_TRUE(c.history[1].empty_layer);  // /data exists by then
  EXPECT_TRUE(c.history[2].empty_layer);
  std::string root = dir_ / "flat";
  Flatten(r, root);
  EXPECT_TRUE(std::filesystem::is_directory(root + "/data/sub"));
  BuildResult again = MustBuild("FROM scratch\nWORKDIR /data/sub\nWORKDIR ..\nWORKDIR /data/sub\n");
  EXPECT_EQ(again.layers_cached, 1);
  EXPECT_EQ(again.manifest.digest, r.manifest.digest);
}

TEST_F(BuildTest, OneLayerScratchBuildIsReproducibleWithoutRoot) {
  MakeContext(context());
  const std::string text = "FROM scratch\nENV A=1\nCOPY --chmod=0750 . /srv/\nCMD [\"/srv/dir/run.sh\"]\n";
  BuildResult first = MustBuild(text);
  EXPECT_EQ(first.layers_built, 1);
  BuildResult cached = MustBuild(text);
  EXPECT_EQ(cached.layers_cached, 1);
  EXPECT_EQ(cached.manifest.digest, first.manifest.digest);
  BuildOptions no_cache;
  no_cache.no_cache = true;
  EXPECT_EQ(MustBuild(text, no_cache).manifest.digest, first.manifest.digest);
  std::string root = dir_ / "flat";
  Flatten(first, root);
  EXPECT_EQ(ReadFile(root + "/srv/dir/sub/data"), "data");
  struct stat st {};
  ASSERT_EQ(::stat((root + "/srv/dir/sub/data").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0750u);
}

TEST_F(BuildTest, ChangingASourceInvalidatesThatStepAndLaterOnes) {
  if (SkipUnlessRoot()) GTEST_SKIP() << "several layer steps: COPY onto earlier layers mounts an overlay (root)";
  WriteFile(context() + "/a", "a");
  WriteFile(context() + "/b", "b");
  WriteFile(context() + "/c", "c");
  const std::string text = "FROM scratch\nCOPY a /a\nCOPY b /b\nENV X=1\nCOPY c /c\n";
  BuildResult first = MustBuild(text);
  EXPECT_EQ(first.layers_built, 3);

  WriteFile(context() + "/b", "B");
  BuildResult second = MustBuild(text);
  EXPECT_EQ(second.layers_cached, 1);
  EXPECT_EQ(second.layers_built, 2);
  EXPECT_NE(second.manifest.digest, first.manifest.digest);
  EXPECT_EQ(lines_[1], "STEP 2/5: COPY a /a (cached)");
  EXPECT_EQ(lines_[2], "STEP 3/5: COPY b /b");

  // A mode change is a change too.
  ::chmod((context() + "/c").c_str(), 0700);
  BuildResult third = MustBuild(text);
  EXPECT_EQ(third.layers_cached, 2);
  EXPECT_EQ(third.layers_built, 1);

  // An unrelated file in the context changes nothing.
  WriteFile(context() + "/unrelated", "x");
  BuildResult fourth = MustBuild(text);
  EXPECT_EQ(fourth.layers_cached, 3);
  EXPECT_EQ(fourth.manifest.digest, third.manifest.digest);

  // Changing an instruction before the copies (the chain) invalidates all of them after it.
  BuildResult fifth = MustBuild("FROM scratch\nENV Y=2\nCOPY a /a\nCOPY b /b\nENV X=1\nCOPY c /c\n");
  EXPECT_EQ(fifth.layers_cached, 0);
}

TEST_F(BuildTest, BuildArgsAreInTheCacheKey) {
  WriteFile(context() + "/f", "f");
  const std::string text = "ARG DIR=default\nFROM scratch\nARG DIR\nARG MODE=x\nCOPY f /${DIR}/${MODE}\n";
  BuildResult first = MustBuild(text);
  BuildOptions with;
  with.build_args = {{"DIR", "other"}};
  BuildResult second = MustBuild(text, with);
  EXPECT_EQ(second.layers_cached, 0);
  EXPECT_NE(second.manifest.digest, first.manifest.digest);
  std::string root = dir_ / "flat";
  Flatten(second, root);
  EXPECT_TRUE(Exists(root + "/other/x"));
  EXPECT_EQ(MustBuild(text, with).layers_cached, 1);

  BuildOptions unused;
  unused.build_args = {{"NOPE", "1"}};
  MustBuild(text, unused);
  EXPECT_EQ(lines_.back(), "warning: --build-arg NOPE was not consumed by any ARG");
}

TEST_F(BuildTest, ACacheEntryWhoseBlobIsGoneIsAMiss) {
  WriteFile(context() + "/f", "f");
  const std::string text = "FROM scratch\nCOPY f /f\n";
  BuildResult first = MustBuild(text);
  ASSERT_TRUE(store_->RemoveImage("localhost/test:1").ok());
  Result<uint64_t> pruned = PruneBuildCache(*store_);
  ASSERT_TRUE(pruned.ok());
  EXPECT_EQ(*pruned, 1u);
  BuildResult again = MustBuild(text);
  EXPECT_EQ(again.layers_built, 1);
  EXPECT_EQ(again.manifest.digest, first.manifest.digest);
}

TEST_F(BuildTest, GlobsAndAddOfATar) {
  if (SkipUnlessRoot()) GTEST_SKIP() << "several layer steps: COPY onto earlier layers mounts an overlay (root)";
  WriteFile(context() + "/x.txt", "x");
  WriteFile(context() + "/y.txt", "y");
  WriteFile(context() + "/z.md", "z");
  WriteFile(dir_ / "tree/inner/file", "from the tar");
  CreateOptions gz;
  Result<LayerInfo> tar = CreateLayer(dir_ / "tree", context() + "/t.tar.gz", gz);
  ASSERT_TRUE(tar.ok());
  BuildResult r = MustBuild("FROM scratch\nCOPY *.txt /d/\nADD t.tar.gz /opt/\nADD z.md /plain\n");
  std::string root = dir_ / "flat";
  Flatten(r, root);
  EXPECT_EQ(ReadFile(root + "/d/x.txt"), "x");
  EXPECT_EQ(ReadFile(root + "/d/y.txt"), "y");
  EXPECT_FALSE(Exists(root + "/d/z.md"));
  EXPECT_EQ(ReadFile(root + "/opt/inner/file"), "from the tar");
  EXPECT_EQ(ReadFile(root + "/plain"), "z");
}

TEST_F(BuildTest, IgnoreFileExcludesFromCopiesAndTheCacheKey) {
  WriteFile(context() + "/.dockerignore", "# comment\n*.log\n!keep.log\nsecret\n**/tmp\n/build/out\n");
  WriteFile(context() + "/app.c", "int main;");
  WriteFile(context() + "/debug.log", "noise");
  WriteFile(context() + "/keep.log", "kept");
  WriteFile(context() + "/secret/key", "k");
  WriteFile(context() + "/src/tmp/x", "x");
  WriteFile(context() + "/src/main.c", "m");
  WriteFile(context() + "/build/out/bin", "b");
  WriteFile(context() + "/build/keep", "k");
  const std::string text = "FROM scratch\nCOPY . /app/\n";
  BuildResult r = MustBuild(text);
  std::string root = dir_ / "flat";
  Flatten(r, root);
  EXPECT_TRUE(Exists(root + "/app/app.c"));
  EXPECT_TRUE(Exists(root + "/app/keep.log"));
  EXPECT_TRUE(Exists(root + "/app/src/main.c"));
  EXPECT_TRUE(Exists(root + "/app/build/keep"));
  EXPECT_FALSE(Exists(root + "/app/debug.log"));
  EXPECT_FALSE(Exists(root + "/app/secret/key"));
  EXPECT_FALSE(Exists(root + "/app/src/tmp/x"));
  EXPECT_FALSE(Exists(root + "/app/build/out/bin"));

  // Changing an ignored file is no change.
  WriteFile(context() + "/debug.log", "more noise");
  EXPECT_EQ(MustBuild(text).layers_cached, 1);
  EXPECT_EQ(BuildError("FROM scratch\nCOPY secret/key /k\n"),
            "Containerfile:2: source secret/key is excluded by .dockerignore");
  std::filesystem::remove_all(dir_ / "flat");
  Flatten(MustBuild("FROM scratch\nCOPY *.log /l/\n"), root);
  EXPECT_TRUE(Exists(root + "/l/keep.log"));
  EXPECT_FALSE(Exists(root + "/l/debug.log"));
}

TEST_F(BuildTest, WorkDirectoriesOfDeadBuildsAreRemoved) {
  WriteFile(context() + "/f", "f");
  // A pid that cannot be alive: above the largest pid_max Linux allows (2^22).
  const std::string stale = store_->root() + "/build-tmp/4194305-abcdef";
  WriteFile(stale + "/1/upper/junk", "junk");
  const std::string live = store_->root() + "/build-tmp/" + std::to_string(::getppid()) + "-abcdef";
  WriteFile(live + "/1/upper/junk", "junk");
  MustBuild("FROM scratch\nCOPY f /f\n");
  EXPECT_FALSE(Exists(stale));
  EXPECT_TRUE(Exists(live));
}

TEST_F(BuildTest, SourcesStayInsideTheContext) {
  WriteFile(dir_ / "secret", "secret");
  std::filesystem::create_symlink("/etc/passwd", context() + "/abs");
  std::filesystem::create_symlink("../secret", context() + "/rel");
  EXPECT_EQ(BuildError("FROM scratch\nCOPY ../secret /s\n"),
            "Containerfile:2: source ../secret is outside the build context");
  // Symlinks resolve inside the context: there is no etc/passwd or secret in it.
  EXPECT_NE(BuildError("FROM scratch\nCOPY abs /s\n").find("Containerfile:2: source abs in the build context"),
            std::string::npos);
  EXPECT_NE(BuildError("FROM scratch\nCOPY rel /s\n").find("Containerfile:2: source rel in the build context"),
            std::string::npos);
  WriteFile(context() + "/etc/passwd", "inside");
  BuildResult r = MustBuild("FROM scratch\nCOPY abs /s\n");
  std::string root = dir_ / "flat";
  Flatten(r, root);
  EXPECT_EQ(ReadFile(root + "/s"), "inside");
}

TEST_F(BuildTest, Errors) {
  WriteFile(context() + "/a", "a");
  WriteFile(context() + "/b", "b");
  EXPECT_EQ(BuildError("FROM scratch\nADD https://example.com/x /x\n"),
            "Containerfile:2: ADD https://example.com/x: URLs are not supported (builds have no network); download "
            "it into the context first");
  EXPECT_NE(BuildError("FROM localhost/nope:1\n").find("pull it first: cloudlet image pull localhost/nope:1"),
            std::string::npos);
  EXPECT_EQ(BuildError("FROM scratch\nCOPY a b /x\n"),
            "Containerfile:2: with several sources the destination must be a directory ending in / (/x)");
  EXPECT_EQ(BuildError("FROM scratch\nCOPY *.none /x/\n"),
            "Containerfile:2: no file in the build context matches *.none");
  EXPECT_EQ(BuildError("FROM scratch\nCOPY --chown=nobody a /x\n"),
            "Containerfile:2: --chown=nobody: user 'nobody' is not in the image's /etc/passwd (a scratch image has "
            "none; use numeric ids)");
  EXPECT_EQ(BuildError("FROM scratch\nRUN true\n"),
            "Containerfile:2: RUN needs a container runtime, and none was given to the builder");
  EXPECT_EQ(BuildError("FROM scratch\nLABEL a=${b\n"), "Containerfile:2: unterminated ${b");
  EXPECT_EQ(BuildError("FROM scratch\nEXPOSE 0\n"),
            "Containerfile:2: EXPOSE 0: expected PORT[-PORT][/tcp|/udp|/sctp] with ports 1-65535");
  EXPECT_EQ(BuildError("FROM scratch\nEXPOSE 80/icmp\n"),
            "Containerfile:2: EXPOSE 80/icmp: expected PORT[-PORT][/tcp|/udp|/sctp] with ports 1-65535");
  BuildResult ranged = MustBuild("FROM scratch\nARG P=9000\nEXPOSE ${P}-9002/UDP 80\n");
  EXPECT_EQ(Config(ranged).config.exposed_ports, (std::set<std::string>{"80/tcp", "9000/udp", "9001/udp", "9002/udp"}));
}

// ---- RUN steps (root): a chroot stands in for the container runtime.

Result<int> ChrootRunner(const std::string& /*id*/, const std::string& bundle) {
  Result<oci::Spec> spec = oci::LoadSpec(bundle);
  if (!spec.ok()) return spec.error();
  const oci::Process& p = *spec->process;
  pid_t pid = ::fork();
  if (pid < 0) return ErrnoError("fork");
  if (pid == 0) {
    if (::chroot((bundle + "/rootfs").c_str()) != 0 || ::chdir(p.cwd.c_str()) != 0) ::_exit(126);
    if (::setgroups(0, nullptr) != 0 || ::setgid(p.user.gid) != 0 || ::setuid(p.user.uid) != 0) ::_exit(126);
    std::vector<char*> argv, envp;
    for (const auto& a : p.args) argv.push_back(const_cast<char*>(a.c_str()));
    for (const auto& e : p.env) envp.push_back(const_cast<char*>(e.c_str()));
    argv.push_back(nullptr);
    envp.push_back(nullptr);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return ErrnoError("waitpid");
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

class BuildRunTest : public BuildTest {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "RUN steps need root (overlay mounts, unpacking layers)";
    if (::access("/bin/busybox", X_OK) != 0) GTEST_SKIP() << "needs /bin/busybox (busybox-static)";
    BuildTest::SetUp();
    Result<CommittedImage> base = ImportBusybox(*store_, "localhost/busybox:latest");
    ASSERT_TRUE(base.ok()) << base.error().message();
  }
  BuildOptions Runner() {
    BuildOptions o;
    o.run = ChrootRunner;
    return o;
  }
};

TEST_F(BuildRunTest, RunCopyAndWhiteouts) {
  WriteFile(context() + "/app.sh", "echo app\n");
  const std::string text = R"(FROM localhost/busybox
ARG WHO=builder
ENV HOME=/root
WORKDIR /work/dir
RUN echo "hello $WHO" > greeting && mkdir -p /made && rm /bin/ls
COPY app.sh ./
RUN id -u > /uid && pwd > /pwd
USER nobody
RUN id -u > /tmp/uid-nobody
CMD ["sh", "/work/dir/app.sh"]
)";
  BuildResult r = MustBuild(text, Runner());
  EXPECT_EQ(r.layers_built, 5);  // WORKDIR (a new directory), RUN, COPY, RUN, RUN
  oci::ImageConfig c = Config(r);
  EXPECT_EQ(c.diff_ids.size(), 6u);  // busybox's + 5
  EXPECT_EQ(c.config.cmd, (std::vector<std::string>{"sh", "/work/dir/app.sh"}));

  Result<UnpackedImage> img = UnpackImage(*store_, "localhost/test:1");
  ASSERT_TRUE(img.ok()) << img.error().message();
  std::string root = dir_ / "flat";
  Flatten(r, root);
  EXPECT_EQ(ReadFile(root + "/work/dir/greeting"), "hello builder\n");
  EXPECT_TRUE(Exists(root + "/made"));
  EXPECT_FALSE(Exists(root + "/bin/ls"));  // a whiteout in the RUN layer
  EXPECT_TRUE(Exists(root + "/bin/cat"));
  EXPECT_EQ(ReadFile(root + "/work/dir/app.sh"), "echo app\n");
  EXPECT_EQ(ReadFile(root + "/uid"), "0\n");
  EXPECT_EQ(ReadFile(root + "/pwd"), "/work/dir\n");
  EXPECT_EQ(ReadFile(root + "/tmp/uid-nobody"), "65534\n");
  struct stat st {};
  ASSERT_EQ(::stat((root + "/tmp").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 01777u);  // the base's /tmp, not a copy-up with other modes

  // Everything again, from scratch: the same digest.
  BuildOptions again = Runner();
  again.no_cache = true;
  EXPECT_EQ(MustBuild(text, again).manifest.digest, r.manifest.digest);
  BuildResult cached = MustBuild(text, Runner());
  EXPECT_EQ(cached.layers_cached, 5);
  EXPECT_EQ(cached.manifest.digest, r.manifest.digest);
}

TEST_F(BuildRunTest, AFailingRunNamesTheLineAndCode) {
  EXPECT_EQ(BuildError("FROM localhost/busybox\n\nRUN true && \\\n  exit 3\n", Runner()),
            "Containerfile:3: RUN true &&   exit 3: exited with code 3");
  // No overlay stays mounted and no work directory stays behind.
  EXPECT_EQ(test_util::Shell("grep -c " + store_->root() + " /proc/self/mountinfo || true"), "0\n");
  EXPECT_TRUE(std::filesystem::is_empty(store_->root() + "/build-tmp"));
}

}  // namespace
}  // namespace cloudlet::image
