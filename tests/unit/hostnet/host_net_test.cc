// HostNet against the real kernel: named namespaces (checked with iproute2), veths, addresses, routes, ping.
// Needs root; every namespace/interface is named after this test process and removed by RAII guards.
#include "hostnet/host_net.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>

namespace cloudlet {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::UnorderedElementsAre;

#define REQUIRE_ROOT() \
  if (geteuid() != 0) GTEST_SKIP() << "needs root: creates network namespaces and interfaces"

std::string Pid() { return std::to_string(getpid()); }
// Namespace and interface names unique to this process; interface names stay within 15 bytes.
std::string NsName(const std::string& tag) { return "clt-" + Pid() + "-" + tag; }
std::string IfName(const std::string& tag) { return "ch" + Pid() + tag; }

struct CmdResult {
  int code = -1;
  std::string out;
};
// Runs `cmd` under sh with a time bound, capturing stdout+stderr (bounded).
CmdResult Sh(const std::string& cmd) {
  CmdResult r;
  FILE* p = popen(("timeout 10 " + cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0 && r.out.size() < (1 << 20)) r.out.append(buf, n);
  int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

struct NetnsGuard {
  explicit NetnsGuard(std::string n) : name(std::move(n)) {}
  ~NetnsGuard() { (void)HostNet::DeleteNetns(name); }
  std::string name;
};
struct LinkGuard {
  LinkGuard(std::string i, std::string n = "") : ifname(std::move(i)), netns(std::move(n)) {}
  ~LinkGuard() { (void)HostNet::DeleteLink(ifname, netns); }
  std::string ifname, netns;
};

std::string ThreadNetns() {
  char buf[128] = {};
  ssize_t n = readlink("/proc/thread-self/ns/net", buf, sizeof(buf) - 1);
  return n > 0 ? std::string(buf, n) : "";
}

std::string LineWith(const std::string& text, const std::string& needle) {
  size_t at = text.find(needle);
  if (at == std::string::npos) return "";
  size_t end = text.find('\n', at);
  return text.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

TEST(HostNetValidation, RejectsBadNamesWithoutTouchingTheKernel) {
  for (const std::string& bad : std::vector<std::string>{"", ".", "..", "a/b", "has space", std::string(65, 'n')}) {
    Status st = HostNet::CreateNetns(bad);
    ASSERT_FALSE(st.ok()) << "'" << bad << "'";
    EXPECT_THAT(st.message(), HasSubstr("create netns"));
    EXPECT_FALSE(HostNet::DeleteNetns(bad).ok());
    EXPECT_FALSE(HostNet::NetnsExists(bad));
  }
  Status st = HostNet::CreateVeth({.host_ifname = "much-too-long-ifname", .peer_ifname = "eth0"});
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.message(), HasSubstr("create veth much-too-long-ifname <-> eth0: interface name"));
  st = HostNet::CreateVeth({.host_ifname = "a", .peer_ifname = "b", .peer_mac = "02:00:00:00:00"});
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.message(), HasSubstr("not a MAC address"));
  st = HostNet::CreateVeth({.host_ifname = "a", .peer_ifname = "b", .mtu = 20});
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.message(), HasSubstr("MTU 20 out of range"));
  for (const std::string& bad :
       std::vector<std::string>{"10.0.0.1", "10.0.0.1/33", "fd00::1/129", "10.0.0.1/2x", "nonsense/24", "/24"}) {
    st = HostNet::ReplaceAddresses("eth0", {bad}, "x");
    ASSERT_FALSE(st.ok()) << bad;
    EXPECT_THAT(st.message(), HasSubstr("replace addresses on eth0 in netns x: '" + bad + "'"));
  }
  EXPECT_FALSE(HostNet::SetDefaultRoute("10.0.0.1/24", "x").ok());
  EXPECT_FALSE(HostNet::GetLink("a/b").has_value());
}

TEST(HostNetNetns, CreateListExecDeleteAreIdempotent) {
  REQUIRE_ROOT();
  const std::string ns = NsName("life");
  NetnsGuard guard(ns);
  const std::string before = ThreadNetns();

  ASSERT_TRUE(HostNet::CreateNetns(ns).ok());
  EXPECT_TRUE(HostNet::NetnsExists(ns));
  EXPECT_TRUE(Contains(HostNet::ListNetns(), ns));
  EXPECT_THAT(Sh("ip netns list").out, HasSubstr(ns));
  EXPECT_EQ(Sh("ip netns exec " + ns + " true").code, 0);
  // A distinct namespace: its only interface is loopback, which CreateNetns brought up like `ip netns add` + lo up.
  CmdResult links = Sh("ip -n " + ns + " -o link show");
  EXPECT_EQ(links.code, 0) << links.out;
  EXPECT_THAT(links.out, HasSubstr("lo:"));
  EXPECT_THAT(links.out, Not(HasSubstr("eth0")));

  Status again = HostNet::CreateNetns(ns);
  EXPECT_TRUE(again.ok()) << again.message();

  ASSERT_TRUE(HostNet::DeleteNetns(ns).ok());
  EXPECT_FALSE(HostNet::NetnsExists(ns));
  EXPECT_FALSE(Contains(HostNet::ListNetns(), ns));
  EXPECT_THAT(Sh("ip netns list").out, Not(HasSubstr(ns)));
  Status del_again = HostNet::DeleteNetns(ns);
  EXPECT_TRUE(del_again.ok()) << del_again.message();
  EXPECT_EQ(ThreadNetns(), before) << "the calling thread must never switch namespaces";
}

TEST(HostNetNetns, WorksWithNamespacesMadeByIpNetnsAdd) {
  REQUIRE_ROOT();
  const std::string ns = NsName("ip");
  NetnsGuard guard(ns);
  ASSERT_EQ(Sh("ip netns add " + ns).code, 0);
  EXPECT_TRUE(HostNet::NetnsExists(ns));
  EXPECT_TRUE(HostNet::CreateNetns(ns).ok());
  const std::string host = IfName("i");
  LinkGuard link(host);
  Status st = HostNet::CreateVeth({.host_ifname = host, .peer_ifname = "eth0", .peer_netns = ns});
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_TRUE(HostNet::GetLink("eth0", ns).has_value());
  ASSERT_TRUE(HostNet::DeleteNetns(ns).ok());
  EXPECT_THAT(Sh("ip netns list").out, Not(HasSubstr(ns)));
  EXPECT_FALSE(HostNet::GetLink(host).has_value());
}

TEST(HostNetVeth, IntoNamespaceWithMtuMacAddressesAndRoutes) {
  REQUIRE_ROOT();
  const std::string ns = NsName("veth");
  const std::string host = IfName("v");
  NetnsGuard ns_guard(ns);
  LinkGuard link_guard(host);
  ASSERT_TRUE(HostNet::CreateNetns(ns).ok());

  Status st = HostNet::CreateVeth(
      {.host_ifname = host, .peer_ifname = "eth0", .peer_netns = ns, .peer_mac = "02:00:c1:0a:0b:0c", .mtu = 1400});
  ASSERT_TRUE(st.ok()) << st.message();

  auto host_link = HostNet::GetLink(host);
  ASSERT_TRUE(host_link.has_value());
  EXPECT_EQ(host_link->kind, "veth");
  EXPECT_EQ(host_link->mtu, 1400u);
  EXPECT_TRUE(host_link->up);
  EXPECT_GT(host_link->ifindex, 0);
  auto peer = HostNet::GetLink("eth0", ns);
  ASSERT_TRUE(peer.has_value());
  EXPECT_EQ(peer->kind, "veth");
  EXPECT_EQ(peer->mtu, 1400u);
  EXPECT_EQ(peer->mac, "02:00:c1:0a:0b:0c");
  EXPECT_TRUE(peer->up);
  auto lo = HostNet::GetLink("lo", ns);
  ASSERT_TRUE(lo.has_value());
  EXPECT_TRUE(lo->up);
  EXPECT_FALSE(HostNet::GetLink("eth0-nope", ns).has_value());
  EXPECT_THAT(Sh("ip -n " + ns + " link show eth0").out, HasSubstr("mtu 1400"));

  st = HostNet::ReplaceAddresses("eth0", {"10.200.7.2/24", "fd00:c1::2/64"}, ns);
  ASSERT_TRUE(st.ok()) << st.message();
  CmdResult addr = Sh("ip -n " + ns + " addr show dev eth0");
  EXPECT_THAT(addr.out, HasSubstr("inet 10.200.7.2/24"));
  EXPECT_THAT(addr.out, HasSubstr("inet6 fd00:c1::2/64"));
  // Added with nodad: usable at once, never "tentative" (the kernel's own fe80:: address may still be).
  const std::string v6_line = LineWith(addr.out, "inet6 fd00:c1::2/64");
  EXPECT_THAT(v6_line, HasSubstr("nodad"));
  EXPECT_THAT(v6_line, Not(HasSubstr("tentative")));
  auto listed = HostNet::ListAddresses("eth0", ns);
  ASSERT_TRUE(listed.ok()) << listed.error().message();
  EXPECT_THAT(*listed, UnorderedElementsAre("10.200.7.2/24", "fd00:c1::2/64"));
  const bool had_link_local = addr.out.find("inet6 fe80::") != std::string::npos;

  // Replacing: the same set again changes nothing; a new set removes the stale ones and keeps link-local.
  ASSERT_TRUE(HostNet::ReplaceAddresses("eth0", {"10.200.7.2/24", "fd00:c1::2/64"}, ns).ok());
  st = HostNet::ReplaceAddresses("eth0", {"10.200.7.3/24", "fd00:c1:0::3/64", "10.200.8.3/32"}, ns);
  ASSERT_TRUE(st.ok()) << st.message();
  addr = Sh("ip -n " + ns + " addr show dev eth0");
  EXPECT_THAT(addr.out, Not(HasSubstr("10.200.7.2")));
  EXPECT_THAT(addr.out, Not(HasSubstr("fd00:c1::2/")));
  EXPECT_THAT(addr.out, HasSubstr("inet 10.200.7.3/24"));
  EXPECT_EQ(addr.out.find("inet6 fe80::") != std::string::npos, had_link_local);
  listed = HostNet::ListAddresses("eth0", ns);
  ASSERT_TRUE(listed.ok());
  EXPECT_THAT(*listed, UnorderedElementsAre("10.200.7.3/24", "10.200.8.3/32", "fd00:c1::3/64"));

  st = HostNet::SetDefaultRoute("10.200.7.1", ns);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_TRUE(HostNet::SetDefaultRoute("10.200.7.1", ns).ok()) << "same route again is fine";
  EXPECT_THAT(Sh("ip -n " + ns + " route").out, HasSubstr("default via 10.200.7.1 dev eth0"));
  st = HostNet::SetDefaultRoute("fd00:c1::1", ns);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_THAT(Sh("ip -n " + ns + " -6 route").out, HasSubstr("default via fd00:c1::1 dev eth0"));
  // A gateway on no connected network: the kernel's refusal reaches the caller with object and operation.
  st = HostNet::SetDefaultRoute("192.0.2.1", ns);
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.message(), HasSubstr("set default route via 192.0.2.1 in netns " + ns + ": "));

