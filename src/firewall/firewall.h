// The stateful firewall on every routed path: zones, rules (compiled classifier), per-zone-pair default policies,
// connection tracking, source NAT (masquerade) and port forwards (DNAT). Sans-IO: the router hands it parsed packets
// (net/l3.h) with the time, and it answers with a verdict after rewriting addresses/ports in place.
//
// A routed packet takes two calls, because DNAT must change the destination before the route is looked up and the
// egress zone is only known after:
//   ingress(): conntrack lookup. Established / related packets are rewritten by their connection's NAT and marked
//              known (the fast path: no classification). A new flow gets DNAT if a port forward matches.
//   egress():  for a known packet, accept. For a new flow: classify (from zone, to zone, 5-tuple), fall back to the
//              zone pair's policy, masquerade if a rule asks, and create the connection (bounded table; under a flood
//              the oldest not-yet-established connection is evicted, never an established one).
// One Firewall belongs to one data-plane thread; nothing here locks.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "firewall/classifier.h"
#include "net/ip_address.h"
#include "net/l3.h"

namespace cloudlet::firewall {

inline constexpr ZoneId kNoZone = 0xffff;

// Connection-tracking timeouts, nf_conntrack's defaults (net/netfilter/nf_conntrack_proto_*.c).
struct Timeouts {
  Nanos tcp_syn_sent = 120 * kSecond;
  Nanos tcp_syn_recv = 60 * kSecond;
  Nanos tcp_established = 432000 * kSecond;  // 5 days
  Nanos tcp_fin_wait = 120 * kSecond;
  Nanos tcp_close_wait = 60 * kSecond;
  Nanos tcp_last_ack = 30 * kSecond;
  Nanos tcp_time_wait = 120 * kSecond;
  Nanos tcp_close = 10 * kSecond;
  Nanos udp = 30 * kSecond;          // unreplied
  Nanos udp_stream = 120 * kSecond;  // seen both ways
  Nanos icmp = 30 * kSecond;
  Nanos generic = 600 * kSecond;  // other protocols
  bool operator==(const Timeouts&) const = default;
};

struct ConntrackConfig {
  size_t max_connections = 262144;  // the table's bound; a power of two is not required
  Timeouts timeouts;
  bool tcp_loose = false;  // false: a TCP connection must start with a SYN (nf_conntrack_tcp_loose=0)
  bool operator==(const ConntrackConfig&) const = default;
};

// Masquerade: a new connection from `from` to `to` leaves with the egress interface's address as its source and a
// source port allocated from [port_lo, port_hi] (kept when free, as nftables does).
struct Masquerade {
  ZoneId from = kNoZone;  // kNoZone: any
  ZoneId to = kNoZone;
  uint16_t port_lo = 1024;
  uint16_t port_hi = 65535;
  bool operator==(const Masquerade&) const = default;
};

// Port forward: a new connection entering from zone `from` to `match_dst` (the uplink's address; empty: any address)
// with `proto` and a destination port in [port_lo, port_hi] is rewritten to `to_address`:`to_port` (+ offset into
// the range). It is then filtered as a packet to that endpoint (rules must allow it, as with nftables' dnat).
struct PortForward {
  ZoneId from = kNoZone;
  uint8_t proto = 6;
  std::vector<IpAddress> match_dst;
  uint16_t port_lo = 0;
  uint16_t port_hi = 0;
  IpAddress to_address;
  uint16_t to_port = 0;
  bool operator==(const PortForward&) const = default;
};

// Everything `replace()` swaps in at once.
struct RuleSet {
  std::vector<std::string> zones;       // ZoneId = index
  std::vector<Rule> rules;              // first match wins
  std::vector<std::string> rule_names;  // same length as rules (may be "")
  // Default action per (from, to) zone pair when no rule matches, row-major zones x zones. Empty: accept within a
  // zone, drop between zones.
  std::vector<Action> policy;
  std::vector<Masquerade> masquerade;
  std::vector<PortForward> forwards;
  bool operator==(const RuleSet&) const = default;
};

enum class CtState : uint8_t { kNew, kEstablished, kRelated, kInvalid };
const char* CtStateName(CtState state);

// Per-packet state carried from ingress() to egress().
struct FlowState {
  CtState state = CtState::kNew;
  ZoneId from = kNoZone;
  uint32_t conn = 0xffffffff;          // connection slot (known packets)
  bool reply = false;                  // the packet goes in the connection's reply direction
  bool dnat = false;                   // a port forward rewrote the destination (new flows)
  uint32_t forward = 0;                // which port forward
  std::array<uint8_t, 16> orig_dst{};  // the destination before a port forward rewrote it (dnat)
  uint16_t orig_dport = 0;
};

// 8 bytes, so it is returned in one register (a larger one goes through the stack, per packet).
struct Verdict {
  uint32_t rule = kNoMatch;  // the deciding rule, or kNoMatch: the zone pair's policy (or conntrack) decided
  Action action = Action::kDrop;
  bool log = false;
  bool invalid = false;  // conntrack refused it (bad TCP window, unexpected flags, a new flow without SYN, table full)
};
static_assert(sizeof(Verdict) == 8);

struct RuleCounter {
  uint64_t packets = 0;  // new connections (and their first packet) the rule decided
  uint64_t bytes = 0;
};

// One tracked connection, for `cloudlet firewall connections`.
struct ConnectionInfo {
  uint8_t family = 4;
  uint8_t proto = 0;
  IpAddress src, dst;  // original direction, as the initiator sent it
  uint16_t sport = 0, dport = 0;
  IpAddress reply_src, reply_dst;  // the reply direction as it travels (differs from the original under NAT)
  uint16_t reply_sport = 0, reply_dport = 0;
  std::string state;     // "SYN_SENT", "ESTABLISHED", ..., "UDP", "UDP_STREAM", "ICMP"
  bool assured = false;  // traffic seen both ways
  Nanos expires_in = 0;
  uint64_t packets_orig = 0, bytes_orig = 0, packets_reply = 0, bytes_reply = 0;
  uint32_t rule = kNoMatch;
};

struct FirewallStats {
  size_t connections = 0;
  size_t max_connections = 0;
  uint64_t evicted = 0;     // connections pushed out by the bound (never established ones)
  uint64_t table_full = 0;  // new flows refused: nothing evictable
  uint64_t invalid = 0;
  uint64_t expired = 0;
  uint64_t policy_accept = 0, policy_drop = 0;  // decided by a zone pair's default
  uint64_t nat_failed = 0;                      // new flows dropped: no free masquerade port / NAT tuple clash
};

class Firewall {
 public:
  explicit Firewall(const ConntrackConfig& config = {});
  ~Firewall();
  Firewall(const Firewall&) = delete;
  Firewall& operator=(const Firewall&) = delete;

