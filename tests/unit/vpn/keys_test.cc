#include "vpn/keys.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace cloudlet::vpn {
namespace {

// RFC 7748 section 6.1: Alice's X25519 key pair, in the base64 wg prints.
constexpr std::string_view kAlicePrivate = "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=";
constexpr std::string_view kAlicePublic = "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=";

TEST(KeyBase64, EncodesLikeWg) {
  PublicKey zero{};
  EXPECT_EQ(KeyToBase64(zero), "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
  PublicKey ff;
  ff.fill(0xff);
  EXPECT_EQ(KeyToBase64(ff), "//////////////////////////////////////////8=");
}

TEST(KeyBase64, RoundTripsRandomKeys) {
  for (int i = 0; i < 64; ++i) {
    PublicKey key{};
    RandomBytes(key);
    const std::string text = KeyToBase64(key);
    ASSERT_EQ(text.size(), kKeyBase64Size);
    auto decoded = PublicKeyFromBase64(text);
    ASSERT_TRUE(decoded.ok()) << decoded.error().message();
    EXPECT_EQ(*decoded, key);
  }
}

TEST(KeyBase64, DecodesKnownKey) {
  auto key = SecretKeyFromBase64(kAlicePrivate);
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(key->data()[0], 0x77);
  EXPECT_EQ(key->data()[31], 0x2a);
}

TEST(KeyBase64, RejectsMalformed) {
  PublicKey out{};
  const std::string good(kAlicePublic);
  struct Case {
    std::string text;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"", "expected 44 base64 characters, got 0"},
      {good.substr(0, 43), "got 43"},
      {good + "=", "got 45"},
      {good.substr(0, 42) + "==", "character 43 is not in the base64 alphabet"},  // one byte short
      {good.substr(0, 43) + "A", "ends in one '='"},
      {"!" + good.substr(1), "character 1 is not in the base64 alphabet"},
      {good.substr(0, 10) + "-" + good.substr(11), "character 11"},  // URL-safe alphabet is not wg's
      {good.substr(0, 10) + "_" + good.substr(11), "character 11"},
      {good.substr(0, 10) + " " + good.substr(11), "character 11"},
      {" " + good.substr(0, 42) + "=", "character 1"},
      {good.substr(0, 42) + "p=", "non-canonical"},  // 'p' = 41: low bits set
      {good.substr(0, 42) + "n=", "non-canonical"},  // 'n' = 39
  };
  for (const Case& c : cases) {
    const Status st = KeyFromBase64(c.text, out);
    ASSERT_FALSE(st.ok()) << c.text;
    EXPECT_NE(st.message().find(c.message), std::string::npos) << c.text << " -> " << st.message();
    EXPECT_EQ(st.message().find(c.text.empty() ? "\x01" : c.text), std::string::npos) << "echoes the key";
  }
}

TEST(KeyBase64, NonCanonicalNeighbourIsAccepted) {
  // 'o' = 40 has clear low bits: canonical.
  PublicKey out{};
  EXPECT_TRUE(KeyFromBase64(std::string(kAlicePublic.substr(0, 42)) + "o=", out).ok());
}

TEST(KeyGeneration, PubkeyMatchesRfc7748) {
  auto pub = PublicKeyFromPrivateBase64(kAlicePrivate);
  ASSERT_TRUE(pub.ok()) << pub.error().message();
  EXPECT_EQ(*pub, kAlicePublic);
  // As `wg pubkey < file`: a trailing newline and surrounding whitespace are fine.
  auto padded = PublicKeyFromPrivateBase64("  " + std::string(kAlicePrivate) + "\n");
  ASSERT_TRUE(padded.ok());
  EXPECT_EQ(*padded, kAlicePublic);
  EXPECT_FALSE(PublicKeyFromPrivateBase64("not a key").ok());
}

TEST(KeyGeneration, GenkeyIsClampedAndFresh) {
  auto a = GenerateKeyBase64();
  auto b = GenerateKeyBase64();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b);
  auto key = SecretKeyFromBase64(*a);
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(key->data()[0] & 7, 0);
  EXPECT_EQ(key->data()[31] & 0xc0, 0x40);
  EXPECT_TRUE(PublicKeyFromPrivateBase64(*a).ok());
}

TEST(KeyGeneration, GenpskIsRandomKey) {
  auto a = GeneratePresharedKey();
  auto b = GeneratePresharedKey();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b);
  EXPECT_TRUE(SecretKeyFromBase64(*a).ok());
}

class KeyFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = ::testing::TempDir() + "keys_test.XXXXXX";
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    dir_ = templ;
  }
  void TearDown() override {
    for (const std::string& name : Entries()) ::unlink((dir_ + "/" + name).c_str());
    ::rmdir(dir_.c_str());
  }
  std::vector<std::string> Entries() const {
    std::vector<std::string> names;
    DIR* d = ::opendir(dir_.c_str());
    if (d == nullptr) return names;
    while (dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      if (name != "." && name != "..") names.push_back(name);
    }
    ::closedir(d);
    return names;
  }
  static std::string Slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  static mode_t ModeOf(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(::lstat(path.c_str(), &st), 0);
    return st.st_mode;
  }
  void WritePlain(const std::string& path, const std::string& text, mode_t mode) {
    std::ofstream(path) << text;
    ASSERT_EQ(::chmod(path.c_str(), mode), 0);
  }
  std::string dir_;
};