  ASSERT_TRUE(HostNet::SetMtu("eth0", 1300, ns).ok());
  EXPECT_EQ(HostNet::GetLink("eth0", ns)->mtu, 1300u);
  ASSERT_TRUE(HostNet::SetMtu(host, 1300).ok());
  EXPECT_EQ(HostNet::GetLink(host)->mtu, 1300u);

  st = HostNet::DisableIpv6(host);
  ASSERT_TRUE(st.ok()) << st.message();
  std::ifstream sysctl("/proc/sys/net/ipv6/conf/" + host + "/disable_ipv6");
  std::string value;
  if (sysctl >> value) {
    EXPECT_EQ(value, "1");
  }
  st = HostNet::DisableIpv6("eth0", ns);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(Sh("ip netns exec " + ns + " cat /proc/sys/net/ipv6/conf/eth0/disable_ipv6").out, "1\n");
  EXPECT_THAT(Sh("ip -n " + ns + " -6 addr show dev eth0").out, Not(HasSubstr("fd00:c1::3")));
}

TEST(HostNetVeth, CreateIsIdempotentAndConverges) {
  REQUIRE_ROOT();
  const std::string ns = NsName("idem");
  const std::string host = IfName("d");
  NetnsGuard ns_guard(ns);
  LinkGuard link_guard(host);
  ASSERT_TRUE(HostNet::CreateNetns(ns).ok());
  VethSpec spec{.host_ifname = host, .peer_ifname = "eth0", .peer_netns = ns, .mtu = 1450};
  ASSERT_TRUE(HostNet::CreateVeth(spec).ok());
  const int ifindex = HostNet::GetLink(host)->ifindex;
  const int peer_ifindex = HostNet::GetLink("eth0", ns)->ifindex;

  Status st = HostNet::CreateVeth(spec);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(HostNet::GetLink(host)->ifindex, ifindex) << "the existing pair is kept, not recreated";
  EXPECT_EQ(HostNet::GetLink("eth0", ns)->ifindex, peer_ifindex);

  // Someone set a link down and changed an MTU: CreateVeth converges the same pair back.
  ASSERT_EQ(Sh("ip -n " + ns + " link set eth0 down mtu 1280").code, 0);
  spec.mtu = 1460;
  st = HostNet::CreateVeth(spec);
  ASSERT_TRUE(st.ok()) << st.message();
  auto peer = HostNet::GetLink("eth0", ns);
  EXPECT_EQ(peer->ifindex, peer_ifindex);
  EXPECT_EQ(peer->mtu, 1460u);
  EXPECT_TRUE(peer->up);
  EXPECT_EQ(HostNet::GetLink(host)->mtu, 1460u);

  // A MAC changed behind our back is converged back too, still on the same pair.
  spec.peer_mac = "02:00:c1:00:00:07";
  ASSERT_TRUE(HostNet::CreateVeth(spec).ok());
  ASSERT_EQ(Sh("ip -n " + ns + " link set eth0 address 02:00:c1:00:00:99").code, 0);
  ASSERT_TRUE(HostNet::CreateVeth(spec).ok());
  EXPECT_EQ(HostNet::GetLink("eth0", ns)->mac, "02:00:c1:00:00:07");
  EXPECT_EQ(HostNet::GetLink("eth0", ns)->ifindex, peer_ifindex);

  ASSERT_TRUE(HostNet::DeleteLink(host).ok());
  EXPECT_FALSE(HostNet::GetLink(host).has_value());
  EXPECT_FALSE(HostNet::GetLink("eth0", ns).has_value()) << "deleting one end deletes the pair";
  EXPECT_TRUE(HostNet::DeleteLink(host).ok()) << "deleting what is gone is fine";
  EXPECT_TRUE(HostNet::DeleteLink("eth0", "clt-no-such-ns").ok());
}

