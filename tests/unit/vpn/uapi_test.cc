// The userspace configuration protocol: parsing every key and error, wireguard-go's apply semantics, the `get`
// output, and the connection framing with input split at every byte.
#include "vpn/uapi.h"

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace cloudlet::vpn {
namespace {

PublicKey Key(uint8_t fill) {
  PublicKey key;
  key.fill(fill);
  return key;
}

std::string Hex(std::span<const uint8_t, kKeySize> key) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (uint8_t b : key) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0xf]);
  }
  return out;
}

std::string HexOf(uint8_t fill) { return Hex(Key(fill)); }

IpPrefix Prefix(std::string_view text) {
  const Result<DeviceConfigChange> change = ParseSet("public_key=" + HexOf(1) + "\nallowed_ip=" + std::string(text));
  EXPECT_TRUE(change.ok()) << text;
  return std::get<AddAllowedIp>(change->peers.at(0).operations.at(0)).prefix;
}

DeviceConfig MustSet(DeviceConfig config, std::string_view body) {
  const Result<DeviceConfigChange> change = ParseSet(body);
  EXPECT_TRUE(change.ok()) << change.error().message();
  if (!change.ok()) return config;
  const Status status = Apply(*change, config);
  EXPECT_TRUE(status.ok()) << status.message();
  return config;
}

// A private key that clamping leaves unchanged (as `wg genkey` makes them).
PrivateKey TestPrivateKey() {
  std::array<uint8_t, kKeySize> bytes;
  bytes.fill(0x42);
  bytes[0] = 0x40;
  bytes[31] = 0x42;
  return PrivateKey(std::span<const uint8_t, kKeySize>(bytes));
}

TEST(UapiParse, RealisticWgSetBody) {
  // What `wg set wg0 private-key K peer P allowed-ips 10.0.0.0/24,fd00::/64 endpoint 127.0.0.1:51820
  // persistent-keepalive 25` writes after "set=1\n" (wireguard-tools ipc-uapi.h), without the final blank line.
  const std::string private_hex = Hex(TestPrivateKey().span());
  const std::string body = "private_key=" + private_hex + "\npublic_key=" + HexOf(0xab) +
                           "\nendpoint=127.0.0.1:51820\npersistent_keepalive_interval=25\nreplace_allowed_ips=true\n"
                           "allowed_ip=10.0.0.0/24\nallowed_ip=fd00::/64\n";
  const Result<DeviceConfigChange> change = ParseSet(body);
  ASSERT_TRUE(change.ok()) << change.error().message();
  ASSERT_TRUE(change->private_key.has_value());
  EXPECT_EQ(Hex(change->private_key->span()), private_hex);
  EXPECT_FALSE(change->listen_port.has_value());
  EXPECT_FALSE(change->replace_peers);
  ASSERT_EQ(change->peers.size(), 1u);
  EXPECT_EQ(change->peers[0].public_key, Key(0xab));
  const std::vector<PeerOperation>& ops = change->peers[0].operations;
  ASSERT_EQ(ops.size(), 5u);
  EXPECT_EQ(std::get<SetEndpoint>(ops[0]).endpoint, (UdpEndpoint{IpAddress::V4(127, 0, 0, 1), 51820}));
  EXPECT_EQ(std::get<SetPersistentKeepalive>(ops[1]).seconds, 25);
  EXPECT_TRUE(std::holds_alternative<ReplaceAllowedIps>(ops[2]));
  EXPECT_EQ(std::get<AddAllowedIp>(ops[3]).prefix, (IpPrefix{IpAddress::V4(10, 0, 0, 0), 24}));
  const IpPrefix v6 = std::get<AddAllowedIp>(ops[4]).prefix;
  EXPECT_EQ(v6.address.family, IpAddress::Family::kV6);
  EXPECT_EQ(v6.address.bytes[0], 0xfd);
  EXPECT_EQ(v6.length, 64);

  DeviceConfig config;
  ASSERT_TRUE(Apply(*change, config).ok());
  const std::string expected = "private_key=" + private_hex + "\npublic_key=" + HexOf(0xab) +
                               "\npreshared_key=" + HexOf(0) +
                               "\nprotocol_version=1\nendpoint=127.0.0.1:51820\nlast_handshake_time_sec=0\n"
                               "last_handshake_time_nsec=0\ntx_bytes=0\nrx_bytes=0\npersistent_keepalive_interval=25\n"
                               "allowed_ip=10.0.0.0/24\nallowed_ip=fd00::/64\nerrno=0\n\n";
  EXPECT_EQ(SerializeGet(config), expected);
}

