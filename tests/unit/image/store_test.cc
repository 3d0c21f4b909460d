#include "image/store.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace cloudlet::image {
namespace {

namespace fs = std::filesystem;

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

std::vector<std::string> DirNames(const std::string& dir) {
  std::vector<std::string> out;
  if (!fs::exists(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cloudlet-store-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    root_ = dir_ + "/store";
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  ImageStore OpenStore() {
    Result<ImageStore> s = ImageStore::Open(root_);
    EXPECT_TRUE(s.ok()) << s.error().message();
    return std::move(s).value();
  }

  struct Image {
    oci::Descriptor manifest, config;
    std::vector<oci::Descriptor> layers;
  };
  // An image whose layers are just the given bytes (the store does not look inside layers).
  Image PutImage(ImageStore& store, const std::vector<std::string>& layers, const std::string& label = "") {
    Image img;
    oci::ImageConfig config;
    config.architecture = "amd64";
    config.os = "linux";
    if (!label.empty()) config.config.labels["l"] = label;
    oci::Manifest m;
    for (const std::string& l : layers) {
      Result<oci::Descriptor> d = store.PutDocument(oci::kMediaTypeImageLayerGzip, l);
      EXPECT_TRUE(d.ok());
      img.layers.push_back(*d);
      m.layers.push_back(*d);
      config.diff_ids.push_back(oci::Digest::Sha256Of("diff:" + l));
    }
    Result<oci::Descriptor> c = store.PutDocument(oci::kMediaTypeImageConfig, oci::Serialize(config));
    EXPECT_TRUE(c.ok());
    img.config = *c;
    m.config = *c;
    Result<oci::Descriptor> md = store.PutDocument(oci::kMediaTypeImageManifest, oci::Serialize(m));
    EXPECT_TRUE(md.ok());
    img.manifest = *md;
    return img;
  }

  std::string dir_;
  std::string root_;
};

// ---------------------------------------------------------------- references

TEST(ReferenceTest, ParseTable) {
  const std::string hex(64, 'a');
  struct Case {
    std::string text, registry, repository, tag, digest, str;
  };
  const Case cases[] = {
      {"busybox", "docker.io", "library/busybox", "latest", "", "docker.io/library/busybox:latest"},
      {"busybox:1.36", "docker.io", "library/busybox", "1.36", "", "docker.io/library/busybox:1.36"},
      {"library/busybox", "docker.io", "library/busybox", "latest", "", "docker.io/library/busybox:latest"},
      {"docker.io/busybox", "docker.io", "library/busybox", "latest", "", "docker.io/library/busybox:latest"},
      {"index.docker.io/library/busybox", "docker.io", "library/busybox", "latest", "",
       "docker.io/library/busybox:latest"},
      {"localhost:5000/app:1.0", "localhost:5000", "app", "1.0", "", "localhost:5000/app:1.0"},
      {"localhost/app", "localhost", "app", "latest", "", "localhost/app:latest"},
      {"quay.io/ns/sub/app:v1_2-3", "quay.io", "ns/sub/app", "v1_2-3", "", "quay.io/ns/sub/app:v1_2-3"},
      {"registry/ns/app@sha256:" + hex, "docker.io", "registry/ns/app", "", "sha256:" + hex,
       "docker.io/registry/ns/app@sha256:" + hex},
      {"registry.local/ns/app@sha256:" + hex, "registry.local", "ns/app", "", "sha256:" + hex,
       "registry.local/ns/app@sha256:" + hex},
      {"reg:5000/app:1@sha256:" + hex, "reg:5000", "app", "1", "sha256:" + hex, "reg:5000/app:1@sha256:" + hex},
      {"[::1]:5000/app", "[::1]:5000", "app", "latest", "", "[::1]:5000/app:latest"},
      {"Registry/app", "Registry", "app", "latest", "", "Registry/app:latest"},  // uppercase: a hostname
      {"my-app_x.y__z--w", "docker.io", "library/my-app_x.y__z--w", "latest", "",
       "docker.io/library/my-app_x.y__z--w:latest"},
      {"localhost:5000", "docker.io", "library/localhost", "5000", "", "docker.io/library/localhost:5000"},
  };
  for (const Case& c : cases) {
    Result<Reference> r = Reference::Parse(c.text);
    ASSERT_TRUE(r.ok()) << c.text << ": " << r.error().message();
    EXPECT_EQ(r->registry, c.registry) << c.text;
    EXPECT_EQ(r->repository, c.repository) << c.text;
    EXPECT_EQ(r->tag, c.tag) << c.text;
    EXPECT_EQ(r->digest.empty() ? "" : r->digest.str(), c.digest) << c.text;
    EXPECT_EQ(r->str(), c.str) << c.text;
    Result<Reference> again = Reference::Parse(r->str());  // the normalized form is a fixed point
    ASSERT_TRUE(again.ok()) << r->str();
    EXPECT_EQ(*again, *r);
  }

  const std::pair<std::string, std::string> bad[] = {
      {"", "empty"},
      {"Busybox", "must be lowercase"},
      {"docker.io/Library/busybox", "must be lowercase"},
      {"busybox:", "invalid tag"},
      {"busybox:-x", "invalid tag"},
      {"busybox:" + std::string(129, 'a'), "invalid tag"},
      {"busybox@sha256:abc", "invalid digest"},
      {"busybox@md5:" + std::string(32, 'a'), "invalid digest"},
      {"bad_-name", "invalid repository component"},
      {"a//b", "invalid repository component"},
      {"-leading", "invalid repository component"},
      {"trailing.", "invalid repository component"},
      {"a___b", "invalid repository component"},
      {"local host:5000/app", "invalid registry"},
      {"-bad.com/app", "invalid registry"},
      {"reg.com:abc/app", "invalid registry"},
      {"reg.com/", "invalid repository component"},
      {"sha256:" + hex, "bare digest"},
      {std::string(256, 'a'), "longer than 255"},
      {":tag", "no repository name"},
  };
  for (const auto& [text, want] : bad) {
    Result<Reference> r = Reference::Parse(text);
    ASSERT_FALSE(r.ok()) << "accepted " << text;
    EXPECT_NE(r.error().message().find(want), std::string::npos)
        << text << ": got \"" << r.error().message() << "\", want \"" << want << "\"";
  }
}

// ---------------------------------------------------------------- layout

TEST_F(StoreTest, OpenCreatesLayout) {
  ImageStore store = OpenStore();
  EXPECT_EQ(store.root(), root_);
  EXPECT_EQ(ReadText(root_ + "/oci-layout"), R"({"imageLayoutVersion":"1.0.0"})");
  Result<oci::Index> index = oci::ParseIndex(ReadText(root_ + "/index.json"));
  ASSERT_TRUE(index.ok()) << index.error().message();
  EXPECT_TRUE(index->manifests.empty());
  EXPECT_TRUE(fs::is_directory(root_ + "/blobs/sha256"));
  EXPECT_TRUE(DirNames(root_ + "/ingest").empty());
  // Reopening an existing store works and keeps its content.
  ASSERT_TRUE(store.PutBlob("x").ok());
  ImageStore again = OpenStore();
  EXPECT_TRUE(again.HasBlob(oci::Digest::Sha256Of("x")));
  // Trailing slashes are not part of the root.
  Result<ImageStore> slash = ImageStore::Open(root_ + "//");
  ASSERT_TRUE(slash.ok());
  EXPECT_EQ(slash->root(), root_);
}

TEST_F(StoreTest, OpenRefusesForeignDirectoriesAndVersions) {
  const std::string other = dir_ + "/home";
  fs::create_directories(other);
  WriteText(other + "/notes.txt", "mine");
  Result<ImageStore> s = ImageStore::Open(other);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message().find("not an OCI image layout"), std::string::npos) << s.error().message();
  EXPECT_EQ(DirNames(other), std::vector<std::string>{"notes.txt"});  // nothing created there

  ImageStore store = OpenStore();
  WriteText(root_ + "/oci-layout", R"({"imageLayoutVersion":"2.0.0"})");
  s = ImageStore::Open(root_);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message().find("imageLayoutVersion \"2.0.0\" is not supported"), std::string::npos)
      << s.error().message();
  WriteText(root_ + "/oci-layout", "garbage");
  EXPECT_FALSE(ImageStore::Open(root_).ok());
}

TEST_F(StoreTest, InterruptedCreationIsRedone) {
  fs::create_directories(root_ + "/blobs/sha256");
  fs::create_directories(root_ + "/ingest");
  ImageStore store = OpenStore();
  EXPECT_TRUE(fs::exists(root_ + "/oci-layout"));
  EXPECT_TRUE(fs::exists(root_ + "/index.json"));
}

// ---------------------------------------------------------------- blobs

TEST_F(StoreTest, PutAndRead) {
  ImageStore store = OpenStore();
  const std::string content = "{\"hello\":\"world\"}";
  Result<BlobInfo> info = store.PutBlob(content);
  ASSERT_TRUE(info.ok()) << info.error().message();
  EXPECT_EQ(info->digest, oci::Digest::Sha256Of(content));
  EXPECT_EQ(info->size, static_cast<int64_t>(content.size()));
  EXPECT_TRUE(store.HasBlob(info->digest));
  EXPECT_EQ(store.BlobPath(info->digest), root_ + "/blobs/sha256/" + info->digest.hex());
  EXPECT_EQ(ReadText(store.BlobPath(info->digest)), content);
  struct stat st {};
  ASSERT_EQ(::stat(store.BlobPath(info->digest).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);

  Result<std::string> back = store.ReadBlob(info->digest);
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(*back, content);
  // Putting the same bytes again is harmless.
  ASSERT_TRUE(store.PutBlob(content, info->digest).ok());
  EXPECT_EQ(*store.ReadBlob(info->digest), content);

  const oci::Digest absent = oci::Digest::Sha256Of("absent");
  EXPECT_FALSE(store.HasBlob(absent));
  Result<std::string> missing = store.ReadBlob(absent);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message().find("is not in the store"), std::string::npos);

  // Descriptor reads check the size too.
  oci::Descriptor d = oci::DescribeBlob(oci::kMediaTypeImageConfig, content);
  EXPECT_TRUE(store.ReadBlob(d).ok());
  d.size += 1;
  EXPECT_FALSE(store.ReadBlob(d).ok());
  EXPECT_TRUE(DirNames(root_ + "/ingest").empty());
}

TEST_F(StoreTest, DigestMismatchRefusedAndTempRemoved) {
  ImageStore store = OpenStore();
  const oci::Digest wrong = oci::Digest::Sha256Of("something else");
  Result<BlobInfo> info = store.PutBlob("content", wrong);
  ASSERT_FALSE(info.ok());
  EXPECT_NE(info.error().message().find("digest mismatch: expected " + wrong.str()), std::string::npos)
      << info.error().message();
  EXPECT_FALSE(store.HasBlob(wrong));
  EXPECT_FALSE(store.HasBlob(oci::Digest::Sha256Of("content")));
  EXPECT_TRUE(DirNames(root_ + "/ingest").empty());
  EXPECT_TRUE(DirNames(root_ + "/blobs/sha256").empty());

  // Size mismatch with the right digest.
  Result<BlobWriter> w = store.NewBlob();
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(w->Write("content").ok());
  Result<BlobInfo> sized = w->Commit(oci::Digest::Sha256Of("content"), 8);
  ASSERT_FALSE(sized.ok());
  EXPECT_NE(sized.error().message().find("size mismatch"), std::string::npos);
  EXPECT_TRUE(DirNames(root_ + "/ingest").empty());
  EXPECT_FALSE(w->Commit().ok());  // spent

  // sha512 digests cannot be stored.
  Result<oci::Digest> sha512 = oci::Digest::Parse("sha512:" + std::string(128, 'a'));
  ASSERT_TRUE(sha512.ok());
  EXPECT_FALSE(store.PutBlob("content", *sha512).ok());
}

TEST_F(StoreTest, StreamingWriter) {
  ImageStore store = OpenStore();
  std::string data;
  for (int i = 0; i < 300000; ++i) data.push_back(static_cast<char>(i * 31));
  const oci::Digest want = oci::Digest::Sha256Of(data);
  {
    Result<BlobWriter> w = store.NewBlob();
    ASSERT_TRUE(w.ok()) << w.error().message();
    EXPECT_EQ(DirNames(root_ + "/ingest").size(), 1u);
    for (size_t off = 0; off < data.size(); off += 7777) {
      ASSERT_TRUE(w->Write(std::string_view(data).substr(off, 7777)).ok());
    }
    EXPECT_EQ(w->bytes(), data.size());
    EXPECT_FALSE(store.HasBlob(want));  // not visible before Commit
    Result<BlobInfo> info = w->Commit(want, static_cast<int64_t>(data.size()));
    ASSERT_TRUE(info.ok()) << info.error().message();
    EXPECT_EQ(info->digest, want);
  }
  EXPECT_TRUE(store.HasBlob(want));
  EXPECT_TRUE(DirNames(root_ + "/ingest").empty());

  // Streaming read back, verified at the end.
  Result<BlobReader> r = store.OpenBlob(want);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->size(), static_cast<int64_t>(data.size()));
  std::string back;
  char buf[4096];
  for (int guard = 0; guard < 1000; ++guard) {
    Result<size_t> n = r->Read(buf, sizeof buf);
    ASSERT_TRUE(n.ok()) << n.error().message();
    if (*n == 0) break;
    back.append(buf, *n);
  }
  EXPECT_EQ(back, data);

