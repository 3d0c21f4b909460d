#include "image/import.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace cloudlet::image {
namespace {

namespace fs = std::filesystem;

class ImportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cloudlet-import-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  ImageStore Open(const std::string& name) {
    Result<ImageStore> s = ImageStore::Open(dir_ + "/" + name);
    EXPECT_TRUE(s.ok()) << s.error().message();
    return std::move(s).value();
  }
  std::string dir_;
};

TEST_F(ImportTest, CommitImageWritesConfigManifestAndTag) {
  fs::create_directories(dir_ + "/rootfs/etc");
  std::ofstream(dir_ + "/rootfs/etc/motd") << "hello\n";
  ImageStore store = Open("store");
  ImageSettings settings;
  settings.entrypoint = std::vector<std::string>{"/bin/app"};
  settings.cmd = std::vector<std::string>{"--serve"};
  settings.working_dir = "/srv";
  settings.user = "nobody";
  settings.labels["org.example.team"] = "infra";
  Result<CommittedImage> img = CommitImage(store, dir_ + "/rootfs", settings, "localhost/app:1");
  ASSERT_TRUE(img.ok()) << img.error().message();
  EXPECT_EQ(img->reference, "localhost/app:1");

  Result<oci::Descriptor> d = store.Resolve("localhost/app:1");
  ASSERT_TRUE(d.ok()) << d.error().message();
  EXPECT_EQ(d->digest, img->manifest.digest);
  EXPECT_EQ(d->media_type, oci::kMediaTypeImageManifest);
  Result<oci::Manifest> m = store.ReadManifest(*d);
  ASSERT_TRUE(m.ok()) << m.error().message();
  ASSERT_EQ(m->layers.size(), 1u);
  EXPECT_EQ(m->layers[0].media_type, oci::kMediaTypeImageLayerGzip);
  EXPECT_TRUE(oci::CheckImageManifest(*m).ok());
  Result<oci::ImageConfig> c = store.ReadConfig(m->config);
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_TRUE(oci::CheckConfigMatchesManifest(*c, *m).ok());
  EXPECT_EQ(c->created, "1970-01-01T00:00:00Z");
  EXPECT_EQ(c->config.entrypoint, settings.entrypoint);
  EXPECT_EQ(c->config.cmd, settings.cmd);
  EXPECT_EQ(c->config.working_dir, "/srv");
  EXPECT_EQ(c->config.user, "nobody");
  EXPECT_EQ(c->config.labels.at("org.example.team"), "infra");
  EXPECT_EQ(c->architecture, oci::HostPlatform().architecture);

  // The layer unpacks to the directory's content.
  fs::create_directories(dir_ + "/out");
  Result<ApplyStats> applied = ApplyLayer(store.BlobPath(m->layers[0].digest), dir_ + "/out",
                                          ApplyOptions{.preserve_ownership = ::geteuid() == 0});
  ASSERT_TRUE(applied.ok()) << applied.error().message();
  EXPECT_EQ(applied->diff_id, c->diff_ids[0]);
  std::ifstream motd(dir_ + "/out/etc/motd");
  std::string line;
  std::getline(motd, line);
  EXPECT_EQ(line, "hello");
  EXPECT_TRUE(store.Verify()->ok());
  EXPECT_TRUE(fs::is_empty(store.root() + "/ingest"));
}

TEST_F(ImportTest, RefusesMissingDirectoryAndUntaggedReference) {
  ImageStore store = Open("store");
  EXPECT_FALSE(CommitImage(store, dir_ + "/nope", {}, "localhost/app:1").ok());
  fs::create_directories(dir_ + "/rootfs");
  EXPECT_FALSE(CommitImage(store, dir_ + "/rootfs", {}, "localhost/app@sha256:" + std::string(64, 'a')).ok());
}

TEST_F(ImportTest, BusyboxImportIsReproducible) {
  if (::access("/bin/busybox", X_OK) != 0) GTEST_SKIP() << "needs /bin/busybox (Debian: busybox-static)";
  ImageStore a = Open("a");
  ImageStore b = Open("b");
  Result<CommittedImage> first = ImportBusybox(a, "localhost/busybox:latest");
  ASSERT_TRUE(first.ok()) << first.error().message();
  Result<CommittedImage> second = ImportBusybox(b, "localhost/busybox:latest");
  ASSERT_TRUE(second.ok()) << second.error().message();
  EXPECT_EQ(first->manifest.digest, second->manifest.digest);
  EXPECT_EQ(first->layer.digest, second->layer.digest);
  // Importing again into the same store changes nothing.
  Result<CommittedImage> again = ImportBusybox(a, "localhost/busybox:latest");
  ASSERT_TRUE(again.ok()) << again.error().message();
  EXPECT_EQ(again->manifest.digest, first->manifest.digest);

  Result<oci::ImageConfig> c = a.ReadConfig(first->config);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->config.cmd, std::vector<std::string>{"sh"});
}

}  // namespace
}  // namespace cloudlet::image