TEST(UapiParse, EveryKey) {
  const std::string body =
      "private_key=" + HexOf(0x11) + "\nlisten_port=65535\nfwmark=4294967295\n" +
      "replace_peers=true\npublic_key=" + HexOf(2) + "\nupdate_only=true\nremove=true\n" + "preshared_key=" + HexOf(3) +
      "\nendpoint=[fe80::1]:0\npersistent_keepalive_interval=0\nprotocol_version=1\n" +
      "allowed_ip=0.0.0.0/0\nallowed_ip=::/0\nallowed_ip=1.2.3.4/32\npublic_key=" + HexOf(4) + "\n";
  const Result<DeviceConfigChange> change = ParseSet(body);
  ASSERT_TRUE(change.ok()) << change.error().message();
  EXPECT_EQ(change->listen_port, 65535);
  EXPECT_EQ(change->fwmark, 4294967295u);
  EXPECT_TRUE(change->replace_peers);
  ASSERT_EQ(change->peers.size(), 2u);
  EXPECT_EQ(change->peers[0].operations.size(), 8u);  // protocol_version is dropped
  EXPECT_TRUE(change->peers[1].operations.empty());
  const UdpEndpoint endpoint = std::get<SetEndpoint>(change->peers[0].operations[3]).endpoint;
  EXPECT_EQ(endpoint.address.family, IpAddress::Family::kV6);
  EXPECT_EQ(endpoint.port, 0);
  // Uppercase hex is accepted, as Go's hex decoder does; an empty body is a valid no-op.
  std::string upper = HexOf(0xab);
  for (char& c : upper) c = static_cast<char>(std::toupper(c));
  EXPECT_TRUE(ParseSet("public_key=" + upper + "\n").ok());
  EXPECT_TRUE(ParseSet("").ok());
  EXPECT_TRUE(ParseSet("listen_port=0051820\n").ok());  // leading zeros, as Go's ParseUint
}

struct BadCase {
  std::string body;
  int expected_errno;
};

