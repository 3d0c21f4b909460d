#include "vpn/wgquick.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <string>

#include "vpn/keys.h"

namespace cloudlet::vpn {
namespace {

// The example of wg-quick(8).
constexpr std::string_view kWgQuickManExample = R"([Interface]
Address = 10.200.100.8/24
DNS = 10.200.100.1
PrivateKey = oK56DE9Ue9zK76rAc8pBl6opph+1v36lm7cXXsQKrQM=

[Peer]
PublicKey = GtL7fZc/bLnqZldpVofMCD6hDjrK28SsdLxevJ+qtKU=
PresharedKey = /UwcSPg38hW/D9Y3tcS1FOV0K1wuURMbS0sesJEP5ak=
AllowedIPs = 0.0.0.0/0
Endpoint = demo.wireguard.com:51820
)";

// The example of wg(8), CONFIGURATION FILE FORMAT EXAMPLE.
constexpr std::string_view kWgManExample = R"([Interface]
PrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=
ListenPort = 51820

[Peer]
PublicKey = xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=
Endpoint = 192.95.5.67:1234
AllowedIPs = 10.192.122.3/32, 10.192.124.1/24

[Peer]
PublicKey = TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=
Endpoint = [2607:5300:60:6b0::c05f:543]:2468
AllowedIPs = 10.192.122.4/32, 192.168.0.0/16

[Peer]
PublicKey = gN65BkIKy1eCE9pP1wdc8ROUtkHLF2PfAqYdyYBz6EA=
Endpoint = test.wireguard.com:18981
AllowedIPs = 10.10.10.230/32
)";

constexpr std::string_view kKeyA = "GtL7fZc/bLnqZldpVofMCD6hDjrK28SsdLxevJ+qtKU=";
constexpr std::string_view kKeyB = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=";

IpPrefix Prefix(std::string_view text) {
  const size_t slash = text.find('/');
  std::string addr(text.substr(0, slash));
  IpPrefix p;
  if (addr.find(':') != std::string::npos) {
    p.address.family = IpAddress::Family::kV6;
    EXPECT_EQ(inet_pton(AF_INET6, addr.c_str(), p.address.bytes.data()), 1);
  } else {
    EXPECT_EQ(inet_pton(AF_INET, addr.c_str(), p.address.bytes.data()), 1);
  }
  p.length = static_cast<uint8_t>(std::stoi(std::string(text.substr(slash + 1))));
  return p;
}

PublicKey Key(std::string_view b64) {
  auto k = PublicKeyFromBase64(b64);
  EXPECT_TRUE(k.ok());
  return k.ok() ? *k : PublicKey{};
}

std::string ErrorOf(std::string_view text) {
  auto r = ParseWgQuick(text, "wg0.conf");
  EXPECT_FALSE(r.ok()) << text;
  return r.ok() ? "" : r.error().message();
}

// One peer block around `lines`, for peer-key errors.
std::string InPeer(std::string_view lines) {
  return "[Interface]\n[Peer]\nPublicKey = " + std::string(kKeyA) + "\n" + std::string(lines);
}

TEST(WgQuickParse, ManPageExample) {
  auto r = ParseWgQuick(kWgQuickManExample, "wg0.conf");
  ASSERT_TRUE(r.ok()) << r.error().message();
  const WgQuickConfig& c = *r;
  ASSERT_TRUE(c.interface.private_key.has_value());
  EXPECT_EQ(KeyToBase64(c.interface.private_key->span()), "oK56DE9Ue9zK76rAc8pBl6opph+1v36lm7cXXsQKrQM=");
  EXPECT_EQ(c.interface.addresses, std::vector<IpPrefix>{Prefix("10.200.100.8/24")});  // host bits kept
  ASSERT_EQ(c.interface.dns_servers.size(), 1u);
  EXPECT_EQ(c.interface.dns_servers[0], IpAddress::V4(10, 200, 100, 1));
  EXPECT_FALSE(c.interface.listen_port.has_value());
  EXPECT_FALSE(c.has_hooks());
  ASSERT_EQ(c.peers.size(), 1u);
  EXPECT_EQ(c.peers[0].public_key, Key(kKeyA));
  ASSERT_TRUE(c.peers[0].preshared_key.has_value());
  EXPECT_EQ(KeyToBase64(c.peers[0].preshared_key->span()), "/UwcSPg38hW/D9Y3tcS1FOV0K1wuURMbS0sesJEP5ak=");
  EXPECT_EQ(c.peers[0].allowed_ips, std::vector<IpPrefix>{Prefix("0.0.0.0/0")});
  EXPECT_EQ(c.peers[0].endpoint, (WgQuickEndpoint{"demo.wireguard.com", 51820}));
  EXPECT_FALSE(c.peers[0].persistent_keepalive.has_value());
}