  // Abort and destruction remove the temp file; nothing becomes visible.
  {
    Result<BlobWriter> w = store.NewBlob();
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE(w->Write("partial").ok());
    w->Abort();
    EXPECT_TRUE(DirNames(root_ + "/ingest").empty());
    EXPECT_FALSE(w->Write("more").ok());
  }
  {
    Result<BlobWriter> w = store.NewBlob();
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE(w->Write("partial").ok());
    BlobWriter moved = std::move(*w);  // the moved-from writer owns nothing
    ASSERT_TRUE(moved.Write("more").ok());
  }
  EXPECT_TRUE(DirNames(root_ + "/ingest").empty());
  EXPECT_FALSE(store.HasBlob(oci::Digest::Sha256Of("partialmore")));

  // A size limit stops an endless stream.
  Result<BlobWriter> limited = store.NewBlob(10);
  ASSERT_TRUE(limited.ok());
  ASSERT_TRUE(limited->Write("0123456789").ok());
  Status st = limited->Write("x");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("limit of 10 bytes"), std::string::npos);
  EXPECT_TRUE(DirNames(root_ + "/ingest").empty());
}

TEST_F(StoreTest, PutFromFileAndAdopt) {
  ImageStore store = OpenStore();
  const std::string src = dir_ + "/layer.tar.gz";
  WriteText(src, std::string(5 << 20, 'L'));
  const oci::Digest want = oci::Digest::Sha256Of(std::string(5 << 20, 'L'));
  Result<BlobInfo> info = store.PutBlobFile(src, want);
  ASSERT_TRUE(info.ok()) << info.error().message();
  EXPECT_EQ(info->digest, want);
  EXPECT_EQ(info->size, 5 << 20);
  EXPECT_TRUE(fs::exists(src));  // copied
  EXPECT_FALSE(store.PutBlobFile(src, oci::Digest::Sha256Of("no")).ok());
  EXPECT_FALSE(store.PutBlobFile(dir_ + "/nope").ok());

  const std::string adopt = dir_ + "/adopt";
  WriteText(adopt, "adopted");
  EXPECT_FALSE(store.AdoptBlobFile(adopt, oci::Digest::Sha256Of("other")).ok());
  EXPECT_TRUE(fs::exists(adopt));  // refused: left alone
  Result<BlobInfo> adopted = store.AdoptBlobFile(adopt);
  ASSERT_TRUE(adopted.ok()) << adopted.error().message();
  EXPECT_FALSE(fs::exists(adopt));  // moved
  EXPECT_EQ(*store.ReadBlob(adopted->digest), "adopted");
}

