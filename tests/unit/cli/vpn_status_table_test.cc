// The vpn section of `cloudlet status` (table form): interface, port, public key, attachment, peers.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cli/table.h"

namespace cloudlet::cli {
namespace {

using ::testing::HasSubstr;

TEST(VpnStatusTable, ShowsTheVpnAndItsPeers) {
  nlohmann::json status = {{"switches", nlohmann::json::array()},
                           {"endpoints", nlohmann::json::array()},
                           {"vpns",
                            {{{"name", "remote"},
                              {"project", "/srv/vpn.yaml"},
                              {"interface", "clw-0123abcd"},
                              {"netns", "clv-0123abcd"},
                              {"listen_port", 51820},
                              {"public_key", "QeqxtLbFANMWmUulKHBnHFdu7oIKwxLgaWy+30tcy2I="},
                              {"address", "10.99.0.1/24"},
                              {"running", true},
                              {"attach", {{"switch", "sw1"}, {"vlan", 10}, {"address", "10.0.10.254/24"}}},
                              {"peers",
                               {{{"name", "alice"},
                                 {"public_key", "ykYzvRgFPgq330YgCjBgTJrD2E7dGHL0p6uXMtRILwI="},
                                 {"endpoint", "203.0.113.5:51820"},
                                 {"allowed_ips", {"10.99.0.2/32"}},
                                 {"latest_handshake", 0},
                                 {"rx_bytes", 2048},
                                 {"tx_bytes", 0}}}}}}}};
  std::string table = RenderStatusTable(status);
  EXPECT_THAT(table, HasSubstr("vpn remote  (/srv/vpn.yaml)"));
  EXPECT_THAT(table, HasSubstr("interface clw-0123abcd in netns clv-0123abcd, address 10.99.0.1/24, listening on UDP "
                               "51820"));
  EXPECT_THAT(table, HasSubstr("public key QeqxtLbFANMWmUulKHBnHFdu7oIKwxLgaWy+30tcy2I="));
  EXPECT_THAT(table, HasSubstr("attached to switch sw1 vlan 10 as 10.0.10.254/24"));
  EXPECT_THAT(table, HasSubstr("alice"));
  EXPECT_THAT(table, HasSubstr("203.0.113.5:51820"));
  EXPECT_THAT(table, HasSubstr("never"));
  EXPECT_THAT(table, HasSubstr("2.0 KiB"));
}

}  // namespace
}  // namespace cloudlet::cli
