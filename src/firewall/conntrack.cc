// Connection table and per-protocol tracking (see conntrack.h). The TCP state table and the window check follow
// net/netfilter/nf_conntrack_proto_tcp.c (tcp_conntracks, tcp_in_window) closely enough that its behaviour is the
// reference; SACK blocks are not parsed (the check then uses the cumulative ACK, which is stricter, never looser).
#include "firewall/conntrack.h"

#include <algorithm>

namespace cloudlet::firewall {
namespace {

constexpr uint8_t kTcpFlagWscale = 1;
constexpr uint8_t kTcpFlagMaxAckSet = 2;
constexpr uint32_t kMaxAckWinConst = 66000;

inline bool Before(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b) < 0; }
inline bool After(uint32_t a, uint32_t b) { return Before(b, a); }

inline uint64_t Mum(uint64_t a, uint64_t b) {
  const unsigned __int128 r = static_cast<unsigned __int128>(a) * b;
  return static_cast<uint64_t>(r) ^ static_cast<uint64_t>(r >> 64);
}

// tcp_conntracks[dir][packet class][state]; kIV invalid, kIG ignore (accepted, no state change).
constexpr uint8_t kNO = 0, kSS = 1, kSR = 2, kES = 3, kFW = 4, kCW = 5, kLA = 6, kTW = 7, kCL = 8, kS2 = 9, kIV = 10,
                  kIG = 11;
enum PacketClass { kSyn, kSynAck, kFin, kAck, kRst, kNoFlags };
constexpr uint8_t kTcpTable[2][6][10] = {
    {
        // ORIGINAL  NO   SS   SR   ES   FW   CW   LA   TW   CL   S2
        /*syn*/ {kSS, kSS, kIG, kIG, kIG, kIG, kIG, kSS, kSS, kS2},
        /*synack*/ {kIV, kIV, kSR, kIV, kIV, kIV, kIV, kIV, kIV, kSR},
        /*fin*/ {kIV, kIV, kFW, kFW, kLA, kLA, kLA, kTW, kCL, kIV},
        /*ack*/ {kES, kIV, kES, kES, kCW, kCW, kTW, kTW, kCL, kIV},
        /*rst*/ {kIV, kCL, kCL, kCL, kCL, kCL, kCL, kCL, kCL, kCL},
        /*none*/ {kIV, kIV, kIV, kIV, kIV, kIV, kIV, kIV, kIV, kIV},
    },
    {
        // REPLY     NO   SS   SR   ES   FW   CW   LA   TW   CL   S2
        /*syn*/ {kIV, kS2, kIV, kIV, kIV, kIV, kIV, kSS, kIV, kS2},
        /*synack*/ {kIV, kSR, kIG, kIG, kIG, kIG, kIG, kIG, kIG, kSR},
        /*fin*/ {kIV, kIV, kFW, kFW, kLA, kLA, kLA, kTW, kCL, kIV},
        /*ack*/ {kIV, kIG, kSR, kES, kCW, kCW, kTW, kTW, kCL, kIG},
        /*rst*/ {kIV, kCL, kCL, kCL, kCL, kCL, kCL, kCL, kCL, kCL},
        /*none*/ {kIV, kIV, kIV, kIV, kIV, kIV, kIV, kIV, kIV, kIV},
    },
};

PacketClass ClassOf(uint8_t flags) {
  if (flags & kTcpRst) return kRst;
  if (flags & kTcpSyn) return (flags & kTcpAck) ? kSynAck : kSyn;
  if (flags & kTcpFin) return kFin;
  if (flags & kTcpAck) return kAck;
  return kNoFlags;
}

static_assert(static_cast<int>(TcpState::kSynSent2) == 9, "tcp_timeout_ has one entry per TcpState");

Nanos TcpTimeout(const Timeouts& t, TcpState s) {
  switch (s) {
    case TcpState::kSynSent:
    case TcpState::kSynSent2:
      return t.tcp_syn_sent;
    case TcpState::kSynRecv:
      return t.tcp_syn_recv;
    case TcpState::kEstablished:
      return t.tcp_established;
    case TcpState::kFinWait:
      return t.tcp_fin_wait;
    case TcpState::kCloseWait:
      return t.tcp_close_wait;
    case TcpState::kLastAck:
      return t.tcp_last_ack;
    case TcpState::kTimeWait:
      return t.tcp_time_wait;
    case TcpState::kClose:
    case TcpState::kNone:
      return t.tcp_close;
  }
  return t.tcp_close;
}

}  // namespace

