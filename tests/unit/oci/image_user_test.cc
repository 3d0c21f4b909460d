#include "oci/image_user.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace cloudlet::oci {
namespace {

using ::testing::HasSubstr;

constexpr char kPasswd[] =
    "root:x:0:0:root:/root:/bin/sh\n"
    "broken\n"
    "www:x:33:44:www:/var/www:/bin/false\n"
    "svc:x:1000:1001::/:/bin/sh\n";
constexpr char kGroup[] =
    "root:x:0:\n"
    "staff:x:50:\n"
    "www:x:44\n";

User Ids(uint32_t uid, uint32_t gid) {
  User u;
  u.uid = uid;
  u.gid = gid;
  return u;
}

TEST(ImageUser, EveryFormDockerAccepts) {
  struct Case {
    const char* user;
    User want;
  } cases[] = {
      {"", Ids(0, 0)},
      {"www", Ids(33, 44)},
      {"33", Ids(33, 44)},  // primary group from passwd
      {"www:staff", Ids(33, 50)},
      {"www:7", Ids(33, 7)},
      {"33:staff", Ids(33, 50)},
      {"4242", Ids(4242, 0)},
      {"4242:4243", Ids(4242, 4243)},
      {"svc", Ids(1000, 1001)},
  };
  for (const Case& c : cases) {
    auto got = ResolveImageUser(c.user, kPasswd, kGroup);
    ASSERT_TRUE(got.ok()) << c.user << ": " << got.error().message();
    EXPECT_EQ(*got, c.want) << c.user;
  }
}

TEST(ImageUser, UnknownNamesAreErrors) {
  auto user = ResolveImageUser("nobody", kPasswd, kGroup);
  ASSERT_FALSE(user.ok());
  EXPECT_THAT(user.error().message(), HasSubstr("user 'nobody' is not in the image's /etc/passwd"));
  auto group = ResolveImageUser("www:wheel", kPasswd, kGroup);
  ASSERT_FALSE(group.ok());
  EXPECT_THAT(group.error().message(), HasSubstr("group 'wheel' is not in the image's /etc/group"));
  EXPECT_FALSE(ResolveImageUser("www", "", "").ok());  // no passwd at all: names cannot resolve
  EXPECT_TRUE(ResolveImageUser("1:2", "", "").ok());   // numbers need none
}

TEST(ImageUser, ParseUint32Bounds) {
  uint32_t v = 0;
  EXPECT_TRUE(ParseUint32("4294967295", &v));
  EXPECT_EQ(v, 4294967295u);
  EXPECT_FALSE(ParseUint32("4294967296", &v));
  EXPECT_FALSE(ParseUint32("", &v));
  EXPECT_FALSE(ParseUint32("-1", &v));
  EXPECT_FALSE(ParseUint32(" 1", &v));
  EXPECT_FALSE(ParseUint32("12345678901", &v));
}

}  // namespace
}  // namespace cloudlet::oci