TEST(HostNetVeth, BothEndsInOneNamespaceIsIdempotentToo) {
  REQUIRE_ROOT();
  const std::string home = NsName("one");
  NetnsGuard guard(home);
  ASSERT_TRUE(HostNet::CreateNetns(home).ok());
  Status first, second, same_name;
  int ifindex_first = 0, ifindex_second = 0;
  ASSERT_TRUE(HostNet::RunInNetns(home, [&] {
                const VethSpec spec{.host_ifname = "v0", .peer_ifname = "v1", .mtu = 9000};
                first = HostNet::CreateVeth(spec);
                if (auto l = HostNet::GetLink("v0")) ifindex_first = l->ifindex;
                second = HostNet::CreateVeth(spec);
                if (auto l = HostNet::GetLink("v0")) ifindex_second = l->ifindex;
                same_name = HostNet::CreateVeth({.host_ifname = "v2", .peer_ifname = "v2"});
                return Status::Ok();
              }).ok());
  ASSERT_TRUE(first.ok()) << first.message();
  ASSERT_TRUE(second.ok()) << second.message();
  EXPECT_GT(ifindex_first, 0);
  EXPECT_EQ(ifindex_first, ifindex_second);
  EXPECT_EQ(HostNet::GetLink("v1", home)->mtu, 9000u);
  EXPECT_TRUE(HostNet::GetLink("v1", home)->up);
  EXPECT_THAT(same_name.message(), HasSubstr("same name"));
}

