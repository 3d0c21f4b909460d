// MAC1/MAC2 and cookie replies (vpn/cookie.h): the checker's verdicts, the cookie reply round trip, and the
// lifetimes of the responder's secret and the initiator's cookie.
#include "vpn/cookie.h"

#include <gtest/gtest.h>

#include <optional>
#include <vector>

#include "identity_fixture.h"
#include "vpn/noise.h"

namespace cloudlet::vpn {
namespace {

constexpr int64_t kWall = int64_t{1700000000} * kSecond;

class CookieTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto suite = CryptoSuite::Create();
    ASSERT_TRUE(suite.ok()) << suite.error().message();
    crypto_.emplace(std::move(suite).value());
    auto hs = Handshake::Create(*crypto_, alice_, bob_.public_key, SymmetricKey());
    ASSERT_TRUE(hs.ok());
    alice_to_bob_.emplace(std::move(hs).value());
    auto checker = CookieChecker::Create(*crypto_, bob_.public_key);
    ASSERT_TRUE(checker.ok());
    bob_checker_.emplace(std::move(checker).value());
  }

  InitiationBytes Initiation(Nanos now) {
    auto init = alice_to_bob_->CreateInitiation(*crypto_, 0x1234, now, kWall + now);
    EXPECT_TRUE(init.ok());
    return init.ok() ? *init : InitiationBytes{};
  }

  MacCheck Check(ByteView msg, bool under_load, Nanos now, ByteView source = {}) {
    return bob_checker_->Check(*crypto_, msg, source.empty() ? ByteView(source_) : source, under_load, now);
  }

  std::optional<CryptoSuite> crypto_;
  LocalIdentity alice_ = MakeIdentity();
  LocalIdentity bob_ = MakeIdentity();
  std::optional<Handshake> alice_to_bob_;
  std::optional<CookieChecker> bob_checker_;
  std::vector<uint8_t> source_ = {192, 0, 2, 7, 0x1f, 0x90};  // 192.0.2.7:8080
};

TEST_F(CookieTest, Mac1CheckedAlways) {
  InitiationBytes init = Initiation(kSecond);
  EXPECT_EQ(Check(init, false, kSecond), MacCheck::kValidMac1);
  for (size_t i = kInitiationMac1Offset; i < kInitiationMac2Offset; ++i) {
    InitiationBytes bad = init;
    bad[i] ^= 0x10;
    EXPECT_EQ(Check(bad, false, kSecond), MacCheck::kInvalid) << "byte " << i;
    EXPECT_EQ(Check(bad, true, kSecond), MacCheck::kInvalid) << "byte " << i;
  }
  // MAC1 keyed for someone else.
  auto carol_checker = CookieChecker::Create(*crypto_, MakeIdentity().public_key);
  ASSERT_TRUE(carol_checker.ok());
  EXPECT_EQ(carol_checker->Check(*crypto_, init, source_, false, kSecond), MacCheck::kInvalid);
  // Not a handshake message at all.
  EXPECT_EQ(Check(ByteView(init).first(100), false, kSecond), MacCheck::kInvalid);
  EXPECT_EQ(Check(ByteView(), false, kSecond), MacCheck::kInvalid);
}

TEST_F(CookieTest, CookieReplyRoundTripThenMac2PassesUnderLoad) {
  const Nanos t0 = 10 * kSecond;
  InitiationBytes init = Initiation(t0);
  // Under load, no cookie yet: MAC1 only, and the responder answers with a cookie reply.
  ASSERT_EQ(Check(init, true, t0), MacCheck::kValidMac1);
  auto reply = bob_checker_->CreateReply(*crypto_, init, source_, t0);
  ASSERT_TRUE(reply.ok()) << reply.error().message();
  auto parsed = ParseCookieReply(*reply);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->receiver_index, 0x1234u);  // answers the initiation's sender index

  ASSERT_TRUE(alice_to_bob_->ConsumeCookieReply(*reply, t0).ok());
  EXPECT_FALSE(alice_to_bob_->ConsumeCookieReply(*reply, t0).ok());  // one reply per message sent

  InitiationBytes with_cookie = Initiation(t0 + kSecond);
  EXPECT_EQ(Check(with_cookie, true, t0 + kSecond), MacCheck::kValidMac1AndMac2);
  EXPECT_EQ(Check(with_cookie, false, t0 + kSecond), MacCheck::kValidMac1);  // MAC2 ignored when not under load
  // The cookie is bound to the source address (IP and port).
  const std::vector<uint8_t> other_port = {192, 0, 2, 7, 0x1f, 0x91};
  EXPECT_EQ(Check(with_cookie, true, t0 + kSecond, other_port), MacCheck::kValidMac1);
  // A flipped MAC2 byte fails under load.
  InitiationBytes bad = with_cookie;
  bad[kInitiationSize - 1] ^= 1;
  EXPECT_EQ(Check(bad, true, t0 + kSecond), MacCheck::kValidMac1);
}