const char* TcpStateName(TcpState state) {
  switch (state) {
    case TcpState::kNone:
      return "NONE";
    case TcpState::kSynSent:
      return "SYN_SENT";
    case TcpState::kSynRecv:
      return "SYN_RECV";
    case TcpState::kEstablished:
      return "ESTABLISHED";
    case TcpState::kFinWait:
      return "FIN_WAIT";
    case TcpState::kCloseWait:
      return "CLOSE_WAIT";
    case TcpState::kLastAck:
      return "LAST_ACK";
    case TcpState::kTimeWait:
      return "TIME_WAIT";
    case TcpState::kClose:
      return "CLOSE";
    case TcpState::kSynSent2:
      return "SYN_SENT2";
  }
  return "?";
}

namespace {
// Index refs keep two flag bits beside the connection number.
size_t MaxConnections(const ConntrackConfig& config) {
  return std::clamp<size_t>(config.max_connections, 1, size_t{1} << 30);
}
// Two tuples per connection in buckets of 7: at most 4/7 full, so few buckets spill.
size_t BucketCount(const ConntrackConfig& config) {
  size_t cap = 2;
  while (cap < (MaxConnections(config) + 1) / 2) cap <<= 1;
  return cap;
}
}  // namespace

Conntrack::Conntrack(const ConntrackConfig& config, uint64_t seed)
    : timeouts_(config.timeouts),
      tcp_loose_(config.tcp_loose),
      conns_(MaxConnections(config)),
      cold_(MaxConnections(config)),
      buckets_(BucketCount(config)),
      mask_(static_cast<uint32_t>(BucketCount(config) - 1)) {
  // Expand the seed into independent keys (splitmix64).
  uint64_t x = seed;
  for (auto& k : key_) {
    x += 0x9e3779b97f4a7c15ull;
    uint64_t z = x;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    k = (z ^ (z >> 31)) | 1;
  }
  for (size_t st = 0; st < tcp_timeout_.size(); ++st) {
    tcp_timeout_[st] = TcpTimeout(timeouts_, static_cast<TcpState>(st));
  }
  const size_t max = conns_.size();
  free_.reserve(max);
  for (size_t i = max; i-- > 0;) free_.push_back(static_cast<uint32_t>(i));
}

Conntrack::~Conntrack() = default;

uint64_t Conntrack::Hash(const CtTuple& t) const {
  uint64_t w[5];
  std::memcpy(w, &t, sizeof(w));
  const uint64_t h = Mum(w[0] ^ key_[0], w[1] ^ key_[1]) ^ Mum(w[2] ^ key_[2], w[3] ^ key_[3]);
  return Mum(h ^ key_[6], Mum(w[4] ^ key_[4], key_[5]));
}

bool Conntrack::Matches(uint32_t conn, bool dir, const CtTuple& t) const {
  const Connection& c = conns_[conn];
  if (!dir) return c.original == t;
  if (c.nat) return cold_[conn].reply == t;
  // No NAT: the reply tuple is the original reversed (src and dst swapped, ports swapped, the last 4 bytes equal).
  uint64_t a[5], o[5];
  std::memcpy(a, &t, sizeof(a));
  std::memcpy(o, &c.original, sizeof(o));
  const uint64_t ports = (o[4] >> 16 & 0xffff) | (o[4] & 0xffff) << 16 | (o[4] & ~uint64_t{0xffffffff});
  return ((a[0] ^ o[2]) | (a[1] ^ o[3]) | (a[2] ^ o[0]) | (a[3] ^ o[1]) | (a[4] ^ ports)) == 0;
}

void Conntrack::Insert(uint64_t hash, uint32_t ref) {
  const uint32_t tag = static_cast<uint32_t>(hash >> 32);
  for (uint32_t b = static_cast<uint32_t>(hash) & mask_;; b = (b + 1) & mask_) {
    Bucket& k = buckets_[b];
    for (int s = 0; s < kBucketSlots; ++s) {
      if (k.ref[s] == 0) {
        k.tag[s] = tag;
        k.ref[s] = ref;
        return;
      }
    }
    ++k.overflow;  // never loops forever: the index holds more slots than tuples
  }
}

