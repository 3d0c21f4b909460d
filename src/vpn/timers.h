// The per-peer timer state machine of WireGuard (whitepaper section 6; the Linux driver's timers.c), sans-IO:
// events and the time come in, actions come out; it never reads a clock and never sends anything itself.
//
// Timers (each is one deadline; "arm" replaces it, "disarm" clears it):
//  - retransmit_handshake: armed at now + REKEY_TIMEOUT + jitter whenever a handshake initiation goes out; disarmed
//    when a handshake completes. On expiry: retry the initiation, or after MAX_TIMER_HANDSHAKES retries (=
//    REKEY_ATTEMPT_TIME) give up: drop staged packets, stop send_keepalive, arm zero_key_material if not armed.
//  - send_keepalive: armed at now + KEEPALIVE_TIMEOUT when data is received and it is not already armed (if it
//    is, one more keepalive is owed after it fires); disarmed by any authenticated packet sent. On expiry: send a
//    keepalive (and re-arm once if one more was owed).
//  - new_handshake: armed at now + KEEPALIVE_TIMEOUT + REKEY_TIMEOUT + jitter when data is sent and it is not
//    already armed; disarmed by any authenticated packet received. On expiry: initiate a new handshake (the peer
//    went silent although it should have answered or kept alive).
//  - zero_key_material: armed at now + REJECT_AFTER_TIME * 3 when a session is derived (and on giving up). On
//    expiry: zero every key of the peer; no new session came in three reject periods.
//  - persistent_keepalive: if an interval N is set, armed at now + N by any authenticated packet sent or
//    received; disarmed when N is set to 0. On expiry: send a keepalive (keeps NAT mappings alive).
//
// Rules on the data paths (not timers, the caller asks on each packet):
//  - send path: initiate a handshake if the current session passed REKEY_AFTER_MESSAGES, or we initiated it and
//    it is older than REKEY_AFTER_TIME.
//  - receive path: if we initiated the current session and it is older than REJECT_AFTER_TIME - KEEPALIVE_TIMEOUT
//    - REKEY_TIMEOUT, initiate once ("last-minute" handshake) so a new session exists before this one dies.
// Initiations are rate-limited to one per REKEY_TIMEOUT.
//
// Actions returned are considered done at `now`: when an action says send an initiation or a keepalive, the
// machine has already accounted for that packet being sent (last-sent time, retransmit timer, keepalive timers),
// so the caller must not report it again. If the caller cannot send a keepalive (no session), it should call
// request_handshake(now).
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <optional>

#include "base/clock.h"
#include "vpn/constants.h"

namespace cloudlet::vpn {

// What the send/receive path knows about the peer's current session.
struct SessionSnapshot {
  bool valid = false;  // a current session exists and its sending key has not been zeroed
  bool i_am_initiator = false;
  Nanos created = 0;             // when the session's keys were derived
  uint64_t sending_counter = 0;  // the next counter this session would send with
};

struct TimerActions {
  bool send_handshake_initiation = false;
  bool send_keepalive = false;
  bool zero_key_material = false;
  bool handshake_gave_up = false;  // drop packets staged while waiting for a session

  bool any() const { return send_handshake_initiation || send_keepalive || zero_key_material || handshake_gave_up; }
  bool operator==(const TimerActions&) const = default;
};

// Returns uniformly random 64-bit values; the source of handshake jitter (inject a fixed one in tests).
using RandomSource = std::function<uint64_t()>;

class PeerTimers {
 public:
  static constexpr Nanos kNever = std::numeric_limits<Nanos>::max();

  PeerTimers(const TimerDurations& durations, RandomSource random);

  // --- events reported by the I/O layer ---
  // A data packet (not a keepalive) was encrypted and sent / decrypted and accepted.
  void on_data_sent(Nanos now);
  void on_data_received(Nanos now);
  // Any authenticated packet (data, keepalive, handshake) was sent / received and verified.
  void on_authenticated_packet_sent(Nanos now);
  void on_authenticated_packet_received(Nanos now);
  // A handshake finished (we received a valid response, or the first data on a session we responded to).
  void on_handshake_complete(Nanos now);
  // New session keys were derived (either role).
  void on_session_derived(Nanos now);
  // Sets the persistent keepalive interval (0 = off). A new non-zero interval sends a keepalive at once.
  TimerActions set_persistent_keepalive(Nanos interval, Nanos now);
  // Packets are waiting and there is no usable session: initiate unless one went out in the last REKEY_TIMEOUT.
  TimerActions request_handshake(Nanos now);
  // The peer is removed or the interface goes down: nothing more fires.
  void stop();

  // --- data-path rules ---
  // Call when sending data with `current`: may ask for a rekey.
  TimerActions on_send_path(const SessionSnapshot& current, Nanos now);
  // Call when data was received on `current`: may ask for the last-minute rekey.
  TimerActions on_receive_path(const SessionSnapshot& current, Nanos now);
  // A session older than REJECT_AFTER_TIME must not be used for sending or receiving.
  bool session_expired(Nanos created, Nanos now) const { return now - created > durations_.reject_after_time; }

  // --- time ---
  // Fires every timer whose deadline is <= now, in deadline order.
  TimerActions tick(Nanos now);
  // When tick() next has work: the earliest armed deadline (never before `now`), or kNever.
  Nanos next_deadline(Nanos now) const;

  // --- introspection (status output, tests) ---
  int64_t handshake_attempts() const { return handshake_attempts_; }
  std::optional<Nanos> last_handshake_completed() const { return last_handshake_completed_; }
  Nanos persistent_keepalive_interval() const { return persistent_keepalive_interval_; }
  const TimerDurations& durations() const { return durations_; }

 private:
  enum Timer { kRetransmitHandshake, kSendKeepalive, kNewHandshake, kZeroKeyMaterial, kPersistentKeepalive, kCount };

  bool armed(Timer t) const { return deadlines_[t] != kNever; }
  void arm(Timer t, Nanos at) { deadlines_[t] = at; }
  void disarm(Timer t) { deadlines_[t] = kNever; }
  Nanos jitter();
  void initiate(Nanos now, bool is_retry, TimerActions& out);
  void send_keepalive(Nanos now, TimerActions& out);
  void fire(Timer t, Nanos now, TimerActions& out);

  TimerDurations durations_;
  RandomSource random_;
  Nanos deadlines_[kCount];
  int64_t handshake_attempts_ = 0;
  bool keepalive_owed_ = false;
  bool sent_last_minute_handshake_ = false;
  std::optional<Nanos> last_sent_handshake_;
  std::optional<Nanos> last_handshake_completed_;
  Nanos persistent_keepalive_interval_ = 0;
};

}  // namespace cloudlet::vpn
