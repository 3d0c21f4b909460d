// HostNet::ReplaceDeviceRoute / DeleteDeviceRoute against the real kernel: routes through an interface without a
// gateway (as to a TUN's peers), idempotent both ways, host bits masked. Needs root.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "hostnet/host_net.h"

namespace cloudlet {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string RoutesIn(const std::string& netns) {
  std::string out;
  FILE* p = popen(("timeout 10 ip -n " + netns + " route show 2>&1").c_str(), "r");
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0 && out.size() < (1 << 20)) out.append(buf, n);
  pclose(p);
  return out;
}

TEST(DeviceRoute, AddReplaceDelete) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root: creates a network namespace and a veth";
  const std::string pid = std::to_string(getpid());
  const std::string ns = "clt-" + pid + "-rt", host_if = "cr" + pid + "h";
  struct Cleanup {
    std::string ns, ifname;
    ~Cleanup() {
      (void)HostNet::DeleteLink(ifname);
      (void)HostNet::DeleteNetns(ns);
    }
  } cleanup{ns, host_if};
  ASSERT_TRUE(HostNet::CreateNetns(ns).ok());
  VethSpec spec;
  spec.host_ifname = host_if;
  spec.peer_ifname = "tun0";
  spec.peer_netns = ns;
  ASSERT_TRUE(HostNet::CreateVeth(spec).ok());

  ASSERT_TRUE(HostNet::ReplaceDeviceRoute("10.77.1.9/24", "tun0", ns).ok());  // host bits masked
  ASSERT_TRUE(HostNet::ReplaceDeviceRoute("10.77.2.2/32", "tun0", ns).ok());
  ASSERT_TRUE(HostNet::ReplaceDeviceRoute("10.77.2.2/32", "tun0", ns).ok());  // again: no error
  std::string routes = RoutesIn(ns);
  EXPECT_THAT(routes, HasSubstr("10.77.1.0/24 dev tun0"));
  EXPECT_THAT(routes, HasSubstr("10.77.2.2 dev tun0"));

  ASSERT_TRUE(HostNet::DeleteDeviceRoute("10.77.2.2/32", "tun0", ns).ok());
  ASSERT_TRUE(HostNet::DeleteDeviceRoute("10.77.2.2/32", "tun0", ns).ok());  // gone already: fine
  routes = RoutesIn(ns);
  EXPECT_THAT(routes, Not(HasSubstr("10.77.2.2")));
  EXPECT_THAT(routes, HasSubstr("10.77.1.0/24 dev tun0"));

  auto missing = HostNet::ReplaceDeviceRoute("10.77.3.0/24", "nosuch0", ns);
  EXPECT_FALSE(missing.ok());
  EXPECT_FALSE(HostNet::ReplaceDeviceRoute("not-a-prefix", "tun0", ns).ok());
}

}  // namespace
}  // namespace cloudlet