TEST(WgQuickParse, WgManPageExample) {
  auto r = ParseWgQuick(kWgManExample, "wg0.conf");
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->interface.listen_port, 51820);
  ASSERT_EQ(r->peers.size(), 3u);
  EXPECT_EQ(r->peers[0].endpoint, (WgQuickEndpoint{"192.95.5.67", 1234}));
  EXPECT_EQ(r->peers[0].allowed_ips, (std::vector<IpPrefix>{Prefix("10.192.122.3/32"), Prefix("10.192.124.1/24")}));
  EXPECT_EQ(r->peers[1].endpoint, (WgQuickEndpoint{"2607:5300:60:6b0::c05f:543", 2468}));
  EXPECT_EQ(r->peers[2].endpoint, (WgQuickEndpoint{"test.wireguard.com", 18981}));
}

TEST(WgQuickParse, LexicalRulesLikeWgQuick) {
  const std::string text =
      "# leading comment\r\n"
      "  [interface]  \r\n"
      "\r\n"
      "privatekey=oK56DE9Ue9zK76rAc8pBl6opph+1v36lm7cXXsQKrQM=   # trailing comment\r\n"
      "ADDRESS = 10.0.0.1 , fd00::1/64\n"
      "Address = 10.0.1.1/16\n"
      "\tListenPort\t=\t0\n"
      "DNS = 1.1.1.1, 2606:4700:4700::1111, corp.example, lan\n"
      "dns = 9.9.9.9\n"
      "FwMark = 0x1234\n"
      "MTU = 1420\n"
      "Table = off\n"
      "SaveConfig = TRUE\n"
      "PostUp = iptables -A FORWARD -i %i -j ACCEPT # the comment is not part of the hook\n"
      "PostUp = echo up\n"
      "PreDown = echo predown\n"
      "PreUp = echo preup\n"
      "PostDown = echo down\n"
      "[PEER]\n"
      "publickey = " +
      std::string(kKeyA) +
      "\n"
      "allowedips = \n"  // empty: nothing, as wg
      "AllowedIPs = 10.9.0.0/24,10.8.0.1\n"
      "AllowedIPs = ::/0\n"
      "persistentkeepalive = off\n"
      "[Peer]\n"
      "PublicKey = " +
      std::string(kKeyB) +
      "\n"
      "PersistentKeepalive = 25\n"
      "Endpoint = [::1]:51820\n";
  auto r = ParseWgQuick(text, "wg0.conf");
  ASSERT_TRUE(r.ok()) << r.error().message();
  const WgQuickInterface& i = r->interface;
  EXPECT_TRUE(i.private_key.has_value());
  EXPECT_EQ(i.addresses, (std::vector<IpPrefix>{Prefix("10.0.0.1/32"), Prefix("fd00::1/64"), Prefix("10.0.1.1/16")}));
  EXPECT_EQ(i.listen_port, 0);
  ASSERT_EQ(i.dns_servers.size(), 3u);
  EXPECT_EQ(i.dns_servers[2], IpAddress::V4(9, 9, 9, 9));
  EXPECT_EQ(i.dns_search, (std::vector<std::string>{"corp.example", "lan"}));
  EXPECT_EQ(i.fwmark, 0x1234u);
  EXPECT_EQ(i.mtu, 1420u);
  EXPECT_EQ(i.table, "off");
  EXPECT_EQ(i.save_config, true);
  EXPECT_EQ(i.post_up, (std::vector<std::string>{"iptables -A FORWARD -i %i -j ACCEPT", "echo up"}));
  EXPECT_EQ(i.pre_up, std::vector<std::string>{"echo preup"});
  EXPECT_EQ(i.pre_down, std::vector<std::string>{"echo predown"});
  EXPECT_EQ(i.post_down, std::vector<std::string>{"echo down"});
  EXPECT_TRUE(r->has_hooks());
  ASSERT_EQ(r->peers.size(), 2u);
  EXPECT_EQ(r->peers[0].allowed_ips,
            (std::vector<IpPrefix>{Prefix("10.9.0.0/24"), Prefix("10.8.0.1/32"), Prefix("::/0")}));
  EXPECT_EQ(r->peers[0].persistent_keepalive, 0);
  EXPECT_EQ(r->peers[1].persistent_keepalive, 25);
  EXPECT_EQ(r->peers[1].endpoint, (WgQuickEndpoint{"::1", 51820}));
  EXPECT_TRUE(r->peers[1].allowed_ips.empty());
}

