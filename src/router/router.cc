// Router (see router.h): L2 filtering, ARP and NDP, local delivery (echo, DHCP), the forwarding path with the
// firewall, ICMP errors, neighbour resolution with queued packets, and the periodic tick.
#include "router/router.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <map>

namespace cloudlet::router {
namespace {

constexpr size_t kBuildBuffers = 512;       // frames the router may build per process()/tick()
constexpr size_t kBuildBufferBytes = 1664;  // >= 14 + 1280 (ICMPv6 error) and 14 + 20 + 8 + kMinDhcpReplyCap
constexpr size_t kMaxPendingSlotBytes = 9216 + kEthHeaderLen;  // bigger frames are not queued while resolving
constexpr size_t kArpLen = 28;
constexpr size_t kIpv4HeaderLen = 20;
constexpr size_t kIpv6HeaderLen = 40;
constexpr size_t kUdpHeaderLen = 8;
constexpr size_t kTcpHeaderLen = 20;
constexpr uint8_t kDefaultTtl = 64;
constexpr uint8_t kNdHopLimit = 255;
// ICMP errors (and TCP resets): a token bucket of kIcmpBurst errors refilled at one per kIcmpInterval.
constexpr Nanos kIcmpInterval = 10 * kMillisecond;
constexpr Nanos kIcmpBurst = 50 * kIcmpInterval;
constexpr Nanos kLogInterval = 100 * kMillisecond;  // 10 firewall log lines per second
constexpr Nanos kLogBurst = 20 * kLogInterval;
constexpr uint64_t kMacAllNodes = 0x333300000001ULL;
constexpr uint64_t kMacAllRouters = 0x333300000002ULL;
constexpr uint8_t kNaRouter = 0x80, kNaSolicited = 0x40, kNaOverride = 0x20;
constexpr uint8_t kNdOptSourceLl = 1, kNdOptTargetLl = 2, kNdOptPrefix = 3, kNdOptMtu = 5;
constexpr uint16_t kRaRouterLifetime = 1800;       // seconds (RFC 4861 default: 3 x MaxRtrAdvInterval)
constexpr uint32_t kRaValidLifetime = 2592000;     // 30 days, radvd's default
constexpr uint32_t kRaPreferredLifetime = 604800;  // 7 days

bool IsV4(const IpAddress& a) { return a.family == IpAddress::Family::kV4; }
bool IsV6LinkLocal(const IpAddress& a) { return !IsV4(a) && a.bytes[0] == 0xfe && (a.bytes[1] & 0xc0) == 0x80; }
bool IsUnspecified(const IpAddress& a) {
  return std::all_of(a.bytes.begin(), a.bytes.end(), [](uint8_t b) { return b == 0; });
}

// Destinations (and sources) a router never forwards: multicast, limited broadcast, unspecified, loopback,
// IPv6 link-local.
bool NotForwardable(const IpAddress& a) {
  if (IsV4(a)) return a.bytes[0] >= 224 || a.bytes[0] == 127 || a.bytes[0] == 0;
  if (a.bytes[0] == 0xff || IsV6LinkLocal(a) || IsUnspecified(a)) return true;
  static constexpr std::array<uint8_t, 16> kLoopback{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  return a.bytes == kLoopback;
}

IpAddress LinkLocalFromMac(const MacAddr& mac) {
  std::array<uint8_t, 16> b{};
  b[0] = 0xfe;
  b[1] = 0x80;
  b[8] = mac.bytes[0] ^ 0x02;
  b[9] = mac.bytes[1];
  b[10] = mac.bytes[2];
  b[11] = 0xff;
  b[12] = 0xfe;
  b[13] = mac.bytes[3];
  b[14] = mac.bytes[4];
  b[15] = mac.bytes[5];
  return IpAddress::V6(b);
}

void PutMac(uint8_t* p, uint64_t mac) {
  for (int i = 5; i >= 0; --i, mac >>= 8) p[i] = static_cast<uint8_t>(mac);
}
void PutBe32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}
uint16_t Native16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

// Writes a 20-byte IPv4 header (checksum included).
void WriteIpv4Header(uint8_t* ip, uint16_t total_len, uint8_t proto, const uint8_t* src, const uint8_t* dst,
                     bool dont_fragment) {
  std::memset(ip, 0, kIpv4HeaderLen);
  ip[0] = 0x45;
  StoreBe16(ip + 2, total_len);
  if (dont_fragment) ip[6] = 0x40;
  ip[8] = kDefaultTtl;
  ip[9] = proto;
  std::memcpy(ip + 12, src, 4);
  std::memcpy(ip + 16, dst, 4);
  SetIPv4HeaderChecksum(ip, kIpv4HeaderLen);
}

void WriteIpv6Header(uint8_t* ip, uint16_t payload_len, uint8_t next_header, uint8_t hop_limit, const uint8_t* src,
                     const uint8_t* dst) {
  std::memset(ip, 0, kIpv6HeaderLen);
  ip[0] = 0x60;
  StoreBe16(ip + 4, payload_len);
  ip[6] = next_header;
  ip[7] = hop_limit;
  std::memcpy(ip + 8, src, 16);
  std::memcpy(ip + 24, dst, 16);
}

// Computes and stores the L4 checksum of a frame the router built (one parse; only on the slow path).
void FinishL4Checksum(uint8_t* frame, size_t len, uint16_t ethertype) {
  L3Info info;
  if (ParseL3(frame, len, kEthHeaderLen, ethertype, &info) == L3Error::kNone) SetL4Checksum(frame, info);
}

// Undoes the firewall's NAT on a packet the router is about to answer with an error, so the quote inside the ICMP
// error is the packet as its sender sent it (Linux gets the same effect from conntrack translating the error).
void UndoNat(uint8_t* data, L3Info& info, const VnetHdr& vnet, const L3Info& orig) {
  if (info.dst != orig.dst || info.dport != orig.dport) RewriteDestination(data, info, vnet, orig.dst, orig.dport);
  if (info.src != orig.src || info.sport != orig.sport) RewriteSource(data, info, vnet, orig.src, orig.sport);
}

struct Iface {
  InterfaceConfig cfg;
  uint64_t mac = 0;
  std::vector<IpPrefix> v4;  // our IPv4 addresses with their subnets
  std::vector<IpPrefix> v6;  // our IPv6 addresses, the link-local (derived from the MAC) first
  std::unique_ptr<DhcpServer> dhcp;

  bool owns(const IpAddress& a) const {
    for (const IpPrefix& p : IsV4(a) ? v4 : v6) {
      if (p.address == a) return true;
    }
    return false;
  }
  // The source for packets the router originates here: IPv4's first address on the subnet of `toward` (else the
  // first), IPv6's first global address (else the link-local). nullptr if the family has none.
  const IpAddress* source(IpAddress::Family family, const IpAddress* toward = nullptr) const {
    if (family == IpAddress::Family::kV4) {
      if (v4.empty()) return nullptr;
      if (toward) {
        for (const IpPrefix& p : v4) {
          if (PrefixContains(p, *toward)) return &p.address;
        }
      }
      return &v4[0].address;
    }
    if (v6.empty()) return nullptr;
    return v6.size() > 1 ? &v6[1].address : &v6[0].address;
  }
  const IpAddress* link_local() const { return v6.empty() ? nullptr : &v6[0].address; }
};

}  // namespace

struct Router::Impl {
  RouterConfig config;
  firewall::Firewall* fw = nullptr;
  std::function<int64_t()> unix_now;
  std::vector<Iface> ifaces;
  RouteTable routes;
  // All our addresses, sorted, as raw words (cheap compares on the per-packet path).
  std::vector<uint64_t> local_v4;
  std::vector<std::pair<uint64_t, uint64_t>> local_v6;
  std::unique_ptr<NeighborTable> neighbors;
  std::unique_ptr<uint8_t[]> build_bytes;
  size_t build_used = 0;
  Nanos icmp_credit = kIcmpBurst;
  Nanos icmp_last = 0;
  bool icmp_started = false;
  // Log lines of rules with `log: true`: at most kLogBurst at once, refilled at one per kLogInterval.
  Nanos log_credit = kLogBurst;
  Nanos log_last = 0;
  uint64_t log_suppressed = 0;
  RouterCounters counters;
  std::array<L3Info, kMaxBatch> prefetch_infos{};  // process()'s pre-pass over a batch

