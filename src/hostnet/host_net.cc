// HostNet link, address and route operations over rtnetlink (libnl-route-3). Each call opens its own netlink
// socket in the target namespace (via RunInNetns) and frees every libnl object on every path.
#include "hostnet/host_net.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <netlink/route/link/veth.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>

#include "base/fd.h"
#include "hostnet/netlink.h"

namespace cloudlet {
namespace {

using hostnet::AddrPtr;
using hostnet::CachePtr;
using hostnet::FindLink;
using hostnet::InNetnsText;
using hostnet::LinkPtr;
using hostnet::NlAddrPtr;
using hostnet::RoutePtr;
using hostnet::RouteSocket;
using hostnet::ValidateIfname;

constexpr uint32_t kMinMtu = 68;  // IPv4 minimum; the kernel enforces the device's own range on top
constexpr uint32_t kMaxMtu = 65535;

// An IP address with prefix length, as parsed from "10.0.0.1/24" or read from the kernel.
struct IpPrefix {
  int family = AF_UNSPEC;
  std::array<uint8_t, 16> bytes{};
  int prefixlen = 0;

  size_t size() const { return family == AF_INET ? 4 : 16; }
  bool operator==(const IpPrefix& o) const {
    return family == o.family && prefixlen == o.prefixlen && std::memcmp(bytes.data(), o.bytes.data(), size()) == 0;
  }
  bool IsIpv6LinkLocal() const { return family == AF_INET6 && bytes[0] == 0xfe && (bytes[1] & 0xc0) == 0x80; }
  std::string ToString() const {
    char text[INET6_ADDRSTRLEN] = {};
    inet_ntop(family, bytes.data(), text, sizeof(text));
    return std::string(text) + "/" + std::to_string(prefixlen);
  }
  NlAddrPtr ToNlAddr() const {
    NlAddrPtr addr(nl_addr_build(family, bytes.data(), size()));
    if (addr) nl_addr_set_prefixlen(addr.get(), prefixlen);
    return addr;
  }
};

// Parses "ADDR" (want_prefix=false) or "ADDR/LEN".
Result<IpPrefix> ParseIp(const std::string& text, bool want_prefix) {
  const std::string bad = "'" + text + "' is not an " + (want_prefix ? "IPv4/IPv6 address/prefix" : "IP address");
  if (text.size() > INET6_ADDRSTRLEN + 4) return Error(bad);
  IpPrefix ip;
  std::string addr = text;
  if (want_prefix) {
    size_t slash = text.find('/');
    if (slash == std::string::npos) return Error(bad);
    addr = text.substr(0, slash);
    const char* first = text.data() + slash + 1;
    const char* last = text.data() + text.size();
    auto [end, ec] = std::from_chars(first, last, ip.prefixlen);
    if (ec != std::errc() || end != last || first == last) return Error(bad);
  }
  if (inet_pton(AF_INET, addr.c_str(), ip.bytes.data()) == 1) {
    ip.family = AF_INET;
  } else if (inet_pton(AF_INET6, addr.c_str(), ip.bytes.data()) == 1) {
    ip.family = AF_INET6;
  } else {
    return Error(bad);
  }
  if (!want_prefix) ip.prefixlen = static_cast<int>(ip.size() * 8);
  if (ip.prefixlen < 0 || ip.prefixlen > static_cast<int>(ip.size() * 8)) return Error(bad + ": prefix out of range");
  return ip;
}

std::optional<IpPrefix> FromNlAddr(nl_addr* addr, int prefixlen) {
  if (!addr) return std::nullopt;
  IpPrefix ip;
  ip.family = nl_addr_get_family(addr);
  if ((ip.family != AF_INET && ip.family != AF_INET6) || nl_addr_get_len(addr) != ip.size()) return std::nullopt;
  std::memcpy(ip.bytes.data(), nl_addr_get_binary_addr(addr), ip.size());
  ip.prefixlen = prefixlen;
  return ip;
}

// "02:00:00:00:00:01" -> 6 bytes. Exactly six two-digit hex octets.
Result<NlAddrPtr> ParseMac(const std::string& text) {
  const Error bad("'" + text + "' is not a MAC address like 02:00:00:00:00:01");
  if (text.size() != 17) return bad;
  std::array<uint8_t, 6> mac{};
  for (size_t i = 0; i < 6; ++i) {
    if (i > 0 && text[i * 3 - 1] != ':') return bad;
    auto [end, ec] = std::from_chars(text.data() + i * 3, text.data() + i * 3 + 2, mac[i], 16);
    if (ec != std::errc() || end != text.data() + i * 3 + 2) return bad;
  }
  NlAddrPtr addr(nl_addr_build(AF_LLC, mac.data(), mac.size()));
  if (!addr) return Error("out of memory");
  return addr;
}

std::string LinkKind(rtnl_link* link) {
  const char* kind = rtnl_link_get_type(link);
  return kind ? kind : "";
}

LinkInfo ToLinkInfo(rtnl_link* link) {
  LinkInfo info;
  if (const char* name = rtnl_link_get_name(link)) info.name = name;
  info.ifindex = rtnl_link_get_ifindex(link);
  info.kind = LinkKind(link);
  info.mtu = rtnl_link_get_mtu(link);
  info.up = rtnl_link_get_flags(link) & IFF_UP;
  if (nl_addr* mac = rtnl_link_get_addr(link); mac && nl_addr_get_len(mac) == 6) {
    char text[32] = {};
    info.mac = nl_addr2str(mac, text, sizeof(text));
  }
  return info;
}

// Compares only the bytes: libnl may tag a kernel-reported MAC with a different address family than ours.
bool SameBytes(nl_addr* a, nl_addr* b) {
  return a && b && nl_addr_get_len(a) == nl_addr_get_len(b) &&
         std::memcmp(nl_addr_get_binary_addr(a), nl_addr_get_binary_addr(b), nl_addr_get_len(a)) == 0;
}

// Brings `ifname` (in the calling thread's namespace) to the wanted MTU / MAC / up state, sending a change only
// for what differs, so converging an already-correct link changes nothing.
Status ConvergeLink(RouteSocket& sock, const std::string& ifname, std::optional<uint32_t> mtu, nl_addr* mac, bool up) {
  CL_ASSIGN_OR_RETURN(LinkPtr link, FindLink(sock, ifname));
  if (!link) return Error("no interface " + ifname);
  LinkPtr change(rtnl_link_alloc());
  if (!change) return Error("out of memory");
  bool differs = false;
  if (mtu && rtnl_link_get_mtu(link.get()) != *mtu) {
    rtnl_link_set_mtu(change.get(), *mtu);
    differs = true;
  }
  if (mac && !SameBytes(rtnl_link_get_addr(link.get()), mac)) {
    rtnl_link_set_addr(change.get(), mac);
    differs = true;
  }
  if (up && !(rtnl_link_get_flags(link.get()) & IFF_UP)) {
    rtnl_link_set_flags(change.get(), IFF_UP);
    differs = true;
  }
  if (!differs) return Status::Ok();
  sock.ClearError();
  if (int err = rtnl_link_change(sock.get(), link.get(), change.get(), 0); err < 0) {
    return Error("change " + ifname + ": " + sock.Describe(err));
  }
  return Status::Ok();
}

// Runs `fn(sock)` with a fresh route socket in `netns`.
template <typename Fn>
Status WithSocket(const std::string& netns, Fn&& fn) {
  return HostNet::RunInNetns(netns, [&]() -> Status {
    CL_ASSIGN_OR_RETURN(RouteSocket sock, RouteSocket::Open());
    return fn(sock);
  });
}

// The addresses on `ifindex` as the kernel reports them, with the libnl objects for deletion.
struct KernelAddress {
  IpPrefix ip;
  AddrPtr obj;
};
Result<std::vector<KernelAddress>> AddressesOn(RouteSocket& sock, int ifindex) {
  nl_cache* raw = nullptr;
  sock.ClearError();
  if (int err = rtnl_addr_alloc_cache(sock.get(), &raw); err < 0) return Error("list addresses: " + sock.Describe(err));
  CachePtr cache(raw);
  std::vector<KernelAddress> out;
  for (nl_object* obj = nl_cache_get_first(cache.get()); obj; obj = nl_cache_get_next(obj)) {
    auto* addr = reinterpret_cast<rtnl_addr*>(obj);
    if (rtnl_addr_get_ifindex(addr) != ifindex) continue;
    auto ip = FromNlAddr(rtnl_addr_get_local(addr), rtnl_addr_get_prefixlen(addr));
    if (!ip) continue;
    nl_object_get(obj);  // our own reference: the cache is freed before the caller is done
    out.push_back({*ip, AddrPtr(addr)});
  }
  return out;
}

Result<int> IfindexOf(RouteSocket& sock, const std::string& ifname) {
  CL_ASSIGN_OR_RETURN(LinkPtr link, FindLink(sock, ifname));
  if (!link) return Error("no interface " + ifname);
  return rtnl_link_get_ifindex(link.get());
}

// Why `host` (existing, named spec.host_ifname) is not the pair `spec` describes; "" when it is.
Result<std::string> MismatchWithExistingPair(rtnl_link* host, const VethSpec& spec) {
  const std::string kind = LinkKind(host);
  if (kind != "veth")
    return "it is " + (kind.empty() ? std::string("a device of unknown kind") : "a " + kind + " link");
  const int host_ifindex = rtnl_link_get_ifindex(host);
  const int peer_ifindex = static_cast<int>(rtnl_link_get_link(host));
  int32_t netnsid = -1;
  const bool peer_elsewhere = rtnl_link_get_link_netnsid(host, &netnsid) == 0 && netnsid >= 0;
  if (peer_elsewhere != !spec.peer_netns.empty()) {
    return std::string("it is a veth whose peer is ") + (peer_elsewhere ? "in another namespace" : "in this namespace");
  }
  std::string mismatch;
  Status st = WithSocket(spec.peer_netns, [&](RouteSocket& sock) -> Status {
    CL_ASSIGN_OR_RETURN(LinkPtr peer, FindLink(sock, spec.peer_ifname));
    // Each end names the other's ifindex: both must agree for the pair to be this one.
    if (!peer || LinkKind(peer.get()) != "veth" || rtnl_link_get_ifindex(peer.get()) != peer_ifindex ||
        static_cast<int>(rtnl_link_get_link(peer.get())) != host_ifindex) {
      mismatch = "it is a veth whose peer is not " + spec.peer_ifname + InNetnsText(spec.peer_netns);
    }
    return Status::Ok();
  });
  if (!st.ok()) return st.error();
  return mismatch;
}

}  // namespace

std::optional<LinkInfo> HostNet::GetLink(const std::string& ifname, const std::string& netns) {
  if (!ValidateIfname(ifname).ok()) return std::nullopt;
  std::optional<LinkInfo> info;
  Status st = WithSocket(netns, [&](RouteSocket& sock) -> Status {
    CL_ASSIGN_OR_RETURN(LinkPtr link, FindLink(sock, ifname));
    if (link) info = ToLinkInfo(link.get());
    return Status::Ok();
  });
  if (!st.ok()) return std::nullopt;
  return info;
}

Status HostNet::CreateVeth(const VethSpec& spec) {
  const std::string what =
      "create veth " + spec.host_ifname + " <-> " + spec.peer_ifname + InNetnsText(spec.peer_netns);
  if (auto st = ValidateIfname(spec.host_ifname); !st.ok()) return st.error().wrap(what);
  if (auto st = ValidateIfname(spec.peer_ifname); !st.ok()) return st.error().wrap(what);
  if (spec.peer_netns.empty() && spec.host_ifname == spec.peer_ifname) {
    return Error(what + ": both ends would have the same name");
  }
  if (spec.mtu < kMinMtu || spec.mtu > kMaxMtu) {
    return Error(what + ": MTU " + std::to_string(spec.mtu) + " out of range " + std::to_string(kMinMtu) + "-" +
                 std::to_string(kMaxMtu));
  }
  NlAddrPtr mac;
  if (!spec.peer_mac.empty()) {
    auto parsed = ParseMac(spec.peer_mac);
    if (!parsed.ok()) return parsed.error().wrap(what);
    mac = std::move(parsed).value();
  }
  UniqueFd ns_fd;
  if (!spec.peer_netns.empty()) {
    if (!NetnsExists(spec.peer_netns)) return Error(what + ": netns " + spec.peer_netns + " does not exist");
    ns_fd.reset(open(("/run/netns/" + spec.peer_netns).c_str(), O_RDONLY | O_CLOEXEC));
    if (!ns_fd.valid()) return ErrnoError(what + ": open netns " + spec.peer_netns);
  }

  auto sock = RouteSocket::Open();
  if (!sock.ok()) return sock.error().wrap(what);
  auto existing = FindLink(*sock, spec.host_ifname);
  if (!existing.ok()) return existing.error().wrap(what);

  bool created = false;
  if (*existing) {
    auto mismatch = MismatchWithExistingPair(existing->get(), spec);
    if (!mismatch.ok()) return mismatch.error().wrap(what);
    if (!mismatch->empty()) {
      return Error(what + ": " + spec.host_ifname + " already exists and " + *mismatch +
                   "; refusing to change an interface cloudlet did not create");
    }
  } else {
    LinkPtr veth(rtnl_link_veth_alloc());
    if (!veth) return Error(what + ": out of memory");
    LinkPtr peer(rtnl_link_veth_get_peer(veth.get()));  // a new reference to the peer half
    rtnl_link_set_name(veth.get(), spec.host_ifname.c_str());
    rtnl_link_set_mtu(veth.get(), spec.mtu);
    rtnl_link_set_flags(veth.get(), IFF_UP);
    rtnl_link_set_name(peer.get(), spec.peer_ifname.c_str());
    rtnl_link_set_mtu(peer.get(), spec.mtu);
    // No IFF_UP on the peer here: the kernel configures the peer before the two ends are joined, and opening a
    // veth without its peer fails with ENOTCONN. The convergence below brings it up.
    if (mac) rtnl_link_set_addr(peer.get(), mac.get());
    if (ns_fd.valid()) rtnl_link_set_ns_fd(peer.get(), ns_fd.get());  // IFLA_NET_NS_FD: born in the namespace
    sock->ClearError();
    if (int err = rtnl_link_add(sock->get(), veth.get(), NLM_F_CREATE | NLM_F_EXCL); err < 0) {
      return Error(what + ": " + sock->Describe(err));
    }
    created = true;
  }

  // Converge both ends (and the namespace's loopback): a no-op when the pair already has this shape.
  Status st = ConvergeLink(*sock, spec.host_ifname, spec.mtu, nullptr, true);
  if (st.ok()) {
    st = WithSocket(spec.peer_netns, [&](RouteSocket& peer_sock) -> Status {
      CL_RETURN_IF_ERROR(ConvergeLink(peer_sock, spec.peer_ifname, spec.mtu, mac.get(), true));
      if (spec.peer_netns.empty()) return Status::Ok();
      return ConvergeLink(peer_sock, "lo", std::nullopt, nullptr, true);
    });
  }
  if (!st.ok()) {
    // Only undo what this call made; an existing pair is left as it was found.
    if (created) {
      LinkPtr doomed(rtnl_link_alloc());
      if (doomed) {
        rtnl_link_set_name(doomed.get(), spec.host_ifname.c_str());
        (void)rtnl_link_delete(sock->get(), doomed.get());
      }
    }
    return st.error().wrap(what);
  }
  return Status::Ok();
}

Status HostNet::DeleteLink(const std::string& ifname, const std::string& netns) {
  const std::string what = "delete interface " + ifname + InNetnsText(netns);
  if (auto st = ValidateIfname(ifname); !st.ok()) return st.error().wrap(what);
  if (!netns.empty() && !NetnsExists(netns)) return Status::Ok();  // gone with its namespace
  Status st = WithSocket(netns, [&](RouteSocket& sock) -> Status {
    LinkPtr link(rtnl_link_alloc());
    if (!link) return Error("out of memory");
    rtnl_link_set_name(link.get(), ifname.c_str());
    sock.ClearError();
    int err = rtnl_link_delete(sock.get(), link.get());
    if (err >= 0 || sock.kernel_errno() == ENODEV || err == -NLE_OBJ_NOTFOUND || err == -NLE_NODEV) {
      return Status::Ok();
    }
    return Error(sock.Describe(err));
  });
  if (!st.ok()) return st.error().wrap(what);
  return Status::Ok();
}

Status HostNet::SetLinkUp(const std::string& ifname, const std::string& netns) {
  const std::string what = "set " + ifname + InNetnsText(netns) + " up";
  if (auto st = ValidateIfname(ifname); !st.ok()) return st.error().wrap(what);
  Status st =
      WithSocket(netns, [&](RouteSocket& sock) { return ConvergeLink(sock, ifname, std::nullopt, nullptr, true); });
  if (!st.ok()) return st.error().wrap(what);
  return Status::Ok();
}

Status HostNet::SetMtu(const std::string& ifname, uint32_t mtu, const std::string& netns) {
  const std::string what = "set MTU " + std::to_string(mtu) + " on " + ifname + InNetnsText(netns);
  if (auto st = ValidateIfname(ifname); !st.ok()) return st.error().wrap(what);
  if (mtu < kMinMtu || mtu > kMaxMtu) {
    return Error(what + ": out of range " + std::to_string(kMinMtu) + "-" + std::to_string(kMaxMtu));
  }
  Status st = WithSocket(netns, [&](RouteSocket& sock) { return ConvergeLink(sock, ifname, mtu, nullptr, false); });
  if (!st.ok()) return st.error().wrap(what);
  return Status::Ok();
}

Status HostNet::ReplaceAddresses(const std::string& ifname, const std::vector<std::string>& cidrs,
                                 const std::string& netns) {
  const std::string what = "replace addresses on " + ifname + InNetnsText(netns);
  if (auto st = ValidateIfname(ifname); !st.ok()) return st.error().wrap(what);
  constexpr size_t kMaxAddresses = 256;
  if (cidrs.size() > kMaxAddresses) return Error(what + ": more than " + std::to_string(kMaxAddresses) + " addresses");
  std::vector<IpPrefix> wanted;
  for (const auto& cidr : cidrs) {
    auto ip = ParseIp(cidr, /*want_prefix=*/true);
    if (!ip.ok()) return ip.error().wrap(what);
    wanted.push_back(*ip);
  }
  auto is_wanted = [&](const IpPrefix& ip) {
    for (const auto& w : wanted) {
      if (w == ip) return true;
    }
    return false;
  };

  Status st = WithSocket(netns, [&](RouteSocket& sock) -> Status {
    CL_ASSIGN_OR_RETURN(int ifindex, IfindexOf(sock, ifname));
    CL_ASSIGN_OR_RETURN(auto current, AddressesOn(sock, ifindex));
    for (auto& addr : current) {
      if (addr.ip.IsIpv6LinkLocal() || is_wanted(addr.ip)) continue;
      sock.ClearError();
      // ESRCH/EADDRNOTAVAIL: already gone, e.g. an IPv4 secondary removed with its primary.
      if (int err = rtnl_addr_delete(sock.get(), addr.obj.get(), 0);
          err < 0 && sock.kernel_errno() != EADDRNOTAVAIL && sock.kernel_errno() != ESRCH) {
        return Error("delete " + addr.ip.ToString() + ": " + sock.Describe(err));
      }
    }
    // Re-read: deleting an IPv4 primary can take its secondaries with it.
    CL_ASSIGN_OR_RETURN(auto remaining, AddressesOn(sock, ifindex));
    for (const auto& ip : wanted) {
      bool present = false;
      for (const auto& addr : remaining) present = present || addr.ip == ip;
      if (present) continue;
      AddrPtr addr(rtnl_addr_alloc());
      NlAddrPtr local = ip.ToNlAddr();
      if (!addr || !local) return Error("out of memory");
      rtnl_addr_set_ifindex(addr.get(), ifindex);
      rtnl_addr_set_family(addr.get(), ip.family);
      rtnl_addr_set_local(addr.get(), local.get());
      rtnl_addr_set_prefixlen(addr.get(), ip.prefixlen);
      if (ip.family == AF_INET6) rtnl_addr_set_flags(addr.get(), IFA_F_NODAD);  // usable now, no DAD wait
      sock.ClearError();
      if (int err = rtnl_addr_add(sock.get(), addr.get(), 0); err < 0) {
        return Error("add " + ip.ToString() + ": " + sock.Describe(err));
      }
    }
    return Status::Ok();
  });
  if (!st.ok()) return st.error().wrap(what);
  return Status::Ok();
}

Result<std::vector<std::string>> HostNet::ListAddresses(const std::string& ifname, const std::string& netns) {
  const std::string what = "list addresses on " + ifname + InNetnsText(netns);
  if (auto st = ValidateIfname(ifname); !st.ok()) return st.error().wrap(what);
  std::vector<std::string> out;
  Status st = WithSocket(netns, [&](RouteSocket& sock) -> Status {
    CL_ASSIGN_OR_RETURN(int ifindex, IfindexOf(sock, ifname));
    CL_ASSIGN_OR_RETURN(auto current, AddressesOn(sock, ifindex));
    for (const auto& addr : current) {
      if (!addr.ip.IsIpv6LinkLocal()) out.push_back(addr.ip.ToString());
    }
    return Status::Ok();
  });
  if (!st.ok()) return st.error().wrap(what);
  return out;
}

Status HostNet::SetDefaultRoute(const std::string& gateway, const std::string& netns) {
  const std::string what = "set default route via " + gateway + InNetnsText(netns);
  auto gw = ParseIp(gateway, /*want_prefix=*/false);
  if (!gw.ok()) return gw.error().wrap(what);
  Status st = WithSocket(netns, [&](RouteSocket& sock) -> Status {
    RoutePtr route(rtnl_route_alloc());
    IpPrefix any;
    any.family = gw->family;
    NlAddrPtr dst = any.ToNlAddr();  // 0.0.0.0/0 or ::/0
    NlAddrPtr via = gw->ToNlAddr();
    rtnl_nexthop* nh = rtnl_route_nh_alloc();
    if (!route || !dst || !via || !nh) {
      if (nh) rtnl_route_nh_free(nh);
      return Error("out of memory");
    }
    rtnl_route_set_family(route.get(), gw->family);
    rtnl_route_set_table(route.get(), RT_TABLE_MAIN);
    rtnl_route_set_protocol(route.get(), RTPROT_STATIC);
    rtnl_route_set_scope(route.get(), RT_SCOPE_UNIVERSE);
    rtnl_route_set_type(route.get(), RTN_UNICAST);
    rtnl_route_set_dst(route.get(), dst.get());
    rtnl_route_nh_set_gateway(nh, via.get());
    rtnl_route_add_nexthop(route.get(), nh);  // the route owns nh from here
    sock.ClearError();
    // NLM_F_REPLACE: the same route again is a no-op, a different default route is replaced.
    if (int err = rtnl_route_add(sock.get(), route.get(), NLM_F_REPLACE); err < 0) return Error(sock.Describe(err));
    return Status::Ok();
  });
  if (!st.ok()) return st.error().wrap(what);
  return Status::Ok();
}

namespace {

Status DeviceRoute(const std::string& prefix, const std::string& ifname, const std::string& netns, bool add) {
  const std::string what = (add ? "add route " : "delete route ") + prefix + " dev " + ifname + InNetnsText(netns);
  if (auto st = ValidateIfname(ifname); !st.ok()) return st.error().wrap(what);
  auto dst_ip = ParseIp(prefix, /*want_prefix=*/true);
  if (!dst_ip.ok()) return dst_ip.error().wrap(what);
  IpPrefix masked = *dst_ip;
  for (size_t i = 0; i < masked.bytes.size(); ++i) {
    int keep = std::clamp(masked.prefixlen - static_cast<int>(i) * 8, 0, 8);
    masked.bytes[i] &= static_cast<uint8_t>(0xff00 >> keep);
  }
  Status st = WithSocket(netns, [&](RouteSocket& sock) -> Status {
    CL_ASSIGN_OR_RETURN(int ifindex, IfindexOf(sock, ifname));
    RoutePtr route(rtnl_route_alloc());
    NlAddrPtr dst = masked.ToNlAddr();
    rtnl_nexthop* nh = rtnl_route_nh_alloc();
    if (!route || !dst || !nh) {
      if (nh) rtnl_route_nh_free(nh);
      return Error("out of memory");
    }
    rtnl_route_set_family(route.get(), masked.family);
    rtnl_route_set_table(route.get(), RT_TABLE_MAIN);
    rtnl_route_set_protocol(route.get(), RTPROT_STATIC);
    rtnl_route_set_scope(route.get(), RT_SCOPE_LINK);
    rtnl_route_set_type(route.get(), RTN_UNICAST);
    rtnl_route_set_dst(route.get(), dst.get());
    rtnl_route_nh_set_ifindex(nh, ifindex);
    rtnl_route_add_nexthop(route.get(), nh);  // the route owns nh from here
    sock.ClearError();
    if (add) {
      if (int err = rtnl_route_add(sock.get(), route.get(), NLM_F_REPLACE); err < 0) return Error(sock.Describe(err));
    } else if (int err = rtnl_route_delete(sock.get(), route.get(), 0);
               err < 0 && sock.kernel_errno() != ESRCH && sock.kernel_errno() != ENOENT) {
      return Error(sock.Describe(err));
    }
    return Status::Ok();
  });
  if (!st.ok()) return st.error().wrap(what);
  return Status::Ok();
}

}  // namespace

Status HostNet::ReplaceDeviceRoute(const std::string& prefix, const std::string& ifname, const std::string& netns) {
  return DeviceRoute(prefix, ifname, netns, /*add=*/true);
}

Status HostNet::DeleteDeviceRoute(const std::string& prefix, const std::string& ifname, const std::string& netns) {
  return DeviceRoute(prefix, ifname, netns, /*add=*/false);
}

Status HostNet::DisableIpv6(const std::string& ifname, const std::string& netns) {
  const std::string what = "disable IPv6 on " + ifname + InNetnsText(netns);
  if (auto st = ValidateIfname(ifname); !st.ok()) return st.error().wrap(what);
  Status st = RunInNetns(netns, [&]() -> Status {
    // /proc/sys/net is per network namespace of the opener: this thread's namespace.
    if (access("/proc/sys/net/ipv6/conf", F_OK) != 0) return Status::Ok();  // IPv6 is off on this host
    const std::string path = "/proc/sys/net/ipv6/conf/" + ifname + "/disable_ipv6";
    UniqueFd fd(open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd.valid()) {
      if (errno == ENOENT) return Error("no interface " + ifname);
      return ErrnoError("open " + path);
    }
    if (write(fd.get(), "1\n", 2) != 2) return ErrnoError("write " + path);
    return Status::Ok();
  });
  if (!st.ok()) return st.error().wrap(what);
  return Status::Ok();
}

}  // namespace cloudlet
