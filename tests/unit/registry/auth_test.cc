#include "registry/auth.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

namespace cloudlet::registry {
namespace {

TEST(ChallengeTest, ParsesBearer) {
  Result<Challenge> c = ParseChallenge(
      R"(Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull,push")");
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->scheme, "bearer");
  EXPECT_EQ(c->params["realm"], "https://auth.docker.io/token");
  EXPECT_EQ(c->params["service"], "registry.docker.io");
  EXPECT_EQ(c->params["scope"], "repository:library/busybox:pull,push");
}

TEST(ChallengeTest, ParsesBasicAndEscapes) {
  Result<Challenge> c = ParseChallenge(R"(Basic realm="say \"hi\", please")");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->scheme, "basic");
  EXPECT_EQ(c->params["realm"], "say \"hi\", please");
  EXPECT_FALSE(ParseChallenge(R"(Bearer realm="unterminated)").ok());
  EXPECT_FALSE(ParseChallenge("").ok());
}

TEST(CredentialsTest, ParseKeepsColonsInPassword) {
  Result<Credentials> c = ParseCredentials("bob:pa:ss");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->username, "bob");
  EXPECT_EQ(c->password, "pa:ss");
  Result<Credentials> bad = ParseCredentials("secretwithoutcolon");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message().find("secretwithoutcolon"), std::string::npos);
}

TEST(Base64Test, RoundTrips) {
  for (std::string s : {"", "a", "ab", "abc", "abcd", "user:password"}) {
    Result<std::string> back = Base64Decode(Base64Encode(s));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, s);
  }
  EXPECT_EQ(Base64Encode("user:password"), "dXNlcjpwYXNzd29yZA==");
  EXPECT_FALSE(Base64Decode("abc").ok());
}

TEST(CredentialsTest, LookupInAuthFile) {
  char path[] = "/tmp/cloudlet-auth-XXXXXX";
  int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ::close(fd);
  {
    std::ofstream f(path);
    f << R"({"auths":{"https://index.docker.io/v1/":{"auth":")" << Base64Encode("hub:pw1") << R"("},)"
      << R"("127.0.0.1:5000":{"auth":")" << Base64Encode("local:pw2") << R"("}}})";
  }
  auto hub = LookupCredentialsIn(path, "docker.io");
  ASSERT_TRUE(hub.ok());
  ASSERT_TRUE(hub->has_value());
  EXPECT_EQ((*hub)->username, "hub");
  auto local = LookupCredentialsIn(path, "127.0.0.1:5000");
  ASSERT_TRUE(local.ok() && local->has_value());
  EXPECT_EQ((*local)->password, "pw2");
  auto none = LookupCredentialsIn(path, "quay.io");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  {
    std::ofstream f(path);
    f << "not json";
  }
  EXPECT_FALSE(LookupCredentialsIn(path, "quay.io").ok());
  ::unlink(path);
}

}  // namespace
}  // namespace cloudlet::registry
