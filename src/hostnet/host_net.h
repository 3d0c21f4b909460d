// HostNet: the kernel objects cloudlet creates on a host — network namespaces, veth pairs, addresses, routes —
// through rtnetlink (libnl-route-3). Namespaces are made the way iproute2 makes them (a bind mount under
// /run/netns), so `ip netns exec NAME ...` works on them. Every call is idempotent where the kernel allows:
// creating what exists with the same shape succeeds, deleting what is gone succeeds.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"

namespace cloudlet {

struct VethSpec {
  std::string host_ifname;  // end that stays in the current (daemon's) namespace
  std::string peer_ifname;  // end that goes into `peer_netns` (or stays here when empty)
  std::string peer_netns;   // "" = current namespace
  std::string peer_mac;     // optional "02:..."
  uint32_t mtu = 1500;      // both ends
  bool operator==(const VethSpec&) const = default;
};

struct LinkInfo {
  std::string name;
  int ifindex = 0;
  std::string kind;  // "veth", "tun", ...
  uint32_t mtu = 0;
  bool up = false;
  std::string mac;
};

class HostNet {
 public:
  // Namespaces (named, under /run/netns).
  static bool NetnsExists(const std::string& name);
  static Status CreateNetns(const std::string& name);  // ok if it exists
  static Status DeleteNetns(const std::string& name);  // ok if absent; removes the interfaces inside with it
  static std::vector<std::string> ListNetns();
  // Runs `fn` with the network namespace `netns` ("" = the calling thread's own, run inline) on a short-lived
  // thread that setns()'d into it; the calling thread never switches. Sockets `fn` opens live in `netns`.
  static Status RunInNetns(const std::string& netns, const std::function<Status()>& fn);

  // Links in the current namespace (netns "") or in a named namespace.
  static std::optional<LinkInfo> GetLink(const std::string& ifname, const std::string& netns = "");
  // Creates the pair with the peer moved into `peer_netns`, MTU on both ends, the peer MAC if given, both ends and
  // the namespace's loopback up. If the pair exists (host end is a veth whose peer is `peer_ifname` in `peer_netns`)
  // it succeeds, only converging MTU/MAC/up where they differ; if `host_ifname` exists as anything else it fails
  // and leaves that interface alone.
  static Status CreateVeth(const VethSpec& spec);
  static Status DeleteLink(const std::string& ifname, const std::string& netns = "");  // ok if absent
  static Status SetLinkUp(const std::string& ifname, const std::string& netns = "");
  static Status SetMtu(const std::string& ifname, uint32_t mtu, const std::string& netns = "");

  // Addresses "10.0.0.1/24" or "fd00::1/64"; Replace* makes the set exactly `cidrs` (removing others, keeping
  // link-local IPv6; IPv6 ones are added with IFA_F_NODAD so they are usable at once). List* returns the set that
  // Replace* manages: every IPv4 and IPv6 address except IPv6 link-local (fe80::/10), in canonical text form.
  static Status ReplaceAddresses(const std::string& ifname, const std::vector<std::string>& cidrs,
                                 const std::string& netns = "");
  static Result<std::vector<std::string>> ListAddresses(const std::string& ifname, const std::string& netns = "");
  // Default route via `gateway` (IPv4 or IPv6) in `netns`; ok if the same route exists.
  static Status SetDefaultRoute(const std::string& gateway, const std::string& netns);

  // A route to `prefix` ("10.99.0.2/32", host bits are masked) through interface `ifname`, no gateway (a point-to-
  // point device such as a TUN); ok if the same route exists. Delete is ok if the route is gone.
  static Status ReplaceDeviceRoute(const std::string& prefix, const std::string& ifname, const std::string& netns);
  static Status DeleteDeviceRoute(const std::string& prefix, const std::string& ifname, const std::string& netns);
  // Host-side ports must not take part in the host's IP stack: no IPv6 autoconfiguration or router solicitations.
  static Status DisableIpv6(const std::string& ifname, const std::string& netns = "");
};

}  // namespace cloudlet