TEST(HostNetVeth, RefusesToTouchForeignInterfaceOfTheSameName) {
  REQUIRE_ROOT();
  // The "host" side runs inside namespace `home` (via RunInNetns) so the foreign devices never touch the real host.
  const std::string home = NsName("home");
  const std::string peer_ns = NsName("peer");
  NetnsGuard home_guard(home);
  NetnsGuard peer_guard(peer_ns);
  ASSERT_TRUE(HostNet::CreateNetns(home).ok());
  ASSERT_TRUE(HostNet::CreateNetns(peer_ns).ok());
  ASSERT_EQ(Sh("ip -n " + home + " link add br-x type bridge").code, 0);
  ASSERT_EQ(Sh("ip -n " + home + " link add vx type veth peer name vy").code, 0);
  ASSERT_EQ(Sh("ip -n " + home + " link add vw type veth peer name other netns " + peer_ns).code, 0);

  Status bridge_st, local_veth_st, other_peer_st;
  ASSERT_TRUE(HostNet::RunInNetns(home, [&] {
                bridge_st = HostNet::CreateVeth({.host_ifname = "br-x", .peer_ifname = "eth0", .peer_netns = peer_ns});
                local_veth_st =
                    HostNet::CreateVeth({.host_ifname = "vx", .peer_ifname = "eth1", .peer_netns = peer_ns});
                other_peer_st =
                    HostNet::CreateVeth({.host_ifname = "vw", .peer_ifname = "eth2", .peer_netns = peer_ns});
                return Status::Ok();
              }).ok());
  ASSERT_FALSE(bridge_st.ok());
  EXPECT_THAT(bridge_st.message(),
              HasSubstr("create veth br-x <-> eth0 in netns " + peer_ns + ": br-x already exists"));
  EXPECT_THAT(bridge_st.message(), HasSubstr("bridge"));
  EXPECT_THAT(bridge_st.message(), HasSubstr("refusing"));
  ASSERT_FALSE(local_veth_st.ok());
  EXPECT_THAT(local_veth_st.message(), HasSubstr("peer is in this namespace"));
  ASSERT_FALSE(other_peer_st.ok());
  EXPECT_THAT(other_peer_st.message(), HasSubstr("peer is not eth2 in netns " + peer_ns));

  // All untouched.
  EXPECT_EQ(HostNet::GetLink("br-x", home)->kind, "bridge");
  EXPECT_TRUE(HostNet::GetLink("vx", home).has_value());
  EXPECT_TRUE(HostNet::GetLink("vy", home).has_value());
  EXPECT_TRUE(HostNet::GetLink("vw", home).has_value());
  EXPECT_TRUE(HostNet::GetLink("other", peer_ns).has_value());
  EXPECT_FALSE(HostNet::GetLink("eth0", peer_ns).has_value());
}

