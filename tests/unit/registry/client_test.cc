#include "registry/client.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include "fake_registry.h"
#include "image/store.h"
#include "oci/image_spec.h"

namespace cloudlet::registry {
namespace {

namespace fs = std::filesystem;
using testing::FakeRegistry;

std::string RandomBytes(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string out(n, '\0');
  for (auto& c : out) c = static_cast<char>(rng());
  return out;
}

// A small image, as a registry would hold it: one layer (arbitrary bytes: the client does not unpack), a config and
// a manifest.
struct TestImage {
  std::string layer, config, manifest;
  oci::Descriptor layer_desc, config_desc, manifest_desc;

  explicit TestImage(size_t layer_size = 1000, unsigned seed = 1) {
    layer = RandomBytes(layer_size, seed);
    layer_desc = oci::DescribeBlob(oci::kMediaTypeImageLayerGzip, layer);
    oci::ImageConfig c;
    c.architecture = oci::HostPlatform().architecture;
    c.os = "linux";
    c.diff_ids = {oci::Digest::Sha256Of(std::string_view("uncompressed"))};
    config = oci::Serialize(c);
    config_desc = oci::DescribeBlob(oci::kMediaTypeImageConfig, config);
    oci::Manifest m;
    m.config = config_desc;
    m.layers = {layer_desc};
    manifest = oci::Serialize(m);
    manifest_desc = oci::DescribeBlob(oci::kMediaTypeImageManifest, manifest);
  }

  void Serve(FakeRegistry& r, const std::string& repo_tag) const {
    r.blobs[layer_desc.digest.str()] = layer;
    r.blobs[config_desc.digest.str()] = config;
    r.manifests[repo_tag] = {oci::kMediaTypeImageManifest, manifest};
  }

  void Store(image::ImageStore& store, const std::string& ref) const {
    ASSERT_TRUE(store.PutBlob(layer).ok());
    ASSERT_TRUE(store.PutBlob(config).ok());
    ASSERT_TRUE(store.PutBlob(manifest).ok());
    Status st = store.Tag(ref, manifest_desc);
    ASSERT_TRUE(st.ok()) << st.message();
  }
};

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cloudlet-registry-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    // No auth file of the machine may leak into the tests.
    ::setenv("REGISTRY_AUTH_FILE", (dir_ + "/auth.json").c_str(), 1);
    ::setenv("HOME", dir_.c_str(), 1);
    ::unsetenv("XDG_RUNTIME_DIR");
    options_.retry_base = std::chrono::milliseconds(1);
    options_.retry_after_cap = std::chrono::milliseconds(20);
    options_.connect_timeout_seconds = 5;
    options_.stall_timeout_seconds = 5;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  image::ImageStore Store(const std::string& name = "store") {
    Result<image::ImageStore> s = image::ImageStore::Open(dir_ + "/" + name);
    EXPECT_TRUE(s.ok()) << s.error().message();
    return std::move(s).value();
  }
  // Serves a fresh test image as <registry>/app:1 and pulls it into a new store; the retry tests differ only in the
  // transient failures they set on `reg` first.
  Result<PullResult> PullServedApp(FakeRegistry& reg) {
    TestImage img;
    img.Serve(reg, "app:1");
    image::ImageStore store = Store();
    return Pull(store, reg.host() + "/app:1", oci::HostPlatform(), options_);
  }

  std::string dir_;
  RegistryOptions options_;
};

TEST_F(ClientTest, PullStoresVerifiedBlobsAndTags) {
  FakeRegistry reg;
  TestImage img;
  img.Serve(reg, "app:1");
  image::ImageStore store = Store();
  Result<PullResult> r = Pull(store, reg.host() + "/app:1", oci::HostPlatform(), options_);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->manifest.digest, img.manifest_desc.digest);
  EXPECT_EQ(r->blobs_fetched, 2u);
  Result<oci::Descriptor> d = store.Resolve(reg.host() + "/app:1");
  ASSERT_TRUE(d.ok()) << d.error().message();
  EXPECT_EQ(d->digest, img.manifest_desc.digest);
  EXPECT_TRUE(store.HasBlob(img.layer_desc.digest));

  // A second pull fetches no blob again.
  Result<PullResult> again = Pull(store, reg.host() + "/app:1", oci::HostPlatform(), options_);
  ASSERT_TRUE(again.ok()) << again.error().message();
  EXPECT_EQ(again->blobs_fetched, 0u);
  EXPECT_EQ(again->blobs_present, 2u);
}

