// Reading, validating and (de)serializing the declarative model (config/model.h).
//
// ParseConfig/LoadConfig turn YAML into a CloudConfig; FromJson does the same for the JSON the CLI sends to the
// daemon. Both run the same model checks (ValidateConfig) and either accept the whole config or return one Error
// listing every problem found, one per line, as "FILE:LINE: FIELD: message", e.g.
//   quickstart.yaml:12: vlans[2].id: 4095 out of range 1-4094
// ValidateHost checks what only the running host can tell (do the named host interfaces exist?).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "config/model.h"

namespace cloudlet {

// Bounds on every table, so a config (from a file or the network) cannot make cloudlet allocate without limit.
namespace config_limits {
inline constexpr size_t kMaxFileBytes = 16 << 20;  // room for tens of thousands of firewall rules
inline constexpr size_t kMaxVlans = 4094;
inline constexpr size_t kMaxSwitches = 64;
inline constexpr size_t kMaxPortsPerSwitch = 1024;
inline constexpr size_t kMaxLinks = 256;
inline constexpr size_t kMaxEndpoints = 4096;
inline constexpr size_t kMaxAddressesPerEndpoint = 32;
inline constexpr size_t kMaxVlanListEntries = 1 << 18;  // all `vlans:` lists of ports and links, ranges expanded
inline constexpr uint32_t kMaxMacs = 1048576;           // max_macs, port_max_macs
inline constexpr uint32_t kMinMacAgingSeconds = 10;
inline constexpr uint32_t kMaxMacAgingSeconds = 1000000;
inline constexpr uint32_t kMinMtu = 576;
inline constexpr uint32_t kMaxMtu = 9000;
inline constexpr size_t kMaxReportedProblems = 20;
inline constexpr size_t kMaxVpns = 64;
inline constexpr size_t kMaxPeersPerVpn = 1024;
inline constexpr size_t kMaxAllowedIpsPerPeer = 64;
inline constexpr uint32_t kMinVpnMtu = 1280;  // IPv6's minimum
inline constexpr uint32_t kMaxVpnMtu = 8920;
inline constexpr size_t kMaxRoutedVlans = 4094;
inline constexpr size_t kMaxStaticRoutes = 1024;
inline constexpr size_t kMaxPortForwards = 256;
inline constexpr size_t kMaxFirewallRules = 65536;
inline constexpr size_t kMaxAddressSets = 4096;
inline constexpr size_t kMaxAddressSetEntries = 65536;  // over all sets
inline constexpr size_t kMaxRuleListEntries = 1024;     // per from/to/src/dst/sport/dport list of one rule
inline constexpr size_t kMaxDhcpDns = 8;
inline constexpr size_t kMaxDhcpReservations = 4096;  // per VLAN
inline constexpr uint32_t kMinDhcpLeaseSeconds = 60;
inline constexpr uint32_t kMaxDhcpLeaseSeconds = 30 * 86400;
inline constexpr uint32_t kMinMaxConnections = 1024;
inline constexpr uint32_t kMaxMaxConnections = 16777216;
inline constexpr size_t kMaxContainerEnv = 256;
inline constexpr size_t kMaxContainerMounts = 64;
inline constexpr size_t kMaxContainerArgs = 256;                     // per command / entrypoint
inline constexpr uint64_t kMinContainerMemory = 4 << 20;             // below this a container barely starts
inline constexpr uint64_t kMaxContainerMemory = uint64_t{1} << 50;   // 1 PiB: no host has more
inline constexpr uint64_t kMaxContainerNanoCpus = 1024'000'000'000;  // 1024 CPUs
inline constexpr uint32_t kMaxContainerPids = 4194304;               // the kernel's PID_MAX_LIMIT
}  // namespace config_limits

// TPIDs a trunk may use (in their own namespace: switch/vlan_switch.h defines kTpid8021Q for the data plane, and a
// file may include both headers).
namespace config_tpid {
inline constexpr uint16_t k8021Q = 0x8100;
inline constexpr uint16_t k8021AD = 0x88a8;
}  // namespace config_tpid

// Parses and validates a YAML document. `filename` is only used in messages and SourceLoc.
Result<CloudConfig> ParseConfig(std::string_view yaml_text, const std::string& filename);
// Reads `path` and parses it; messages name the file as given ("quickstart.yaml: No such file or directory").
Result<CloudConfig> LoadConfig(const std::string& path);

// The model checks on their own (ranges, names, references, duplicates, mode consistency, loops between links).
// Used by ParseConfig and FromJson; useful for configs built in code.
Status ValidateConfig(const CloudConfig& config);

// What ValidateHost needs to know about the host; faked in tests.
class HostProbe {
 public:
  virtual ~HostProbe() = default;
  virtual bool interface_exists(const std::string& name) const = 0;
  // Why a VPN key file is unusable ("" if fine): missing, unreadable, not a key, or readable by group/others.
  // The default looks at the real file, which fakes of the interface check usually want too.
  virtual std::string key_file_problem(const std::string& path) const;
};

// The real host, in the caller's network namespace (if_nametoindex).
class SystemHostProbe final : public HostProbe {
 public:
  bool interface_exists(const std::string& name) const override;
};

// Checks that every `interface:` of a port exists on the host, and that every VPN key file (private and preshared)
// exists, holds one base64 key and is readable by its owner only. Interfaces cloudlet creates itself (TAPs, the
// veths of endpoints and links) are not checked.
Status ValidateHost(const CloudConfig& config, const HostProbe& host);

// Lossless JSON form of the model, SourceLoc included, so the daemon's messages still point into the YAML file.
nlohmann::json ToJson(const CloudConfig& config);
// Decodes and re-validates (the daemon trusts nothing): unknown keys, wrong types and every ValidateConfig rule are
// errors. FromJson(ToJson(c)) == c for every valid c.
Result<CloudConfig> FromJson(const nlohmann::json& json);

// "access" | "trunk" | "dot1q-tunnel".
const char* PortModeName(PortModeDecl mode);
// "accept" | "drop" | "reject".
const char* FirewallActionName(FirewallActionDecl action);
// "no" | "always" | "on-failure".
const char* RestartPolicyName(RestartPolicyDecl policy);

// A VLAN is routed when the router has an address on it (ipv4 and/or ipv6).
bool VlanRouted(const VlanDecl& vlan);
// The firewall zone of a VLAN: `zone`, else its name, else "vlan<ID>".
std::string VlanZone(const VlanDecl& vlan);
// Every firewall zone: those of routed VLANs in VLAN order (each once), then the uplink's. A VPN attached to a routed
// VLAN is in that VLAN's zone.
std::vector<std::string> ZoneNames(const CloudConfig& config);

}  // namespace cloudlet