TEST(UapiParse, EveryErrorPath) {
  const std::string peer = "public_key=" + HexOf(1) + "\n";
  const std::vector<BadCase> cases = {
      {"private_key=" + HexOf(1).substr(2) + "\n", kUapiErrnoInvalid},           // short key
      {"private_key=" + HexOf(1) + "00\n", kUapiErrnoInvalid},                   // long key
      {"private_key=" + HexOf(1).substr(1) + "g\n", kUapiErrnoInvalid},          // not hex
      {"private_key=\n", kUapiErrnoInvalid},                                     // empty
      {"public_key=xyz\n", kUapiErrnoInvalid},                                   // bad peer key
      {"listen_port=65536\n", kUapiErrnoInvalid},                                // out of range
      {"listen_port=-1\n", kUapiErrnoInvalid},                                   // sign
      {"listen_port=+1\n", kUapiErrnoInvalid},                                   // sign
      {"listen_port= 1\n", kUapiErrnoInvalid},                                   // space
      {"listen_port=\n", kUapiErrnoInvalid},                                     // empty
      {"listen_port=0x10\n", kUapiErrnoInvalid},                                 // not decimal
      {"fwmark=4294967296\n", kUapiErrnoInvalid},                                // out of range
      {"replace_peers=false\n", kUapiErrnoInvalid},                              // only "true"
      {"replace_peers=1\n", kUapiErrnoInvalid},                                  //
      {"bogus=1\n", kUapiErrnoInvalid},                                          // unknown device key
      {"Listen_port=1\n", kUapiErrnoInvalid},                                    // keys are case-sensitive
      {"listen_port\n", kUapiErrnoProtocol},                                     // not key=value
      {"\n", kUapiErrnoProtocol},                                                // empty line inside a body
      {"allowed_ip=10.0.0.0/8\n", kUapiErrnoInvalid},                            // peer key before public_key
      {"endpoint=1.2.3.4:1\n", kUapiErrnoInvalid},                               //
      {peer + "listen_port=1\n", kUapiErrnoInvalid},                             // device key after a peer
      {peer + "private_key=" + HexOf(1) + "\n", kUapiErrnoInvalid},              //
      {peer + "bogus=true\n", kUapiErrnoInvalid},                                // unknown peer key
      {peer + "rx_bytes=1\n", kUapiErrnoInvalid},                                // get-only key
      {peer + "remove=false\n", kUapiErrnoInvalid},                              //
      {peer + "update_only=yes\n", kUapiErrnoInvalid},                           //
      {peer + "replace_allowed_ips=TRUE\n", kUapiErrnoInvalid},                  //
      {peer + "preshared_key=" + HexOf(1).substr(2) + "\n", kUapiErrnoInvalid},  //
      {peer + "persistent_keepalive_interval=65536\n", kUapiErrnoInvalid},       //
      {peer + "persistent_keepalive_interval=x\n", kUapiErrnoInvalid},           //
      {peer + "protocol_version=2\n", kUapiErrnoInvalid},                        //
      {peer + "endpoint=1.2.3.4\n", kUapiErrnoInvalid},                          // no port
      {peer + "endpoint=1.2.3.4:65536\n", kUapiErrnoInvalid},                    //
      {peer + "endpoint=1.2.3.4:\n", kUapiErrnoInvalid},                         //
      {peer + "endpoint=1.2.3:80\n", kUapiErrnoInvalid},                         //
      {peer + "endpoint=01.2.3.4:80\n", kUapiErrnoInvalid},                      //
      {peer + "endpoint=::1:80\n", kUapiErrnoInvalid},                           // IPv6 without brackets
      {peer + "endpoint=[1.2.3.4]:80\n", kUapiErrnoInvalid},                     // brackets with IPv4
      {peer + "endpoint=[::1]80\n", kUapiErrnoInvalid},                          //
      {peer + "endpoint=[fe80::1%eth0]:80\n", kUapiErrnoInvalid},                // zones unsupported
      {peer + "endpoint=example.com:80\n", kUapiErrnoInvalid},                   // no name resolution
      {peer + "allowed_ip=10.0.0.0\n", kUapiErrnoInvalid},                       // no length
      {peer + "allowed_ip=10.0.0.0/33\n", kUapiErrnoInvalid},                    //
      {peer + "allowed_ip=::/129\n", kUapiErrnoInvalid},                         //
      {peer + "allowed_ip=10.0.0.0/08\n", kUapiErrnoInvalid},                    // leading zero
      {peer + "allowed_ip=10.0.0.0/\n", kUapiErrnoInvalid},                      //
      {peer + "allowed_ip=10.0.0.0/-1\n", kUapiErrnoInvalid},                    //
      {peer + "allowed_ip=10.0.0/8\n", kUapiErrnoInvalid},                       //
      {peer + "allowed_ip=10.0.0.0/8,fd00::/8\n", kUapiErrnoInvalid},            // one prefix per line
      {peer + "allowed_ip=" + std::string(kUapiMaxLineLength, '1') + "\n", kUapiErrnoInvalid},  // overlong line
  };
  for (const BadCase& bad : cases) {
    int error_errno = 0;
    const Result<DeviceConfigChange> change = ParseSet(bad.body, error_errno);
    EXPECT_FALSE(change.ok()) << bad.body;
    EXPECT_EQ(error_errno, bad.expected_errno) << bad.body;
    if (!change.ok()) {
      EXPECT_NE(change.error().message().find("uapi set line"), std::string::npos);
    }
  }
  // The line count is bounded.
  std::string many = peer;
  for (size_t i = 0; i < kUapiMaxRequestLines; ++i) many += "persistent_keepalive_interval=1\n";
  int error_errno = 0;
  EXPECT_FALSE(ParseSet(many, error_errno).ok());
  EXPECT_EQ(error_errno, kUapiErrnoInvalid);
}

