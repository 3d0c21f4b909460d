// The per-peer timer state machine, with explicit times for every timer and rule.
#include "vpn/timers.h"

#include <gtest/gtest.h>

namespace cloudlet::vpn {
namespace {

constexpr Nanos kS = kSecond;
constexpr Nanos kMs = kMillisecond;

RandomSource Fixed(uint64_t value) {
  return [value] { return value; };
}

TimerActions Initiation() { return {.send_handshake_initiation = true}; }
TimerActions Keepalive() { return {.send_keepalive = true}; }

TEST(PeerTimers, NothingArmedAtStart) {
  PeerTimers t({}, Fixed(0));
  EXPECT_EQ(t.next_deadline(0), PeerTimers::kNever);
  EXPECT_FALSE(t.tick(1000 * kS).any());
}

TEST(PeerTimers, HandshakeRetransmitsAfterRekeyTimeoutPlusJitterThenGivesUp) {
  PeerTimers t({}, Fixed(100 * kMs));  // jitter = 100 ms
  Nanos now = 0;
  ASSERT_EQ(t.request_handshake(now), Initiation());
  int initiations = 1;
  EXPECT_EQ(t.next_deadline(now), 5 * kS + 100 * kMs);
  EXPECT_FALSE(t.tick(5 * kS + 100 * kMs - 1).any());
  // Each retry comes REKEY_TIMEOUT + jitter after the previous one; after MAX_TIMER_HANDSHAKES + 1 retries, give up.
  for (int i = 0; i < 100; ++i) {
    now = t.next_deadline(now);
    const TimerActions a = t.tick(now);
    if (a.handshake_gave_up) {
      EXPECT_FALSE(a.send_handshake_initiation);
      break;
    }
    ASSERT_EQ(a, Initiation()) << i;
    ++initiations;
    EXPECT_EQ(t.handshake_attempts(), i + 1);
  }
  EXPECT_EQ(initiations, 1 + kMaxTimerHandshakes + 1);
  EXPECT_EQ(now, (kMaxTimerHandshakes + 2) * (5 * kS + 100 * kMs));
  // Giving up arms the zeroing of key material three reject periods later, and nothing else.
  EXPECT_EQ(t.next_deadline(now), now + 3 * kRejectAfterTime);
  EXPECT_EQ(t.tick(now + 3 * kRejectAfterTime), TimerActions{.zero_key_material = true});
  EXPECT_EQ(t.next_deadline(now), PeerTimers::kNever);
}

TEST(PeerTimers, HandshakeCompleteStopsRetransmission) {
  PeerTimers t({}, Fixed(0));
  ASSERT_EQ(t.request_handshake(0), Initiation());
  ASSERT_EQ(t.tick(5 * kS), Initiation());
  EXPECT_EQ(t.handshake_attempts(), 1);
  t.on_handshake_complete(6 * kS);
  EXPECT_EQ(t.handshake_attempts(), 0);
  EXPECT_EQ(t.last_handshake_completed(), 6 * kS);
  EXPECT_FALSE(t.tick(100 * kS).any());
}

TEST(PeerTimers, InitiationsAreRateLimitedToOnePerRekeyTimeout) {
  PeerTimers t({}, Fixed(0));
  ASSERT_EQ(t.request_handshake(10 * kS), Initiation());
  EXPECT_FALSE(t.request_handshake(10 * kS).any());
  EXPECT_FALSE(t.request_handshake(15 * kS - 1).any());
  EXPECT_EQ(t.request_handshake(15 * kS), Initiation());
}

TEST(PeerTimers, JitterStaysBelowItsMaximum) {
  PeerTimers t({}, Fixed(~uint64_t{0}));
  ASSERT_EQ(t.request_handshake(0), Initiation());
  const Nanos retry = t.next_deadline(0);
  EXPECT_GE(retry, 5 * kS);
  EXPECT_LT(retry, 5 * kS + kRekeyTimeoutJitterMax);
}

TEST(PeerTimers, KeepaliveAfterReceivingWithoutSending) {
  PeerTimers t({}, Fixed(0));
  t.on_data_received(0);
  EXPECT_EQ(t.next_deadline(0), 10 * kS);
  EXPECT_FALSE(t.tick(10 * kS - 1).any());
  EXPECT_EQ(t.tick(10 * kS), Keepalive());
  EXPECT_FALSE(t.tick(30 * kS).any());
}

TEST(PeerTimers, SendingAnythingCancelsThePendingKeepalive) {
  PeerTimers t({}, Fixed(0));
  t.on_data_received(0);
  t.on_authenticated_packet_sent(3 * kS);
  EXPECT_FALSE(t.tick(20 * kS).any());
}

TEST(PeerTimers, DataReceivedWhileKeepalivePendingOwesOneMore) {
  PeerTimers t({}, Fixed(0));
  t.on_data_received(0);
  t.on_data_received(2 * kS);  // does not push the deadline, but one more keepalive is owed
  EXPECT_EQ(t.next_deadline(2 * kS), 10 * kS);
  EXPECT_EQ(t.tick(10 * kS), Keepalive());
  EXPECT_EQ(t.next_deadline(10 * kS), 20 * kS);
  EXPECT_EQ(t.tick(20 * kS), Keepalive());
  EXPECT_FALSE(t.tick(40 * kS).any());
}

TEST(PeerTimers, NewHandshakeWhenSentDataIsNotAnswered) {
  PeerTimers t({}, Fixed(200 * kMs));
  t.on_data_sent(0);
  t.on_data_sent(5 * kS);  // already armed: not pushed
  EXPECT_EQ(t.next_deadline(5 * kS), 15 * kS + 200 * kMs);
  EXPECT_FALSE(t.tick(15 * kS + 200 * kMs - 1).any());
  EXPECT_EQ(t.tick(15 * kS + 200 * kMs), Initiation());
}

TEST(PeerTimers, AnyAuthenticatedReceiveCancelsNewHandshake) {
  PeerTimers t({}, Fixed(0));
  t.on_data_sent(0);
  t.on_authenticated_packet_received(14 * kS);
  EXPECT_FALSE(t.tick(60 * kS).any());
}

TEST(PeerTimers, PersistentKeepalive) {
  PeerTimers t({}, Fixed(0));
  EXPECT_EQ(t.set_persistent_keepalive(25 * kS, 0), Keepalive());   // a new interval sends one at once
  EXPECT_FALSE(t.set_persistent_keepalive(25 * kS, 1 * kS).any());  // unchanged: nothing
  EXPECT_EQ(t.next_deadline(1 * kS), 25 * kS);
  t.on_authenticated_packet_received(10 * kS);  // traffic pushes it
  EXPECT_EQ(t.next_deadline(10 * kS), 35 * kS);
  EXPECT_EQ(t.tick(35 * kS), Keepalive());
  EXPECT_EQ(t.next_deadline(35 * kS), 60 * kS);
  EXPECT_EQ(t.set_persistent_keepalive(40 * kS, 36 * kS), Keepalive());  // changed: send, re-arm with the new one
  EXPECT_EQ(t.next_deadline(36 * kS), 76 * kS);
  EXPECT_FALSE(t.set_persistent_keepalive(0, 37 * kS).any());
  EXPECT_EQ(t.persistent_keepalive_interval(), 0);
  EXPECT_FALSE(t.tick(1000 * kS).any());
}

TEST(PeerTimers, ZeroKeyMaterialAfterThreeRejectPeriodsWithoutANewSession) {
  PeerTimers t({}, Fixed(0));
  t.on_session_derived(0);
  EXPECT_EQ(t.next_deadline(0), 540 * kS);
  t.on_session_derived(100 * kS);  // a new session pushes it
  EXPECT_FALSE(t.tick(540 * kS).any());
  EXPECT_EQ(t.tick(640 * kS), TimerActions{.zero_key_material = true});
}

TEST(PeerTimers, SendPathRekeysOldSessionsOnlyAsInitiator) {
  PeerTimers t({}, Fixed(0));
  SessionSnapshot s{.valid = true, .i_am_initiator = true, .created = 0, .sending_counter = 10};
  EXPECT_FALSE(t.on_send_path(s, 120 * kS).any());
  EXPECT_EQ(t.on_send_path(s, 120 * kS + 1), Initiation());
  PeerTimers responder({}, Fixed(0));
  s.i_am_initiator = false;
  EXPECT_FALSE(responder.on_send_path(s, 170 * kS).any());
  s.valid = false;
  s.i_am_initiator = true;
  EXPECT_FALSE(responder.on_send_path(s, 170 * kS).any());
}

TEST(PeerTimers, SendPathRekeysAfterMessagesInEitherRole) {
  PeerTimers t({}, Fixed(0));
  SessionSnapshot s{.valid = true, .i_am_initiator = false, .created = 0, .sending_counter = kRekeyAfterMessages};
  EXPECT_FALSE(t.on_send_path(s, kS).any());
  s.sending_counter = kRekeyAfterMessages + 1;
  EXPECT_EQ(t.on_send_path(s, kS), Initiation());
  EXPECT_FALSE(t.on_send_path(s, 2 * kS).any());  // rate-limited
}

TEST(PeerTimers, ReceivePathLastMinuteRekeyOnce) {
  PeerTimers t({}, Fixed(0));
  const Nanos last_minute = kRejectAfterTime - kKeepaliveTimeout - kRekeyTimeout;  // 165 s
  SessionSnapshot s{.valid = true, .i_am_initiator = true, .created = 0};
  EXPECT_FALSE(t.on_receive_path(s, last_minute).any());
  EXPECT_EQ(t.on_receive_path(s, last_minute + 1), Initiation());
  EXPECT_FALSE(t.on_receive_path(s, last_minute + 10 * kS).any());  // only once per handshake
  t.on_handshake_complete(last_minute + 11 * kS);
  EXPECT_EQ(t.on_receive_path(s, last_minute + 12 * kS), Initiation());
  PeerTimers responder({}, Fixed(0));
  s.i_am_initiator = false;
  EXPECT_FALSE(responder.on_receive_path(s, 179 * kS).any());
}

TEST(PeerTimers, SessionExpiry) {
  PeerTimers t({}, Fixed(0));
  EXPECT_FALSE(t.session_expired(0, 180 * kS));
  EXPECT_TRUE(t.session_expired(0, 180 * kS + 1));
}

TEST(PeerTimers, LateTickFiresEverythingDueInOrder) {
  PeerTimers t({}, Fixed(0));
  t.on_data_received(0);   // keepalive at 10 s
  t.on_data_sent(1 * kS);  // new handshake at 16 s; but the keepalive at 10 s counts as sent, not as received
  t.on_session_derived(0);
  const TimerActions a = t.tick(20 * kS);
  EXPECT_TRUE(a.send_keepalive);
  EXPECT_TRUE(a.send_handshake_initiation);
  EXPECT_FALSE(a.zero_key_material);
  EXPECT_EQ(t.next_deadline(20 * kS), 25 * kS);  // the retransmit of that initiation
}

TEST(PeerTimers, NextDeadlineIsNeverInThePast) {
  PeerTimers t({}, Fixed(0));
  t.on_data_received(0);
  EXPECT_EQ(t.next_deadline(3 * kS), 10 * kS);
  EXPECT_EQ(t.next_deadline(12 * kS), 12 * kS);
}

TEST(PeerTimers, StopDisarmsEverything) {
  PeerTimers t({}, Fixed(0));
  ASSERT_EQ(t.request_handshake(0), Initiation());
  t.on_data_received(0);
  t.on_data_sent(0);
  t.on_session_derived(0);
  EXPECT_EQ(t.set_persistent_keepalive(kS, 0), Keepalive());
  t.stop();
  EXPECT_EQ(t.next_deadline(0), PeerTimers::kNever);
  EXPECT_FALSE(t.tick(10'000 * kS).any());
}

TEST(PeerTimers, ShortenedDurationsForEndToEndTests) {
  TimerDurations d;
  d.rekey_after_time = 2 * kS;
  d.reject_after_time = 3 * kS;
  d.rekey_attempt_time = 1 * kS;
  d.rekey_timeout = 250 * kMs;
  d.keepalive_timeout = 500 * kMs;
  d.rekey_timeout_jitter_max = 0;
  ASSERT_EQ(d.max_timer_handshakes(), 4);
  PeerTimers t(d, Fixed(12345));

  // Retransmit every 250 ms, 1 + 4 + 1 initiations, then give up at 6 * 250 ms.
  ASSERT_EQ(t.request_handshake(0), Initiation());
  int initiations = 1;
  Nanos now = 0;
  for (int i = 0; i < 20; ++i) {
    now = t.next_deadline(now);
    const TimerActions a = t.tick(now);
    if (a.handshake_gave_up) break;
    ASSERT_EQ(a, Initiation());
    ++initiations;
  }
  EXPECT_EQ(initiations, 6);
  EXPECT_EQ(now, 1500 * kMs);
  EXPECT_EQ(t.next_deadline(now), now + 9 * kS);  // zeroing after 3 * reject_after_time

  PeerTimers k(d, Fixed(0));
  k.on_data_received(0);
  EXPECT_EQ(k.tick(500 * kMs), Keepalive());
  k.on_data_sent(kS);
  EXPECT_EQ(k.next_deadline(kS), kS + 750 * kMs);
  SessionSnapshot s{.valid = true, .i_am_initiator = true, .created = 0};
  EXPECT_EQ(k.on_send_path(s, 2 * kS + 1), Initiation());
  PeerTimers r(d, Fixed(0));
  EXPECT_FALSE(r.on_receive_path(s, 2250 * kMs).any());  // 3 s - 0.5 s - 0.25 s
  EXPECT_EQ(r.on_receive_path(s, 2250 * kMs + 1), Initiation());
}

}  // namespace
}  // namespace cloudlet::vpn
