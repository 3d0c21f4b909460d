// The reconciler's pure half: given what a project's YAML asks for, what cloudlet recorded having created, and what
// the host looks like now, it computes the ordered kernel actions that converge the host, and the switches the data
// plane should run. No I/O here — the executor (reconciler.h) observes the host and carries the actions out — so
// every rule (idempotence, "down removes only what up created", name collisions) is unit-tested in process.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "base/status.h"
#include "config/model.h"
#include "control/state_store.h"
#include "hostnet/host_net.h"

namespace cloudlet {

// Veths between switches carry QinQ-tagged full-size frames: 1500 + two 4-byte tags.
constexpr uint32_t kLinkMtu = 1508;

// ---- What the data plane should run (mirrors dataplane/dataplane.h without depending on it) ----

enum class PortPlanKind : uint8_t { kAfPacket, kTap, kRouter };

struct PortPlan {
  std::string name;  // logical port name: the endpoint, link or declared port name
  PortPlanKind kind = PortPlanKind::kAfPacket;
  std::string ifname;    // kernel interface to attach (AF_PACKET) or create (TAP); kRouter: its uplink ("" = none)
  std::string instance;  // kRouter: RouterPortKey(project)
  PortModeDecl mode = PortModeDecl::kAccess;
  uint16_t vlan = 0;
  std::vector<uint16_t> vlans;
  uint16_t native_vlan = 0;
  uint16_t tpid = 0x8100;
  uint32_t max_macs = 1024;
  bool operator==(const PortPlan&) const = default;
};

struct SwitchPlan {
  std::string name;
  std::string project;
  uint32_t max_macs = 8192;
  uint32_t mac_aging_seconds = 300;
  std::vector<PortPlan> ports;
  bool operator==(const SwitchPlan&) const = default;
};

// The switches of one project: declared ports as declared, one access port per endpoint (named after it, on its
// veth's host end), one trunk port per link end.
std::vector<SwitchPlan> BuildSwitchPlans(const std::string& project, const CloudConfig& cfg);

// ---- What the VPN runtime should run (one WireGuard interface per declared vpn) ----

struct VpnPeerPlan {
  std::string name;
  std::string public_key;                // base64
  std::vector<std::string> allowed_ips;  // CIDR, canonical text
  std::string endpoint;                  // "" = none
  uint16_t persistent_keepalive = 0;
  std::string preshared_key_file;  // "" = none
  bool operator==(const VpnPeerPlan&) const = default;
};

struct VpnPlan {
  std::string name;
  std::string project;
  std::string ifname;  // the TUN, inside `netns`; also the UAPI socket's name
  std::string netns;   // the gateway namespace (created by the host actions before the runtime runs)
  uint16_t listen_port = 0;
  std::string private_key_file;  // read by the runtime; the key itself is never part of a plan
  std::string address;           // CIDR on the TUN
  uint32_t mtu = 1420;
  std::vector<VpnPeerPlan> peers;
  bool operator==(const VpnPlan&) const = default;
};

std::vector<VpnPlan> BuildVpnPlans(const std::string& project, const CloudConfig& cfg);

// Human-readable differences between two sets of switches ("started switch sw1 (3 ports)", "stopped switch sw2",
// "added port a3 to sw1", "updated port uplink on sw1", "removed port a2 from sw1").
std::vector<std::string> DescribeSwitchChanges(const std::vector<SwitchPlan>& before,
                                               const std::vector<SwitchPlan>& after);

// ---- What the host looks like ----

using IfKey = std::pair<std::string, std::string>;  // (netns, ifname); netns "" = the daemon's namespace

struct HostView {
  std::set<std::string> netns;                          // namespaces that exist
  std::map<IfKey, LinkInfo> links;                      // interfaces that exist
  std::map<IfKey, std::vector<std::string>> addresses;  // their addresses (CIDR)
};

// What the executor must look at before planning a project.
struct ObservationTargets {
  std::set<std::string> netns;
  std::set<IfKey> links;  // GetLink, and ListAddresses for endpoint peers
  std::set<IfKey> addresses;
};
ObservationTargets TargetsFor(const std::string& project, const CloudConfig* desired, const ProjectRecord* recorded);

// ---- Kernel actions ----

enum class ActionKind : uint8_t {
  kCreateNetns,
  kDeleteNetns,
  kCreateVeth,
  kDeleteLink,
  kSetMtu,
  kSetLinkUp,
  kDisableIpv6,
  kReplaceAddresses,
  kSetDefaultRoute,
};

struct Action {
  ActionKind kind;
  std::string netns;                   // namespace the action happens in
  std::string ifname;                  // interface it concerns
  VethSpec veth;                       // kCreateVeth
  uint32_t mtu = 0;                    // kSetMtu
  std::vector<std::string> addresses;  // kReplaceAddresses
  std::string gateway;                 // kSetDefaultRoute
  bool quiet = false;  // a detail of the action before it (bringing a new veth up), not reported on its own
  std::string Describe() const;
  bool operator==(const Action&) const = default;
};

struct ProjectPlan {  // NOLINT(bugprone-exception-escape): implicit moves of std containers
  // Host ifnames whose data-plane ports must be closed before `teardown` deletes or re-creates their veths.
  std::set<std::string> detach;
  std::vector<Action> teardown;  // deletions: veths, then namespaces cloudlet created
  std::vector<Action> setup;     // creations: namespaces, veths, link state, addresses, routes
  ProjectRecord intent;          // to persist before acting: union of before and after (config left to the caller)
  ProjectRecord result;          // to persist after success (config left to the caller)
  bool empty() const { return teardown.empty() && setup.empty(); }
};

// `desired` null = remove the project (`down`). `recorded` null = nothing recorded yet.
ProjectPlan PlanProject(const std::string& project, const CloudConfig* desired, const ProjectRecord* recorded,
                        const HostView& host);

// Names must be unique across projects: switches, links, endpoints, namespaces and kernel interfaces (declared
// `interface`/`tap` ports and the veths cloudlet derives). Returns an error naming the clashing name and project.
Status CheckCollisions(const std::string& project, const CloudConfig& desired,
                       const std::map<std::string, CloudConfig>& others);

// Helpers shared with the executor and status output.
std::string EndpointNetns(const EndpointDecl& ep);
// "10.0.0.1/24" / "FD00::1/64" -> canonical text; unparsable input is returned unchanged.
std::string NormalizeCidr(const std::string& cidr);
bool IsIpv6LinkLocal(const std::string& cidr);

}  // namespace cloudlet