TEST(UapiParse, PrefixesAndEndpointsFormatCanonically) {
  DeviceConfig config = MustSet({}, "public_key=" + HexOf(1) +
                                        "\nendpoint=[2001:db8:0:0::1]:51820\nallowed_ip=10.1.2.3/8\n"
                                        "allowed_ip=2001:db8::ffff/32\nallowed_ip=192.168.1.1/32\nallowed_ip=::/0\n");
  const PeerConfig& peer = config.peers.at(Key(1));
  EXPECT_EQ(peer.allowed_ips.count(Prefix("10.0.0.0/8")), 1u);  // host bits masked
  const std::string get = SerializeGet(config);
  EXPECT_NE(get.find("endpoint=[2001:db8::1]:51820\n"), std::string::npos) << get;
  EXPECT_NE(get.find("allowed_ip=10.0.0.0/8\n"), std::string::npos) << get;
  EXPECT_NE(get.find("allowed_ip=2001:db8::/32\n"), std::string::npos) << get;
  EXPECT_NE(get.find("allowed_ip=192.168.1.1/32\n"), std::string::npos) << get;
  EXPECT_NE(get.find("allowed_ip=::/0\n"), std::string::npos) << get;
  EXPECT_EQ(peer.allowed_ips.size(), 4u);
}

// What `wg showconf` does with a `get`: keep the settable lines and send them back as a `set`.
std::string GetToSet(const std::string& get) {
  std::istringstream in(get);
  std::string line;
  std::string out;
  while (std::getline(in, line)) {
    if (line.empty() || line.starts_with("errno=") || line.starts_with("rx_bytes=") || line.starts_with("tx_bytes=") ||
        line.starts_with("last_handshake_time_")) {
      continue;
    }
    out += line + "\n";
  }
  return out;
}

TEST(UapiSerialize, GetRoundTripsThroughSet) {
  DeviceConfig config;
  config.private_key = TestPrivateKey();
  config.listen_port = 51820;
  config.fwmark = 0x1234;
  PeerConfig& a = config.peers[Key(0xa0)];
  a.preshared_key = PresharedKey(std::span<const uint8_t, kKeySize>(Key(7)));
  a.endpoint = UdpEndpoint{IpAddress::V4(192, 0, 2, 1), 51820};
  a.persistent_keepalive_interval = 25;
  a.allowed_ips = {Prefix("10.0.0.0/24"), Prefix("fd00::/64")};
  a.rx_bytes = 1000;
  a.tx_bytes = 2000;
  a.last_handshake_unix_nanos = 1'700'000'000'123'456'789;
  PeerConfig& b = config.peers[Key(0xb0)];
  b.allowed_ips = {Prefix("10.0.1.0/24")};

  const std::string get = SerializeGet(config);
  EXPECT_TRUE(get.starts_with("private_key=" + Hex(TestPrivateKey().span()) + "\nlisten_port=51820\nfwmark=4660\n"))
      << get;
  EXPECT_NE(get.find("public_key=" + HexOf(0xa0) + "\npreshared_key=" + HexOf(7) +
                     "\nprotocol_version=1\nendpoint=192.0.2.1:51820\nlast_handshake_time_sec=1700000000\n"
                     "last_handshake_time_nsec=123456789\ntx_bytes=2000\nrx_bytes=1000\n"
                     "persistent_keepalive_interval=25\nallowed_ip=10.0.0.0/24\nallowed_ip=fd00::/64\n"),
            std::string::npos)
      << get;
  EXPECT_NE(get.find("public_key=" + HexOf(0xb0) + "\npreshared_key=" + HexOf(0) + "\n"), std::string::npos);
  EXPECT_TRUE(get.ends_with("allowed_ip=10.0.1.0/24\nerrno=0\n\n")) << get;

  DeviceConfig copy = MustSet({}, GetToSet(get));
  // Counters are the data plane's, not configuration: carry them over, then the output must match exactly.
  for (auto& [key, peer] : copy.peers) {
    peer.rx_bytes = config.peers.at(key).rx_bytes;
    peer.tx_bytes = config.peers.at(key).tx_bytes;
    peer.last_handshake_unix_nanos = config.peers.at(key).last_handshake_unix_nanos;
  }
  EXPECT_EQ(SerializeGet(copy), get);
}

TEST(UapiSerialize, EmptyDevice) { EXPECT_EQ(SerializeGet({}), "errno=0\n\n"); }

