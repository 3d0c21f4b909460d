#include "image/unpack.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "image/import.h"
#include "image/rootfs.h"
#include "test_util.h"

namespace cloudlet::image {
namespace {

using test_util::Exists;
using test_util::ReadFile;
using test_util::TempDir;
using test_util::WriteFile;

class UnpackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "unpacking keeps ownership and device nodes: needs root";
    auto store = ImageStore::Open(dir_ / "store");
    ASSERT_TRUE(store.ok()) << store.error().message();
    store_.emplace(std::move(*store));
    WriteFile(dir_ / "l1/etc/hostname", "base\n");
    WriteFile(dir_ / "l1/bin/tool", "v1\n");
    WriteFile(dir_ / "l2/bin/tool", "v2\n");
    WriteFile(dir_ / "l2/srv/data", "x\n");
    auto img = CommitImageLayers(*store_, {dir_ / "l1", dir_ / "l2"}, {}, "localhost/unpack:1");
    ASSERT_TRUE(img.ok()) << img.error().message();
    image_ = *img;
  }

  TempDir dir_{"unpack_test"};
  std::optional<ImageStore> store_;
  CommittedImage image_;
};

TEST_F(UnpackTest, UnpacksEachLayerOnceUnderItsDiffId) {
  auto un = UnpackImage(*store_, "localhost/unpack:1");
  ASSERT_TRUE(un.ok()) << un.error().message();
  ASSERT_EQ(un->layer_dirs.size(), 2u);
  EXPECT_EQ(un->manifest.digest, image_.manifest.digest);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(un->layer_dirs[i], UnpackedRoot(*store_) + "/" + un->config.diff_ids[i].hex());
  }
  EXPECT_EQ(ReadFile(un->layer_dirs[0] + "/bin/tool"), "v1\n");
  EXPECT_EQ(ReadFile(un->layer_dirs[1] + "/bin/tool"), "v2\n");
  EXPECT_FALSE(Exists(un->layer_dirs[1] + "/etc/hostname"));  // each dir holds its own layer only
  EXPECT_EQ(un->Lowers().front(), un->layer_dirs[1]);

  // A second unpack reuses the directories (a marker left in one survives).
  WriteFile(un->layer_dirs[0] + "/marker", "m");
  auto again = UnpackImage(*store_, "localhost/unpack:1");
  ASSERT_TRUE(again.ok()) << again.error().message();
  EXPECT_EQ(again->layer_dirs, un->layer_dirs);
  EXPECT_TRUE(Exists(un->layer_dirs[0] + "/marker"));
}

TEST_F(UnpackTest, StackedLayersMountAsTheImage) {
  auto un = UnpackImage(*store_, "localhost/unpack:1");
  ASSERT_TRUE(un.ok()) << un.error().message();
  std::filesystem::create_directories(dir_ / "mnt");
  ASSERT_TRUE(MountRootfs(un->Lowers(), "", "", dir_ / "mnt").ok());
  EXPECT_EQ(ReadFile(dir_ / "mnt/bin/tool"), "v2\n");
  EXPECT_EQ(ReadFile(dir_ / "mnt/etc/hostname"), "base\n");
  EXPECT_TRUE(UnmountRootfs(dir_ / "mnt").ok());
}

TEST_F(UnpackTest, RefusesALayerWhoseContentIsNotItsDiffId) {
  // A damaged blob: same size, different bytes. Nothing may appear under the layer's final name.
  std::string blob = store_->BlobPath(image_.layers[0].digest);
  std::string bytes = ReadFile(blob);
  bytes[bytes.size() / 2] ^= 0x55;
  ::chmod(blob.c_str(), 0644);
  WriteFile(blob, bytes);
  auto un = UnpackImage(*store_, "localhost/unpack:1");
  ASSERT_FALSE(un.ok());
  auto config = store_->ReadConfig(image_.config);
  ASSERT_TRUE(config.ok());
  EXPECT_FALSE(Exists(UnpackedRoot(*store_) + "/" + config->diff_ids[0].hex()));
}

TEST_F(UnpackTest, PruneKeepsTaggedAndInUseLayers) {
  auto un = UnpackImage(*store_, "localhost/unpack:1");
  ASSERT_TRUE(un.ok()) << un.error().message();
  // A leftover of a dead unpacker.
  std::string stale = UnpackedRoot(*store_) + "/.tmp-999999999-abcdef";
  std::filesystem::create_directories(stale);
  auto kept = PruneUnpacked(*store_);
  ASSERT_TRUE(kept.ok()) << kept.error().message();
  EXPECT_EQ(kept->layers_kept, 2u);
  EXPECT_EQ(kept->layers_removed, 0u);
  EXPECT_FALSE(Exists(stale));

  ASSERT_TRUE(store_->RemoveImage("localhost/unpack:1").ok());
  auto pruned = PruneUnpacked(*store_, {un->layer_dirs[1]});
  ASSERT_TRUE(pruned.ok()) << pruned.error().message();
  EXPECT_EQ(pruned->layers_removed, 1u);
  EXPECT_FALSE(Exists(un->layer_dirs[0]));
  EXPECT_TRUE(Exists(un->layer_dirs[1]));
}

TEST_F(UnpackTest, UnknownReferenceNamesIt) {
  auto un = UnpackImage(*store_, "localhost/none:1");
  ASSERT_FALSE(un.ok());
  EXPECT_NE(un.error().message().find("none"), std::string::npos) << un.error().message();
}

}  // namespace
}  // namespace cloudlet::image
