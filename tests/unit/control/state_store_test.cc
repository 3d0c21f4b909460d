// StateStore: atomic 0600 writes, reload, and corrupt files that are reported and left alone.
#include "control/state_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace cloudlet {
namespace {

using ::testing::HasSubstr;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "cloudlet-state-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

DaemonState Sample() {
  DaemonState s;
  ProjectRecord r;
  r.config = {{"switches", nlohmann::json::array({{{"name", "sw1"}}})}};
  r.netns = {{"a1", true}, {"shared", false}};
  r.veths = {{"clp-01234567", "eth0", "a1", "a1"}, {"cll-89abcdefa", "cll-89abcdefb", "", "trunk1"}};
  r.gateways = {{"a1", "10.0.0.254"}};
  r.pending = true;
  s.projects["/srv/q.yaml"] = r;
  return s;
}

TEST(StateStore, MissingFileIsEmptyState) {
  TempDir dir;
  auto s = StateStore(dir.path()).Load();
  ASSERT_TRUE(s.ok()) << s.error().message();
  EXPECT_TRUE(s->projects.empty());
}

TEST(StateStore, SavesAtomicallyWithMode0600AndReloads) {
  TempDir dir;
  StateStore store(dir.path());
  ::umask(022);
  ASSERT_TRUE(store.Save(Sample()).ok());
  struct stat st {};
  ASSERT_EQ(::stat(store.path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_FALSE(std::filesystem::exists(store.path() + ".tmp"));

  auto loaded = store.Load();
  ASSERT_TRUE(loaded.ok()) << loaded.error().message();
  ASSERT_EQ(loaded->projects.size(), 1u);
  const ProjectRecord& r = loaded->projects.at("/srv/q.yaml");
  const DaemonState sample = Sample();
  const ProjectRecord& want = sample.projects.at("/srv/q.yaml");
  EXPECT_EQ(r.config, want.config);
  EXPECT_EQ(r.netns, want.netns);
  EXPECT_EQ(r.veths, want.veths);
  EXPECT_EQ(r.gateways, want.gateways);
  EXPECT_TRUE(r.pending);
  EXPECT_FALSE(r.removing);

  // Overwriting replaces the whole file (no leftovers from a longer previous version).
  ASSERT_TRUE(store.Save(DaemonState{}).ok());
  auto empty = store.Load();
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->projects.empty());
}

TEST(StateStore, CorruptFileIsAClearErrorAndStaysUntouched) {
  TempDir dir;
  StateStore store(dir.path());
  ASSERT_TRUE(store.Save(Sample()).ok());
  std::string good = ReadFile(store.path());
  std::string truncated = good.substr(0, good.size() / 2);
  { std::ofstream(store.path(), std::ios::trunc) << truncated; }

  auto s = store.Load();
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.error().message(), HasSubstr(store.path()));
  EXPECT_THAT(s.error().message(), HasSubstr("corrupt"));
  EXPECT_THAT(s.error().message(), HasSubstr("left untouched"));
  EXPECT_EQ(ReadFile(store.path()), truncated);

  { std::ofstream(store.path(), std::ios::trunc) << R"({"version":1,"projects":{"/x":{"netns":5}}})"; }
  s = store.Load();
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.error().message(), HasSubstr("corrupt"));

  { std::ofstream(store.path(), std::ios::trunc) << R"({"version":99,"projects":{}})"; }
  s = store.Load();
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.error().message(), HasSubstr("unsupported version 99"));
}

TEST(StateStore, UnwritableDirectoryIsAnError) {
  StateStore store("/nonexistent/cloudlet-" + std::to_string(::getpid()));
  auto st = store.Save(Sample());
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.message(), HasSubstr("state.json.tmp"));
}

}  // namespace
}  // namespace cloudlet
