#include "oci/digest.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

namespace cloudlet::oci {
namespace {

constexpr char kEmptySha256[] = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr char kAbcSha256[] = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

TEST(DigestTest, KnownVectors) {
  EXPECT_EQ(Digest::Sha256Of(std::string_view()).str(), kEmptySha256);
  EXPECT_EQ(Digest::Sha256Of(std::string_view("abc")).str(), kAbcSha256);
  const uint8_t abc[] = {'a', 'b', 'c'};
  EXPECT_EQ(Digest::Sha256Of(std::span<const uint8_t>(abc)).str(), kAbcSha256);
  // FIPS 180-2 two-block vector.
  EXPECT_EQ(Digest::Sha256Of(std::string_view("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")).hex(),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  const Digest d = Digest::Sha256Of(std::string_view("abc"));
  EXPECT_EQ(d.algorithm(), "sha256");
  EXPECT_FALSE(d.empty());
  EXPECT_TRUE(Digest().empty());
}

TEST(DigestTest, ParseAcceptsWellFormed) {
  Result<Digest> d = Digest::Parse(kAbcSha256);
  ASSERT_TRUE(d.ok()) << d.error().message();
  EXPECT_EQ(d->algorithm(), "sha256");
  EXPECT_EQ(d->str(), kAbcSha256);
  EXPECT_EQ(*d, Digest::Sha256Of(std::string_view("abc")));
  Result<Digest> sha512 = Digest::Parse("sha512:" + std::string(128, 'a'));
  ASSERT_TRUE(sha512.ok()) << sha512.error().message();
  EXPECT_EQ(sha512->algorithm(), "sha512");
}

TEST(DigestTest, ParseRejectsMalformed) {
  const std::string hex64(64, 'a');
  const std::string bad[] = {
      "",
      "sha256",
      "sha256:",
      hex64,                                   // no algorithm
      "sha256:" + std::string(63, 'a'),        // short
      "sha256:" + std::string(65, 'a'),        // long
      "sha256:" + std::string(63, 'a') + "A",  // uppercase
      "SHA256:" + hex64,                       // uppercase algorithm
      "sha256:" + std::string(63, 'a') + "g",  // not hex
      "md5:d41d8cd98f00b204e9800998ecf8427e",  // odd algorithm
      "sha384:" + std::string(96, 'a'),
      "sha512:" + hex64,  // sha512 needs 128
      "sha256:" + hex64 + "\n",
      " sha256:" + hex64,
      "sha256:../../../../etc/passwd" + std::string(36, 'a'),
  };
  for (const std::string& text : bad) {
    Result<Digest> d = Digest::Parse(text);
    EXPECT_FALSE(d.ok()) << "accepted " << text;
    if (!d.ok()) {
      EXPECT_NE(d.error().message().find("invalid digest"), std::string::npos) << d.error().message();
    }
  }
  EXPECT_NE(Digest::Parse("md5:abc").error().message().find("unsupported algorithm"), std::string::npos);
}

TEST(DigestTest, StreamingEqualsOneShot) {
  std::string data;
  for (int i = 0; i < 100000; ++i) data.push_back(static_cast<char>((i * 7919) & 0xff));
  const Digest one_shot = Digest::Sha256Of(data);
  for (size_t chunk : {1u, 3u, 64u, 1000u, 65536u}) {
    Sha256 h;
    for (size_t off = 0; off < data.size(); off += chunk) {
      h.Update(data.data() + off, std::min(chunk, data.size() - off));
    }
    EXPECT_EQ(h.bytes(), data.size());
    EXPECT_EQ(h.Finish(), one_shot) << "chunk " << chunk;
  }
  Sha256 empty;
  EXPECT_EQ(empty.Finish().str(), kEmptySha256);
}

TEST(DigestTest, FileDigest) {
  char path[] = "/tmp/cloudlet-digest-test-XXXXXX";
  const int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ::close(fd);
  std::string data(3 << 20, 'x');  // larger than one read
  data[12345] = 'y';
  {
    std::ofstream out(path, std::ios::binary);
    out << data;
  }
  Result<Digest> d = Sha256OfFile(path);
  ASSERT_TRUE(d.ok()) << d.error().message();
  EXPECT_EQ(*d, Digest::Sha256Of(data));
  ::unlink(path);
  Result<Digest> missing = Sha256OfFile(path);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message().find(path), std::string::npos);
}

TEST(DigestTest, Ordering) {
  const Digest a = *Digest::Parse("sha256:" + std::string(64, 'a'));
  const Digest b = *Digest::Parse("sha256:" + std::string(64, 'b'));
  EXPECT_LT(a, b);
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace cloudlet::oci