TEST(HostNetVeth, ErrorsNameTheObjectAndTheOperation) {
  REQUIRE_ROOT();
  const std::string ns = NsName("err");
  const std::string host = IfName("e");
  NetnsGuard ns_guard(ns);
  LinkGuard link_guard(host);
  Status st = HostNet::CreateVeth({.host_ifname = host, .peer_ifname = "eth0", .peer_netns = ns});
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.message(), "create veth " + host + " <-> eth0 in netns " + ns + ": netns " + ns + " does not exist");

  ASSERT_TRUE(HostNet::CreateNetns(ns).ok());
  ASSERT_EQ(Sh("ip -n " + ns + " link add eth0 type bridge").code, 0);
  st = HostNet::CreateVeth({.host_ifname = host, .peer_ifname = "eth0", .peer_netns = ns});
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.message(), HasSubstr("create veth " + host + " <-> eth0 in netns " + ns + ": File exists"));
  EXPECT_FALSE(HostNet::GetLink(host).has_value()) << "a failed create leaves nothing behind";

  st = HostNet::SetMtu("nosuch0", 1400, ns);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.message(), "set MTU 1400 on nosuch0 in netns " + ns + ": no interface nosuch0");
  st = HostNet::SetMtu("eth0", 70000, ns);
  EXPECT_THAT(st.message(), HasSubstr("out of range"));
  st = HostNet::SetLinkUp("nosuch0", ns);
  EXPECT_EQ(st.message(), "set nosuch0 in netns " + ns + " up: no interface nosuch0");
  auto listed = HostNet::ListAddresses("nosuch0", ns);
  ASSERT_FALSE(listed.ok());
  EXPECT_EQ(listed.error().message(), "list addresses on nosuch0 in netns " + ns + ": no interface nosuch0");
  st = HostNet::SetLinkUp("eth0", "clt-no-such-ns");
  EXPECT_EQ(st.message(), "set eth0 in netns clt-no-such-ns up: netns clt-no-such-ns does not exist");
}