  // ---- setup ----
  static Result<std::vector<Iface>> BuildIfaces(const RouterConfig& config);
  static Result<RouteTable> BuildRoutes(const RouterConfig& config);

  // ---- output ----
  uint8_t* build_buffer() {
    if (build_used >= kBuildBuffers) return nullptr;
    return build_bytes.get() + (build_used++) * kBuildBufferBytes;
  }
  void emit(RouterOutput& out, IfIndex iface, uint8_t* data, uint32_t len, const VnetHdr& vnet = {}) {
    if (!out.push(TxFrame{iface, data, len, vnet})) counters.output_full++;
  }
  bool icmp_allowed(Nanos now) {
    if (!icmp_started) {
      icmp_started = true;
      icmp_last = now;
    }
    icmp_credit = std::min(kIcmpBurst, icmp_credit + std::max<Nanos>(0, now - icmp_last));
    icmp_last = now;
    if (icmp_credit < kIcmpInterval) {
      counters.icmp_rate_limited++;
      return false;
    }
    icmp_credit -= kIcmpInterval;
    return true;
  }

  // A new connection decided by a rule that says `log: true`: one line, rate-limited (a flood must not fill the disk).
  void log_verdict(const firewall::Verdict& v, const L3Info& orig, IfIndex in, IfIndex out_iface, Nanos now) {
    log_credit = std::min(kLogBurst, log_credit + std::max<Nanos>(0, now - log_last));
    log_last = now;
    if (log_credit < kLogInterval) {
      log_suppressed++;
      return;
    }
    log_credit -= kLogInterval;
    const auto& names = fw->rules().rule_names;
    const std::string rule =
        v.rule < names.size() && !names[v.rule].empty() ? "'" + names[v.rule] + "'" : "#" + std::to_string(v.rule);
    const auto& zones = fw->rules().zones;
    auto zone = [&](IfIndex i) {
      const firewall::ZoneId z = ifaces[i].cfg.zone;
      return z < zones.size() ? zones[z] : std::to_string(z);
    };
    std::string flow = FormatIpAddress(orig.src_address());
    std::string to = FormatIpAddress(orig.dst_address());
    if (orig.proto == kIpProtoTcp || orig.proto == kIpProtoUdp) {
      flow += ":" + std::to_string(orig.sport);
      to += ":" + std::to_string(orig.dport);
    }
    spdlog::info("firewall: rule {} {} proto {} {} -> {} ({} -> {}){}", rule, firewall::ActionName(v.action),
                 orig.proto, flow, to, zone(in), zone(out_iface),
                 log_suppressed ? fmt::format(" [{} lines suppressed]", log_suppressed) : "");
    log_suppressed = 0;
  }

  // ---- per packet ----
  void handle(IfIndex in, Packet& p, Nanos now, RouterOutput& out);
  bool accept_l2(const Iface& iface, uint64_t dst) const;
  void handle_arp(IfIndex in, Packet& p, Nanos now, RouterOutput& out);
  void handle_ip(IfIndex in, Packet& p, uint16_t ethertype, Nanos now, RouterOutput& out);
  void handle_nd(IfIndex in, Packet& p, const L3Info& info, Nanos now, RouterOutput& out);
  void handle_local(IfIndex in, Packet& p, L3Info& info, Nanos now, RouterOutput& out);
  void handle_dhcp(IfIndex in, Packet& p, const L3Info& info, RouterOutput& out);
  void forward_to_neighbor(IfIndex in, IfIndex egress, const IpAddress& next_hop, Packet& p, Nanos now,
                           RouterOutput& out);
  // True for an accept verdict; otherwise carries it out (a reject answers the sender as it sent the packet, NAT
  // undone; a drop is counted) and returns false.
  bool allowed(const firewall::Verdict& v, IfIndex in, Packet& p, L3Info& info, const L3Info& orig, Nanos now,
               RouterOutput& out) {
    if (v.action == firewall::Action::kAccept) return true;
    if (v.action == firewall::Action::kReject) {
      UndoNat(p.data, info, p.vnet, orig);
      reject(in, p.data, p.len, orig, info, now, out);
    } else {
      counters.firewall_drop++;
    }
    return false;
  }
  void reject(IfIndex in, const uint8_t* frame, uint32_t len, const L3Info& orig, const L3Info& info, Nanos now,
              RouterOutput& out);
  void send_icmp_error(IfIndex in, const uint8_t* frame, uint32_t len, const L3Info& info, uint8_t type, uint8_t code,
                       uint32_t mtu, Nanos now, RouterOutput& out);
  void send_tcp_reset(IfIndex in, const uint8_t* frame, const L3Info& orig, Nanos now, RouterOutput& out);

  // ---- neighbours ----
  void send_solicitation(const Neighbor& n, bool unicast, RouterOutput& out);
  void send_arp(IfIndex iface, uint16_t op, uint64_t eth_dst, const IpAddress& sender_ip, uint64_t target_mac,
                const IpAddress& target_ip, RouterOutput& out);
  void send_na(IfIndex iface, const IpAddress& target, uint64_t eth_dst, const IpAddress& dst, uint8_t flags,
               RouterOutput& out);
  void send_ra(IfIndex iface, uint64_t eth_dst, const IpAddress& dst, RouterOutput& out);
  // A link-layer address learned for `n` (confirmed: a solicited reply). Releases queued packets.
  void update_neighbor(Neighbor* n, uint64_t mac, bool confirmed, bool override_mac, Nanos now, RouterOutput& out);
  void flush_pending(Neighbor* n, RouterOutput& out);
  void fail_neighbor(Neighbor* n, Nanos now, RouterOutput& out);