void Conntrack::Erase(uint64_t hash, uint32_t ref) {
  const uint32_t home = static_cast<uint32_t>(hash) & mask_;
  for (uint32_t b = home;; b = (b + 1) & mask_) {
    Bucket& k = buckets_[b];
    for (int s = 0; s < kBucketSlots; ++s) {
      if (k.ref[s] != ref) continue;
      k.ref[s] = 0;
      k.tag[s] = 0;
      for (uint32_t p = home; p != b; p = (p + 1) & mask_) --buckets_[p].overflow;
      return;
    }
    if (k.overflow == 0) return;  // not present (cannot happen for a live connection)
  }
}

uint32_t Conntrack::FindHashed(const CtTuple& tuple, uint64_t h, Nanos now, bool* reply) {
  const uint32_t tag = static_cast<uint32_t>(h >> 32);
  for (uint32_t b = static_cast<uint32_t>(h) & mask_;; b = (b + 1) & mask_) {
    const Bucket& k = buckets_[b];
    for (int s = 0; s < kBucketSlots; ++s) {
      if (k.tag[s] != tag || k.ref[s] == 0) continue;
      const uint32_t conn = (k.ref[s] - 1) >> 2;
      const bool dir = (k.ref[s] - 1) & 1;
      if (!Matches(conn, dir, tuple)) continue;
      if (conns_[conn].expires <= now) {
        Remove(conn);
        ++expired;
        return kNoConn;
      }
      *reply = dir;
      return conn;
    }
    if (k.overflow == 0) return kNoConn;
  }
}

bool Conntrack::Contains(const CtTuple& tuple) const {
  const uint64_t h = Hash(tuple);
  const uint32_t tag = static_cast<uint32_t>(h >> 32);
  for (uint32_t b = static_cast<uint32_t>(h) & mask_;; b = (b + 1) & mask_) {
    const Bucket& k = buckets_[b];
    for (int s = 0; s < kBucketSlots; ++s) {
      if (k.tag[s] == tag && k.ref[s] != 0 && Matches((k.ref[s] - 1) >> 2, (k.ref[s] - 1) & 1, tuple)) return true;
    }
    if (k.overflow == 0) return false;
  }
}

void Conntrack::PrefetchHashed(uint64_t hash, int stage) const {
  const Bucket& k = buckets_[static_cast<uint32_t>(hash) & mask_];
  if (stage == 0) {
    __builtin_prefetch(&k);
    return;
  }
  const uint32_t tag = static_cast<uint32_t>(hash >> 32);
  for (int s = 0; s < kBucketSlots; ++s) {
    if (k.tag[s] != tag || k.ref[s] == 0) continue;
    const uint32_t ref = k.ref[s] - 1;
    const char* c = reinterpret_cast<const char*>(&conns_[ref >> 2]);
    __builtin_prefetch(c, 1);
    __builtin_prefetch(c + 64, 1);
    if (ref & 2) __builtin_prefetch(&cold_[ref >> 2]);  // NAT: the reply tuple
    return;
  }
}

bool Conntrack::CanStart(const L3Info& info) const {
  if (!info.has_l4) return false;
  if (info.proto == kIpProtoTcp) {
    if (info.tcp_flags & kTcpRst) return false;
    if (tcp_loose_) return true;
    return (info.tcp_flags & (kTcpSyn | kTcpAck | kTcpFin)) == kTcpSyn;
  }
  bool request;
  if (IsIcmpEcho(info, &request)) return request;
  if (info.proto == kIpProtoIcmp || info.proto == kIpProtoIcmpv6) return false;  // errors / informational: untracked
  return true;
}

void Conntrack::LruLink(uint32_t conn) {
  if (conns_[conn].in_lru) return;
  conns_[conn].in_lru = true;
  ConnectionCold& c = cold_[conn];
  c.lru_next = kNoConn;
  c.lru_prev = lru_tail_;
  if (lru_tail_ != kNoConn) {
    cold_[lru_tail_].lru_next = conn;
  } else {
    lru_head_ = conn;
  }
  lru_tail_ = conn;
}