TEST(UapiApply, PeerCreatedByPublicKeyAndUpdated) {
  DeviceConfig config = MustSet({}, "listen_port=1000\npublic_key=" + HexOf(1) + "\n");
  ASSERT_EQ(config.peers.size(), 1u);
  EXPECT_EQ(config.listen_port, 1000);
  config = MustSet(config, "public_key=" + HexOf(1) + "\npersistent_keepalive_interval=5\nallowed_ip=10.0.0.0/8\n");
  ASSERT_EQ(config.peers.size(), 1u);
  EXPECT_EQ(config.peers.at(Key(1)).persistent_keepalive_interval, 5);
  EXPECT_EQ(config.listen_port, 1000);  // untouched keys stay
  // Without replace_allowed_ips, allowed_ip adds.
  config = MustSet(config, "public_key=" + HexOf(1) + "\nallowed_ip=10.1.0.0/16\n");
  EXPECT_EQ(config.peers.at(Key(1)).allowed_ips.size(), 2u);
}

TEST(UapiApply, ReplacePeers) {
  DeviceConfig config = MustSet({}, "public_key=" + HexOf(1) + "\nallowed_ip=10.0.0.0/8\npublic_key=" + HexOf(2) +
                                        "\npersistent_keepalive_interval=9\n");
  ASSERT_EQ(config.peers.size(), 2u);
  // The peers named after replace_peers start from scratch, even one that existed.
  config = MustSet(config, "replace_peers=true\npublic_key=" + HexOf(2) + "\nallowed_ip=10.0.0.0/8\n");
  ASSERT_EQ(config.peers.size(), 1u);
  EXPECT_EQ(config.peers.at(Key(2)).persistent_keepalive_interval, 0);
  EXPECT_EQ(config.peers.at(Key(2)).allowed_ips.size(), 1u);
  config = MustSet(config, "replace_peers=true\n");
  EXPECT_TRUE(config.peers.empty());
}

TEST(UapiApply, RemoveIgnoresTheRestOfTheBlock) {
  DeviceConfig config = MustSet(
      {}, "public_key=" + HexOf(1) + "\nallowed_ip=10.0.0.0/8\npublic_key=" + HexOf(2) + "\nallowed_ip=10.1.0.0/16\n");
  config = MustSet(config, "public_key=" + HexOf(1) + "\nremove=true\nallowed_ip=10.2.0.0/16\nendpoint=1.1.1.1:1\n");
  ASSERT_EQ(config.peers.size(), 1u);
  EXPECT_EQ(config.peers.count(Key(2)), 1u);
  // Its prefix is free again.
  config = MustSet(config, "public_key=" + HexOf(2) + "\nallowed_ip=10.0.0.0/8\n");
  EXPECT_EQ(config.peers.at(Key(2)).allowed_ips.size(), 2u);
  // Removing an unknown peer is not an error, and does not create it.
  config = MustSet(config, "public_key=" + HexOf(9) + "\nremove=true\n");
  EXPECT_EQ(config.peers.count(Key(9)), 0u);
  // A later block for the same key in the same request creates it afresh.
  config = MustSet(config, "public_key=" + HexOf(2) + "\nremove=true\npublic_key=" + HexOf(2) + "\n");
  ASSERT_EQ(config.peers.count(Key(2)), 1u);
  EXPECT_TRUE(config.peers.at(Key(2)).allowed_ips.empty());
}

TEST(UapiApply, UpdateOnlyDoesNotCreate) {
  DeviceConfig config = MustSet({}, "public_key=" + HexOf(1) + "\n");
  config = MustSet(config, "public_key=" + HexOf(1) + "\nupdate_only=true\npersistent_keepalive_interval=7\n" +
                               "public_key=" + HexOf(2) + "\nupdate_only=true\nallowed_ip=10.0.0.0/8\n");
  ASSERT_EQ(config.peers.size(), 1u);
  EXPECT_EQ(config.peers.at(Key(1)).persistent_keepalive_interval, 7);
  // The ignored block's prefix went nowhere.
  EXPECT_TRUE(config.peers.at(Key(1)).allowed_ips.empty());
}

