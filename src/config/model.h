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

// A fixed lease of the DHCP server: always this address for this MAC.
struct DhcpReservationDecl {
  std::string mac;      // "52:54:00:00:00:01"
  std::string address;  // IPv4, inside the VLAN's subnet
  SourceLoc loc;

  bool operator==(const DhcpReservationDecl&) const = default;
};

// The router's DHCPv4 server on a routed VLAN.
struct DhcpDecl {
  std::string range;  // "10.10.0.100-10.10.0.199": inside the subnet, first <= last, not holding the gateway
  uint32_t lease_seconds = 3600;
  std::vector<std::string> dns;  // IPv4 addresses handed out as DNS servers
  std::string domain;            // optional DNS domain
  std::vector<DhcpReservationDecl> reservations;
  SourceLoc loc;

  bool operator==(const DhcpDecl&) const = default;
};

struct VlanDecl {
  uint16_t id = 0;
  std::string name;
  // L3: a VLAN with ipv4 and/or ipv6 is routed: the router has that address on it (the hosts' gateway).
  std::string zone;  // firewall zone; "" = the default (VlanZone() in config.h)
  std::string ipv4;  // CIDR, e.g. "10.10.0.1/24"
  std::string ipv6;  // CIDR, e.g. "fd00:10::1/64"
  uint32_t mtu = 1500;
  std::optional<DhcpDecl> dhcp;
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

// When the daemon starts a container again after its process exits (Docker's restart policies).
enum class RestartPolicyDecl : uint8_t { kNo, kAlways, kOnFailure };

// A bind mount of a host path into a container.
struct ContainerMountDecl {
  std::string source;  // host path: absolute, no ".." components
  std::string target;  // path inside the container: absolute, no ".." components, not "/"
  bool read_only = false;
  SourceLoc loc;

  bool operator==(const ContainerMountDecl&) const = default;
};

// A container that runs in its endpoint's network namespace, from an image in the local store. Everything left unset
// comes from the image's config (Docker semantics: `entrypoint` given means the image's Cmd is not used either).
struct ContainerDecl {
  std::string image;                                   // [registry/]repo[:tag][@sha256:HEX], e.g. "busybox:latest"
  std::optional<std::vector<std::string>> command;     // replaces the image's Cmd; [] = none
  std::optional<std::vector<std::string>> entrypoint;  // replaces the image's Entrypoint; [] = none
  std::map<std::string, std::string> env;              // added to the image's Env, overriding same-named variables
  std::string workdir;                                 // absolute; "" = the image's WorkingDir
  std::optional<uint32_t> uid;                         // numeric `user`; unset = the image's User
  std::optional<uint32_t> gid;                         // only with uid; unset = uid's group from the image, else 0
  std::string hostname;                                // default: the endpoint's name
  uint64_t memory_bytes = 0;                           // memory limit; 0 = none
  uint64_t nano_cpus = 0;                              // CPU limit in billionths of a CPU (Docker's NanoCpus); 0 = none
  std::string cpuset;                                  // CPU list, "0-1,4"; "" = any CPU
  uint32_t pids = 0;                                   // limit on processes/threads; 0 = none
  RestartPolicyDecl restart = RestartPolicyDecl::kNo;
  bool read_only = false;  // read-only root filesystem
  std::vector<ContainerMountDecl> mounts;
  SourceLoc loc;

  bool operator==(const ContainerDecl&) const = default;
};

// A workload's network attachment: a network namespace with a veth whose other end is an access port; with
// `container`, a container runs inside that namespace.
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
  std::optional<ContainerDecl> container;
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

// The router's interface towards the outside: an existing host interface it owns.
struct UplinkDecl {
  std::string interface;
  std::string zone = "uplink";
  std::string ipv4;      // CIDR; at least one of ipv4/ipv6
  std::string gateway4;  // optional IPv4 default route, inside ipv4's subnet
  std::string ipv6;      // CIDR
  std::string gateway6;  // optional IPv6 default route, inside ipv6's subnet
  uint32_t mtu = 1500;
  SourceLoc loc;