  bool is_local(const IpAddress& a) const {
    uint64_t k[2];
    std::memcpy(k, a.bytes.data(), 16);
    if (IsV4(a)) return std::binary_search(local_v4.begin(), local_v4.end(), k[0]);
    return std::binary_search(local_v6.begin(), local_v6.end(), std::pair<uint64_t, uint64_t>{k[0], k[1]});
  }
};

// ---------------------------------------------------------------------------------------------------------------
// Setup

Result<std::vector<Iface>> Router::Impl::BuildIfaces(const RouterConfig& config) {
  if (config.interfaces.size() > 0xffff) return Error("router: too many interfaces");
  std::vector<Iface> ifaces;
  ifaces.reserve(config.interfaces.size());
  std::map<std::string, int> names;
  for (const InterfaceConfig& c : config.interfaces) {
    const std::string where = "router interface \"" + c.name + "\"";
    if (!names.emplace(c.name, 0).second) return Error(where + ": duplicate interface name");
    if (c.mac.is_zero() || c.mac.is_multicast()) return Error(where + ": MAC " + c.mac.to_string() + " is not unicast");
    Iface f;
    f.cfg = c;
    f.mac = c.mac.to_u64();
    bool has_v6 = false;
    for (const IpPrefix& a : c.addresses) {
      if (a.length > a.address.bit_width() || a.length == 0) {
        return Error(where + ": address " + FormatIpPrefix(a) + " needs a subnet length of 1.." +
                     std::to_string(a.address.bit_width()));
      }
      if (NotForwardable(a.address) && !IsV6LinkLocal(a.address)) {
        return Error(where + ": " + FormatIpPrefix(a) + " is not a unicast address");
      }
      has_v6 |= !IsV4(a.address);
    }
    if (c.mtu < 576 || c.mtu > 65535 || (has_v6 && c.mtu < 1280)) {
      return Error(where + ": MTU " + std::to_string(c.mtu) + " out of range (576..65535, IPv6 needs 1280)");
    }
    if (has_v6) {
      const IpAddress ll = LinkLocalFromMac(c.mac);
      f.v6.push_back(IpPrefix{ll, 64});
    }
    for (const IpPrefix& a : c.addresses) {
      if (IsV4(a.address)) {
        f.v4.push_back(a);
      } else if (!(f.v6.size() > 0 && f.v6[0].address == a.address)) {
        f.v6.push_back(a);
      }
    }
    if (c.dhcp) {
      Status st = DhcpServer::Validate(*c.dhcp);
      if (!st.ok()) return st.error().wrap(where + ": dhcp");
    }
    ifaces.push_back(std::move(f));
  }
  return ifaces;
}

Result<RouteTable> Router::Impl::BuildRoutes(const RouterConfig& config) {
  RouteTable table;
  for (size_t i = 0; i < config.interfaces.size(); ++i) {
    for (const IpPrefix& a : config.interfaces[i].addresses) {
      if (IsV6LinkLocal(a.address)) continue;  // fe80::/64 exists on every interface: never routed
      const IpPrefix net = MaskedPrefix(a);
      // Two addresses of one subnet on one interface give one route.
      const Route* existing = table.lookup(a.address);
      if (existing && existing->prefix == net && existing->iface == i) continue;
      Status st = table.add(Route{net, std::nullopt, static_cast<IfIndex>(i), Route::Kind::kConnected});
      if (!st.ok()) return st.error().wrap("router interface \"" + config.interfaces[i].name + "\"");
    }
  }
  const RouteTable connected = table;
  for (const StaticRoute& r : config.routes) {
    const std::string where = "route " + FormatIpPrefix(r.dst) + " via " + FormatIpAddress(r.via);
    if (r.dst.address.family != r.via.family) return Error(where + ": the next hop's family differs");
    const Route* c = connected.lookup(r.via);
    if (c == nullptr) return Error(where + ": the next hop is on no connected subnet of the router");
    Status st = table.add(Route{r.dst, r.via, c->iface, Route::Kind::kStatic});
    if (!st.ok()) return st.error().wrap(where);
  }
  table.compile();
  return table;
}

Router::Router() : impl_(std::make_unique<Impl>()) {}
Router::~Router() = default;

Result<std::unique_ptr<Router>> Router::Create(const RouterConfig& config, firewall::Firewall* firewall,
                                               std::function<int64_t()> unix_now) {
  std::unique_ptr<Router> r(new Router());
  r->impl_->fw = firewall;
  r->impl_->unix_now = std::move(unix_now);
  r->impl_->build_bytes = std::make_unique<uint8_t[]>(kBuildBuffers * kBuildBufferBytes);
  CL_RETURN_IF_ERROR(r->reconfigure(config));
  return r;
}

Status Router::reconfigure(const RouterConfig& config) {
  Impl& m = *impl_;
  if (config.max_neighbors == 0) return Error("router: max_neighbors must be at least 1");
  CL_ASSIGN_OR_RETURN(std::vector<Iface> ifaces, Impl::BuildIfaces(config));
  CL_ASSIGN_OR_RETURN(RouteTable routes, Impl::BuildRoutes(config));

  // DHCP servers: interfaces keeping their name (and lease file) keep their server and leases. New servers load
  // their lease files first and kept ones are reconfigured after (their configs are validated already), so a
  // failure leaves the running servers as they were.
  std::vector<Iface*> kept(ifaces.size(), nullptr);
  for (size_t i = 0; i < ifaces.size(); ++i) {
    Iface& f = ifaces[i];
    if (!f.cfg.dhcp) continue;
    for (Iface& old : m.ifaces) {
      if (old.cfg.name == f.cfg.name && old.dhcp && old.cfg.dhcp_lease_file == f.cfg.dhcp_lease_file) {
        kept[i] = &old;
        break;
      }
    }
    if (kept[i]) continue;
    f.dhcp = std::make_unique<DhcpServer>(*f.cfg.dhcp, f.cfg.dhcp_lease_file, m.unix_now);
    Status st = f.dhcp->load();
    if (!st.ok()) return st.error().wrap("router interface \"" + f.cfg.name + "\": dhcp");
  }
  for (size_t i = 0; i < ifaces.size(); ++i) {
    if (!kept[i]) continue;
    Status st = kept[i]->dhcp->reconfigure(*ifaces[i].cfg.dhcp);
    if (!st.ok()) return st.error().wrap("router interface \"" + ifaces[i].cfg.name + "\": dhcp");
  }
  for (size_t i = 0; i < ifaces.size(); ++i) {
    if (kept[i]) ifaces[i].dhcp = std::move(kept[i]->dhcp);
  }

  size_t max_mtu = 1500;
  for (const Iface& f : ifaces) max_mtu = std::max<size_t>(max_mtu, f.cfg.mtu);
  const size_t slot_bytes = std::min(max_mtu + kEthHeaderLen, kMaxPendingSlotBytes);
  const size_t pending_total = std::max<size_t>(1, config.max_pending_total);
  auto table =
      std::make_unique<NeighborTable>(config.max_neighbors, config.max_pending_per_neighbor, pending_total, slot_bytes);
  // Neighbours of interfaces that stay (by name) move to the new table; queued packets are dropped.
  if (m.neighbors) {
    for (size_t i = 0; i < m.neighbors->capacity(); ++i) {
      if (!m.neighbors->live(i)) continue;
      const Neighbor& n = m.neighbors->at(i);
      if (n.state == NeighborState::kIncomplete || n.iface >= m.ifaces.size()) continue;
      for (size_t j = 0; j < ifaces.size(); ++j) {
        if (ifaces[j].cfg.name != m.ifaces[n.iface].cfg.name) continue;
        Neighbor* copy = table->find_or_create(static_cast<IfIndex>(j), n.ip, n.used);
        if (copy) {
          const uint32_t head = copy->pending_head;
          *copy = n;
          copy->iface = static_cast<IfIndex>(j);
          copy->pending_head = copy->pending_tail = head;
          copy->pending_count = 0;
        }
        break;
      }
      m.counters.pending_dropped += n.pending_count;
    }
  }

  std::vector<uint64_t> local_v4;
  std::vector<std::pair<uint64_t, uint64_t>> local_v6;
  for (const Iface& f : ifaces) {
    for (const IpPrefix& p : f.v4) {
      uint64_t k[2];
      std::memcpy(k, p.address.bytes.data(), 16);
      local_v4.push_back(k[0]);
    }
    for (const IpPrefix& p : f.v6) {
      uint64_t k[2];
      std::memcpy(k, p.address.bytes.data(), 16);
      local_v6.emplace_back(k[0], k[1]);
    }
  }
  std::sort(local_v4.begin(), local_v4.end());
  std::sort(local_v6.begin(), local_v6.end());

  m.config = config;
  m.ifaces = std::move(ifaces);
  m.routes = std::move(routes);
  m.local_v4 = std::move(local_v4);
  m.local_v6 = std::move(local_v6);
  m.neighbors = std::move(table);
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------------------------
// Per packet

void Router::process(IfIndex in, Packet* const* pkts, size_t n, Nanos now, RouterOutput& out) {
  Impl& m = *impl_;
  m.build_used = 0;
  m.neighbors->release_deferred();
  if (in >= m.ifaces.size()) {
    m.counters.received += n;
    m.counters.not_for_us += n;
    return;
  }
  if (m.fw != nullptr && n > 1) {
    // Warm the connection table for the batch (a lookup among 100k connections is a cache miss otherwise): parse the
    // IP packets first, announce them in the order handle() will look them up, then handle them.
    L3Info* infos = m.prefetch_infos.data();
    size_t count = 0;
    for (size_t i = 0; i < n && count < m.prefetch_infos.size(); ++i) {
      FrameView fv;
      const Packet& p = *pkts[i];
      if (ParseFrame(p, &fv) != FrameError::kNone || fv.num_tags != 0) continue;
      if (fv.ethertype != kEtherTypeIpv4 && fv.ethertype != kEtherTypeIpv6) continue;
      if (ParseL3(p.data, p.len, fv.l3_offset, fv.ethertype, &infos[count]) == L3Error::kNone) count++;
    }
    if (count > 1) m.fw->prefetch(std::span<const L3Info>(infos, count));
  }
  for (size_t i = 0; i < n; ++i) m.handle(in, *pkts[i], now, out);
}

bool Router::Impl::accept_l2(const Iface& iface, uint64_t dst) const {
  if (dst == iface.mac || dst == 0xffffffffffffULL) return true;
  if ((dst >> 24) == 0x3333ff) {
    for (const IpPrefix& p : iface.v6) {
      const uint64_t low =
          uint64_t{p.address.bytes[13]} << 16 | uint64_t{p.address.bytes[14]} << 8 | p.address.bytes[15];
      if ((dst & 0xffffff) == low) return true;
    }
    return false;
  }
  return !iface.v6.empty() && (dst == kMacAllNodes || dst == kMacAllRouters);
}

void Router::Impl::handle(IfIndex in, Packet& p, Nanos now, RouterOutput& out) {
  counters.received++;
  FrameView fv;
  if (ParseFrame(p, &fv) != FrameError::kNone) {
    counters.bad_header++;
    return;
  }
  if (fv.num_tags != 0 || !accept_l2(ifaces[in], LoadMac48(p.data))) {
    counters.not_for_us++;
    return;
  }
  switch (fv.ethertype) {
    case kEtherTypeArp:
      handle_arp(in, p, now, out);
      return;
    case kEtherTypeIpv4:
    case kEtherTypeIpv6:
      handle_ip(in, p, fv.ethertype, now, out);
      return;
    default:
      counters.not_for_us++;
  }
}

// ARP as Linux's arp_process: answer requests for our addresses (learning the asker), update entries we already
// have from any ARP (gratuitous announcements included), never create entries from unsolicited traffic.
void Router::Impl::handle_arp(IfIndex in, Packet& p, Nanos now, RouterOutput& out) {
  const uint8_t* a = p.data + kEthHeaderLen;
  if (p.len < kEthHeaderLen + kArpLen || LoadBe16(a) != 1 || LoadBe16(a + 2) != kEtherTypeIpv4 || a[4] != 6 ||
      a[5] != 4) {
    counters.bad_header++;
    return;
  }
  const uint16_t op = LoadBe16(a + 6);
  const uint64_t sha = LoadMac48(a + 8);
  const IpAddress sip = IpAddress::V4(a[14], a[15], a[16], a[17]);
  const IpAddress tip = IpAddress::V4(a[24], a[25], a[26], a[27]);
  if ((op != 1 && op != 2) || IsMulticastMac48(sha) || sha == 0) {
    counters.bad_header++;
    return;
  }
  counters.arp_handled++;
  const Iface& f = ifaces[in];
  if (f.owns(sip) || (NotForwardable(sip) && !IsUnspecified(sip))) return;  // our own / a martian sender
  const bool for_us = f.owns(tip);
  if (op == 1 && for_us) {
    if (!IsUnspecified(sip)) {
      Neighbor* n = neighbors->find_or_create(in, sip, now, &counters.pending_dropped);
      if (n) update_neighbor(n, sha, false, true, now, out);
    }
    // A probe (sender 0.0.0.0, RFC 5227) is answered too, so the prober sees the conflict.
    send_arp(in, 2, sha, tip, sha, sip, out);
    return;
  }
  if (IsUnspecified(sip)) return;
  if (Neighbor* n = neighbors->find(in, sip)) {
    const bool confirmed = op == 2 && LoadMac48(p.data) == f.mac;
    update_neighbor(n, sha, confirmed, true, now, out);
  }
}

void Router::Impl::update_neighbor(Neighbor* n, uint64_t mac, bool confirmed, bool override_mac, Nanos now,
                                   RouterOutput& out) {
  const uint64_t old = n->mac.to_u64();
  const bool was_incomplete = n->state == NeighborState::kIncomplete;
  if (!was_incomplete && old != mac && !override_mac) {
    // A different address without the override flag: keep ours but stop trusting it (RFC 4861 7.2.5).
    if (n->state == NeighborState::kReachable) n->state = NeighborState::kStale;
    return;
  }
  n->mac = MacAddr::FromU64(mac);
  if (confirmed) {
    n->state = NeighborState::kReachable;
    n->confirmed = now;
    n->probes = 0;
  } else if (was_incomplete || old != mac) {
    n->state = NeighborState::kStale;
    n->probes = 0;
  }
  if (n->pending_count) flush_pending(n, out);
}

void Router::Impl::flush_pending(Neighbor* n, RouterOutput& out) {
  const uint64_t src = ifaces[n->iface].mac;
  const uint64_t dst = n->mac.to_u64();
  for (uint32_t s = neighbors->take_pending(n); s != kNoSlot; s = neighbors->pending(s).next) {
    PendingPacket& pp = neighbors->pending(s);
    PutMac(pp.data, dst);
    PutMac(pp.data + kEthAddrLen, src);
    emit(out, n->iface, pp.data, pp.len, pp.vnet);
    counters.forwarded++;
  }
}

void Router::Impl::send_arp(IfIndex iface, uint16_t op, uint64_t eth_dst, const IpAddress& sender_ip,
                            uint64_t target_mac, const IpAddress& target_ip, RouterOutput& out) {
  uint8_t* b = build_buffer();
  if (!b) {
    counters.output_full++;
    return;
  }
  constexpr uint32_t kLen = 60;  // minimum Ethernet frame, zero padded
  std::memset(b, 0, kLen);
  PutMac(b, eth_dst);
  PutMac(b + 6, ifaces[iface].mac);
  StoreBe16(b + 12, kEtherTypeArp);
  uint8_t* a = b + kEthHeaderLen;
  StoreBe16(a, 1);
  StoreBe16(a + 2, kEtherTypeIpv4);
  a[4] = 6;
  a[5] = 4;
  StoreBe16(a + 6, op);
  PutMac(a + 8, ifaces[iface].mac);
  std::memcpy(a + 14, sender_ip.bytes.data(), 4);
  PutMac(a + 18, target_mac);
  std::memcpy(a + 24, target_ip.bytes.data(), 4);
  emit(out, iface, b, kLen);
}

// Neighbor Advertisement from our address `target`, with the target link-layer option.
void Router::Impl::send_na(IfIndex iface, const IpAddress& target, uint64_t eth_dst, const IpAddress& dst,
                           uint8_t flags, RouterOutput& out) {
  uint8_t* b = build_buffer();
  if (!b) {
    counters.output_full++;
    return;
  }
  constexpr uint16_t kIcmpLen = 24 + 8;
  PutMac(b, eth_dst);
  PutMac(b + 6, ifaces[iface].mac);
  StoreBe16(b + 12, kEtherTypeIpv6);
  WriteIpv6Header(b + kEthHeaderLen, kIcmpLen, kIpProtoIcmpv6, kNdHopLimit, target.bytes.data(), dst.bytes.data());
  uint8_t* icmp = b + kEthHeaderLen + kIpv6HeaderLen;
  std::memset(icmp, 0, kIcmpLen);
  icmp[0] = kIcmp6NeighborAdvert;
  icmp[4] = flags;
  std::memcpy(icmp + 8, target.bytes.data(), 16);
  icmp[24] = kNdOptTargetLl;
  icmp[25] = 1;
  PutMac(icmp + 26, ifaces[iface].mac);
  const uint32_t len = kEthHeaderLen + kIpv6HeaderLen + kIcmpLen;
  FinishL4Checksum(b, len, kEtherTypeIpv6);
  emit(out, iface, b, len);
}

// Router Advertisement answering a solicitation: we are a default router; each global prefix of the interface is
// on-link, and /64s are autonomous (SLAAC); the link MTU and our link-layer address.
void Router::Impl::send_ra(IfIndex iface, uint64_t eth_dst, const IpAddress& dst, RouterOutput& out) {
  const Iface& f = ifaces[iface];
  const IpAddress* src = f.link_local();
  if (!src || f.v6.size() < 2) return;  // no global prefix to announce
  uint8_t* b = build_buffer();
  if (!b) {
    counters.output_full++;
    return;
  }
  uint8_t* icmp = b + kEthHeaderLen + kIpv6HeaderLen;
  size_t n = 16;
  std::memset(icmp, 0, n);
  icmp[0] = kIcmp6RouterAdvert;
  icmp[4] = kDefaultTtl;                   // cur hop limit
  StoreBe16(icmp + 6, kRaRouterLifetime);  // seconds as a default router
  uint8_t* o = icmp + n;
  std::memset(o, 0, 16);
  o[0] = kNdOptSourceLl;
  o[1] = 1;
  PutMac(o + 2, f.mac);
  o[8] = kNdOptMtu;
  o[9] = 1;
  PutBe32(o + 12, f.cfg.mtu);
  n += 16;
  constexpr size_t kPrefixOptLen = 32;
  for (size_t i = 1; i < f.v6.size(); ++i) {
    if (kEthHeaderLen + kIpv6HeaderLen + n + kPrefixOptLen > kBuildBufferBytes) break;
    const IpPrefix net = MaskedPrefix(f.v6[i]);
    o = icmp + n;
    std::memset(o, 0, kPrefixOptLen);
    o[0] = kNdOptPrefix;
    o[1] = 4;
    o[2] = net.length;
    o[3] = net.length == 64 ? 0xc0 : 0x80;  // on-link, autonomous only where SLAAC works
    PutBe32(o + 4, kRaValidLifetime);
    PutBe32(o + 8, kRaPreferredLifetime);
    std::memcpy(o + 16, net.address.bytes.data(), 16);
    n += kPrefixOptLen;
  }
  PutMac(b, eth_dst);
  PutMac(b + 6, f.mac);
  StoreBe16(b + 12, kEtherTypeIpv6);
  WriteIpv6Header(b + kEthHeaderLen, static_cast<uint16_t>(n), kIpProtoIcmpv6, kNdHopLimit, src->bytes.data(),
                  dst.bytes.data());
  const auto len = static_cast<uint32_t>(kEthHeaderLen + kIpv6HeaderLen + n);
  FinishL4Checksum(b, len, kEtherTypeIpv6);
  emit(out, iface, b, len);
}

// ARP request (broadcast, or unicast to the known MAC when probing) or Neighbor Solicitation (to the solicited-node
// group, or unicast when probing) for `n`.
void Router::Impl::send_solicitation(const Neighbor& n, bool unicast, RouterOutput& out) {
  const Iface& f = ifaces[n.iface];
  counters.neighbor_requests_sent++;
  if (IsV4(n.ip)) {
    const IpAddress* src = f.source(IpAddress::Family::kV4, &n.ip);
    if (!src) return;
    send_arp(n.iface, 1, unicast ? n.mac.to_u64() : 0xffffffffffffULL, *src, 0, n.ip, out);
    return;
  }
  const IpAddress* src = f.link_local();
  uint8_t* b = src ? build_buffer() : nullptr;
  if (!b) {
    counters.output_full++;
    return;
  }
  IpAddress dst = n.ip;
  uint64_t eth_dst = n.mac.to_u64();
  if (!unicast) {
    dst.bytes = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, n.ip.bytes[13], n.ip.bytes[14], n.ip.bytes[15]};
    eth_dst = 0x3333ff000000ULL | uint64_t{n.ip.bytes[13]} << 16 | uint64_t{n.ip.bytes[14]} << 8 | n.ip.bytes[15];
  }
  constexpr uint16_t kIcmpLen = 24 + 8;
  PutMac(b, eth_dst);
  PutMac(b + 6, f.mac);
  StoreBe16(b + 12, kEtherTypeIpv6);
  WriteIpv6Header(b + kEthHeaderLen, kIcmpLen, kIpProtoIcmpv6, kNdHopLimit, src->bytes.data(), dst.bytes.data());
  uint8_t* icmp = b + kEthHeaderLen + kIpv6HeaderLen;
  std::memset(icmp, 0, kIcmpLen);
  icmp[0] = kIcmp6NeighborSolicit;
  std::memcpy(icmp + 8, n.ip.bytes.data(), 16);
  icmp[24] = kNdOptSourceLl;
  icmp[25] = 1;
  PutMac(icmp + 26, f.mac);
  const uint32_t len = kEthHeaderLen + kIpv6HeaderLen + kIcmpLen;
  FinishL4Checksum(b, len, kEtherTypeIpv6);
  emit(out, n.iface, b, len);
}

// RS / NS / NA (RFC 4861 6.1.1 / 7.1 validation: hop limit 255, code 0, checksum, length, options with nonzero length).
void Router::Impl::handle_nd(IfIndex in, Packet& p, const L3Info& info, Nanos now, RouterOutput& out) {
  const size_t end = static_cast<size_t>(info.l3_offset) + info.ip_len;
  const uint8_t* icmp = p.data + info.l4_offset;
  const size_t icmp_len = end - info.l4_offset;
  if (info.ttl != kNdHopLimit || info.icmp_code != 0 || icmp_len < (info.icmp_type == kIcmp6RouterSolicit ? 8u : 24u) ||
      !L4ChecksumOk(p.data, info)) {
    counters.bad_header++;
    return;
  }
  const bool rs = info.icmp_type == kIcmp6RouterSolicit;
  IpAddress target;
  target.family = IpAddress::Family::kV6;
  if (!rs) std::memcpy(target.bytes.data(), icmp + 8, 16);
  if (target.bytes[0] == 0xff) {
    counters.bad_header++;
    return;
  }
  uint64_t lladdr = 0;
  bool has_ll = false;
  const uint8_t wanted = info.icmp_type == kIcmp6NeighborAdvert ? kNdOptTargetLl : kNdOptSourceLl;
  for (size_t off = rs ? 8 : 24; off < icmp_len;) {
    if (off + 2 > icmp_len || icmp[off + 1] == 0 || off + icmp[off + 1] * 8u > icmp_len) {
      counters.bad_header++;
      return;
    }
    if (icmp[off] == wanted && icmp[off + 1] == 1) {
      lladdr = LoadMac48(icmp + off + 2);
      has_ll = true;
    }
    off += icmp[off + 1] * 8u;
  }
  counters.nd_handled++;
  const IpAddress src = info.src_address();
  const Iface& f = ifaces[in];
  if (rs) {
    // RFC 4861 6.1.1: a solicitation from the unspecified address carries no source link-layer option.
    if (IsUnspecified(src) && has_ll) {
      counters.bad_header++;
      return;
    }
    if (has_ll) {
      Neighbor* n = neighbors->find_or_create(in, src, now, &counters.pending_dropped);
      if (n) update_neighbor(n, lladdr, false, true, now, out);
    }
    if (IsUnspecified(src)) {
      send_ra(in, kMacAllNodes, IpAddress::V6({0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}), out);
    } else {
      send_ra(in, has_ll ? lladdr : LoadMac48(p.data + kEthAddrLen), src, out);
    }
    return;
  }
  if (info.icmp_type == kIcmp6NeighborSolicit) {
    if (!f.owns(target)) return;
    if (IsUnspecified(src)) {
      // Duplicate address detection: answer to all-nodes (RFC 4861 7.2.4); a DAD probe carries no source option.
      if (has_ll || info.dst[0] != 0xff) {
        counters.bad_header++;
        return;
      }
      IpAddress all_nodes = IpAddress::V6({0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1});
      send_na(in, target, kMacAllNodes, all_nodes, kNaRouter | kNaOverride, out);
      return;
    }
    if (has_ll) {
      Neighbor* n = neighbors->find_or_create(in, src, now, &counters.pending_dropped);
      if (n) update_neighbor(n, lladdr, false, true, now, out);
    }
    send_na(in, target, has_ll ? lladdr : LoadMac48(p.data + kEthAddrLen), src, kNaRouter | kNaSolicited | kNaOverride,
            out);
    return;
  }
  // Neighbor Advertisement.
  const uint8_t flags = icmp[4];
  if ((flags & kNaSolicited) && info.dst[0] == 0xff) {
    counters.bad_header++;
    return;
  }
  Neighbor* n = neighbors->find(in, target);
  if (!n) return;
  if (n->state == NeighborState::kIncomplete) {
    if (has_ll) update_neighbor(n, lladdr, flags & kNaSolicited, true, now, out);
    return;
  }
  if (!has_ll) lladdr = n->mac.to_u64();
  update_neighbor(n, lladdr, flags & kNaSolicited, flags & kNaOverride, now, out);
}

void Router::Impl::handle_ip(IfIndex in, Packet& p, uint16_t ethertype, Nanos now, RouterOutput& out) {
  L3Info info;
  if (ParseL3(p.data, p.len, kEthHeaderLen, ethertype, &info) != L3Error::kNone ||
      (info.family == 4 && !IPv4HeaderChecksumOk(p.data + kEthHeaderLen, (p.data[kEthHeaderLen] & 0x0f) * 4u))) {
    counters.bad_header++;
    return;
  }
  // Ethernet padding is not part of the packet.
  if (info.l3_offset + info.ip_len < p.len) p.len = info.l3_offset + info.ip_len;
  const Iface& f = ifaces[in];
  if (info.family == 6 && info.proto == kIpProtoIcmpv6 && info.has_l4 &&
      (info.icmp_type == kIcmp6NeighborSolicit || info.icmp_type == kIcmp6NeighborAdvert ||
       info.icmp_type == kIcmp6RouterSolicit)) {
    handle_nd(in, p, info, now, out);
    return;
  }
  const IpAddress src = info.src_address();
  if (info.family == 4 && info.proto == kIpProtoUdp && info.has_l4 && info.dport == 67 && f.dhcp) {
    const IpAddress dst = info.dst_address();
    if (dst == IpAddress::V4(255, 255, 255, 255) || f.owns(dst)) {
      handle_dhcp(in, p, info, out);
      return;
    }
  }
  if ((NotForwardable(src) && !IsV6LinkLocal(src)) || is_local(src)) {
    counters.not_routable++;  // martian or spoofed-as-us source
    return;
  }

  const L3Info orig = info;  // before any NAT: what a reset answers
  firewall::FlowState flow;
  if (fw) {
    const firewall::Verdict v = fw->ingress(p.data, info, p.vnet, p.len, f.cfg.zone, now, &flow);
    if (!allowed(v, in, p, info, orig, now, out)) return;
  }
  const IpAddress dst = info.dst_address();
  if (is_local(dst)) {
    handle_local(in, p, info, now, out);
    return;
  }
  if (LoadMac48(p.data) != f.mac) {
    counters.not_for_us++;  // link-layer broadcast / multicast is never forwarded (Linux: PACKET_HOST only)
    return;
  }
  if (NotForwardable(dst) || IsV6LinkLocal(src)) {
    counters.not_routable++;
    return;
  }
  if (info.ttl <= 1) {
    counters.ttl_exceeded++;
    UndoNat(p.data, info, p.vnet, orig);
    send_icmp_error(in, p.data, p.len, info, info.family == 4 ? kIcmpTimeExceeded : kIcmp6TimeExceeded, 0, 0, now, out);
    return;
  }
  const Route* route = routes.lookup(dst);
  if (!route) {
    counters.no_route++;
    UndoNat(p.data, info, p.vnet, orig);
    send_icmp_error(in, p.data, p.len, info, info.family == 4 ? kIcmpDestUnreachable : kIcmp6DestUnreachable, 0, 0, now,
                    out);
    return;
  }
  const IfIndex egress = route->iface;
  const Iface& e = ifaces[egress];
  if (info.family == 4 && route->kind == Route::Kind::kConnected && route->prefix.length <= 30) {
    // The directed broadcast of a connected subnet (RFC 2644: not forwarded).
    IpPrefix host = route->prefix;
    bool all_ones = true;
    for (int bit = host.length; bit < 32 && all_ones; ++bit) all_ones = (dst.bytes[bit / 8] >> (7 - bit % 8)) & 1;
    if (all_ones) {
      counters.not_routable++;
      return;
    }
  }
  // MTU: a GSO super-frame is checked by its segments.
  uint32_t l3_len = info.ip_len;
  if (p.vnet.gso_type != VnetHdr::kGsoNone && info.has_l4) {
    uint32_t l4_header = kUdpHeaderLen;
    if (info.proto == kIpProtoTcp) l4_header = (p.data[info.l4_offset + 12] >> 4) * 4u;
    l3_len = info.l4_offset - info.l3_offset + l4_header + p.vnet.gso_size;
  }
  if (l3_len > e.cfg.mtu) {
    counters.too_big++;
    if (info.family == 4 && !info.dont_fragment) {
      counters.fragment_needed_no_df++;
      return;
    }
    UndoNat(p.data, info, p.vnet, orig);
    if (info.family == 4) {
      send_icmp_error(in, p.data, p.len, info, kIcmpDestUnreachable, 4, e.cfg.mtu, now, out);
    } else {
      send_icmp_error(in, p.data, p.len, info, kIcmp6PacketTooBig, 0, e.cfg.mtu, now, out);
    }
    return;
  }
  if (fw) {
    const IpAddress* egress_src = e.source(dst.family);
    const IpAddress none{dst.family, {}};
    const firewall::Verdict v =
        fw->egress(p.data, info, p.vnet, p.len, e.cfg.zone, egress_src ? *egress_src : none, now, &flow);
    if (v.log) log_verdict(v, orig, in, egress, now);
    if (!allowed(v, in, p, info, orig, now, out)) return;
  }
  DecrementTtl(p.data, info);
  forward_to_neighbor(in, egress, route->via ? *route->via : dst, p, now, out);
}

void Router::Impl::forward_to_neighbor(IfIndex in, IfIndex egress, const IpAddress& next_hop, Packet& p, Nanos now,
                                       RouterOutput& out) {
  Neighbor* n = neighbors->find(egress, next_hop);
  if (!n) {
    n = neighbors->find_or_create(egress, next_hop, now, &counters.pending_dropped);
    if (!n) {
      counters.no_neighbor++;
      return;
    }
    n->state = NeighborState::kIncomplete;
    n->probes = 1;
    n->next_probe = now + kRetransTime;
    send_solicitation(*n, false, out);
  }
  if (n->state == NeighborState::kIncomplete) {
    if (!neighbors->enqueue(n, p.data, p.len, p.vnet, in)) counters.pending_dropped++;
    return;
  }
  if (n->effective_state(now) == NeighborState::kStale) {
    n->state = NeighborState::kProbe;
    n->probes = 0;
    n->next_probe = now + kDelayFirstProbe;
  }
  neighbors->touch(n, now);
  PutMac(p.data, n->mac.to_u64());
  PutMac(p.data + kEthAddrLen, ifaces[egress].mac);
  emit(out, egress, p.data, p.len, p.vnet);
  counters.forwarded++;
}

void Router::Impl::handle_local(IfIndex in, Packet& p, L3Info& info, Nanos now, RouterOutput& out) {
  const bool echo = info.has_l4 && !info.is_fragment &&
                    ((info.family == 4 && info.proto == kIpProtoIcmp && info.icmp_type == kIcmpEchoRequest) ||
                     (info.family == 6 && info.proto == kIpProtoIcmpv6 && info.icmp_type == kIcmp6EchoRequest));
  if (!echo || info.icmp_code != 0 || !L4ChecksumOk(p.data, info)) {
    counters.local_dropped++;
    // No UDP service listens here: port unreachable, which also ends a UDP traceroute to the gateway.
    if (info.proto == kIpProtoUdp && info.has_l4 && L4ChecksumOk(p.data, info)) {
      send_icmp_error(in, p.data, p.len, info, info.family == 4 ? kIcmpDestUnreachable : kIcmp6DestUnreachable,
                      info.family == 4 ? 3 : 4, 0, now, out);
    }
    return;
  }
  // Echo reply in place: swap addresses (the pseudo-header sum is unchanged), change the type, fresh TTL.
  uint8_t* ip = p.data + info.l3_offset;
  uint8_t* icmp = p.data + info.l4_offset;
  const uint16_t old_word = Native16(icmp);
  icmp[0] = info.family == 4 ? kIcmpEchoReply : kIcmp6EchoReply;
  ChecksumReplace16(icmp + 2, old_word, Native16(icmp));
  if (info.family == 4) {
    uint8_t tmp[4];
    std::memcpy(tmp, ip + 12, 4);
    std::memcpy(ip + 12, ip + 16, 4);
    std::memcpy(ip + 16, tmp, 4);
    ip[8] = kDefaultTtl;
    SetIPv4HeaderChecksum(ip, (ip[0] & 0x0f) * 4u);
  } else {
    uint8_t tmp[16];
    std::memcpy(tmp, ip + 8, 16);
    std::memcpy(ip + 8, ip + 24, 16);
    std::memcpy(ip + 24, tmp, 16);
    ip[7] = kDefaultTtl;
  }
  uint8_t mac[kEthAddrLen];
  std::memcpy(mac, p.data + kEthAddrLen, kEthAddrLen);
  std::memcpy(p.data, mac, kEthAddrLen);
  PutMac(p.data + kEthAddrLen, ifaces[in].mac);
  counters.local_delivered++;
  emit(out, in, p.data, p.len);
}

void Router::Impl::handle_dhcp(IfIndex in, Packet& p, const L3Info& info, RouterOutput& out) {
  const size_t end = static_cast<size_t>(info.l3_offset) + info.ip_len;
  const size_t udp_len = LoadBe16(p.data + info.l4_offset + 4);
  if (info.is_fragment || udp_len < kUdpHeaderLen || info.l4_offset + udp_len > end) {
    counters.bad_header++;
    return;
  }
  uint8_t* b = build_buffer();
  if (!b) {
    counters.output_full++;
    return;
  }
  constexpr size_t kHeaders = kEthHeaderLen + kIpv4HeaderLen + kUdpHeaderLen;
  DhcpReplyTo to;
  const size_t n = ifaces[in].dhcp->handle(p.data + info.l4_offset + kUdpHeaderLen, udp_len - kUdpHeaderLen,
                                           b + kHeaders, kBuildBufferBytes - kHeaders, &to);
  counters.dhcp_handled++;
  counters.local_delivered++;
  if (n == 0) {
    build_used--;  // nothing built: give the buffer back
    return;
  }
  const IpAddress dst = to.broadcast ? IpAddress::V4(255, 255, 255, 255) : to.address;
  const uint64_t eth_dst = to.broadcast ? 0xffffffffffffULL : to.mac.to_u64();
  PutMac(b, eth_dst);
  PutMac(b + 6, ifaces[in].mac);
  StoreBe16(b + 12, kEtherTypeIpv4);
  const IpAddress& server = ifaces[in].dhcp->config().server;
  WriteIpv4Header(b + kEthHeaderLen, static_cast<uint16_t>(kIpv4HeaderLen + kUdpHeaderLen + n), kIpProtoUdp,
                  server.bytes.data(), dst.bytes.data(), false);
  uint8_t* udp = b + kEthHeaderLen + kIpv4HeaderLen;
  StoreBe16(udp, 67);
  StoreBe16(udp + 2, 68);
  StoreBe16(udp + 4, static_cast<uint16_t>(kUdpHeaderLen + n));
  StoreBe16(udp + 6, 0);
  const auto len = static_cast<uint32_t>(kHeaders + n);
  FinishL4Checksum(b, len, kEtherTypeIpv4);
  emit(out, in, b, len);
}

// Firewall reject as nftables' default `reject`: TCP reset for TCP, else ICMP (v6) port unreachable.
void Router::Impl::reject(IfIndex in, const uint8_t* frame, uint32_t len, const L3Info& orig, const L3Info& info,
                          Nanos now, RouterOutput& out) {
  counters.firewall_reject++;
  if (orig.proto == kIpProtoTcp && orig.has_l4) {
    if (!(orig.tcp_flags & kTcpRst)) send_tcp_reset(in, frame, orig, now, out);
    return;
  }
  send_icmp_error(in, frame, len, info, info.family == 4 ? kIcmpDestUnreachable : kIcmp6DestUnreachable,
                  info.family == 4 ? 3 : 4, 0, now, out);
}

// As Linux's nf_send_reset: to an ACK, a RST with seq = its ack; otherwise RST|ACK acknowledging the segment.
void Router::Impl::send_tcp_reset(IfIndex in, const uint8_t* frame, const L3Info& orig, Nanos now, RouterOutput& out) {
  if (!MayAnswerWithIcmpError(orig) || !icmp_allowed(now)) return;
  uint8_t* b = build_buffer();
  if (!b) {
    counters.output_full++;
    return;
  }
  const bool v4 = orig.family == 4;
  const size_t ip_len = v4 ? kIpv4HeaderLen : kIpv6HeaderLen;
  std::memcpy(b, frame + kEthAddrLen, kEthAddrLen);
  PutMac(b + kEthAddrLen, ifaces[in].mac);
  StoreBe16(b + 12, v4 ? kEtherTypeIpv4 : kEtherTypeIpv6);
  if (v4) {
    WriteIpv4Header(b + kEthHeaderLen, kIpv4HeaderLen + kTcpHeaderLen, kIpProtoTcp, orig.dst.data(), orig.src.data(),
                    true);
  } else {
    WriteIpv6Header(b + kEthHeaderLen, kTcpHeaderLen, kIpProtoTcp, kDefaultTtl, orig.dst.data(), orig.src.data());
  }
  uint8_t* tcp = b + kEthHeaderLen + ip_len;
  std::memset(tcp, 0, kTcpHeaderLen);
  StoreBe16(tcp, orig.dport);
  StoreBe16(tcp + 2, orig.sport);
  if (orig.tcp_flags & kTcpAck) {
    PutBe32(tcp + 4, orig.tcp_ack);
    tcp[13] = kTcpRst;
  } else {
    const uint32_t ack = orig.tcp_seq + orig.l4_payload_len + ((orig.tcp_flags & kTcpSyn) ? 1 : 0) +
                         ((orig.tcp_flags & kTcpFin) ? 1 : 0);
    PutBe32(tcp + 8, ack);
    tcp[13] = kTcpRst | kTcpAck;
  }
  tcp[12] = 5 << 4;
  const auto len = static_cast<uint32_t>(kEthHeaderLen + ip_len + kTcpHeaderLen);
  FinishL4Checksum(b, len, v4 ? kEtherTypeIpv4 : kEtherTypeIpv6);
  counters.icmp_errors_sent++;
  emit(out, in, b, len);
}

void Router::Impl::send_icmp_error(IfIndex in, const uint8_t* frame, uint32_t len, const L3Info& info, uint8_t type,
                                   uint8_t code, uint32_t mtu, Nanos now, RouterOutput& out) {
  if (!MayAnswerWithIcmpError(info)) return;
  const IpAddress::Family family = info.family == 4 ? IpAddress::Family::kV4 : IpAddress::Family::kV6;
  const IpAddress src = info.src_address();
  const IpAddress* from = ifaces[in].source(family, &src);
  for (size_t i = 0; !from && i < ifaces.size(); ++i) from = ifaces[i].source(family);
  if (!from || !icmp_allowed(now)) return;
  uint8_t* b = build_buffer();
  if (!b) {
    counters.output_full++;
    return;
  }
  const size_t n = BuildIcmpError(frame + info.l3_offset, len - info.l3_offset, info, from->bytes, type, code, mtu,
                                  b + kEthHeaderLen, kBuildBufferBytes - kEthHeaderLen);
  if (n == 0) {
    build_used--;
    return;
  }
  std::memcpy(b, frame + kEthAddrLen, kEthAddrLen);
  PutMac(b + kEthAddrLen, ifaces[in].mac);
  StoreBe16(b + 12, info.family == 4 ? kEtherTypeIpv4 : kEtherTypeIpv6);
  counters.icmp_errors_sent++;
  emit(out, in, b, static_cast<uint32_t>(kEthHeaderLen + n));
}

// Resolution failed: ICMP host (v6: address) unreachable to each queued packet's source, then the entry goes.
void Router::Impl::fail_neighbor(Neighbor* n, Nanos now, RouterOutput& out) {
  counters.no_neighbor += n->pending_count;
  for (uint32_t s = neighbors->take_pending(n); s != kNoSlot; s = neighbors->pending(s).next) {
    const PendingPacket& pp = neighbors->pending(s);
    const uint16_t ethertype = LoadBe16(pp.data + 12);
    L3Info info;
    if (ParseL3(pp.data, pp.len, kEthHeaderLen, ethertype, &info) != L3Error::kNone) continue;
    send_icmp_error(pp.in, pp.data, pp.len, info, info.family == 4 ? kIcmpDestUnreachable : kIcmp6DestUnreachable,
                    info.family == 4 ? 1 : 3, 0, now, out);
  }
  neighbors->remove(n);
}

// ---------------------------------------------------------------------------------------------------------------
// Timers and status

void Router::tick(Nanos now, RouterOutput& out) {
  Impl& m = *impl_;
  m.build_used = 0;
  m.neighbors->release_deferred();
  NeighborTable& t = *m.neighbors;
  for (size_t i = 0; i < t.capacity(); ++i) {
    if (!t.live(i)) continue;
    Neighbor* n = &t.at(i);
    switch (n->state) {
      case NeighborState::kIncomplete:
      case NeighborState::kProbe:
        if (now < n->next_probe) break;
        if (n->probes >= kMaxProbes) {
          m.fail_neighbor(n, now, out);
          break;
        }
        n->probes++;
        n->next_probe = now + kRetransTime;
        m.send_solicitation(*n, n->state == NeighborState::kProbe, out);
        break;
      case NeighborState::kReachable:
      case NeighborState::kStale:
        if (n->effective_state(now) == NeighborState::kStale && now - n->used > kGcStaleTime &&
            now - n->confirmed > kGcStaleTime) {
          t.remove(n);
        }
        break;
    }
  }
  if (m.fw) m.fw->expire(now);
  for (Iface& f : m.ifaces) {
    if (f.dhcp) f.dhcp->expire();
  }
}

const RouterConfig& Router::config() const { return impl_->config; }
const RouterCounters& Router::counters() const { return impl_->counters; }

std::vector<NeighborStatus> Router::neighbors(Nanos now) const {
  std::vector<NeighborStatus> v;
  const NeighborTable& t = *impl_->neighbors;
  for (size_t i = 0; i < t.capacity(); ++i) {
    if (!t.live(i)) continue;
    const Neighbor& n = t.at(i);
    v.push_back(NeighborStatus{n.iface, n.ip, n.mac, n.effective_state(now), n.pending_count});
  }
  std::sort(v.begin(), v.end(), [](const NeighborStatus& a, const NeighborStatus& b) {
    return std::tie(a.iface, a.ip) < std::tie(b.iface, b.ip);
  });
  return v;
}

std::vector<Route> Router::routes() const {
  std::vector<Route> v = impl_->routes.routes();
  std::sort(v.begin(), v.end(), [](const Route& a, const Route& b) { return a.prefix < b.prefix; });
  return v;
}

std::vector<DhcpStatus> Router::dhcp_leases() const {
  std::vector<DhcpStatus> v;
  for (size_t i = 0; i < impl_->ifaces.size(); ++i) {
    const Iface& f = impl_->ifaces[i];
    if (f.dhcp) v.push_back(DhcpStatus{static_cast<IfIndex>(i), f.dhcp->leases(), f.dhcp->dropped()});
  }
  return v;
}

}  // namespace cloudlet::router