TEST(UapiApply, ReplaceAllowedIpsAndMovingPrefixes) {
  DeviceConfig config = MustSet({}, "public_key=" + HexOf(1) + "\nallowed_ip=10.0.0.0/8\nallowed_ip=fd00::/8\n");
  config = MustSet(config, "public_key=" + HexOf(1) + "\nreplace_allowed_ips=true\nallowed_ip=192.168.0.0/16\n");
  EXPECT_EQ(config.peers.at(Key(1)).allowed_ips, (std::set<IpPrefix>{Prefix("192.168.0.0/16")}));
  // replace_allowed_ips with nothing after it empties the list.
  DeviceConfig cleared = MustSet(config, "public_key=" + HexOf(1) + "\nreplace_allowed_ips=true\n");
  EXPECT_TRUE(cleared.peers.at(Key(1)).allowed_ips.empty());
  // A prefix belongs to one peer: giving it to another takes it away (host bits do not matter).
  config = MustSet(config, "public_key=" + HexOf(2) + "\nallowed_ip=192.168.7.7/16\n");
  EXPECT_TRUE(config.peers.at(Key(1)).allowed_ips.empty());
  EXPECT_EQ(config.peers.at(Key(2)).allowed_ips, (std::set<IpPrefix>{Prefix("192.168.0.0/16")}));
  // Re-adding one's own prefix is a no-op.
  config = MustSet(config, "public_key=" + HexOf(2) + "\nallowed_ip=192.168.0.0/16\n");
  EXPECT_EQ(config.peers.at(Key(2)).allowed_ips.size(), 1u);
}

TEST(UapiApply, PresharedKeyZeroRemovesIt) {
  DeviceConfig config = MustSet({}, "public_key=" + HexOf(1) + "\npreshared_key=" + HexOf(5) + "\n");
  ASSERT_TRUE(config.peers.at(Key(1)).preshared_key.has_value());
  EXPECT_EQ(Hex(config.peers.at(Key(1)).preshared_key->span()), HexOf(5));
  config = MustSet(config, "public_key=" + HexOf(1) + "\npreshared_key=" + HexOf(0) + "\n");
  EXPECT_FALSE(config.peers.at(Key(1)).preshared_key.has_value());
}

TEST(UapiApply, PrivateKeyClampedZeroedAndNeverItsOwnPeer) {
  const PrivateKey private_key = TestPrivateKey();
  const Result<PublicKey> own_public = DerivePublicKey(private_key);
  ASSERT_TRUE(own_public.ok());
  // The device's own public key as a peer: parsed, ignored.
  DeviceConfig config = MustSet({}, "private_key=" + Hex(private_key.span()) + "\npublic_key=" + Hex(*own_public) +
                                        "\nallowed_ip=10.0.0.0/8\npublic_key=" + HexOf(1) + "\n");
  ASSERT_EQ(config.peers.size(), 1u);
  EXPECT_EQ(config.peers.count(Key(1)), 1u);
  // Setting a private key whose public key is an existing peer removes that peer.
  config = MustSet({}, "public_key=" + Hex(*own_public) + "\n");
  ASSERT_EQ(config.peers.size(), 1u);
  config = MustSet(config, "private_key=" + Hex(private_key.span()) + "\n");
  EXPECT_TRUE(config.peers.empty());
  // Keys are clamped, as X25519 uses them.
  config = MustSet(config, "private_key=" + std::string(64, 'f') + "\n");
  ASSERT_TRUE(config.private_key.has_value());
  EXPECT_EQ(Hex(config.private_key->span()), "f8" + std::string(60, 'f') + "7f");
  // All zeros removes the key; get then omits it.
  config = MustSet(config, "private_key=" + HexOf(0) + "\n");
  EXPECT_FALSE(config.private_key.has_value());
  EXPECT_EQ(SerializeGet(config), "errno=0\n\n");
}

TEST(UapiApply, AllOrNothingWhenATableIsFull) {
  DeviceConfig config;
  config.listen_port = 1;
  PeerConfig& full = config.peers[Key(1)];
  for (uint32_t i = 0; i < kUapiMaxAllowedIps; ++i) {
    full.allowed_ips.insert(IpPrefix{IpAddress::V4(0x0a000000u + i), 32});
  }
  const DeviceConfig before = config;
  const Result<DeviceConfigChange> change =
      ParseSet("listen_port=2\npublic_key=" + HexOf(2) + "\nallowed_ip=192.168.0.0/16\n");
  ASSERT_TRUE(change.ok());
  const Status status = Apply(*change, config);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("too many allowed IPs"), std::string::npos) << status.message();
  EXPECT_EQ(config.listen_port, 1);
  EXPECT_EQ(config.peers.size(), 1u);
  EXPECT_EQ(SerializeGet(config), SerializeGet(before));
  // Moving an existing prefix does not need room.
  EXPECT_TRUE(Apply(*ParseSet("public_key=" + HexOf(2) + "\nallowed_ip=10.0.0.0/32\n"), config).ok());
  EXPECT_EQ(config.peers.at(Key(2)).allowed_ips.size(), 1u);
}