TEST_F(StoreTest, ReadBlobIsBounded) {
  ImageStore store = OpenStore();
  Result<BlobInfo> big = store.PutBlob(std::string(kMaxJsonBlobSize + 1, ' '));
  ASSERT_TRUE(big.ok());
  Result<std::string> r = store.ReadBlob(big->digest);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("over the limit"), std::string::npos);
  EXPECT_TRUE(store.ReadBlob(big->digest, kMaxJsonBlobSize + 1).ok());
  Result<BlobInfo> small = store.PutBlob("12345");
  ASSERT_TRUE(small.ok());
  EXPECT_FALSE(store.ReadBlob(small->digest, 4).ok());
  EXPECT_TRUE(store.ReadBlob(small->digest, 5).ok());
}

TEST_F(StoreTest, CorruptionDetectedOnReadAndVerify) {
  ImageStore store = OpenStore();
  Image img = PutImage(store, {"layer-one", "layer-two"});
  ASSERT_TRUE(store.Tag("app:1", img.manifest).ok());
  Result<VerifyReport> clean = store.Verify();
  ASSERT_TRUE(clean.ok());
  EXPECT_TRUE(clean->ok()) << clean->problems[0].path << ": " << clean->problems[0].problem;
  EXPECT_EQ(clean->blobs_checked, 4u);

  // Same size, different bytes: only hashing notices.
  WriteText(store.BlobPath(img.layers[1].digest), "layer-twX");
  Result<std::string> r = store.ReadBlob(img.layers[1].digest);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("is corrupt"), std::string::npos) << r.error().message();
  Result<BlobReader> reader = store.OpenBlob(img.layers[1].digest);
  ASSERT_TRUE(reader.ok());
  char buf[64];
  Result<size_t> n = reader->Read(buf, sizeof buf);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 9u);
  EXPECT_FALSE(reader->Read(buf, sizeof buf).ok());  // the end is where the mismatch shows

  ::unlink(store.BlobPath(img.layers[0].digest).c_str());
  WriteText(root_ + "/blobs/sha256/not-a-digest", "junk");
  Result<VerifyReport> report = store.Verify();
  ASSERT_TRUE(report.ok());
  ASSERT_EQ(report->problems.size(), 3u);
  std::string all;
  for (const BlobProblem& p : report->problems) all += p.path + ": " + p.problem + "\n";
  EXPECT_NE(all.find(img.layers[1].digest.hex() + ": blob"), std::string::npos) << all;
  EXPECT_NE(all.find("is corrupt"), std::string::npos) << all;
  EXPECT_NE(all.find("not-a-digest: not a blob name"), std::string::npos) << all;
  EXPECT_NE(all.find(img.layers[0].digest.hex() + ": missing"), std::string::npos) << all;
  EXPECT_NE(all.find("docker.io/library/app:1"), std::string::npos) << all;
}

