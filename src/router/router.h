// Router: cloudlet's sans-IO IPv4/IPv6 router between VLAN subnets (and an uplink). It takes batches of untagged
// Ethernet frames per interface with a monotonic time and returns the frames to transmit per interface; the data
// plane (router_port.h) owns the buffers and the I/O.
//
//   process(in, frames):
//     L2 filter (our MAC, broadcast, our solicited-node / all-nodes / all-routers multicast) ─► ARP | IPv4 | IPv6
//     ARP / NS / NA ─► neighbour cache (neighbor.h), replies; RS ─► RA (our global prefixes, /64s autonomous)
//     IP: header checks ─► DHCP (udp/67 on a DHCP interface) ─► firewall ingress (conntrack, DNAT)
//         ─► to one of our addresses: echo reply, UDP: port unreachable, else dropped
//         ─► TTL ─► route lookup (routes.h) ─► MTU ─► firewall egress (filter, masquerade) ─► neighbour ─► MAC
//            rewrite, TTL decrement ─► out (or queued while the neighbour resolves)
//   tick(now): neighbour retries/probes/aging (ICMP host unreachable for packets that waited in vain), firewall
//              expiry, DHCP lease expiry.
// Errors a router reports (time exceeded, unreachable, frag needed / packet too big, reject) go back out of the
// ingress interface to the offending frame's source MAC, rate-limited by one token bucket.
// Forwarded frames are rewritten in place in the caller's buffers; frames the router builds live in router-owned
// buffers valid until the next process()/tick(). Nothing allocates per packet; every table is bounded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "firewall/firewall.h"
#include "net/ethernet.h"
#include "net/ip_address.h"
#include "net/l3.h"
#include "net/packet.h"
#include "router/dhcp.h"
#include "router/neighbor.h"
#include "router/routes.h"

namespace cloudlet::router {

struct InterfaceConfig {
  std::string name;                 // "vlan10", "uplink"
  uint16_t vlan = 0;                // informational (0 for the uplink)
  MacAddr mac;                      // the router's MAC on this interface
  std::vector<IpPrefix> addresses;  // the router's addresses with their subnet length => connected routes
  firewall::ZoneId zone = 0;
  uint32_t mtu = 1500;
  std::optional<DhcpConfig> dhcp;  // DHCPv4 server on this interface
  std::string dhcp_lease_file;     // "" = not persisted
  bool operator==(const InterfaceConfig&) const = default;
};

// A static route; `via` must be on a connected subnet. Default routes are 0.0.0.0/0 and ::/0.
struct StaticRoute {
  IpPrefix dst;
  IpAddress via;
  bool operator==(const StaticRoute&) const = default;
};

struct RouterConfig {
  std::vector<InterfaceConfig> interfaces;  // IfIndex = position
  std::vector<StaticRoute> routes;
  size_t max_neighbors = 16384;
  size_t max_pending_per_neighbor = 8;  // packets queued while resolving (copied)
  size_t max_pending_total = 256;       // the pending pool's bound across all neighbours
  bool operator==(const RouterConfig&) const = default;
};

// One frame to transmit on router interface `iface` (untagged; the data plane tags it).
struct TxFrame {
  IfIndex iface = 0;
  uint8_t* data = nullptr;
  uint32_t len = 0;
  VnetHdr vnet;
};

// What one process()/tick() produced. Reuse one RouterOutput: clear() keeps its capacity.
class RouterOutput {
 public:
  static constexpr size_t kDefaultCapacity = 2048;
  explicit RouterOutput(size_t capacity = kDefaultCapacity) : capacity_(capacity) { frames_.reserve(capacity); }
  void clear() { frames_.clear(); }
  std::span<const TxFrame> frames() const { return frames_; }
  size_t size() const { return frames_.size(); }
  // False (nothing added) when full.
  bool push(const TxFrame& frame) {
    if (frames_.size() >= capacity_) return false;
    frames_.push_back(frame);
    return true;
  }

 private:
  size_t capacity_;
  std::vector<TxFrame> frames_;
};

struct RouterCounters {
  uint64_t received = 0;
  uint64_t forwarded = 0;
  uint64_t not_for_us = 0;  // L2 destination not ours, or an ethertype we do not route
  uint64_t bad_header = 0;  // truncated / malformed Ethernet, ARP, IP, bad IPv4 header checksum, bad ND
  uint64_t ttl_exceeded = 0;
  uint64_t no_route = 0;
  uint64_t no_neighbor = 0;            // resolution failed (or the cache/queue was full)
  uint64_t too_big = 0;                // over the egress MTU (ICMP sent where the protocol allows)
  uint64_t fragment_needed_no_df = 0;  // IPv4 without DF over the MTU: dropped, we do not fragment
  uint64_t firewall_drop = 0;
  uint64_t firewall_reject = 0;
  uint64_t local_delivered = 0;  // echo requests answered, DHCP messages handled
  uint64_t local_dropped = 0;    // other traffic to our addresses
  uint64_t not_routable = 0;     // multicast / broadcast / link-local destinations, martian sources
  uint64_t icmp_errors_sent = 0;
  uint64_t icmp_rate_limited = 0;
  uint64_t arp_handled = 0;
  uint64_t nd_handled = 0;
  uint64_t neighbor_requests_sent = 0;  // ARP requests and NS
  uint64_t pending_dropped = 0;         // queued packets dropped (bounds, eviction)
  uint64_t dhcp_handled = 0;
  uint64_t output_full = 0;  // frames not emitted: RouterOutput or the build buffers were full
};

struct NeighborStatus {
  IfIndex iface = 0;
  IpAddress ip;
  MacAddr mac;
  NeighborState state = NeighborState::kIncomplete;
  size_t queued = 0;
};

struct DhcpStatus {
  IfIndex iface = 0;
  std::vector<DhcpLease> leases;
  uint64_t dropped = 0;
};

class Router {
 public:
  // Fails on an invalid config (bad DHCP config, a static route whose next hop is on no connected subnet, duplicate
  // prefixes). DHCP lease files are loaded here. `firewall` may be null (everything routes) and must outlive the
  // router. `unix_now` is wall-clock seconds for DHCP leases.
  static Result<std::unique_ptr<Router>> Create(const RouterConfig& config, firewall::Firewall* firewall,
                                                std::function<int64_t()> unix_now);
  ~Router();
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  // Applies a new config. Neighbours on interfaces that keep their name stay (moved to their new index), as do the
  // DHCP servers (and leases) of interfaces that keep their name. On failure nothing changed.
  Status reconfigure(const RouterConfig& config);

  // See the file comment. `pkts` are untagged frames received on `in`, private to the router for this call.
  void process(IfIndex in, Packet* const* pkts, size_t n, Nanos now, RouterOutput& out);
  // Call every ~100 ms.
  void tick(Nanos now, RouterOutput& out);

  // Status for the CLI.
  const RouterConfig& config() const;
  std::vector<NeighborStatus> neighbors(Nanos now) const;
  std::vector<Route> routes() const;
  std::vector<DhcpStatus> dhcp_leases() const;
  const RouterCounters& counters() const;

 private:
  Router();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cloudlet::router
