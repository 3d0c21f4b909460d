// The connection table: a fixed array of connections (preallocated to max_connections, nothing allocated per packet)
// indexed by an open-addressing hash of both tuples (the original one, as the initiator sent it, and the reply one, as
// replies arrive, which differs from the reversed original under NAT). The hash is keyed with a random secret per
// table, so a sender cannot aim collisions at one bucket. Per-protocol state follows nf_conntrack: TCP's state machine
// and window tracking (tcp_in_window), UDP unreplied/stream, ICMP echo, a generic timeout for the rest.
// Bounded: when full, the oldest evictable connection (not assured, or TCP already closing) goes; assured ones are
// never pushed out by new flows.
// Memory layout, for the established fast path at table sizes far beyond the caches: an index of 64-byte buckets
// (7 tag/ref pairs), a 128-byte hot part per connection (what every packet reads and writes) and a 64-byte cold part
// (the NAT reply tuple, rule, eviction list). A packet touches one bucket and the hot pair of lines, plus the cold
// line under NAT; Firewall::prefetch(batch) requests them ahead of time.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "base/clock.h"
#include "base/huge_array.h"
#include "firewall/classifier.h"
#include "firewall/firewall.h"
#include "net/l3.h"

namespace cloudlet::firewall {

// Hashed and compared as 40 raw bytes (the padding is always zero).
struct CtTuple {
  std::array<uint8_t, 16> src{};
  std::array<uint8_t, 16> dst{};
  uint16_t sport = 0;  // host order; ICMP echo: the identifier in both
  uint16_t dport = 0;
  uint8_t family = 0;
  uint8_t proto = 0;
  uint16_t pad = 0;
  // Word-wise: the fast path compares a tuple per packet, and a 40-byte memcmp is a library call.
  bool operator==(const CtTuple& o) const {
    uint64_t a[5], b[5];
    std::memcpy(a, this, sizeof(a));
    std::memcpy(b, &o, sizeof(b));
    return ((a[0] ^ b[0]) | (a[1] ^ b[1]) | (a[2] ^ b[2]) | (a[3] ^ b[3]) | (a[4] ^ b[4])) == 0;
  }
  CtTuple Reversed() const {
    CtTuple r = *this;
    r.src = dst;
    r.dst = src;
    r.sport = dport;
    r.dport = sport;
    return r;
  }
};
static_assert(sizeof(CtTuple) == 40 && offsetof(CtTuple, sport) == 32 && offsetof(CtTuple, dport) == 34 &&
              offsetof(CtTuple, family) == 36 && offsetof(CtTuple, proto) == 37);
static_assert(std::endian::native == std::endian::little,
              "Conntrack::Matches and TupleFromInfo treat the ports as parts of a word");

// Whether the packet is an ICMP / ICMPv6 echo request or reply (*request tells which).
inline bool IsIcmpEcho(const L3Info& info, bool* request) {
  if (info.proto == kIpProtoIcmp && info.family == 4) {
    *request = info.icmp_type == kIcmpEchoRequest;
    return info.icmp_type == kIcmpEchoRequest || info.icmp_type == kIcmpEchoReply;
  }
  if (info.proto == kIpProtoIcmpv6 && info.family == 6) {
    *request = info.icmp_type == kIcmp6EchoRequest;
    return info.icmp_type == kIcmp6EchoRequest || info.icmp_type == kIcmp6EchoReply;
  }
  *request = false;
  return false;
}

// The tuple of a parsed packet (has_l4 must be set). ICMP other than echo carries ports 0. Inline, and assembled in
// 8-byte words: the fast path hashes and compares it as words, and a tuple stored field by field would make those
// loads wait on store forwarding.
inline CtTuple TupleFromInfo(const L3Info& info) {
  uint64_t w[5];
  std::memcpy(w, info.src.data(), 16);
  std::memcpy(w + 2, info.dst.data(), 16);
  bool request;
  const bool ports = info.proto == kIpProtoTcp || info.proto == kIpProtoUdp || IsIcmpEcho(info, &request);
  w[4] = (ports ? uint64_t{info.sport} | uint64_t{info.dport} << 16 : 0) | uint64_t{info.family} << 32 |
         uint64_t{info.proto} << 40;
  CtTuple t;
  std::memcpy(&t, w, sizeof(w));
  return t;
}

enum class TcpState : uint8_t {
  kNone,
  kSynSent,
  kSynRecv,
  kEstablished,
  kFinWait,
  kCloseWait,
  kLastAck,
  kTimeWait,
  kClose,
  kSynSent2,  // simultaneous open
};
const char* TcpStateName(TcpState state);

// One direction's view for window tracking (nf_conntrack's ip_ct_tcp_state).
struct TcpDirection {
  uint32_t end = 0;     // highest seq + len sent
  uint32_t maxend = 0;  // highest ack + window the other side advertised
  uint32_t maxwin = 0;  // largest window seen from this side
  uint32_t maxack = 0;
  uint8_t scale = 0;
  uint8_t flags = 0;  // kTcpFlagWscale, kTcpFlagMaxAckSet
};

inline constexpr uint32_t kNoConn = 0xffffffff;

// The hot part of a connection: everything an established packet reads or writes, in one 128-byte-aligned pair of
// cache lines (one DRAM burst with the adjacent-line prefetcher). A packet in the reply direction is verified against
// `original` reversed unless NAT changed the reply tuple, which then lives in ConnectionCold (NATed packets need it for
// the rewrite anyway).
struct alignas(128) Connection {
  CtTuple original;  // as the initiator sent it
  TcpDirection tcp[2];
  Nanos expires = 0;
  uint64_t packets[2] = {0, 0};
  uint64_t bytes[2] = {0, 0};
  ZoneId from = 0, to = 0;
  TcpState tcp_state = TcpState::kNone;
  bool in_use : 1 = false;
  bool assured : 1 = false;  // seen both ways (TCP: handshake completed)
  bool replied : 1 = false;
  bool in_lru : 1 = false;  // in the evictable list
  bool snat : 1 = false;    // reply.dst/dport differ from original.src/sport
  bool dnat : 1 = false;    // reply.src/sport differ from original.dst/dport
  bool nat : 1 = false;     // the reply tuple is not exactly `original` reversed (stored in ConnectionCold)
};
static_assert(sizeof(Connection) == 128);

// What a packet of a connection without NAT never touches.
struct alignas(64) ConnectionCold {
  CtTuple reply;  // the reply direction as it arrives
  uint32_t rule = kNoMatch;
  uint32_t lru_prev = kNoConn, lru_next = kNoConn;
};
static_assert(sizeof(ConnectionCold) == 64);

enum class TrackResult : uint8_t { kOk, kInvalid, kReopen };

class Conntrack {
 public:
  Conntrack(const ConntrackConfig& config, uint64_t seed);
  ~Conntrack();
  Conntrack(const Conntrack&) = delete;
  Conntrack& operator=(const Conntrack&) = delete;