TEST_F(StoreTest, CrashLeftoversCleanedButLiveWritersKept) {
  ImageStore store = OpenStore();
  // A writer in another process that dies mid-blob (no destructor runs).
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    Result<BlobWriter> w = store.NewBlob();
    if (!w.ok() || !w->Write("half a layer").ok()) ::_exit(1);
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  ASSERT_EQ(DirNames(root_ + "/ingest").size(), 1u);

  // A live writer in this process.
  Result<BlobWriter> live = store.NewBlob();
  ASSERT_TRUE(live.ok());
  ASSERT_TRUE(live->Write("still going").ok());
  ASSERT_EQ(DirNames(root_ + "/ingest").size(), 2u);

  ImageStore reopened = OpenStore();
  EXPECT_EQ(DirNames(root_ + "/ingest").size(), 1u);  // the dead one's file is gone, the live one's kept
  Result<BlobInfo> info = live->Commit(oci::Digest::Sha256Of("still going"));
  ASSERT_TRUE(info.ok()) << info.error().message();
  EXPECT_TRUE(reopened.HasBlob(info->digest));
  EXPECT_TRUE(DirNames(root_ + "/ingest").empty());
  EXPECT_TRUE(DirNames(root_ + "/blobs/sha256").size() == 1u);  // nothing partial became a blob
}

