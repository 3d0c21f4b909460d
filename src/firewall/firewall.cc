// The firewall engine (see firewall.h): conntrack fast path at ingress, classification + policy + NAT + connection
// creation at egress for new flows.
#include "firewall/firewall.h"

#include <algorithm>
#include <random>
#include <string>

#include "firewall/conntrack.h"
#include "firewall/nat.h"
#include "net/packet.h"

namespace cloudlet::firewall {

struct CompiledRuleSet {
  RuleSet source;
  std::shared_ptr<const Classifier> classifier;
  std::vector<Action> policy;  // zones x zones, filled in (never empty)

  Action Policy(ZoneId from, ZoneId to) const {
    const size_t n = source.zones.size();
    if (from >= n || to >= n) return from == to ? Action::kAccept : Action::kDrop;
    return policy[static_cast<size_t>(from) * n + to];
  }
};

namespace {

// Expiry budget per expire() call: a full sweep of the default table takes ~64 calls, and lookups drop expired
// connections they meet anyway, so a late sweep only delays freeing the slot.
constexpr size_t kExpireBudget = 4096;

// How many packets ahead of the one being processed prefetch(batch) requests index buckets and connection lines:
// enough to cover a memory access with the work of the packets between, few enough for the line fill buffers.
constexpr size_t kBucketLead = 16;
constexpr size_t kConnLead = 8;

uint64_t RandomSeed() {
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ rd();
}

std::string ZoneCheck(const RuleSet& rs, ZoneId z, const std::string& what) {
  if (z == kNoZone || z < rs.zones.size()) return "";
  return what + ": zone " + std::to_string(z) + " does not exist (" + std::to_string(rs.zones.size()) + " zones)";
}

ClassifyKey KeyOf(const L3Info& info, ZoneId from, ZoneId to) {
  ClassifyKey k;
  k.from = from;
  k.to = to;
  k.family = info.family;
  k.proto = info.proto;
  k.src = info.src;
  k.dst = info.dst;
  if (info.has_l4 && (info.proto == kIpProtoTcp || info.proto == kIpProtoUdp)) {
    k.sport = info.sport;
    k.dport = info.dport;
  }
  if (info.proto == kIpProtoIcmp || info.proto == kIpProtoIcmpv6) {
    k.icmp_type = info.icmp_type;
    k.icmp_code = info.icmp_code;
  }
  return k;
}

// The key a connection was admitted by: its initiator's source, the post-DNAT destination.
ClassifyKey KeyOf(const Connection& c, const CtTuple& reply) {
  ClassifyKey k;
  k.from = c.from;
  k.to = c.to;
  k.family = c.original.family;
  k.proto = c.original.proto;
  k.src = c.original.src;
  k.dst = reply.src;
  if (k.proto == kIpProtoTcp || k.proto == kIpProtoUdp) {
    k.sport = c.original.sport;
    k.dport = reply.sport;
  } else if (k.proto == kIpProtoIcmp) {
    k.icmp_type = kIcmpEchoRequest;
  } else if (k.proto == kIpProtoIcmpv6) {
    k.icmp_type = kIcmp6EchoRequest;
  }
  return k;
}

IpAddress AddressOf(uint8_t family, const std::array<uint8_t, 16>& b) {
  return family == 4 ? IpAddress{IpAddress::Family::kV4, b} : IpAddress::V6(b);
}

}  // namespace

const char* CtStateName(CtState state) {
  switch (state) {
    case CtState::kNew:
      return "new";
    case CtState::kEstablished:
      return "established";
    case CtState::kRelated:
      return "related";
    case CtState::kInvalid:
      return "invalid";
  }
  return "?";
}

struct Firewall::Impl {
  explicit Impl(const ConntrackConfig& c) : config(c), ct(c, RandomSeed()) {}

  ConntrackConfig config;
  Conntrack ct;
  std::shared_ptr<const CompiledRuleSet> rs;
  std::vector<RuleCounter> counters;
  FirewallStats stats;
  // The batch prefetch(batch) announced: tuples and their hashes, and the next packet ingress() expects.
  CtTuple batch_tuple[kMaxBatch];
  uint64_t batch_hash[kMaxBatch];
  bool batch_tracked[kMaxBatch];
  size_t batch_n = 0, batch_next = 0;