TEST(WgQuickParse, FwMarkForms) {
  for (const auto& [text, value] : std::map<std::string, uint32_t>{
           {"off", 0}, {"OFF", 0}, {"0", 0}, {"51820", 51820}, {"0xca6c", 0xca6c}, {"4294967295", 0xffffffffu}}) {
    auto r = ParseWgQuick("[Interface]\nFwMark = " + text + "\n", "f");
    ASSERT_TRUE(r.ok()) << text << ": " << r.error().message();
    EXPECT_EQ(r->interface.fwmark, value) << text;
  }
}

TEST(WgQuickParse, EmptyConfigsAreValid) {
  auto r = ParseWgQuick("", "wg0.conf");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->peers.empty());
  EXPECT_TRUE(ParseWgQuick("[Interface]\n", "wg0.conf").ok());
  EXPECT_TRUE(ParseWgQuick("[Interface]\n[Peer]\nPublicKey=" + std::string(kKeyA), "wg0.conf").ok());  // no final \n
}

std::string FormatOrDie(const WgQuickConfig& c) {
  auto text = FormatWgQuick(c);
  EXPECT_TRUE(text.ok()) << text.error().message();
  return text.ok() ? *text : "";
}

TEST(WgQuickFormat, ManPageExampleExactly) {
  auto r = ParseWgQuick(kWgQuickManExample, "wg0.conf");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(FormatOrDie(*r), R"([Interface]
PrivateKey = oK56DE9Ue9zK76rAc8pBl6opph+1v36lm7cXXsQKrQM=
Address = 10.200.100.8/24
DNS = 10.200.100.1

[Peer]
PublicKey = GtL7fZc/bLnqZldpVofMCD6hDjrK28SsdLxevJ+qtKU=
PresharedKey = /UwcSPg38hW/D9Y3tcS1FOV0K1wuURMbS0sesJEP5ak=
AllowedIPs = 0.0.0.0/0
Endpoint = demo.wireguard.com:51820
)");
}

// parse -> format -> parse gives the same config (compared through a second format) for every shape we accept.
TEST(WgQuickFormat, RoundTrips) {
  const std::string everything =
      "[Interface]\nPrivateKey = oK56DE9Ue9zK76rAc8pBl6opph+1v36lm7cXXsQKrQM=\n"
      "ListenPort = 51820\nFwMark = off\nAddress = 10.0.0.1, fd00:0:0::1/64\n"
      "DNS = 1.1.1.1, corp.example, ::1\nMTU = 1280\nTable = 1234\n"
      "PreUp = a\nPostUp = b c\nPreDown = d\nPostDown = e\nPostDown = f\nSaveConfig = false\n"
      "[Peer]\nPublicKey = " +
      std::string(kKeyA) + "\nPersistentKeepalive = off\nEndpoint = [fd00::0001]:1\n" +
      "[Peer]\nPublicKey = " + std::string(kKeyB) +
      "\nAllowedIPs = 10.1.2.3/8\nPersistentKeepalive = 65535\nFwMark=1\n";
  for (std::string_view text : {std::string_view(kWgQuickManExample), std::string_view(kWgManExample),
                                std::string_view("[Interface]\n"), std::string_view(everything)}) {
    auto first = ParseWgQuick(text, "a.conf");
    if (text == everything) {
      // FwMark in a [Peer] is an error; drop that line for the round trip.
      ASSERT_FALSE(first.ok());
      first = ParseWgQuick(text.substr(0, text.size() - std::string_view("FwMark=1\n").size()), "a.conf");
    }
    ASSERT_TRUE(first.ok()) << first.error().message();
    const std::string formatted = FormatOrDie(*first);
    auto second = ParseWgQuick(formatted, "b.conf");
    ASSERT_TRUE(second.ok()) << second.error().message() << "\n" << formatted;
    EXPECT_EQ(FormatOrDie(*second), formatted);
    EXPECT_EQ(second->interface.addresses, first->interface.addresses);
    EXPECT_EQ(second->interface.dns_servers, first->interface.dns_servers);
    EXPECT_EQ(second->interface.dns_search, first->interface.dns_search);
    EXPECT_EQ(second->interface.fwmark, first->interface.fwmark);
    EXPECT_EQ(second->interface.save_config, first->interface.save_config);
    EXPECT_EQ(second->interface.post_down, first->interface.post_down);
    ASSERT_EQ(second->peers.size(), first->peers.size());
    for (size_t p = 0; p < first->peers.size(); ++p) {
      EXPECT_EQ(second->peers[p].public_key, first->peers[p].public_key);
      EXPECT_EQ(second->peers[p].allowed_ips, first->peers[p].allowed_ips);
      EXPECT_EQ(second->peers[p].endpoint, first->peers[p].endpoint);
      EXPECT_EQ(second->peers[p].persistent_keepalive, first->peers[p].persistent_keepalive);
      EXPECT_EQ(second->peers[p].preshared_key.has_value(), first->peers[p].preshared_key.has_value());
    }
  }
}