// ---------------------------------------------------------------- tags

TEST_F(StoreTest, TagResolveListUntag) {
  ImageStore store = OpenStore();
  Image a = PutImage(store, {"a1", "shared"}, "a");
  Image b = PutImage(store, {"b1", "shared"}, "b");
  ASSERT_TRUE(store.Tag("localhost:5000/app:1.0", a.manifest).ok());
  ASSERT_TRUE(store.Tag("busybox", b.manifest).ok());
  ASSERT_TRUE(store.Tag("busybox:1.36", b.manifest).ok());

  // index.json carries the normalized names, as skopeo and umoci read them.
  const std::string index_text = ReadText(root_ + "/index.json");
  EXPECT_NE(index_text.find(R"("org.opencontainers.image.ref.name":"localhost:5000/app:1.0")"), std::string::npos)
      << index_text;
  EXPECT_NE(index_text.find(R"("org.opencontainers.image.ref.name":"docker.io/library/busybox:latest")"),
            std::string::npos);

  Result<oci::Descriptor> r = store.Resolve("localhost:5000/app:1.0");
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->digest, a.manifest.digest);
  EXPECT_EQ(r->media_type, oci::kMediaTypeImageManifest);
  EXPECT_EQ(r->size, a.manifest.size);
  for (const char* name : {"busybox", "busybox:latest", "docker.io/library/busybox", "library/busybox:latest"}) {
    Result<oci::Descriptor> rb = store.Resolve(name);
    ASSERT_TRUE(rb.ok()) << name;
    EXPECT_EQ(rb->digest, b.manifest.digest) << name;
  }
  // By digest, tagged or not.
  Result<oci::Descriptor> by_digest = store.Resolve("localhost:5000/app@" + a.manifest.digest.str());
  ASSERT_TRUE(by_digest.ok()) << by_digest.error().message();
  EXPECT_EQ(by_digest->digest, a.manifest.digest);
  Image c = PutImage(store, {"c1"}, "c");
  by_digest = store.Resolve("anything@" + c.manifest.digest.str());
  ASSERT_TRUE(by_digest.ok()) << by_digest.error().message();
  EXPECT_EQ(by_digest->media_type, oci::kMediaTypeImageManifest);
  EXPECT_EQ(by_digest->size, c.manifest.size);
  EXPECT_FALSE(store.Resolve("anything@" + c.config.digest.str()).ok());  // a config is not an image

  Result<std::vector<TaggedImage>> list = store.List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ((*list)[0].reference, "docker.io/library/busybox:1.36");
  EXPECT_EQ((*list)[1].reference, "docker.io/library/busybox:latest");
  EXPECT_EQ((*list)[2].reference, "localhost:5000/app:1.0");
  EXPECT_EQ((*list)[2].descriptor.digest, a.manifest.digest);

  // Re-tagging moves the tag.
  ASSERT_TRUE(store.Tag("busybox", a.manifest).ok());
  EXPECT_EQ(store.Resolve("busybox")->digest, a.manifest.digest);
  EXPECT_EQ(store.List()->size(), 3u);

  ASSERT_TRUE(store.Untag("docker.io/library/busybox:latest").ok());
  Result<oci::Descriptor> gone = store.Resolve("busybox");
  ASSERT_FALSE(gone.ok());
  EXPECT_NE(gone.error().message().find("docker.io/library/busybox:latest is not in the store"), std::string::npos);
  EXPECT_FALSE(store.Untag("busybox").ok());
  EXPECT_EQ(store.List()->size(), 2u);
  EXPECT_TRUE(store.HasBlob(b.manifest.digest));  // untag removes no blob
}

