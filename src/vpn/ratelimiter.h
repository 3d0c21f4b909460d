// Rate limit for handshake messages per source address, as the Linux driver's ratelimiter.c: a token bucket per
// IPv4 /32 or IPv6 /64 allowing 20 packets/s with a burst of 5. Applied only while the interface is under load
// (the caller decides), so a flood of initiations cannot make us spend all CPU on Curve25519. Sans-IO: time is a
// parameter. Bounded: at most max_entries sources are tracked; sources idle for over a second are forgotten (checked
// at most once a second); while the table is full, packets from new sources are refused.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <unordered_map>

#include "base/clock.h"
#include "vpn/allowed_ips.h"
#include "vpn/timers.h"

namespace cloudlet::vpn {

class HandshakeRateLimiter {
 public:
  static constexpr int64_t kPacketsPerSecond = 20;
  static constexpr int64_t kPacketsBurst = 5;
  static constexpr Nanos kPacketCost = kSecond / kPacketsPerSecond;
  static constexpr Nanos kTokenMax = kPacketCost * kPacketsBurst;
  static constexpr Nanos kIdleExpiry = kSecond;
  static constexpr size_t kDefaultMaxEntries = 65536;

  // `random` seeds the keyed hash of the table (so remote senders cannot aim for one bucket chain).
  explicit HandshakeRateLimiter(const RandomSource& random, size_t max_entries = kDefaultMaxEntries);

  // True if a handshake message from `source` may be processed now; counts it against the source's bucket.
  bool allow(const IpAddress& source, Nanos now);
  // Forgets sources idle for more than kIdleExpiry. allow() calls this itself at most once a second.
  void collect_garbage(Nanos now);

  size_t size() const { return table_.size(); }
  size_t max_entries() const { return max_entries_; }

 private:
  // Family tag + the first 8 address bytes (IPv4 uses 4: a /32; IPv6 uses 8: a /64).
  using SourceKey = std::array<uint8_t, 9>;
  struct KeyedHash {
    std::array<uint8_t, 16> key;
    size_t operator()(const SourceKey& source) const;
  };
  struct Bucket {
    Nanos last_seen = 0;
    Nanos tokens = 0;
  };

  size_t max_entries_;
  Nanos last_gc_ = 0;
  bool gc_started_ = false;
  std::unordered_map<SourceKey, Bucket, KeyedHash> table_;
};

}  // namespace cloudlet::vpn