TEST(WgQuickFormat, RefusesValuesThatWouldNotReadBack) {
  auto base = ParseWgQuick(kWgQuickManExample, "wg0.conf");
  ASSERT_TRUE(base.ok());
  auto expect_error = [](const WgQuickConfig& c, std::string_view what) {
    auto r = FormatWgQuick(c);
    ASSERT_FALSE(r.ok()) << what;
    EXPECT_NE(r.error().message().find(what), std::string::npos) << r.error().message();
  };
  WgQuickConfig c = *base;
  c.interface.post_up = {"echo a\n[Peer]"};
  expect_error(c, "PostUp: contains a newline");
  c.interface.post_up = {"echo # not a comment"};
  expect_error(c, "'#'");
  c.interface.post_up = {""};
  expect_error(c, "PostUp: empty value");
  c.interface.post_up = {" echo"};
  expect_error(c, "leading or trailing whitespace");
  c.interface.post_up = {std::string(kWgQuickMaxLineLength, 'x')};
  expect_error(c, "too long");
  c = *base;
  c.interface.dns_search = {"a,b"};
  expect_error(c, "DNS: contains ','");
  c.interface.dns_search = {"1.2.3.4"};
  expect_error(c, "not a search domain");
  c.interface.dns_search = {"a b"};
  expect_error(c, "not a search domain");
  c = *base;
  c.interface.table = "main table";
  expect_error(c, "Table");
  c = *base;
  c.interface.mtu = 10;
  expect_error(c, "MTU");
  c = *base;
  c.peers[0].endpoint = WgQuickEndpoint{"bad host", 1};
  expect_error(c, "Endpoint");
  c.peers[0].endpoint = WgQuickEndpoint{"example.com", 0};
  expect_error(c, "Endpoint");
}

TEST(WgQuickDevice, SetconfChange) {
  auto r = ParseWgQuick(kWgManExample, "wg0.conf");
  ASSERT_TRUE(r.ok());
  std::map<std::string, UdpEndpoint> resolved = {
      {"192.95.5.67", {IpAddress::V4(192, 95, 5, 67), 0}},
      {"2607:5300:60:6b0::c05f:543",
       {IpAddress::V6({0x26, 0x07, 0x53, 0, 0, 0x60, 0x06, 0xb0, 0, 0, 0, 0, 0xc0, 0x5f, 0x05, 0x43}), 0}},
      {"test.wireguard.com", {IpAddress::V4(10, 1, 1, 1), 0}},
  };
  auto change = r->ToDeviceConfigChange([&](const WgQuickEndpoint& e) -> Result<UdpEndpoint> {
    auto it = resolved.find(e.host);
    if (it == resolved.end()) return Error("unknown host");
    return UdpEndpoint{it->second.address, e.port};
  });
  ASSERT_TRUE(change.ok()) << change.error().message();
  EXPECT_TRUE(change->replace_peers);
  EXPECT_TRUE(change->private_key.has_value());
  EXPECT_EQ(change->listen_port, 51820);
  EXPECT_FALSE(change->fwmark.has_value());
  ASSERT_EQ(change->peers.size(), 3u);
  const PeerChange& first = change->peers[0];
  EXPECT_EQ(first.public_key, Key(kKeyB));
  ASSERT_EQ(first.operations.size(), 4u);
  ASSERT_TRUE(std::holds_alternative<SetEndpoint>(first.operations[0]));
  EXPECT_EQ(std::get<SetEndpoint>(first.operations[0]).endpoint, (UdpEndpoint{IpAddress::V4(192, 95, 5, 67), 1234}));
  EXPECT_TRUE(std::holds_alternative<ReplaceAllowedIps>(first.operations[1]));
  EXPECT_EQ(std::get<AddAllowedIp>(first.operations[2]).prefix, Prefix("10.192.122.3/32"));
  EXPECT_EQ(std::get<AddAllowedIp>(first.operations[3]).prefix, Prefix("10.192.124.1/24"));

  // Applied to a device, it is what `wg setconf` would leave behind.
  DeviceConfig device;
  device.peers[Key(kKeyA)] = PeerConfig{};  // replaced
  ASSERT_TRUE(Apply(*change, device).ok());
  EXPECT_EQ(device.peers.size(), 3u);
  EXPECT_EQ(device.listen_port, 51820);
  const std::string get = SerializeGet(device);
  EXPECT_NE(get.find("endpoint=[2607:5300:60:6b0::c05f:543]:2468\n"), std::string::npos) << get;
  EXPECT_NE(get.find("allowed_ip=10.192.124.0/24\n"), std::string::npos) << get;

  // Every optional peer field, in wg's order.
  auto psk = ParseWgQuick(InPeer("PresharedKey = " + std::string(kKeyB) + "\nPersistentKeepalive = 25\n"), "f");
  ASSERT_TRUE(psk.ok());
  auto psk_change = psk->ToDeviceConfigChange(nullptr);  // no endpoint: the resolver is not needed
  ASSERT_TRUE(psk_change.ok());
  const auto& ops = psk_change->peers[0].operations;
  ASSERT_EQ(ops.size(), 3u);
  EXPECT_TRUE(std::holds_alternative<SetPresharedKey>(ops[0]));
  EXPECT_EQ(std::get<SetPersistentKeepalive>(ops[1]).seconds, 25);
  EXPECT_TRUE(std::holds_alternative<ReplaceAllowedIps>(ops[2]));
}