// A connection carrying several requests of every kind; its replies, fed whole.
const std::string& Conversation() {
  static const std::string conversation =
      "get=1\n\n"
      "set=1\nlisten_port=51820\npublic_key=" +
      HexOf(1) +
      "\nallowed_ip=10.0.0.0/24\nendpoint=[::1]:1\n\n"
      "set=1\n\n"
      "set=1\nlisten_port=99999\n\n"  // rejected: nothing of it applies
      "set=1\npublic_key=" +
      HexOf(2) +
      "\nnot a line\n\n"
      "get=1\n\n";
  return conversation;
}

TEST(UapiSession, SeveralRequestsOnOneConnection) {
  DeviceConfig config;
  UapiSession session(config);
  const std::string reply = session.Feed(Conversation());
  EXPECT_FALSE(session.closed());
  ASSERT_EQ(config.peers.size(), 1u);
  EXPECT_EQ(config.listen_port, 51820);
  const std::string expected =
      "errno=0\n\n"
      "errno=0\n\nerrno=0\n\nerrno=22\n\nerrno=71\n\n" +
      SerializeGet(config);
  EXPECT_EQ(reply, expected);
}

TEST(UapiSession, InputSplitAtEveryByte) {
  DeviceConfig whole_config;
  const std::string whole = UapiSession(whole_config).Feed(Conversation());
  const std::string& input = Conversation();
  for (size_t split = 0; split <= input.size(); ++split) {
    DeviceConfig config;
    UapiSession session(config);
    std::string reply = session.Feed(std::string_view(input).substr(0, split));
    reply += session.Feed(std::string_view(input).substr(split));
    ASSERT_EQ(reply, whole) << "split at " << split;
    ASSERT_FALSE(session.closed());
  }
  DeviceConfig config;
  UapiSession session(config);
  std::string reply;
  for (char c : input) reply += session.Feed(std::string_view(&c, 1));
  EXPECT_EQ(reply, whole);
  EXPECT_EQ(SerializeGet(config), SerializeGet(whole_config));
}

TEST(UapiSession, UnknownOperationClosesWithoutReply) {
  for (const std::string input : {"gte=1\n\n", "set=2\n", "x", "\n", "GET=1\n\n"}) {
    DeviceConfig config;
    UapiSession session(config);
    EXPECT_EQ(session.Feed(input), "") << input;
    EXPECT_TRUE(session.closed()) << input;
    EXPECT_EQ(session.Feed("get=1\n\n"), "");  // nothing more is read
  }
  // A valid request before the bad one is still answered.
  DeviceConfig config;
  UapiSession session(config);
  EXPECT_EQ(session.Feed("get=1\n\nbogus"), "errno=0\n\n");
  EXPECT_TRUE(session.closed());
}

TEST(UapiSession, GetWithTrailingCharacterIsInvalid) {
  DeviceConfig config;
  UapiSession session(config);
  EXPECT_EQ(session.Feed("get=1\n"), "");
  EXPECT_FALSE(session.closed());
  EXPECT_EQ(session.Feed("x"), "errno=22\n\n");
  EXPECT_TRUE(session.closed());
}