TEST(HostNetVeth, PingBetweenTwoNamespacesConnectedByAVeth) {
  REQUIRE_ROOT();
  const std::string a = NsName("pa");
  const std::string b = NsName("pb");
  NetnsGuard a_guard(a);
  NetnsGuard b_guard(b);
  ASSERT_TRUE(HostNet::CreateNetns(a).ok());
  ASSERT_TRUE(HostNet::CreateNetns(b).ok());
  const std::string before = ThreadNetns();
  // Run "as the daemon" inside b: the pair's host end lands in b, its peer in a.
  Status st = HostNet::RunInNetns(b, [&]() -> Status {
    CL_RETURN_IF_ERROR(HostNet::CreateVeth({.host_ifname = "vb", .peer_ifname = "va", .peer_netns = a}));
    return HostNet::ReplaceAddresses("vb", {"10.201.0.1/30", "fd00:c2::1/64"});
  });
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(ThreadNetns(), before);
  ASSERT_TRUE(HostNet::ReplaceAddresses("va", {"10.201.0.2/30", "fd00:c2::2/64"}, a).ok());
  ASSERT_TRUE(HostNet::GetLink("vb", b).has_value());
  EXPECT_FALSE(HostNet::GetLink("vb").has_value()) << "nothing lands in the test's own namespace";

  CmdResult ping = Sh("ip netns exec " + a + " ping -c 1 -W 1 10.201.0.1");
  EXPECT_EQ(ping.code, 0) << ping.out;
  // nodad: the IPv6 addresses answer right away.
  CmdResult ping6 = Sh("ip netns exec " + a + " ping -6 -c 1 -W 1 fd00:c2::1");
  EXPECT_EQ(ping6.code, 0) << ping6.out;
}

TEST(HostNetNetns, DeleteRemovesTheInterfacesInside) {
  REQUIRE_ROOT();
  const std::string ns = NsName("del");
  const std::string host = IfName("x");
  NetnsGuard ns_guard(ns);
  LinkGuard link_guard(host);
  ASSERT_TRUE(HostNet::CreateNetns(ns).ok());
  ASSERT_TRUE(HostNet::CreateVeth({.host_ifname = host, .peer_ifname = "eth0", .peer_netns = ns}).ok());
  ASSERT_TRUE(HostNet::GetLink(host).has_value());
  ASSERT_TRUE(HostNet::DeleteNetns(ns).ok());
  EXPECT_FALSE(HostNet::NetnsExists(ns));
  EXPECT_FALSE(HostNet::GetLink(host).has_value()) << "the host end goes with the namespace, at once";
  // The same pair can be made again straight away.
  ASSERT_TRUE(HostNet::CreateNetns(ns).ok());
  Status st = HostNet::CreateVeth({.host_ifname = host, .peer_ifname = "eth0", .peer_netns = ns});
  EXPECT_TRUE(st.ok()) << st.message();
}

}  // namespace
}  // namespace cloudlet