void Conntrack::LruUnlink(uint32_t conn) {
  if (!conns_[conn].in_lru) return;
  conns_[conn].in_lru = false;
  ConnectionCold& c = cold_[conn];
  if (c.lru_prev != kNoConn) {
    cold_[c.lru_prev].lru_next = c.lru_next;
  } else {
    lru_head_ = c.lru_next;
  }
  if (c.lru_next != kNoConn) {
    cold_[c.lru_next].lru_prev = c.lru_prev;
  } else {
    lru_tail_ = c.lru_prev;
  }
  c.lru_prev = c.lru_next = kNoConn;
}

uint32_t Conntrack::Create(const CtTuple& original, const CtTuple& reply, Nanos now) {
  if (free_.empty()) {
    if (lru_head_ == kNoConn) {
      ++table_full;
      return kNoConn;
    }
    Remove(lru_head_);
    ++evicted;
  }
  const uint32_t conn = free_.back();
  free_.pop_back();
  Connection& c = conns_[conn];
  c = Connection{};
  c.original = original;
  cold_[conn] = ConnectionCold{};
  cold_[conn].reply = reply;
  c.in_use = true;
  c.expires = now + timeouts_.generic;
  const CtTuple rev = original.Reversed();
  c.snat = !(reply.dst == rev.dst) || reply.dport != rev.dport;
  c.dnat = !(reply.src == rev.src) || reply.sport != rev.sport;
  c.nat = !(reply == rev);
  Insert(Hash(original), Ref(conn, c.nat, false));
  Insert(Hash(reply), Ref(conn, c.nat, true));
  LruLink(conn);
  ++size_;
  return conn;
}

void Conntrack::Remove(uint32_t conn) {
  Connection& c = conns_[conn];
  if (!c.in_use) return;
  Erase(Hash(c.original), Ref(conn, c.nat, false));
  Erase(Hash(cold_[conn].reply), Ref(conn, c.nat, true));
  LruUnlink(conn);
  c.in_use = false;
  free_.push_back(conn);
  --size_;
}

void Conntrack::Expire(Nanos now, size_t budget) {
  const size_t n = conns_.size();
  budget = std::min(budget, n);
  for (size_t k = 0; k < budget; ++k) {
    if (cursor_ >= n) cursor_ = 0;
    const uint32_t conn = static_cast<uint32_t>(cursor_++);
    if (conns_[conn].in_use && conns_[conn].expires <= now) {
      Remove(conn);
      ++expired;
    }
  }
}

TrackResult Conntrack::Track(uint32_t conn, bool reply, const L3Info& info, Nanos now) {
  Connection& c = conns_[conn];
  TrackResult r = TrackResult::kOk;
  if (c.original.proto == kIpProtoTcp) {
    r = TrackTcp(c, reply, info, now);
    if (r != TrackResult::kOk) return r;
  } else {
    if (reply && !c.replied) {
      c.replied = true;
      c.assured = true;
      LruUnlink(conn);
    }
    Nanos timeout = timeouts_.generic;
    if (c.original.proto == kIpProtoUdp) {
      timeout = c.replied ? timeouts_.udp_stream : timeouts_.udp;
    } else if (c.original.proto == kIpProtoIcmp || c.original.proto == kIpProtoIcmpv6) {
      timeout = timeouts_.icmp;
    }
    c.expires = now + timeout;
  }
  // TCP: assured once established; closing connections become evictable again.
  if (c.original.proto == kIpProtoTcp) {
    // A connection picked up mid-stream (tcp_loose) is established at once but assured only once answered, so a
    // flood of bare ACKs cannot fill the table with unevictable entries.
    if (reply) c.replied = true;
    if (c.tcp_state == TcpState::kEstablished && c.replied && !c.assured) c.assured = true;
    const bool closing = c.tcp_state == TcpState::kTimeWait || c.tcp_state == TcpState::kClose;
    if (c.assured && !closing) {
      LruUnlink(conn);
    } else if (closing) {
      LruLink(conn);
    }
  }
  c.packets[reply] += 1;
  c.bytes[reply] += info.ip_len;
  return TrackResult::kOk;
}