TEST_F(KeyFileTest, WritesMode0600WhateverTheUmask) {
  const mode_t old = ::umask(0);
  const std::string path = dir_ + "/wg0.key";
  const Status st = WriteSecretFile(path, std::string(kAlicePrivate) + "\n");
  ::umask(old);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(ModeOf(path) & 07777, 0600u);
  EXPECT_TRUE(S_ISREG(ModeOf(path)));
  EXPECT_EQ(Slurp(path), std::string(kAlicePrivate) + "\n");
  EXPECT_EQ(Entries(), std::vector<std::string>{"wg0.key"});  // no temporary left behind
}

TEST_F(KeyFileTest, ReplacesExistingFileAndItsMode) {
  const std::string path = dir_ + "/wg0.key";
  WritePlain(path, "old", 0644);
  ASSERT_TRUE(WriteSecretFile(path, "new").ok());
  EXPECT_EQ(Slurp(path), "new");
  EXPECT_EQ(ModeOf(path) & 07777, 0600u);
}

TEST_F(KeyFileTest, ReplacesASymlinkInsteadOfWritingThroughIt) {
  const std::string target = dir_ + "/target";
  const std::string path = dir_ + "/wg0.key";
  WritePlain(target, "precious", 0644);
  ASSERT_EQ(::symlink(target.c_str(), path.c_str()), 0);
  ASSERT_TRUE(WriteSecretFile(path, "secret").ok());
  EXPECT_EQ(Slurp(target), "precious");
  EXPECT_TRUE(S_ISREG(ModeOf(path)));
  EXPECT_EQ(Slurp(path), "secret");
}

TEST_F(KeyFileTest, WriteFailsCleanlyInMissingDirectory) {
  const Status st = WriteSecretFile(dir_ + "/missing/wg0.key", "x");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("missing/wg0.key"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("No such file or directory"), std::string::npos) << st.message();
  EXPECT_FALSE(WriteSecretFile("", "x").ok());
}

TEST_F(KeyFileTest, WriteFailsCleanlyOnRenameOverDirectory) {
  const std::string path = dir_ + "/adir";
  ASSERT_EQ(::mkdir(path.c_str(), 0700), 0);
  const Status st = WriteSecretFile(path, "x");
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("rename"), std::string::npos) << st.message();
  EXPECT_EQ(Entries(), std::vector<std::string>{"adir"});  // the temporary was removed
}

TEST_F(KeyFileTest, ReadsWhatWasWritten) {
  const std::string path = dir_ + "/wg0.key";
  ASSERT_TRUE(WriteSecretFile(path, "\n  " + std::string(kAlicePrivate) + " \r\n\n").ok());
  auto file = ReadKeyFile(path);
  ASSERT_TRUE(file.ok()) << file.error().message();
  EXPECT_FALSE(file->warning.has_value());
  EXPECT_EQ(KeyToBase64(file->key.span()), kAlicePrivate);
}

TEST_F(KeyFileTest, WarnsAboutReadableFile) {
  const std::string path = dir_ + "/wg0.key";
  WritePlain(path, std::string(kAlicePrivate) + "\n", 0644);
  auto file = ReadKeyFile(path);
  ASSERT_TRUE(file.ok()) << file.error().message();
  ASSERT_TRUE(file->warning.has_value());
  EXPECT_NE(file->warning->find("mode 0644"), std::string::npos) << *file->warning;
  EXPECT_NE(file->warning->find(path), std::string::npos);
}

TEST_F(KeyFileTest, ReadErrorsNameTheFile) {
  const std::string missing = dir_ + "/missing.key";
  auto r = ReadKeyFile(missing);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(), missing + ": No such file or directory");

  r = ReadKeyFile(dir_);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("is a directory"), std::string::npos) << r.error().message();

  const std::string empty = dir_ + "/empty.key";
  WritePlain(empty, " \n", 0600);
  r = ReadKeyFile(empty);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(), empty + ": empty, expected a base64 key");

  const std::string bad = dir_ + "/bad.key";
  WritePlain(bad, "hello world\n", 0600);
  r = ReadKeyFile(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(), bad + ": not a key: expected 44 base64 characters, got 11");

  const std::string big = dir_ + "/big.key";
  WritePlain(big, std::string(kMaxKeyFileBytes + 1, 'A'), 0600);
  r = ReadKeyFile(big);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("larger than 4096 bytes"), std::string::npos) << r.error().message();

  const std::string two = dir_ + "/two.key";
  WritePlain(two, std::string(kAlicePrivate) + "\n" + std::string(kAlicePublic) + "\n", 0600);
  EXPECT_FALSE(ReadKeyFile(two).ok());
}

}  // namespace
}  // namespace cloudlet::vpn