TEST_F(ClientTest, PullByDigestTagsTheDigest) {
  FakeRegistry reg;
  TestImage img;
  img.Serve(reg, "app:" + img.manifest_desc.digest.str());
  image::ImageStore store = Store();
  Result<PullResult> r =
      Pull(store, reg.host() + "/app@" + img.manifest_desc.digest.str(), oci::HostPlatform(), options_);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->reference, reg.host() + "/app:sha256-" + img.manifest_desc.digest.hex());
  Result<oci::Descriptor> d = store.Resolve(reg.host() + "/app@" + img.manifest_desc.digest.str());
  ASSERT_TRUE(d.ok()) << d.error().message();
  EXPECT_EQ(d->digest, img.manifest_desc.digest);
}

TEST_F(ClientTest, PullPicksThePlatformFromAnIndex) {
  FakeRegistry reg;
  TestImage img;
  img.Serve(reg, "app:" + img.manifest_desc.digest.str());
  oci::Index index;
  oci::Descriptor other = oci::DescribeBlob(oci::kMediaTypeImageManifest, "{}");
  other.platform = oci::Platform{"s390x", "linux"};
  oci::Descriptor mine = img.manifest_desc;
  mine.platform = oci::HostPlatform();
  index.manifests = {other, mine};
  reg.manifests["app:multi"] = {oci::kMediaTypeImageIndex, oci::Serialize(index)};
  image::ImageStore store = Store();
  Result<PullResult> r = Pull(store, reg.host() + "/app:multi", oci::HostPlatform(), options_);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->manifest.digest, img.manifest_desc.digest);

  Result<PullResult> wrong = Pull(store, reg.host() + "/app:multi", oci::Platform{"riscv64", "linux"}, options_);
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.error().message().find("s390x"), std::string::npos) << wrong.error().message();
}

TEST_F(ClientTest, PullFollowsBlobRedirects) {
  FakeRegistry reg;
  reg.auth = FakeRegistry::Auth::kBearer;
  reg.redirect_blobs = true;
  TestImage img;
  img.Serve(reg, "app:1");
  image::ImageStore store = Store();
  Result<PullResult> r = Pull(store, reg.host() + "/app:1", oci::HostPlatform(), options_);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(reg.Count("GET /storage/"), 2);
  EXPECT_TRUE(store.HasBlob(img.layer_desc.digest));
}

TEST_F(ClientTest, PullRetriesAnInterruptedBlobDownload) {
  FakeRegistry reg;
  TestImage img(200 * 1024, 3);
  img.Serve(reg, "app:1");
  reg.truncate_blob_gets = 1;
  image::ImageStore store = Store();
  Result<PullResult> r = Pull(store, reg.host() + "/app:1", oci::HostPlatform(), options_);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(reg.Count("GET /v2/app/blobs/"), 3) << "two blobs, one fetched twice";
  Result<image::VerifyReport> v = store.Verify();
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->ok());
}

TEST_F(ClientTest, BearerChallengeTokenRetry) {
  FakeRegistry reg;
  reg.auth = FakeRegistry::Auth::kBearer;
  TestImage img;
  img.Serve(reg, "team/app:1");
  image::ImageStore store = Store();
  Result<PullResult> r = Pull(store, reg.host() + "/team/app:1", oci::HostPlatform(), options_);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(reg.Count("GET /token"), 1) << "one token for the scope, cached";
  bool scoped = false;
  for (const auto& line : reg.log()) {
    if (line.starts_with("GET /token") && line.find("scope=repository%3Ateam%2Fapp%3Apull") != std::string::npos &&
        line.find("service=fake-registry") != std::string::npos) {
      scoped = true;
    }
  }
  EXPECT_TRUE(scoped);

  // An error after authenticating names the reference and never shows the token.
  Result<PullResult> missing = Pull(store, reg.host() + "/team/app:2", oci::HostPlatform(), options_);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message().find("team/app:2"), std::string::npos) << missing.error().message();
  EXPECT_EQ(missing.error().message().find(reg.token), std::string::npos) << missing.error().message();
}

TEST_F(ClientTest, BearerTokenWithWrongCredentialsIsRefusedWithoutSecrets) {
  FakeRegistry reg;
  reg.auth = FakeRegistry::Auth::kBearer;
  TestImage img;
  img.Serve(reg, "app:1");
  image::ImageStore store = Store();
  options_.credentials = Credentials{"alice", "wrong-password-xyz"};
  Result<PullResult> r = Pull(store, reg.host() + "/app:1", oci::HostPlatform(), options_);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("alice"), std::string::npos) << r.error().message();
  EXPECT_EQ(r.error().message().find("wrong-password-xyz"), std::string::npos) << r.error().message();
}