  Verdict Invalid() {
    ++stats.invalid;
    return Verdict{.action = Action::kDrop, .invalid = true};
  }

  Verdict Decide(const ClassifyKey& key) const {
    Verdict v;
    v.rule = rs->classifier->classify(key);
    if (v.rule != kNoMatch) {
      const Rule& r = rs->source.rules[v.rule];
      v.action = r.action;
      v.log = r.log;
    } else {
      v.action = rs->Policy(key.from, key.to);
    }
    return v;
  }

  Verdict Related(uint8_t* data, L3Info& info, const VnetHdr& vnet, uint32_t frame_len, ZoneId from, Nanos now,
                  FlowState* flow);
};

Firewall::Firewall(const ConntrackConfig& config) : impl_(std::make_unique<Impl>(config)) {
  auto empty = Compile(RuleSet{});
  impl_->rs = std::move(empty.value());
  impl_->stats.max_connections = impl_->ct.capacity();
}

Firewall::~Firewall() = default;

Result<std::shared_ptr<const CompiledRuleSet>> Firewall::Compile(const RuleSet& rules) {
  const size_t nz = rules.zones.size();
  if (!rules.rule_names.empty() && rules.rule_names.size() != rules.rules.size()) {
    return Error("firewall: " + std::to_string(rules.rule_names.size()) + " rule names for " +
                 std::to_string(rules.rules.size()) + " rules");
  }
  if (!rules.policy.empty() && rules.policy.size() != nz * nz) {
    return Error("firewall: the policy matrix has " + std::to_string(rules.policy.size()) + " entries, expected " +
                 std::to_string(nz * nz) + " (zones x zones)");
  }
  for (size_t i = 0; i < rules.rules.size(); ++i) {
    const std::string where = "firewall rule " + std::to_string(i);
    for (ZoneId z : rules.rules[i].from_zones) {
      if (auto e = ZoneCheck(rules, z, where + " from"); !e.empty() || z == kNoZone) {
        return Error(e.empty() ? where + ": from zone is not set" : e);
      }
    }
    for (ZoneId z : rules.rules[i].to_zones) {
      if (auto e = ZoneCheck(rules, z, where + " to"); !e.empty() || z == kNoZone) {
        return Error(e.empty() ? where + ": to zone is not set" : e);
      }
    }
  }
  for (size_t i = 0; i < rules.masquerade.size(); ++i) {
    const Masquerade& m = rules.masquerade[i];
    const std::string where = "masquerade " + std::to_string(i);
    if (auto e = ZoneCheck(rules, m.from, where + " from"); !e.empty()) return Error(e);
    if (auto e = ZoneCheck(rules, m.to, where + " to"); !e.empty()) return Error(e);
    if (m.port_lo > m.port_hi) {
      return Error(where + ": port range " + std::to_string(m.port_lo) + "-" + std::to_string(m.port_hi) + " is empty");
    }
  }
  for (size_t i = 0; i < rules.forwards.size(); ++i) {
    const PortForward& f = rules.forwards[i];
    const std::string where = "port forward " + std::to_string(i);
    if (auto e = ZoneCheck(rules, f.from, where + " from"); !e.empty()) return Error(e);
    if (f.proto != kIpProtoTcp && f.proto != kIpProtoUdp) {
      return Error(where + ": protocol " + std::to_string(f.proto) + " has no ports (use tcp or udp)");
    }
    if (f.port_lo > f.port_hi) return Error(where + ": port range is empty");
    if (static_cast<uint32_t>(f.to_port) + (f.port_hi - f.port_lo) > 65535) {
      return Error(where + ": to_port " + std::to_string(f.to_port) + " plus the range's width passes 65535");
    }
    for (const IpAddress& a : f.match_dst) {
      if (a.family != f.to_address.family) {
        return Error(where + ": match address " + FormatIpAddress(a) + " and target " + FormatIpAddress(f.to_address) +
                     " are of different families");
      }
    }
  }
  auto classifier = Classifier::Compile(rules.rules);
  if (!classifier.ok()) return classifier.error().wrap("firewall rules");
  auto out = std::make_shared<CompiledRuleSet>();
  out->source = rules;
  out->classifier = std::move(classifier.value());
  if (rules.policy.empty()) {
    out->policy.assign(nz * nz, Action::kDrop);
    for (size_t z = 0; z < nz; ++z) out->policy[z * nz + z] = Action::kAccept;
  } else {
    out->policy = rules.policy;
  }
  return std::shared_ptr<const CompiledRuleSet>(std::move(out));
}

void Firewall::replace(std::shared_ptr<const CompiledRuleSet> compiled, Nanos now) {
  Impl& m = *impl_;
  m.rs = std::move(compiled);
  m.counters.assign(m.rs->source.rules.size(), RuleCounter{});
  for (uint32_t i = 0; i < m.ct.capacity(); ++i) {
    Connection& c = m.ct.at(i);
    if (!c.in_use) continue;
    if (c.expires <= now) {
      m.ct.Remove(i);
      ++m.ct.expired;
      continue;
    }
    const Verdict v = m.Decide(KeyOf(c, m.ct.cold(i).reply));
    if (v.action != Action::kAccept) {
      m.ct.Remove(i);
    } else {
      m.ct.cold(i).rule = v.rule;
    }
  }
}

// Returned whole: a Verdict assembled field by field in memory and then returned in registers stalls on store
// forwarding, which the fast path pays per packet.
constexpr Verdict kAccepted{.action = Action::kAccept};

Verdict Firewall::Impl::Related(uint8_t* data, L3Info& info, const VnetHdr& vnet, uint32_t frame_len, ZoneId from,
                                Nanos now, FlowState* flow) {
  L3Info inner;
  if (ParseIcmpInner(data, frame_len, info, &inner) != L3Error::kNone || !inner.has_l4) return Invalid();
  // The quote is a packet that went the other way: reversed, it is this error's direction of the connection.
  bool reply = false;
  const uint32_t conn = ct.Find(TupleFromInfo(inner).Reversed(), now, &reply);
  if (conn == kNoConn) return Invalid();
  Connection& c = ct.at(conn);
  if ((reply ? c.to : c.from) != from) return Invalid();
  ApplyNatIcmpError(data, frame_len, info, inner, vnet, c, ct.cold(conn).reply, reply);
  c.packets[reply] += 1;
  c.bytes[reply] += info.ip_len;
  flow->state = CtState::kRelated;
  flow->conn = conn;
  flow->reply = reply;
  return kAccepted;
}

Verdict Firewall::ingress(uint8_t* data, L3Info& info, const VnetHdr& vnet, uint32_t frame_len, ZoneId from, Nanos now,
                          FlowState* flow) {
  Impl& m = *impl_;
  size_t announced = kMaxBatch;  // this packet's place in the announced batch, if it is the one expected
  if (m.batch_next < m.batch_n) {
    const size_t i = m.batch_next++;
    announced = i;
    if (i + kBucketLead < m.batch_n && m.batch_tracked[i + kBucketLead]) {
      m.ct.PrefetchHashed(m.batch_hash[i + kBucketLead], 0);
    }
    if (i + kConnLead < m.batch_n && m.batch_tracked[i + kConnLead])
      m.ct.PrefetchHashed(m.batch_hash[i + kConnLead], 1);
  }
  // Field by field (not `*flow = FlowState{}`, which GCC builds in a temporary and copies with mismatched widths).
  flow->state = CtState::kNew;
  flow->from = from;
  flow->conn = kNoConn;
  flow->reply = false;
  flow->dnat = false;
  // Non-first fragments carry no ports to track or translate (there is no reassembly here).
  if (!info.has_l4) {
    flow->state = CtState::kInvalid;
    return m.Invalid();
  }
  if (info.is_icmp_error()) {
    const Verdict v = m.Related(data, info, vnet, frame_len, from, now, flow);
    if (v.invalid) flow->state = CtState::kInvalid;
    return v;
  }
  bool reply = false;
  const CtTuple tuple = TupleFromInfo(info);
  // The hash prefetch(batch) computed serves if this is the packet it announced (a hint only: checked, not trusted).
  const bool hashed = announced < kMaxBatch && m.batch_tracked[announced] && m.batch_tuple[announced] == tuple;
  uint32_t conn = m.ct.FindHashed(tuple, hashed ? m.batch_hash[announced] : m.ct.Hash(tuple), now, &reply);
  if (conn != kNoConn) {
    Connection& c = m.ct.at(conn);
    if ((reply ? c.to : c.from) != from) {
      flow->state = CtState::kInvalid;
      return m.Invalid();
    }
    const TrackResult r = m.ct.Track(conn, reply, info, now);
    if (r == TrackResult::kInvalid) {
      flow->state = CtState::kInvalid;
      return m.Invalid();
    }
    if (r == TrackResult::kOk) {
      if (c.snat || c.dnat) ApplyNat(data, info, vnet, c, m.ct.cold(conn).reply, reply);
      flow->state = CtState::kEstablished;
      flow->conn = conn;
      flow->reply = reply;
      return kAccepted;
    }
    // kReopen: a new SYN on a closed connection's tuple starts over.
    m.ct.Remove(conn);
  }
  if (!m.ct.CanStart(info)) {
    bool request;
    // ICMP other than echo and errors (e.g. router/neighbour messages routed through) is filtered statelessly.
    if ((info.proto == kIpProtoIcmp || info.proto == kIpProtoIcmpv6) && !IsIcmpEcho(info, &request)) {
      flow->state = CtState::kNew;
      return kAccepted;
    }
    flow->state = CtState::kInvalid;
    return m.Invalid();
  }
  flow->state = CtState::kNew;
  const auto& forwards = m.rs->source.forwards;
  for (uint32_t i = 0; i < forwards.size(); ++i) {
    std::array<uint8_t, 16> to_addr;
    uint16_t to_port;
    if (!MatchForward(forwards[i], info, from, &to_addr, &to_port)) continue;
    flow->dnat = true;
    flow->forward = i;
    flow->orig_dst = info.dst;
    flow->orig_dport = info.dport;
    RewriteDestination(data, info, vnet, to_addr, to_port);
    break;
  }
  return kAccepted;
}

Verdict Firewall::egress(uint8_t* data, L3Info& info, const VnetHdr& vnet, uint32_t frame_len, ZoneId to,
                         const IpAddress& egress_address, Nanos now, FlowState* flow) {
  (void)frame_len;
  Impl& m = *impl_;
  if (flow->state == CtState::kInvalid) {
    Verdict v;
    v.invalid = true;
    return v;
  }
  if (flow->state == CtState::kEstablished || flow->state == CtState::kRelated) {
    const Connection& c = m.ct.at(flow->conn);
    if (!c.in_use || (flow->reply ? c.from : c.to) != to) return m.Invalid();
    return kAccepted;
  }
  // A new flow: the rules (or the zone pair's policy) decide.
  const ClassifyKey key = KeyOf(info, flow->from, to);
  Verdict v = m.Decide(key);
  if (v.rule == kNoMatch) {
    (v.action == Action::kAccept ? m.stats.policy_accept : m.stats.policy_drop) += 1;
  } else {
    m.counters[v.rule].packets += 1;
    m.counters[v.rule].bytes += info.ip_len;
  }
  if (v.action != Action::kAccept) return v;
  bool request;
  if ((info.proto == kIpProtoIcmp || info.proto == kIpProtoIcmpv6) && !IsIcmpEcho(info, &request)) {
    return v;  // untracked ICMP (checked at ingress: never an echo reply or an error here)
  }

  CtTuple original = TupleFromInfo(info);
  if (flow->dnat) {
    original.dst = flow->orig_dst;
    original.dport = flow->orig_dport;
  }
  CtTuple reply = TupleFromInfo(info).Reversed();
  const Masquerade* masq = nullptr;
  for (const Masquerade& mq : m.rs->source.masquerade) {
    if ((mq.from == kNoZone || mq.from == flow->from) && (mq.to == kNoZone || mq.to == to)) {
      masq = &mq;
      break;
    }
  }
  const bool masq_family = (egress_address.family == IpAddress::Family::kV4) == (info.family == 4);
  if (masq && masq_family) {
    reply.dst = egress_address.bytes;
    if (!AllocateMasqueradePort(m.ct, &reply, masq->port_lo, masq->port_hi)) {
      ++m.stats.nat_failed;
      v.action = Action::kDrop;
      return v;
    }
  } else if (m.ct.Contains(reply)) {
    ++m.stats.nat_failed;  // another connection already answers to this tuple (only possible with NAT)
    v.action = Action::kDrop;
    return v;
  }
  if (m.ct.Contains(original)) return m.Invalid();
  const uint32_t conn = m.ct.Create(original, reply, now);
  if (conn == kNoConn) {
    Verdict full = m.Invalid();
    full.rule = v.rule;
    return full;
  }
  Connection& c = m.ct.at(conn);
  c.from = flow->from;
  c.to = to;
  m.ct.cold(conn).rule = v.rule;
  if (m.ct.Track(conn, false, info, now) != TrackResult::kOk) {
    m.ct.Remove(conn);
    return m.Invalid();
  }
  if (c.snat) RewriteSource(data, info, vnet, reply.dst, reply.dport);
  flow->conn = conn;
  return v;
}

void Firewall::prefetch(std::span<const L3Info> batch) {
  Impl& m = *impl_;
  m.batch_n = std::min(batch.size(), kMaxBatch);
  m.batch_next = 0;
  for (size_t i = 0; i < m.batch_n; ++i) {
    m.batch_tracked[i] = batch[i].has_l4;
    if (!batch[i].has_l4) continue;
    m.batch_tuple[i] = TupleFromInfo(batch[i]);
    m.batch_hash[i] = m.ct.Hash(m.batch_tuple[i]);
  }
  // The first packets' buckets, then (those having arrived meanwhile) their connections; ingress() keeps both
  // requests the same distance ahead, so the misses overlap without overrunning the line fill buffers.
  for (size_t i = 0; i < std::min(m.batch_n, kBucketLead); ++i) {
    if (m.batch_tracked[i]) m.ct.PrefetchHashed(m.batch_hash[i], 0);
  }
  for (size_t i = 0; i < std::min(m.batch_n, kConnLead); ++i) {
    if (m.batch_tracked[i]) m.ct.PrefetchHashed(m.batch_hash[i], 1);
  }
}

void Firewall::prefetch(const L3Info& info, int stage) const {
  if (info.has_l4) impl_->ct.Prefetch(TupleFromInfo(info), stage);
}

void Firewall::expire(Nanos now) { impl_->ct.Expire(now, kExpireBudget); }

Verdict Firewall::trace(const ClassifyKey& key) const { return impl_->Decide(key); }

const RuleSet& Firewall::rules() const { return impl_->rs->source; }

std::vector<RuleCounter> Firewall::rule_counters() const {
  std::vector<RuleCounter> out = impl_->counters;
  out.resize(impl_->rs->source.rules.size());
  return out;
}

std::vector<ConnectionInfo> Firewall::connections(Nanos now, size_t limit) const {
  std::vector<ConnectionInfo> out;
  const Conntrack& ct = impl_->ct;
  for (uint32_t i = 0; i < ct.capacity() && out.size() < limit; ++i) {
    const Connection& c = ct.at(i);
    if (!c.in_use || c.expires <= now) continue;
    ConnectionInfo ci;
    const CtTuple& o = c.original;
    const CtTuple& r = ct.cold(i).reply;
    ci.family = o.family;
    ci.proto = o.proto;
    ci.src = AddressOf(o.family, o.src);
    ci.dst = AddressOf(o.family, o.dst);
    ci.sport = o.sport;
    ci.dport = o.dport;
    ci.reply_src = AddressOf(r.family, r.src);
    ci.reply_dst = AddressOf(r.family, r.dst);
    ci.reply_sport = r.sport;
    ci.reply_dport = r.dport;
    if (o.proto == kIpProtoTcp) {
      ci.state = TcpStateName(c.tcp_state);
    } else if (o.proto == kIpProtoUdp) {
      ci.state = c.replied ? "UDP_STREAM" : "UDP";
    } else if (o.proto == kIpProtoIcmp || o.proto == kIpProtoIcmpv6) {
      ci.state = "ICMP";
    } else {
      ci.state = "GENERIC";
    }
    ci.assured = c.assured;
    ci.expires_in = c.expires - now;
    ci.packets_orig = c.packets[0];
    ci.bytes_orig = c.bytes[0];
    ci.packets_reply = c.packets[1];
    ci.bytes_reply = c.bytes[1];
    ci.rule = ct.cold(i).rule;
    out.push_back(std::move(ci));
  }
  return out;
}

FirewallStats Firewall::stats() const {
  FirewallStats s = impl_->stats;
  s.connections = impl_->ct.size();
  s.max_connections = impl_->ct.capacity();
  s.evicted = impl_->ct.evicted;
  s.table_full = impl_->ct.table_full;
  s.expired = impl_->ct.expired;
  return s;
}

}  // namespace cloudlet::firewall
