// The declarative model of one host's cloud, as written in the YAML file (see examples/quickstart.yaml and
// docs/CONFIG.md). Every declaration remembers where it came from, so errors can name file, line and field.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"

namespace cloudlet {

struct SourceLoc {
  std::string file;
  int line = 0;  // 1-based; 0 when unknown (e.g. built in code)
  // Line of each key written in the declaration ("vlan" -> 14), so a later check can point at the exact line.
  // A key present here was written explicitly, even if its value equals the default.
  std::map<std::string, int> field_lines;

  // Line of `field` if it was written, else the declaration's line.
  int line_of(const std::string& field) const {
    auto it = field_lines.find(field);
    return it == field_lines.end() ? line : it->second;
  }
  bool has(const std::string& field) const { return field_lines.count(field) != 0; }
  bool operator==(const SourceLoc&) const = default;
};

enum class PortModeDecl : uint8_t { kAccess, kTrunk, kDot1qTunnel };

struct VlanDecl {
  uint16_t id = 0;
  std::string name;
  SourceLoc loc;

  bool operator==(const VlanDecl&) const = default;
};

// A port on a switch that attaches an existing host interface, or creates a TAP device.
struct PortDecl {
  std::string name;
  std::string interface;  // existing kernel interface (AF_PACKET); exclusive with `tap`
  std::string tap;        // TAP device to create
  PortModeDecl mode = PortModeDecl::kAccess;
  uint16_t vlan = 0;                 // access VLAN / dot1q-tunnel service VLAN
  std::vector<uint16_t> vlans;       // trunk: allowed VLANs
  uint16_t native_vlan = 0;          // trunk: 0 = none
  uint16_t tpid = 0x8100;            // trunk: 0x8100 (802.1Q) or 0x88a8 (802.1ad)
  std::optional<uint32_t> max_macs;  // default: the switch's port_max_macs
  SourceLoc loc;

  bool operator==(const PortDecl&) const = default;
};

struct SwitchDecl {
  std::string name;
  uint32_t max_macs = 8192;
  uint32_t port_max_macs = 1024;
  uint32_t mac_aging_seconds = 300;
  std::vector<PortDecl> ports;
  SourceLoc loc;

  bool operator==(const SwitchDecl&) const = default;
};

// A trunk between two switches on this host (a veth pair, one end a trunk port on each switch).
struct LinkDecl {
  std::string name;
  std::string a, b;  // switch names
  std::vector<uint16_t> vlans;
  uint16_t native_vlan = 0;
  uint16_t tpid = 0x8100;
  SourceLoc loc;

  bool operator==(const LinkDecl&) const = default;
};

// A workload's network attachment. For now a network namespace with a veth whose other end is an access port.
struct EndpointDecl {
  std::string name;
  std::string switch_name;
  uint16_t vlan = 0;
  std::string netns;                   // default: the endpoint's name
  std::string interface = "eth0";      // name inside the namespace
  std::vector<std::string> addresses;  // CIDR, IPv4 or IPv6, e.g. "10.10.0.11/24"
  std::string gateway;                 // optional default route
  std::string mac;                     // optional fixed MAC, "02:..."
  uint32_t mtu = 1500;
  SourceLoc loc;

  bool operator==(const EndpointDecl&) const = default;
};

// A remote WireGuard peer of a VPN. Keys are public or live in files: the model never holds a secret.
struct VpnPeerDecl {
  std::string name;
  std::string public_key;                // base64, 44 characters
  std::vector<std::string> allowed_ips;  // CIDR
  std::string endpoint;                  // optional "203.0.113.5:51820" or "[2001:db8::1]:51820"
  uint32_t persistent_keepalive = 0;     // seconds; 0 = off
  std::string preshared_key_file;        // optional
  SourceLoc loc;

  bool operator==(const VpnPeerDecl&) const = default;
};

// Where a VPN's traffic enters the cloud: an access port on a switch, and the gateway's address in that VLAN.
struct VpnAttachDecl {
  std::string switch_name;
  uint16_t vlan = 0;
  std::string address;  // CIDR
  SourceLoc loc;

  bool operator==(const VpnAttachDecl&) const = default;
};

// A WireGuard interface run by the daemon: its UDP port faces the host's uplink, its TUN sits in a small gateway
// namespace that routes between the peers and the attached VLAN.
struct VpnDecl {
  std::string name;
  uint32_t listen_port = 0;
  std::string private_key_file;  // a 0600 file as `cloudlet vpn genkey` writes it; only the path is kept
  std::string address;           // CIDR: the gateway's address on the tunnel side
  VpnAttachDecl attach;
  std::vector<VpnPeerDecl> peers;
  uint32_t mtu = 1420;
  SourceLoc loc;

  bool operator==(const VpnDecl&) const = default;
};

struct CloudConfig {
  std::string source;  // file the config was read from
  std::vector<VlanDecl> vlans;
  std::vector<SwitchDecl> switches;
  std::vector<LinkDecl> links;
  std::vector<EndpointDecl> endpoints;
  std::vector<VpnDecl> vpns;

  bool operator==(const CloudConfig&) const = default;
};

}  // namespace cloudlet