TEST(WgQuickDevice, ResolverFailureNamesThePeer) {
  auto r = ParseWgQuick(kWgQuickManExample, "wg0.conf");
  ASSERT_TRUE(r.ok());
  auto change =
      r->ToDeviceConfigChange([](const WgQuickEndpoint&) -> Result<UdpEndpoint> { return Error("NXDOMAIN"); });
  ASSERT_FALSE(change.ok());
  EXPECT_EQ(change.error().message(), "peer " + std::string(kKeyA) + ": Endpoint demo.wireguard.com:51820: NXDOMAIN");
  EXPECT_FALSE(r->ToDeviceConfigChange(nullptr).ok());
}

TEST(WgQuickDevice, ResolvesLiterals) {
  auto v4 = ResolveEndpoint({"127.0.0.1", 51820});
  ASSERT_TRUE(v4.ok()) << v4.error().message();
  EXPECT_EQ(*v4, (UdpEndpoint{IpAddress::V4(127, 0, 0, 1), 51820}));
  auto v6 = ResolveEndpoint({"::1", 7});
  ASSERT_TRUE(v6.ok()) << v6.error().message();
  std::array<uint8_t, 16> loopback{};
  loopback[15] = 1;
  EXPECT_EQ(*v6, (UdpEndpoint{IpAddress::V6(loopback), 7}));
}

TEST(WgQuickFile, InterfaceNames) {
  EXPECT_EQ(InterfaceNameFromPath("/etc/wireguard/wg0.conf").value(), "wg0");
  EXPECT_EQ(InterfaceNameFromPath("a_b=c+d.e-f.conf").value(), "a_b=c+d.e-f");
  EXPECT_FALSE(InterfaceNameFromPath("/etc/wireguard/wg0").ok());
  EXPECT_FALSE(InterfaceNameFromPath(".conf").ok());
  EXPECT_FALSE(InterfaceNameFromPath("sixteen_chars_xx.conf").ok());
  EXPECT_FALSE(InterfaceNameFromPath("wg 0.conf").ok());
  EXPECT_FALSE(InterfaceNameFromPath(std::string("wg\0.conf", 8)).ok());
}

TEST(WgQuickFile, ReadsAFile) {
  const std::string path = ::testing::TempDir() + "wgquick_test_" + std::to_string(::getpid()) + ".conf";
  std::ofstream(path) << kWgManExample;
  auto r = ReadWgQuickFile(path);
  ::unlink(path.c_str());
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->peers.size(), 3u);
  auto missing = ReadWgQuickFile(path);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().message(), path + ": No such file or directory");
  auto dir = ReadWgQuickFile(::testing::TempDir());
  ASSERT_FALSE(dir.ok());
  EXPECT_NE(dir.error().message().find("is a directory"), std::string::npos);
}

// ---- errors: one test per path, each checking the full "FILE:LINE: Key: message" form ----