TEST_F(ClientTest, BasicAuth) {
  FakeRegistry reg;
  reg.auth = FakeRegistry::Auth::kBasic;
  TestImage img;
  img.Serve(reg, "app:1");
  image::ImageStore store = Store();

  Result<PullResult> anonymous = Pull(store, reg.host() + "/app:1", oci::HostPlatform(), options_);
  ASSERT_FALSE(anonymous.ok());
  EXPECT_NE(anonymous.error().message().find("--creds"), std::string::npos) << anonymous.error().message();

  options_.credentials = reg.basic;
  Result<PullResult> r = Pull(store, reg.host() + "/app:1", oci::HostPlatform(), options_);
  ASSERT_TRUE(r.ok()) << r.error().message();

  options_.credentials = Credentials{"alice", "not-it-9876"};
  image::ImageStore other = Store("other");
  Result<PullResult> wrong = Pull(other, reg.host() + "/app:1", oci::HostPlatform(), options_);
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().message().find("not-it-9876"), std::string::npos) << wrong.error().message();
}

TEST_F(ClientTest, BasicAuthFromAuthFile) {
  FakeRegistry reg;
  reg.auth = FakeRegistry::Auth::kBasic;
  TestImage img;
  img.Serve(reg, "app:1");
  {
    std::ofstream f(dir_ + "/auth.json");
    f << R"({"auths":{")" << reg.host() << R"(":{"auth":")" << Base64Encode("alice:s3cret-pw") << R"("}}})";
  }
  image::ImageStore store = Store();
  Result<PullResult> r = Pull(store, reg.host() + "/app:1", oci::HostPlatform(), options_);
  ASSERT_TRUE(r.ok()) << r.error().message();
}

TEST_F(ClientTest, MissingManifestNamesTheReference) {
  FakeRegistry reg;
  image::ImageStore store = Store();
  Result<PullResult> r = Pull(store, reg.host() + "/nothing/here:v9", oci::HostPlatform(), options_);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("nothing/here:v9"), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find("not found"), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find("MANIFEST_UNKNOWN"), std::string::npos) << r.error().message();
}

TEST_F(ClientTest, BlobDigestMismatchIsRefused) {
  FakeRegistry reg;
  TestImage img;
  img.Serve(reg, "app:1");
  std::string bad = img.layer;
  bad[10] ^= 1;
  reg.corrupt_blobs[img.layer_desc.digest.str()] = bad;
  image::ImageStore store = Store();
  Result<PullResult> r = Pull(store, reg.host() + "/app:1", oci::HostPlatform(), options_);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find(img.layer_desc.digest.str()), std::string::npos) << r.error().message();
  EXPECT_FALSE(store.HasBlob(img.layer_desc.digest));
  EXPECT_FALSE(store.Resolve(reg.host() + "/app:1").ok());
}

TEST_F(ClientTest, ManifestDigestMismatchIsRefused) {
  FakeRegistry reg;
  TestImage img;
  img.Serve(reg, "app:1");
  // Asked by digest, the registry answers with other bytes.
  reg.manifests["app:" + img.config_desc.digest.str()] = {oci::kMediaTypeImageManifest, img.manifest};
  image::ImageStore store = Store();
  Result<PullResult> r =
      Pull(store, reg.host() + "/app@" + img.config_desc.digest.str(), oci::HostPlatform(), options_);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("refused"), std::string::npos) << r.error().message();
}

TEST_F(ClientTest, RetriesAfter503) {
  FakeRegistry reg;
  reg.manifest_503s = 2;
  Result<PullResult> r = PullServedApp(reg);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(reg.Count("GET /v2/app/manifests/1"), 3);
}

TEST_F(ClientTest, GivesUpAfterBoundedAttempts) {
  FakeRegistry reg;
  reg.manifest_503s = 100;
  Result<PullResult> r = PullServedApp(reg);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("503"), std::string::npos) << r.error().message();
  EXPECT_EQ(reg.Count("GET /v2/app/manifests/1"), options_.max_attempts);
}

TEST_F(ClientTest, HonoursRetryAfterOn429) {
  FakeRegistry reg;
  reg.manifest_429s = 1;
  Result<PullResult> r = PullServedApp(reg);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(reg.Count("GET /v2/app/manifests/1"), 2);
}

TEST_F(ClientTest, PushMonolithicThenHeadSkipsExisting) {
  FakeRegistry reg;
  TestImage img;
  image::ImageStore store = Store();
  img.Store(store, "localhost/app:1");
  Result<PushResult> r = Push(store, "localhost/app:1", reg.host() + "/app:1", options_);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->blobs_uploaded, 2u);
  EXPECT_EQ(reg.blobs[img.layer_desc.digest.str()], img.layer);
  EXPECT_EQ(reg.manifests["app:1"].second, img.manifest);
  EXPECT_EQ(reg.manifests["app:1"].first, oci::kMediaTypeImageManifest);
  EXPECT_EQ(reg.Count("PATCH"), 0);

  const int posts = reg.Count("POST");
  Result<PushResult> again = Push(store, "localhost/app:1", reg.host() + "/app:2", options_);
  ASSERT_TRUE(again.ok()) << again.error().message();
  EXPECT_EQ(again->blobs_present, 2u);
  EXPECT_EQ(again->blobs_uploaded, 0u);
  EXPECT_EQ(reg.Count("POST"), posts) << "HEAD found the blobs: no upload started";
}