TEST_F(StoreTest, TagRefusesIncompleteImages) {
  ImageStore store = OpenStore();
  Image img = PutImage(store, {"l1", "l2"});
  EXPECT_FALSE(store.Tag("app", oci::DescribeBlob(oci::kMediaTypeImageManifest, "not stored")).ok());
  EXPECT_FALSE(store.Tag("app@" + img.manifest.digest.str(), img.manifest).ok());  // no tag
  EXPECT_FALSE(store.Tag("app:1@" + img.config.digest.str(), img.manifest).ok());  // digest is not the manifest's
  EXPECT_FALSE(store.Tag("app", img.config).ok());                                 // not a manifest
  oci::Descriptor wrong_size = img.manifest;
  wrong_size.size += 1;
  EXPECT_FALSE(store.Tag("app", wrong_size).ok());
  ::unlink(store.BlobPath(img.layers[1].digest).c_str());
  Status st = store.Tag("app", img.manifest);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find(img.layers[1].digest.str()), std::string::npos) << st.message();
  EXPECT_TRUE(store.List()->empty());
}

TEST_F(StoreTest, EntriesWrittenByOtherToolsResolve) {
  ImageStore store = OpenStore();
  Image img = PutImage(store, {"l"});
  // As `skopeo copy ... oci:<root>:busybox` writes index.json.
  oci::Index index;
  index.media_type.clear();
  oci::Descriptor d = img.manifest;
  d.annotations[oci::kAnnotationRefName] = "busybox";
  index.manifests.push_back(d);
  WriteText(root_ + "/index.json", oci::Serialize(index));
  Result<oci::Descriptor> r = store.Resolve("docker.io/library/busybox:latest");
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->digest, img.manifest.digest);
  // Tagging the same reference replaces that entry instead of adding a second one.
  ASSERT_TRUE(store.Tag("busybox:latest", img.manifest).ok());
  EXPECT_EQ(store.List()->size(), 1u);
}

TEST_F(StoreTest, ConcurrentTagFromTwoProcessesKeepsBoth) {
  ImageStore store = OpenStore();
  Image img = PutImage(store, {"l"});
  constexpr int kPerProcess = 25;
  std::vector<pid_t> children;
  for (int p = 0; p < 2; ++p) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      Result<ImageStore> s = ImageStore::Open(root_);
      if (!s.ok()) ::_exit(2);
      for (int i = 0; i < kPerProcess; ++i) {
        if (!s->Tag("localhost:5000/p" + std::to_string(p) + ":" + std::to_string(i), img.manifest).ok()) ::_exit(1);
      }
      ::_exit(0);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  }
  Result<std::vector<TaggedImage>> list = store.List();
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->size(), 2u * kPerProcess);
  for (int p = 0; p < 2; ++p) {
    for (int i = 0; i < kPerProcess; ++i) {
      EXPECT_TRUE(store.Resolve("localhost:5000/p" + std::to_string(p) + ":" + std::to_string(i)).ok());
    }
  }
  EXPECT_TRUE(DirNames(root_ + "/ingest").empty());
}

// ---------------------------------------------------------------- GC