TEST(WgQuickErrors, Structure) {
  EXPECT_EQ(ErrorOf("ListenPort = 1\n"),
            "wg0.conf:1: ListenPort: outside of a section; start the file with [Interface]");
  EXPECT_EQ(ErrorOf("[Interface]\n[Peers]\nPublicKey = x\n"),
            "wg0.conf:2: unknown section [Peers] (did you mean [Peer]?); expected [Interface] or [Peer]");
  EXPECT_EQ(ErrorOf("[Wat]\n"), "wg0.conf:1: unknown section [Wat]; expected [Interface] or [Peer]");
  EXPECT_EQ(ErrorOf("[Interface\n"),
            "wg0.conf:1: malformed section header '[Interface': expected [Interface] or [Peer]");
  EXPECT_EQ(ErrorOf("[Interface]\n\n[Interface]\n"), "wg0.conf:3: second [Interface] section (the first is on line 1)");
  EXPECT_EQ(ErrorOf("[Interface]\nListenPort\n"),
            "wg0.conf:2: expected 'Key = Value' or a section header, got 'ListenPort'");
  EXPECT_EQ(ErrorOf("[Interface]\n = 5\n"), "wg0.conf:2: missing key before '='");
  EXPECT_EQ(ErrorOf("[Interface]\nMTU = 1\x01\n"), "wg0.conf:2: control character in line");
  EXPECT_EQ(ErrorOf("[Interface]\nPostUp = " + std::string(kWgQuickMaxLineLength, 'x') + "\n"),
            "wg0.conf:2: line longer than 4096 characters");
}

TEST(WgQuickErrors, Keys) {
  EXPECT_EQ(ErrorOf("[Interface]\nListenPrt = 1\n"),
            "wg0.conf:2: ListenPrt: unknown key in [Interface] (did you mean 'ListenPort'?)");
  EXPECT_EQ(ErrorOf("[Interface]\nFrobnicate = 1\n"), "wg0.conf:2: Frobnicate: unknown key in [Interface]");
  EXPECT_EQ(ErrorOf(InPeer("AllowedIP = 10.0.0.0/8\n")),
            "wg0.conf:4: AllowedIP: unknown key in [Peer] (did you mean 'AllowedIPs'?)");
  EXPECT_EQ(ErrorOf("[Interface]\nEndpoint = a:1\n"), "wg0.conf:2: Endpoint: belongs in [Peer], not in [Interface]");
  EXPECT_EQ(ErrorOf(InPeer("address = 10.0.0.1\n")), "wg0.conf:4: Address: belongs in [Interface], not in [Peer]");
  EXPECT_EQ(ErrorOf("[Interface]\nMTU = 1400\nmtu = 1420\n"), "wg0.conf:3: MTU: given twice (first on line 2)");
  EXPECT_EQ(ErrorOf("[Interface]\nTable =\n"), "wg0.conf:2: Table: empty value");
  EXPECT_EQ(ErrorOf("[Interface]\nPostUp = # only a comment\n"), "wg0.conf:2: PostUp: empty value");
}

TEST(WgQuickErrors, InterfaceValues) {
  EXPECT_EQ(ErrorOf("[Interface]\nPrivateKey = abc\n"),
            "wg0.conf:2: PrivateKey: not a key: expected 44 base64 characters, got 3");
  EXPECT_EQ(ErrorOf("[Interface]\nListenPort = 65536\n"),
            "wg0.conf:2: ListenPort: '65536' is not a port number from 0 to 65535");
  EXPECT_EQ(ErrorOf("[Interface]\nListenPort = -1\n"),
            "wg0.conf:2: ListenPort: '-1' is not a port number from 0 to 65535");
  EXPECT_EQ(ErrorOf("[Interface]\nFwMark = 0x1ffffffff\n"),
            "wg0.conf:2: FwMark: '0x1ffffffff' is not \"off\" or a 32-bit number");
  EXPECT_EQ(ErrorOf("[Interface]\nFwMark = on\n"), "wg0.conf:2: FwMark: 'on' is not \"off\" or a 32-bit number");
  EXPECT_EQ(ErrorOf("[Interface]\nMTU = 67\n"), "wg0.conf:2: MTU: '67' is not a number from 68 to 65535");
  EXPECT_EQ(ErrorOf("[Interface]\nMTU = 1500 bytes\n"),
            "wg0.conf:2: MTU: '1500 bytes' is not a number from 68 to 65535");
  EXPECT_EQ(ErrorOf("[Interface]\nTable = main table\n"),
            "wg0.conf:2: Table: 'main table' is not off, auto, a number or a routing table name");
  EXPECT_EQ(ErrorOf("[Interface]\nSaveConfig = yes\n"), "wg0.conf:2: SaveConfig: 'yes' is not true or false");
  EXPECT_EQ(ErrorOf("[Interface]\nAddress = 10.0.0.300/24\n"),
            "wg0.conf:2: Address: '10.0.0.300' is not an IPv4 or IPv6 address");
  EXPECT_EQ(ErrorOf("[Interface]\nAddress = 10.0.0.1/33\n"),
            "wg0.conf:2: Address: prefix length '33' of 10.0.0.1/33 is not a number from 0 to 32");
  EXPECT_EQ(ErrorOf("[Interface]\nAddress = fd00::1/\n"),
            "wg0.conf:2: Address: prefix length '' of fd00::1/ is not a number from 0 to 128");
  EXPECT_EQ(ErrorOf("[Interface]\nAddress = 10.0.0.1,,10.0.0.2\n"),
            "wg0.conf:2: Address: empty item in comma-separated list");
  EXPECT_EQ(ErrorOf("[Interface]\nDNS = 1.2.3\n"), "wg0.conf:2: DNS: '1.2.3' is not an IPv4 or IPv6 address");
  EXPECT_EQ(ErrorOf("[Interface]\nDNS = fe80::1%eth0\n"),
            "wg0.conf:2: DNS: 'fe80::1%eth0' is not an IPv4 or IPv6 address");
  EXPECT_EQ(ErrorOf("[Interface]\nDNS = a;b\n"), "wg0.conf:2: DNS: 'a;b' is neither an address nor a search domain");
}