  // The connection with `tuple` as its original (*reply = false) or reply tuple, or kNoConn. An expired connection is
  // removed here and not found.
  uint32_t Find(const CtTuple& tuple, Nanos now, bool* reply) { return FindHashed(tuple, Hash(tuple), now, reply); }
  // The same with the tuple's Hash() already computed.
  uint32_t FindHashed(const CtTuple& tuple, uint64_t hash, Nanos now, bool* reply);
  bool Contains(const CtTuple& tuple) const;
  // Cache warming for batches: stage 0 prefetches the tuple's index bucket; stage 1 (a few packets later, when the
  // bucket is cached) prefetches the connection it points at (its hot lines, and the cold one under NAT).
  void Prefetch(const CtTuple& tuple, int stage) const { PrefetchHashed(Hash(tuple), stage); }
  void PrefetchHashed(uint64_t hash, int stage) const;
  // Whether this packet may start a connection (TCP: a SYN without ACK unless loose; ICMP: an echo request).
  bool CanStart(const L3Info& info) const;
  // Inserts a connection (both tuples must be absent). Evicts the oldest evictable one when full; kNoConn (counted in
  // table_full) when nothing is evictable.
  uint32_t Create(const CtTuple& original, const CtTuple& reply, Nanos now);
  // Per-protocol state for one packet of connection `conn` in direction `reply`; counts it on success.
  TrackResult Track(uint32_t conn, bool reply, const L3Info& info, Nanos now);
  void Remove(uint32_t conn);
  // Checks up to `budget` slots from a cursor, removing expired connections.
  void Expire(Nanos now, size_t budget);

  Connection& at(uint32_t conn) { return conns_[conn]; }
  const Connection& at(uint32_t conn) const { return conns_[conn]; }
  ConnectionCold& cold(uint32_t conn) { return cold_[conn]; }
  const ConnectionCold& cold(uint32_t conn) const { return cold_[conn]; }
  // The connection's original (reply = false) or reply tuple.
  const CtTuple& tuple(uint32_t conn, bool reply) const { return reply ? cold_[conn].reply : conns_[conn].original; }
  size_t size() const { return size_; }
  size_t capacity() const { return conns_.size(); }
  uint64_t Hash(const CtTuple& tuple) const;

  uint64_t evicted = 0;
  uint64_t table_full = 0;
  uint64_t expired = 0;

 private:
  // The index: one cache line per bucket of 7 (tag, ref) pairs; a tuple's home bucket is its hash's low bits, its tag
  // the high 32 bits, so a lookup reads one bucket and (barring a 2^-32 tag clash) one connection. A full bucket
  // spills into the next; `overflow` counts the tuples stored past this bucket whose probe passed through it, so a
  // miss stops at the first bucket with overflow 0 and deletion needs no tombstones.
  static constexpr int kBucketSlots = 7;
  struct alignas(64) Bucket {
    uint32_t tag[kBucketSlots] = {};
    uint32_t overflow = 0;
    uint32_t ref[kBucketSlots] = {};  // 0: empty; else (conn << 2 | nat << 1 | dir) + 1
    uint32_t pad = 0;
  };
  static_assert(sizeof(Bucket) == 64);
  static uint32_t Ref(uint32_t conn, bool nat, bool dir) { return (conn << 2 | uint32_t{nat} << 1 | dir) + 1; }
  bool Matches(uint32_t conn, bool dir, const CtTuple& tuple) const;
  void Insert(uint64_t hash, uint32_t ref);
  void Erase(uint64_t hash, uint32_t ref);
  TrackResult TrackTcp(Connection& c, bool reply, const L3Info& info, Nanos now);
  bool TcpInWindow(Connection& c, bool reply, const L3Info& info);
  void LruLink(uint32_t conn);
  void LruUnlink(uint32_t conn);

  Timeouts timeouts_;
  std::array<Nanos, 10> tcp_timeout_{};  // by TcpState: a load instead of a switch per packet
  bool tcp_loose_;
  std::array<uint64_t, 7> key_;
  HugeArray<Connection> conns_;
  HugeArray<ConnectionCold> cold_;
  std::vector<uint32_t> free_;
  HugeArray<Bucket> buckets_;
  uint32_t mask_ = 0;  // buckets_.size() - 1
  size_t size_ = 0;
  size_t cursor_ = 0;
  uint32_t lru_head_ = kNoConn, lru_tail_ = kNoConn;
};

}  // namespace cloudlet::firewall