TEST_F(StoreTest, GarbageCollection) {
  ImageStore store = OpenStore();
  Image a = PutImage(store, {"a1", "shared"}, "a");
  Image b = PutImage(store, {"b1", "shared"}, "b");
  ASSERT_TRUE(store.Tag("a:1", a.manifest).ok());
  ASSERT_TRUE(store.Tag("b:1", b.manifest).ok());
  // A multi-arch index: its child manifest and the child's blobs are reachable only through it; the arm64 child was
  // never pulled.
  Image child = PutImage(store, {"child-layer"}, "child");
  oci::Index multi;
  oci::Descriptor amd = child.manifest;
  amd.platform = oci::Platform{"amd64", "linux", "", {}, ""};
  oci::Descriptor arm = oci::DescribeBlob(oci::kMediaTypeImageManifest, "never pulled");
  arm.platform = oci::Platform{"arm64", "linux", "", {}, ""};
  multi.manifests = {amd, arm};
  Result<oci::Descriptor> multi_desc = store.PutDocument(oci::kMediaTypeImageIndex, oci::Serialize(multi));
  ASSERT_TRUE(multi_desc.ok());
  ASSERT_TRUE(store.Tag("multi:1", *multi_desc).ok());
  Result<BlobInfo> stray = store.PutBlob("unreferenced");
  ASSERT_TRUE(stray.ok());

  Result<GcStats> gc = store.CollectGarbage();
  ASSERT_TRUE(gc.ok()) << gc.error().message();
  EXPECT_EQ(gc->blobs_removed, 1u);
  EXPECT_EQ(gc->bytes_removed, 12u);
  EXPECT_FALSE(store.HasBlob(stray->digest));
  for (const Image* img : {&a, &b, &child}) {
    EXPECT_TRUE(store.HasBlob(img->manifest.digest));
    EXPECT_TRUE(store.HasBlob(img->config.digest));
    for (const auto& l : img->layers) EXPECT_TRUE(store.HasBlob(l.digest));
  }
  EXPECT_TRUE(store.Verify()->ok());  // the missing arm64 child of an index is not a problem

  // Removing a: its own blobs go, the layer it shares with b stays.
  Result<GcStats> removed = store.RemoveImage("a:1");
  ASSERT_TRUE(removed.ok()) << removed.error().message();
  EXPECT_EQ(removed->blobs_removed, 3u);  // manifest, config, a1
  EXPECT_FALSE(store.HasBlob(a.manifest.digest));
  EXPECT_FALSE(store.HasBlob(a.config.digest));
  EXPECT_FALSE(store.HasBlob(a.layers[0].digest));
  EXPECT_TRUE(store.HasBlob(a.layers[1].digest));
  EXPECT_TRUE(store.Resolve("b:1").ok());

  // By digest: every entry of that digest goes.
  ASSERT_TRUE(store.Tag("b:2", b.manifest).ok());
  removed = store.RemoveImage("b@" + b.manifest.digest.str());
  ASSERT_TRUE(removed.ok()) << removed.error().message();
  EXPECT_FALSE(store.Resolve("b:1").ok());
  EXPECT_FALSE(store.Resolve("b:2").ok());
  EXPECT_FALSE(store.HasBlob(b.layers[1].digest));  // shared no more
  EXPECT_TRUE(store.HasBlob(child.layers[0].digest));
  EXPECT_FALSE(store.RemoveImage("nothing:here").ok());
}

TEST_F(StoreTest, GcWaitsForLeasesAndRefusesUnreadableManifests) {
  ImageStore store = OpenStore();
  Result<BlobInfo> pulled = store.PutBlob("layer of a pull in progress");
  ASSERT_TRUE(pulled.ok());
  {
    Result<StoreLease> lease = store.Lease();
    ASSERT_TRUE(lease.ok());
    Result<GcStats> gc = store.CollectGarbage();
    ASSERT_FALSE(gc.ok());
    EXPECT_NE(gc.error().message().find("lease"), std::string::npos);
    EXPECT_TRUE(store.HasBlob(pulled->digest));
  }
  // A reachable manifest that cannot be read: nothing is removed, since its children are unknown.
  Image img = PutImage(store, {"l"});
  ASSERT_TRUE(store.Tag("app", img.manifest).ok());
  WriteText(store.BlobPath(img.manifest.digest), std::string(static_cast<size_t>(img.manifest.size), 'x'));
  Result<GcStats> gc = store.CollectGarbage();
  ASSERT_FALSE(gc.ok());
  EXPECT_NE(gc.error().message().find("corrupt"), std::string::npos) << gc.error().message();
  EXPECT_TRUE(store.HasBlob(pulled->digest));
  EXPECT_TRUE(store.HasBlob(img.layers[0].digest));
  // Once the broken image is untagged GC proceeds.
  ASSERT_TRUE(store.Untag("app").ok());
  gc = store.CollectGarbage();
  ASSERT_TRUE(gc.ok()) << gc.error().message();
  EXPECT_TRUE(DirNames(root_ + "/blobs/sha256").empty());
}