TEST(WgQuickErrors, PeerValues) {
  EXPECT_EQ(ErrorOf("[Interface]\n[Peer]\nAllowedIPs = 10.0.0.0/8\n"), "wg0.conf:2: [Peer]: missing PublicKey");
  EXPECT_EQ(ErrorOf("[Peer]\nPublicKey = " + std::string(kKeyA) + "\n[Peer]\nPublicKey = " + std::string(kKeyA) + "\n"),
            "wg0.conf:4: PublicKey: duplicate peer: the [Peer] on line 1 has the same key");
  EXPECT_EQ(ErrorOf("[Peer]\nPublicKey = " + std::string(kKeyA).substr(0, 43) + "\n"),
            "wg0.conf:2: PublicKey: not a key: expected 44 base64 characters, got 43");
  EXPECT_EQ(ErrorOf(InPeer("PresharedKey = " + std::string(kKeyA).substr(0, 42) + "V=\n")),
            "wg0.conf:4: PresharedKey: not a key: non-canonical base64 (the last character before '=' has stray low "
            "bits)");
  EXPECT_EQ(ErrorOf(InPeer("AllowedIPs = 10.0.0.0/24, bogus\n")),
            "wg0.conf:4: AllowedIPs: 'bogus' is not an IPv4 or IPv6 address");
  EXPECT_EQ(ErrorOf(InPeer("AllowedIPs = 10.0.0.0/8,\n")),
            "wg0.conf:4: AllowedIPs: empty item in comma-separated list");
  EXPECT_EQ(ErrorOf(InPeer("AllowedIPs = 10.0.0.0/8\n[Peer]\nPublicKey = " + std::string(kKeyB) +
                           "\nAllowedIPs = 10.1.0.0/8\n")),
            "wg0.conf:7: AllowedIPs: 10.1.0.0/8 is already an allowed IP of another peer (line 4)");
  EXPECT_TRUE(ParseWgQuick(InPeer("AllowedIPs = 10.0.0.0/8, 10.0.0.0/8\n"), "f").ok());  // same peer: harmless
  EXPECT_EQ(ErrorOf(InPeer("PersistentKeepalive = 65536\n")),
            "wg0.conf:4: PersistentKeepalive: '65536' is not \"off\" or seconds from 0 to 65535");
}

TEST(WgQuickErrors, Endpoints) {
  const std::map<std::string, std::string> cases = {
      {"example.com", "expected host:port, e.g. vpn.example.com:51820"},
      {"fd00::1:51820", "an IPv6 address needs brackets: [fd00::1]:port"},
      {"[fd00::1]", "expected [IPv6]:port, e.g. [fd00::1]:51820"},
      {"[fd00::1]51820", "expected [IPv6]:port, e.g. [fd00::1]:51820"},
      {"[10.0.0.1]:1", "'10.0.0.1' in brackets is not an IPv6 address"},
      {"example.com:0", "port '0' is not a number from 1 to 65535"},
      {"example.com:65536", "port '65536' is not a number from 1 to 65535"},
      {"example.com:", "port '' is not a number from 1 to 65535"},
      {"exa mple.com:1", "'exa mple.com' is not a host name or IPv4 address"},
      {":1", "'' is not a host name or IPv4 address"},
  };
  for (const auto& [value, message] : cases) {
    EXPECT_EQ(ErrorOf(InPeer("Endpoint = " + value + "\n")), "wg0.conf:4: Endpoint: " + message) << value;
  }
}