TEST(UapiSession, BufferingIsBounded) {
  {
    // One endless line.
    DeviceConfig config;
    UapiSession session(config);
    EXPECT_EQ(session.Feed("set=1\nallowed_ip="), "");
    const std::string reply = session.Feed(std::string(kUapiMaxLineLength, '1'));
    EXPECT_EQ(reply, "errno=22\n\n");
    EXPECT_TRUE(session.closed());
  }
  {
    // Many short lines never followed by a blank one.
    DeviceConfig config;
    UapiSession session(config);
    std::string reply = session.Feed("set=1\n");
    std::string lines;
    for (int i = 0; i < 200; ++i) lines += "persistent_keepalive_interval=1\n";
    for (size_t fed = 0; fed <= kUapiMaxRequestBytes && reply.empty(); fed += lines.size())
      reply += session.Feed(lines);
    EXPECT_EQ(reply, "errno=22\n\n");
    EXPECT_TRUE(session.closed());
    EXPECT_TRUE(config.peers.empty());
  }
  {
    // An oversized request arriving whole, terminated.
    DeviceConfig config;
    UapiSession session(config);
    std::string request = "set=1\npublic_key=" + HexOf(1) + "\n";
    while (request.size() <= kUapiMaxRequestBytes + 6) request += "persistent_keepalive_interval=1\n";
    EXPECT_EQ(session.Feed(request + "\n"), "errno=22\n\n");
    EXPECT_TRUE(session.closed());
    EXPECT_TRUE(config.peers.empty());
  }
}

}  // namespace
}  // namespace cloudlet::vpn

namespace cloudlet::vpn {
namespace {

TEST(UapiGetReply, ParsesWhatSerializeGetWritesWithoutKeepingThePrivateKey) {
  DeviceConfig config;
  auto priv = GeneratePrivateKey();
  ASSERT_TRUE(priv.ok());
  config.private_key = *priv;
  config.listen_port = 51820;
  config.fwmark = 7;
  PeerConfig& peer = config.peers[PublicKey{1, 2, 3}];
  peer.endpoint = UdpEndpoint{*ParseIpAddress("fd00::5"), 4000};
  peer.allowed_ips = {IpPrefix{*ParseIpAddress("10.0.0.0"), 24}, IpPrefix{*ParseIpAddress("fd00::"), 64}};
  peer.rx_bytes = 11;
  peer.tx_bytes = 22;
  peer.last_handshake_unix_nanos = 1'700'000'000'123'000'000;
  peer.persistent_keepalive_interval = 25;
  peer.preshared_key = PresharedKey();
  peer.preshared_key->data()[0] = 9;
  config.peers[PublicKey{4}];

  auto status = ParseGetReply(SerializeGet(config));
  ASSERT_TRUE(status.ok()) << status.error().message();
  ASSERT_TRUE(status->public_key.has_value());
  EXPECT_EQ(*status->public_key, *DerivePublicKey(*priv));
  EXPECT_EQ(status->listen_port, 51820);
  EXPECT_EQ(status->fwmark, 7u);
  ASSERT_EQ(status->peers.size(), 2u);
  const UapiPeerStatus& p = status->peers[0];
  EXPECT_EQ(p.public_key, (PublicKey{1, 2, 3}));
  EXPECT_EQ(FormatEndpoint(*p.endpoint), "[fd00::5]:4000");
  ASSERT_EQ(p.allowed_ips.size(), 2u);
  EXPECT_EQ(FormatIpPrefix(p.allowed_ips[0]), "10.0.0.0/24");
  EXPECT_EQ(p.rx_bytes, 11u);
  EXPECT_EQ(p.tx_bytes, 22u);
  EXPECT_EQ(p.last_handshake_unix_sec, 1'700'000'000);
  EXPECT_EQ(p.persistent_keepalive, 25);
  EXPECT_TRUE(p.has_preshared_key);
  EXPECT_FALSE(status->peers[1].has_preshared_key);
  EXPECT_FALSE(status->peers[1].endpoint.has_value());
}

TEST(UapiGetReply, RejectsErrorsAndGarbage) {
  EXPECT_FALSE(ParseGetReply("errno=22\n\n").ok());
  EXPECT_FALSE(ParseGetReply("listen_port=1\n").ok());                 // truncated: no errno line
  EXPECT_FALSE(ParseGetReply("public_key=zz\nerrno=0\n\n").ok());      // bad key
  EXPECT_FALSE(ParseGetReply("listen_port=70000\nerrno=0\n\n").ok());  // out of range
  EXPECT_FALSE(ParseGetReply("no equals sign\nerrno=0\n\n").ok());
  EXPECT_TRUE(ParseGetReply("some_future_key=1\nerrno=0\n\n").ok());  // unknown keys are skipped
}

}  // namespace
}  // namespace cloudlet::vpn
