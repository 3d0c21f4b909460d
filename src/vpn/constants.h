// WireGuard protocol constants (whitepaper section 6.1) and the timer durations the timer state machine runs on.
// The durations are a struct passed into PeerTimers, not globals, so an end-to-end test can shorten them (e.g. a
// 2 s REKEY_AFTER_TIME) and watch a rekey happen; production code uses the defaults below, which are the protocol's.
#pragma once

#include <cstdint>
#include <limits>

#include "base/clock.h"

namespace cloudlet::vpn {

// A session initiates a rekey after this many messages sent with it.
constexpr uint64_t kRekeyAfterMessages = uint64_t{1} << 60;
// 2^64 - 2^13 - 1: no message is sent or accepted with a counter at or beyond this (keeps the nonce from wrapping,
// with room for the replay window).
constexpr uint64_t kRejectAfterMessages = std::numeric_limits<uint64_t>::max() - (uint64_t{1} << 13);

constexpr Nanos kRekeyAfterTime = 120 * kSecond;
constexpr Nanos kRejectAfterTime = 180 * kSecond;
constexpr Nanos kRekeyAttemptTime = 90 * kSecond;
constexpr Nanos kRekeyTimeout = 5 * kSecond;
constexpr Nanos kKeepaliveTimeout = 10 * kSecond;
constexpr Nanos kCookieSecretMaxAge = 120 * kSecond;
// Handshake (re)transmissions are delayed by a random jitter in [0, this) so peers do not retry in lockstep.
constexpr Nanos kRekeyTimeoutJitterMax = 333 * kMillisecond;

// The durations PeerTimers runs on. Defaults are the protocol's; a test build may shorten them, and then must keep
// the relations the protocol relies on (reject_after_time > keepalive_timeout + rekey_timeout, rekey_timeout > 0).
struct TimerDurations {
  Nanos rekey_after_time = kRekeyAfterTime;
  Nanos reject_after_time = kRejectAfterTime;
  Nanos rekey_attempt_time = kRekeyAttemptTime;
  Nanos rekey_timeout = kRekeyTimeout;
  Nanos keepalive_timeout = kKeepaliveTimeout;
  Nanos rekey_timeout_jitter_max = kRekeyTimeoutJitterMax;

  // How many handshake retransmissions are tried before giving up (90 s / 5 s = 18 with the defaults).
  constexpr int64_t max_timer_handshakes() const { return rekey_timeout > 0 ? rekey_attempt_time / rekey_timeout : 0; }
};

constexpr int64_t kMaxTimerHandshakes = TimerDurations{}.max_timer_handshakes();
static_assert(kMaxTimerHandshakes == 18);

}  // namespace cloudlet::vpn