TEST(WgQuickErrors, CollectsAllErrorsInLineOrder) {
  const std::string text =
      "[Interface]\nMTU = x\n[Peer]\nListenPort = 1\n[Peer]\nPublicKey = " + std::string(kKeyA) + "\nEndpoint = nope\n";
  EXPECT_EQ(ErrorOf(text),
            "wg0.conf:2: MTU: 'x' is not a number from 68 to 65535\n"
            "wg0.conf:3: [Peer]: missing PublicKey\n"
            "wg0.conf:4: ListenPort: belongs in [Interface], not in [Peer]\n"
            "wg0.conf:7: Endpoint: expected host:port, e.g. vpn.example.com:51820");
  std::string many = "[Interface]\n";
  for (int i = 0; i < 25; ++i) many += "Bogus = 1\n";
  const std::string message = ErrorOf(many);
  EXPECT_NE(message.find("wg0.conf:21: Bogus"), std::string::npos);
  EXPECT_EQ(message.find("wg0.conf:22: Bogus"), std::string::npos);
  EXPECT_NE(message.find("\n... and 5 more error(s)"), std::string::npos) << message;
}

TEST(WgQuickErrors, ValueCounts) {
  EXPECT_EQ(ErrorOf("[Interface]\nPostUp = " + std::string(kWgQuickMaxHookLength + 1, 'x') + "\n"),
            "wg0.conf:2: PostUp: command longer than 4000 characters");
  std::string addresses = "[Interface]\n";
  for (size_t i = 0; i <= kWgQuickMaxListValues; ++i) addresses += "Address = 10.0.0.1\n";
  EXPECT_EQ(ErrorOf(addresses), "wg0.conf:1026: Address: more than 1024 values");
  std::string dns = "[Interface]\nDNS = lan\n";
  for (size_t i = 0; i < kWgQuickMaxListValues; ++i) dns += "DNS = 10.0.0.1\n";
  EXPECT_EQ(ErrorOf(dns), "wg0.conf:1026: DNS: more than 1024 values");
  std::string hooks = "[Interface]\n";
  for (size_t i = 0; i <= kWgQuickMaxListValues; ++i) hooks += "PreDown = true\n";
  EXPECT_EQ(ErrorOf(hooks), "wg0.conf:1026: PreDown: more than 1024 values");
  // Thousands of errors: the message still shows 20 and counts the rest.
  std::string errors = "[Interface]\n";
  for (int i = 0; i < 5000; ++i) errors += "x=1\n";
  const std::string message = ErrorOf(errors);
  EXPECT_NE(message.find("\n... and 4980 more error(s)"), std::string::npos) << message.substr(message.size() - 100);
}

TEST(WgQuickFormat, LongListsWrapAndRoundTrip) {
  std::string text = "[Interface]\n[Peer]\nPublicKey = " + std::string(kKeyA) + "\n";
  for (int i = 0; i < 300; ++i)
    text += "AllowedIPs = 10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250) + "\n";
  auto first = ParseWgQuick(text, "a.conf");
  ASSERT_TRUE(first.ok()) << first.error().message();
  const std::string formatted = FormatOrDie(*first);
  size_t lines = 0;
  for (size_t pos = 0; (pos = formatted.find("AllowedIPs = ", pos)) != std::string::npos; ++pos) ++lines;
  EXPECT_GT(lines, 1u);
  size_t longest = 0;
  for (size_t start = 0, end; start < formatted.size(); start = end + 1) {
    end = formatted.find('\n', start);
    longest = std::max(longest, end - start);
  }
  EXPECT_LE(longest, 520u);
  auto second = ParseWgQuick(formatted, "b.conf");
  ASSERT_TRUE(second.ok()) << second.error().message();
  EXPECT_EQ(second->peers[0].allowed_ips, first->peers[0].allowed_ips);
}

TEST(WgQuickFormat, RefusesTextBeyondTheParserBounds) {
  WgQuickConfig c;
  c.peers.resize(20000);
  for (size_t i = 0; i < c.peers.size(); ++i) {
    c.peers[i].public_key[0] = static_cast<uint8_t>(i);
    c.peers[i].public_key[1] = static_cast<uint8_t>(i >> 8);
  }
  auto r = FormatWgQuick(c);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("would exceed 1048576 bytes"), std::string::npos) << r.error().message();
}

TEST(WgQuickErrors, Bounds) {
  EXPECT_EQ(ErrorOf(std::string(kWgQuickMaxFileBytes + 1, '\n')), "wg0.conf: larger than 1048576 bytes");
  std::string lines(kWgQuickMaxLines + 1, '\n');
  EXPECT_EQ(ErrorOf(lines), "wg0.conf:100000: more than 100000 lines; the rest is not read");
  EXPECT_TRUE(ParseWgQuick(std::string(kWgQuickMaxLines, '\n'), "f").ok());
}

}  // namespace
}  // namespace cloudlet::vpn
