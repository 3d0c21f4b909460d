// Per-peer timer state machine; see timers.h for the list of timers and rules.
#include "vpn/timers.h"

#include <algorithm>
#include <utility>

namespace cloudlet::vpn {

PeerTimers::PeerTimers(const TimerDurations& durations, RandomSource random)
    : durations_(durations), random_(std::move(random)) {
  std::fill(std::begin(deadlines_), std::end(deadlines_), kNever);
}

Nanos PeerTimers::jitter() {
  if (durations_.rekey_timeout_jitter_max <= 0 || !random_) return 0;
  return static_cast<Nanos>(random_() % static_cast<uint64_t>(durations_.rekey_timeout_jitter_max));
}

void PeerTimers::on_data_sent(Nanos now) {
  if (armed(kNewHandshake)) return;
  arm(kNewHandshake, now + durations_.keepalive_timeout + durations_.rekey_timeout + jitter());
}

void PeerTimers::on_data_received(Nanos now) {
  if (armed(kSendKeepalive)) {
    keepalive_owed_ = true;
    return;
  }
  arm(kSendKeepalive, now + durations_.keepalive_timeout);
}

void PeerTimers::on_authenticated_packet_sent(Nanos now) {
  disarm(kSendKeepalive);
  if (persistent_keepalive_interval_ > 0) arm(kPersistentKeepalive, now + persistent_keepalive_interval_);
}

void PeerTimers::on_authenticated_packet_received(Nanos now) {
  disarm(kNewHandshake);
  if (persistent_keepalive_interval_ > 0) arm(kPersistentKeepalive, now + persistent_keepalive_interval_);
}

void PeerTimers::on_handshake_complete(Nanos now) {
  disarm(kRetransmitHandshake);
  handshake_attempts_ = 0;
  sent_last_minute_handshake_ = false;
  last_handshake_completed_ = now;
}

void PeerTimers::on_session_derived(Nanos now) { arm(kZeroKeyMaterial, now + durations_.reject_after_time * 3); }

TimerActions PeerTimers::set_persistent_keepalive(Nanos interval, Nanos now) {
  TimerActions out;
  interval = std::max<Nanos>(interval, 0);
  const bool changed = interval != persistent_keepalive_interval_;
  persistent_keepalive_interval_ = interval;
  if (interval == 0) {
    disarm(kPersistentKeepalive);
    return out;
  }
  if (changed) send_keepalive(now, out);
  return out;
}

TimerActions PeerTimers::request_handshake(Nanos now) {
  TimerActions out;
  initiate(now, /*is_retry=*/false, out);
  return out;
}

void PeerTimers::stop() {
  std::fill(std::begin(deadlines_), std::end(deadlines_), kNever);
  keepalive_owed_ = false;
}

TimerActions PeerTimers::on_send_path(const SessionSnapshot& current, Nanos now) {
  TimerActions out;
  if (!current.valid) return out;
  const bool too_many = current.sending_counter > kRekeyAfterMessages;
  const bool too_old = current.i_am_initiator && now - current.created > durations_.rekey_after_time;
  if (too_many || too_old) initiate(now, /*is_retry=*/false, out);
  return out;
}

TimerActions PeerTimers::on_receive_path(const SessionSnapshot& current, Nanos now) {
  TimerActions out;
  if (sent_last_minute_handshake_ || !current.valid || !current.i_am_initiator) return out;
  const Nanos last_minute = durations_.reject_after_time - durations_.keepalive_timeout - durations_.rekey_timeout;
  if (now - current.created <= last_minute) return out;
  sent_last_minute_handshake_ = true;
  initiate(now, /*is_retry=*/false, out);
  return out;
}

// The one place initiations are decided: rate-limited to one per REKEY_TIMEOUT, and accounted as sent.
void PeerTimers::initiate(Nanos now, bool is_retry, TimerActions& out) {
  if (!is_retry) handshake_attempts_ = 0;
  if (last_sent_handshake_ && now - *last_sent_handshake_ < durations_.rekey_timeout) return;
  last_sent_handshake_ = now;
  out.send_handshake_initiation = true;
  on_authenticated_packet_sent(now);
  arm(kRetransmitHandshake, now + durations_.rekey_timeout + jitter());
}

void PeerTimers::send_keepalive(Nanos now, TimerActions& out) {
  out.send_keepalive = true;
  on_authenticated_packet_sent(now);
}

void PeerTimers::fire(Timer t, Nanos now, TimerActions& out) {
  switch (t) {
    case kRetransmitHandshake:
      if (handshake_attempts_ > durations_.max_timer_handshakes()) {
        out.handshake_gave_up = true;
        disarm(kSendKeepalive);
        if (!armed(kZeroKeyMaterial)) arm(kZeroKeyMaterial, now + durations_.reject_after_time * 3);
        return;
      }
      ++handshake_attempts_;
      initiate(now, /*is_retry=*/true, out);
      return;
    case kSendKeepalive:
      send_keepalive(now, out);
      if (keepalive_owed_) {
        keepalive_owed_ = false;
        arm(kSendKeepalive, now + durations_.keepalive_timeout);
      }
      return;
    case kNewHandshake:
      initiate(now, /*is_retry=*/false, out);
      return;
    case kZeroKeyMaterial:
      out.zero_key_material = true;
      return;
    case kPersistentKeepalive:
      if (persistent_keepalive_interval_ > 0) send_keepalive(now, out);
      return;
    case kCount:
      return;
  }
}

TimerActions PeerTimers::tick(Nanos now) {
  TimerActions out;
  // Each firing re-arms only strictly after `now`, so every timer fires at most once per tick: kCount rounds.
  for (int round = 0; round < kCount; ++round) {
    int earliest = -1;
    for (int t = 0; t < kCount; ++t) {
      if (deadlines_[t] <= now && (earliest < 0 || deadlines_[t] < deadlines_[earliest])) earliest = t;
    }
    if (earliest < 0) break;
    disarm(static_cast<Timer>(earliest));
    fire(static_cast<Timer>(earliest), now, out);
  }
  return out;
}

Nanos PeerTimers::next_deadline(Nanos now) const {
  const Nanos earliest = *std::min_element(std::begin(deadlines_), std::end(deadlines_));
  return earliest == kNever ? kNever : std::max(earliest, now);
}

}  // namespace cloudlet::vpn