TEST_F(ClientTest, PushChunkedResumesAfterInterruptedPatch) {
  FakeRegistry reg;
  TestImage img(300 * 1024, 7);
  image::ImageStore store = Store();
  img.Store(store, "localhost/big:1");
  options_.chunk_size = 64 * 1024;
  reg.drop_patch_number = 1;  // the second chunk's connection dies mid-body
  Result<PushResult> r = Push(store, "localhost/big:1", reg.host() + "/big:1", options_);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(reg.blobs[img.layer_desc.digest.str()], img.layer);
  EXPECT_EQ(reg.Count("PATCH"), 6) << "5 chunks, one of them sent twice";
  EXPECT_GE(reg.Count("GET /v2/big/blobs/uploads/"), 1) << "asked the server how far the upload got";
}

TEST_F(ClientTest, PushRestartsAnUploadTheServerLost) {
  FakeRegistry reg;
  TestImage img(300 * 1024, 9);
  image::ImageStore store = Store();
  img.Store(store, "localhost/big:1");
  options_.chunk_size = 64 * 1024;
  reg.drop_patch_number = 2;
  reg.forget_uploads_on_drop = true;  // the status query then answers 404: start over
  Result<PushResult> r = Push(store, "localhost/big:1", reg.host() + "/big:1", options_);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(reg.blobs[img.layer_desc.digest.str()], img.layer);
  EXPECT_EQ(reg.Count("POST /v2/big/blobs/uploads/"), 3) << "config, layer, and the layer's restart";
}

TEST_F(ClientTest, PushMountsFromAnotherRepository) {
  FakeRegistry reg;
  TestImage img;
  img.Serve(reg, "base:1");
  reg.blob_head_misses = true;  // as for a repository that does not hold the blobs yet
  image::ImageStore store = Store();
  img.Store(store, reg.host() + "/base:1");
  // The source reference's repository on the same registry is the mount source.
  Result<PushResult> r = Push(store, reg.host() + "/base:1", reg.host() + "/copy:1", options_);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->blobs_mounted, 2u);
  EXPECT_EQ(r->blobs_uploaded, 0u);
  EXPECT_EQ(reg.Count("POST /v2/copy/blobs/uploads/?mount=sha256%3A"), 2);
  EXPECT_EQ(reg.Count("PUT /v2/copy/blobs/uploads/"), 0) << "no blob upload";
  EXPECT_EQ(reg.Count("PATCH"), 0);
  EXPECT_EQ(reg.manifests["copy:1"].second, img.manifest);
}

TEST_F(ClientTest, DeclinedMountFallsBackToUpload) {
  FakeRegistry reg;
  TestImage img;
  reg.blob_head_misses = true;
  reg.allow_mount = false;
  image::ImageStore store = Store();
  img.Store(store, "localhost/base:1");
  options_.mount_from = "base";
  Result<PushResult> r = Push(store, "localhost/base:1", reg.host() + "/copy:1", options_);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->blobs_mounted, 0u);
  EXPECT_EQ(r->blobs_uploaded, 2u) << "uploaded into the session the declined mount opened";
  EXPECT_EQ(reg.Count("POST /v2/copy/blobs/uploads/?mount="), 2);
  EXPECT_EQ(reg.blobs[img.layer_desc.digest.str()], img.layer);
}

TEST_F(ClientTest, HttpToNonLoopbackIsRefused) {
  image::ImageStore store = Store();
  Result<PullResult> r = Pull(store, "http://192.0.2.1:5000/app:1", oci::HostPlatform(), options_);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("--insecure"), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find("192.0.2.1:5000"), std::string::npos) << r.error().message();
}

TEST_F(ClientTest, UnreachableRegistryFailsAfterRetries) {
  int port;
  {
    FakeRegistry gone;  // a port that was just free: nothing listens after this scope
    port = gone.port();
  }
  image::ImageStore store = Store();
  Result<PullResult> r = Pull(store, "127.0.0.1:" + std::to_string(port) + "/app:1", oci::HostPlatform(), options_);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("cannot reach"), std::string::npos) << r.error().message();
}

}  // namespace
}  // namespace cloudlet::registry