  bool operator==(const UplinkDecl&) const = default;
};

struct StaticRouteDecl {
  std::string to;   // prefix, host bits zero: "10.99.0.0/16"
  std::string via;  // next hop, inside a routed VLAN's or the uplink's subnet of the same family
  SourceLoc loc;

  bool operator==(const StaticRouteDecl&) const = default;
};

// IP protocol numbers the model names.
namespace ip_proto {
inline constexpr uint8_t kIcmp = 1;
inline constexpr uint8_t kTcp = 6;
inline constexpr uint8_t kUdp = 17;
inline constexpr uint8_t kIcmpv6 = 58;
}  // namespace ip_proto

struct PortRangeDecl {
  uint16_t lo = 0, hi = 0;  // inclusive; a single port is lo == hi

  bool operator==(const PortRangeDecl&) const = default;
};

// DNAT from the uplink: proto/port on the uplink address to `to`:to_port.. inside a routed VLAN.
struct PortForwardDecl {
  uint8_t proto = ip_proto::kTcp;  // kTcp or kUdp
  PortRangeDecl port;
  std::string to;        // an address inside a routed VLAN's subnet
  uint16_t to_port = 0;  // first destination port; defaults to port.lo (a range maps onto to_port..)
  SourceLoc loc;

  bool operator==(const PortForwardDecl&) const = default;
};

// The L3 router: one per host, attached to one switch as a trunk port carrying every routed VLAN.
struct RouterDecl {
  std::string switch_name;
  std::string mac;  // optional; "" = derived by the planner
  std::optional<UplinkDecl> uplink;
  std::vector<StaticRouteDecl> routes;
  std::vector<std::string> masquerade;  // zones whose new connections out of the uplink are SNATed to its address
  std::vector<PortForwardDecl> port_forwards;
  SourceLoc loc;

  bool operator==(const RouterDecl&) const = default;
};

enum class FirewallActionDecl : uint8_t { kAccept, kDrop, kReject };

// A named list of addresses and prefixes that rules reference as "@name".
struct AddressSetDecl {
  std::string name;
  std::vector<std::string> entries;  // "10.10.0.5", "10.20.0.0/24", "fd00::/8"
  SourceLoc loc;

  bool operator==(const AddressSetDecl&) const = default;
};

// The default action for new connections from one zone to another ("any" matches every zone).
struct PolicyDecl {
  std::string from, to;
  FirewallActionDecl action = FirewallActionDecl::kDrop;
  SourceLoc loc;

  bool operator==(const PolicyDecl&) const = default;
};

// One rule; rules are tried in order for new connections, the first match decides. Empty lists match anything.
struct FirewallRuleDecl {
  std::string name;               // optional, unique when given
  std::vector<std::string> from;  // zones ("any" allowed)
  std::vector<std::string> to;
  std::vector<std::string> src;  // addresses, prefixes and "@set"
  std::vector<std::string> dst;
  uint8_t family = 0;  // 0 = as the addresses imply (or both), 4 or 6
  std::optional<uint8_t> proto;
  std::vector<PortRangeDecl> sport, dport;  // need proto tcp or udp
  std::optional<uint8_t> icmp_type;         // need proto icmp or icmpv6; names are resolved by the reader
  std::optional<uint8_t> icmp_code;
  std::optional<FirewallActionDecl> action;  // required; optional only so a missing one can be reported
  bool log = false;
  SourceLoc loc;

  bool operator==(const FirewallRuleDecl&) const = default;
};

struct FirewallDecl {
  uint32_t max_connections = 262144;
  std::vector<AddressSetDecl> sets;  // in the order written
  std::vector<PolicyDecl> policies;
  std::vector<FirewallRuleDecl> rules;
  SourceLoc loc;

  bool operator==(const FirewallDecl&) const = default;
};

struct CloudConfig {
  std::string source;  // file the config was read from
  std::vector<VlanDecl> vlans;
  std::vector<SwitchDecl> switches;
  std::vector<LinkDecl> links;
  std::vector<EndpointDecl> endpoints;
  std::vector<VpnDecl> vpns;
  std::optional<RouterDecl> router;
  std::optional<FirewallDecl> firewall;

  bool operator==(const CloudConfig&) const = default;
};

}  // namespace cloudlet