TrackResult Conntrack::TrackTcp(Connection& c, bool reply, const L3Info& info, Nanos now) {
  if (!info.has_l4) return TrackResult::kInvalid;
  const PacketClass cls = ClassOf(info.tcp_flags);
  const TcpState old = c.tcp_state;
  const uint8_t next = kTcpTable[reply][cls][static_cast<uint8_t>(old)];
  if (next == kIV) return TrackResult::kInvalid;
  if (next == kIG) return TrackResult::kOk;  // e.g. a retransmitted SYN-ACK: let the endpoints sort it out
  if (!reply && cls == kSyn && (old == TcpState::kTimeWait || old == TcpState::kClose)) return TrackResult::kReopen;
  if (cls == kRst && old == TcpState::kSynSent && reply) {
    // A RST answering our SYN must acknowledge it exactly.
    if (!(info.tcp_flags & kTcpAck) || info.tcp_ack != c.tcp[0].end) return TrackResult::kInvalid;
  } else if (!TcpInWindow(c, reply, info)) {
    return TrackResult::kInvalid;
  }
  TcpState state = static_cast<TcpState>(next);
  // A SYN_RECV completed by the initiator's ACK is the moment the handshake is done.
  c.tcp_state = state;
  c.expires = now + tcp_timeout_[next];
  return TrackResult::kOk;
}

bool Conntrack::TcpInWindow(Connection& c, bool reply, const L3Info& info) {
  TcpDirection& s = c.tcp[reply];
  TcpDirection& r = c.tcp[!reply];
  const uint8_t f = info.tcp_flags;
  const bool syn = f & kTcpSyn;
  const bool has_ack = f & kTcpAck;
  uint32_t seq = info.tcp_seq;
  uint32_t ack = info.tcp_ack;
  uint32_t win = info.tcp_window;
  // l4_payload_len covers a whole GSO super-frame: the end is the last byte of its last segment.
  uint32_t end = seq + info.l4_payload_len + (syn ? 1 : 0) + ((f & kTcpFin) ? 1 : 0);

  if (s.maxwin == 0) {
    if (syn) {
      s.end = s.maxend = end;
      s.maxwin = std::max<uint32_t>(win, 1);
      if (info.tcp_wscale != 0xff) {
        s.scale = std::min<uint8_t>(info.tcp_wscale, 14);
        s.flags |= kTcpFlagWscale;
      }
      if (!has_ack) return true;  // the initial SYN: nothing to check it against yet
      // SYN-ACK: scaling holds only if both SYNs offered it.
      if (!((s.flags & kTcpFlagWscale) && (r.flags & kTcpFlagWscale))) s.scale = r.scale = 0;
    } else {
      // Picked up mid-stream (tcp_loose).
      s.end = end;
      s.maxwin = std::max<uint32_t>(win << s.scale, 1);
      s.maxend = end + s.maxwin;
      if (r.maxwin == 0) r.end = r.maxend = ack;
    }
  } else if (syn && !has_ack && !reply && c.tcp_state == TcpState::kSynSent) {
    // Retransmitted SYN, possibly with a new ISN.
    s.end = s.maxend = end;
    s.maxwin = std::max<uint32_t>(win, 1);
    return true;
  }

  // No ACK, or a RST with a zero ack (some stacks send that): take the ack as the other side's end, as Linux does.
  if (!has_ack || ((f & kTcpRst) && ack == 0)) ack = r.end;
  if ((f & kTcpRst) && seq == 0 && c.tcp_state == TcpState::kSynSent) seq = end = s.end;

  const uint32_t maxackwin = std::max(s.maxwin, kMaxAckWinConst);
  const bool ok = Before(seq, s.maxend + 1) && After(end, s.end - r.maxwin - 1) && Before(ack, r.end + 1) &&
                  After(ack, r.end - maxackwin - 1);
  if (!ok) return false;

  if (!syn) win <<= s.scale;
  if (s.maxwin < win) s.maxwin = win;
  if (After(end, s.end)) s.end = end;
  if (has_ack) {
    if (!(s.flags & kTcpFlagMaxAckSet)) {
      s.maxack = ack;
      s.flags |= kTcpFlagMaxAckSet;
    } else if (After(ack, s.maxack)) {
      s.maxack = ack;
    }
  }
  if (r.maxwin != 0 && After(end, s.maxend)) r.maxwin += end - s.maxend;
  if (After(ack + win, r.maxend - 1)) {
    r.maxend = ack + win;
    if (win == 0) r.maxend++;
  }
  return true;
}

}  // namespace cloudlet::firewall