TEST_F(CookieTest, CookieExpiresAndSecretRotates) {
  const Nanos t0 = 10 * kSecond;
  InitiationBytes init = Initiation(t0);
  auto reply = bob_checker_->CreateReply(*crypto_, init, source_, t0);
  ASSERT_TRUE(reply.ok());
  ASSERT_TRUE(alice_to_bob_->ConsumeCookieReply(*reply, t0).ok());

  // The initiator stops sending MAC2 once the cookie is older than 120 s - 5 s.
  InitiationBytes late = Initiation(t0 + kCookieSecretLifetime - kCookieLatency);
  for (size_t i = kInitiationMac2Offset; i < kInitiationSize; ++i) EXPECT_EQ(late[i], 0) << "byte " << i;

  // The responder's secret rotates after 120 s, so an old cookie no longer verifies.
  auto checker2 = CookieChecker::Create(*crypto_, bob_.public_key);
  ASSERT_TRUE(checker2.ok());
  init = Initiation(t0 + 200 * kSecond);
  reply = checker2->CreateReply(*crypto_, init, source_, t0 + 200 * kSecond);
  ASSERT_TRUE(reply.ok());
  ASSERT_TRUE(alice_to_bob_->ConsumeCookieReply(*reply, t0 + 200 * kSecond).ok());
  InitiationBytes fresh = Initiation(t0 + 201 * kSecond);
  EXPECT_EQ(checker2->Check(*crypto_, fresh, source_, true, t0 + 201 * kSecond), MacCheck::kValidMac1AndMac2);
  EXPECT_EQ(checker2->Check(*crypto_, fresh, source_, true, t0 + 200 * kSecond + kCookieSecretLifetime),
            MacCheck::kValidMac1);
}

TEST_F(CookieTest, ReplyMustAnswerTheLastMessageAndAuthenticate) {
  const Nanos t0 = 10 * kSecond;
  InitiationBytes first = Initiation(t0);
  auto reply = bob_checker_->CreateReply(*crypto_, first, source_, t0);
  ASSERT_TRUE(reply.ok());
  (void)Initiation(t0 + kSecond);  // a newer message: the reply's AD (the old MAC1) no longer matches
  EXPECT_FALSE(alice_to_bob_->ConsumeCookieReply(*reply, t0 + kSecond).ok());

  InitiationBytes latest = Initiation(t0 + 2 * kSecond);
  reply = bob_checker_->CreateReply(*crypto_, latest, source_, t0 + 2 * kSecond);
  ASSERT_TRUE(reply.ok());
  for (size_t i = 8; i < kCookieReplySize; ++i) {  // nonce and encrypted cookie
    CookieReplyBytes bad = *reply;
    bad[i] ^= 0x20;
    EXPECT_FALSE(alice_to_bob_->ConsumeCookieReply(bad, t0).ok()) << "byte " << i;
  }
  EXPECT_FALSE(alice_to_bob_->ConsumeCookieReply(ByteView(*reply).first(63), t0).ok());
  EXPECT_TRUE(alice_to_bob_->ConsumeCookieReply(*reply, t0).ok());

  // Replies are only made for well-formed handshake messages and sane source addresses.
  EXPECT_FALSE(bob_checker_->CreateReply(*crypto_, ByteView(latest).first(50), source_, t0).ok());
  const std::vector<uint8_t> too_long(19, 1);
  EXPECT_FALSE(bob_checker_->CreateReply(*crypto_, latest, too_long, t0).ok());
}

}  // namespace
}  // namespace cloudlet::vpn