// ---------------------------------------------------------------- outside tools

bool HaveTool(const char* name) {
  const std::string cmd = std::string("command -v ") + name + " >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

// The sha256 of a command's stdout (the uncompressed layer for its diff_id).
Result<oci::Digest> HashCommandOutput(const std::string& cmd) {
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return Error("popen " + cmd);
  oci::Sha256 h;
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) h.Update(buf, n);
  if (::pclose(p) != 0) return Error(cmd + " failed");
  return h.Finish();
}

TEST_F(StoreTest, LayoutIsReadByUmociAndSkopeo) {
  if (!HaveTool("umoci") || !HaveTool("skopeo")) GTEST_SKIP() << "umoci or skopeo is not installed";
  ImageStore store = OpenStore();
  // A one-file layer made by GNU tar, as an outside tool would.
  const std::string tree = dir_ + "/tree";
  fs::create_directories(tree + "/etc");
  WriteText(tree + "/etc/hello.txt", "hello from cloudlet\n");
  const std::string layer_path = dir_ + "/layer.tar.gz";
  ASSERT_EQ(std::system(("tar czf " + layer_path + " -C " + tree + " .").c_str()), 0);
  Result<oci::Digest> diff_id = HashCommandOutput("gzip -dc " + layer_path);
  ASSERT_TRUE(diff_id.ok()) << diff_id.error().message();
  Result<BlobInfo> layer = store.PutBlobFile(layer_path);
  ASSERT_TRUE(layer.ok()) << layer.error().message();

  oci::ImageConfig config;
  config.created = "2024-01-01T00:00:00Z";
  config.architecture = "amd64";
  config.os = "linux";
  config.config.env = {"PATH=/bin"};
  config.config.cmd = std::vector<std::string>{"/bin/sh"};
  config.diff_ids = {*diff_id};
  config.history.push_back(oci::History{"2024-01-01T00:00:00Z", "", "tar czf", "", false});
  Result<oci::Descriptor> config_desc = store.PutDocument(oci::kMediaTypeImageConfig, oci::Serialize(config));
  ASSERT_TRUE(config_desc.ok());
  oci::Manifest manifest;
  manifest.config = *config_desc;
  oci::Descriptor layer_desc;
  layer_desc.media_type = oci::kMediaTypeImageLayerGzip;
  layer_desc.digest = layer->digest;
  layer_desc.size = layer->size;
  manifest.layers = {layer_desc};
  Result<oci::Descriptor> manifest_desc = store.PutDocument(oci::kMediaTypeImageManifest, oci::Serialize(manifest));
  ASSERT_TRUE(manifest_desc.ok());
  const std::string ref = "localhost:5000/app:1.0";
  ASSERT_TRUE(store.Tag(ref, *manifest_desc).ok());

  const std::string bundle = dir_ + "/bundle";
  const std::string rootless = ::geteuid() == 0 ? "" : " --rootless";
  const std::string unpack = "timeout 120 umoci unpack" + rootless + " --image '" + root_ + ":" + ref + "' " + bundle +
                             " >" + dir_ + "/umoci.log 2>&1";
  ASSERT_EQ(std::system(unpack.c_str()), 0) << ReadText(dir_ + "/umoci.log");
  EXPECT_EQ(ReadText(bundle + "/rootfs/etc/hello.txt"), "hello from cloudlet\n");

  const std::string inspect =
      "timeout 120 skopeo inspect 'oci:" + root_ + ":" + ref + "' >" + dir_ + "/skopeo.json 2>&1";
  ASSERT_EQ(std::system(inspect.c_str()), 0) << ReadText(dir_ + "/skopeo.json");
  const std::string out = ReadText(dir_ + "/skopeo.json");
  EXPECT_NE(out.find(manifest_desc->digest.str()), std::string::npos) << out;
  EXPECT_NE(out.find(layer->digest.str()), std::string::npos) << out;

  // umoci leaves its own bookkeeping out of the layout, and cloudlet still reads it.
  EXPECT_TRUE(store.Verify()->ok());
  EXPECT_EQ(store.Resolve(ref)->digest, manifest_desc->digest);
}

}  // namespace
}  // namespace cloudlet::image