  // Compiles a rule set without touching the running one (call it anywhere; it is the slow part).
  static Result<std::shared_ptr<const struct CompiledRuleSet>> Compile(const RuleSet& rules);
  // Swaps the compiled set in (on the data-plane thread, between batches: atomic for the traffic). Established
  // connections the new rules still allow (re-classified by their original tuple and zones) are kept, with their
  // NAT; the others are removed. Rule counters restart at zero.
  void replace(std::shared_ptr<const CompiledRuleSet> compiled, Nanos now);

  // See the file comment. `data` is the whole frame (info from ParseL3 over it); rewrites happen in place.
  Verdict ingress(uint8_t* data, L3Info& info, const VnetHdr& vnet, uint32_t frame_len, ZoneId from, Nanos now,
                  FlowState* flow);
  // `egress_address` is the source a masquerade rewrites to (the egress interface's address of the packet's family).
  Verdict egress(uint8_t* data, L3Info& info, const VnetHdr& vnet, uint32_t frame_len, ZoneId to,
                 const IpAddress& egress_address, Nanos now, FlowState* flow);

  // Cache warming for a batch (the connection table is far larger than the caches), two ways:
  //  - prefetch(batch): the whole parsed batch (up to kMaxBatch packets) before its ingress() calls, which should then
  //    follow in the batch's order. It hashes every packet's tuple and requests its index bucket at once (the misses
  //    overlap); then each ingress() requests the connection lines of the packet a few places ahead, so they arrive
  //    while the packets before it are processed. Preferred.
  //  - prefetch(info, stage), for a loop that parses as it goes: stage 0 for packet i + 2k and stage 1 for packet
  //    i + k before ingress() of packet i (k ~ 8).
  // Both are hints: they change no state, and skipped, reordered or extra ingress() calls only make them less useful.
  void prefetch(std::span<const L3Info> batch);
  void prefetch(const L3Info& info, int stage) const;

  // Expires connections past their timeout; call it every few hundred milliseconds. Bounded work per call.
  void expire(Nanos now);

  // "Would this new packet pass, and by which rule?": classification and policy only, no state touched.
  Verdict trace(const ClassifyKey& key) const;

  const RuleSet& rules() const;
  std::vector<RuleCounter> rule_counters() const;
  std::vector<ConnectionInfo> connections(Nanos now, size_t limit) const;
  FirewallStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cloudlet::firewall
