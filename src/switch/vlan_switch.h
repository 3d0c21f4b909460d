// VlanSwitch: the sans-IO core of cloudlet's VLAN-aware learning switch.
// It takes a batch of frames received on one port and the current time, and returns, per egress port, the frames
// to transmit with the tag each must carry. No sockets, no threads, no clock reads: the runtime (dataplane/dataplane.h)
// does the I/O, which keeps every forwarding rule unit-testable and benchmarkable in process.
//
// Rules (IEEE 802.1Q as a user of OVS or a hardware switch expects them):
//  - access port: untagged frames (and priority-tagged, VID 0) join the port's VLAN; other tagged frames drop.
//  - trunk port: frames tagged with the trunk's TPID join the tagged VLAN if the trunk carries it; untagged and
//    priority-tagged frames join the native VLAN if one is set; anything else drops. On egress the frame is tagged,
//    except in the native VLAN. PCP is carried from ingress to egress tag.
//  - dot1q-tunnel port (802.1ad customer port): every frame joins the port's service VLAN with its customer tags
//    kept as payload; toward an 802.1ad trunk the service tag is pushed with TPID 0x88a8 (QinQ).
//  - learning per (VLAN, MAC) with aging, limits per port and per switch, MAC moves; unknown unicast, broadcast
//    and multicast flood within the VLAN only; never out of the ingress port.
#pragma once

#include <array>
#include <bitset>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "net/packet.h"
#include "switch/counters.h"
#include "switch/mac_table.h"

namespace cloudlet {

constexpr size_t kMaxPortsPerSwitch = 64;
constexpr uint16_t kMaxVlanId = 4094;
using PortId = uint16_t;
using VlanSet = std::bitset<4096>;

enum class PortMode : uint8_t { kAccess, kTrunk, kDot1qTunnel };
constexpr uint16_t kTpid8021Q = 0x8100;
constexpr uint16_t kTpid8021AD = 0x88a8;

struct PortConfig {
  std::string name;
  PortMode mode = PortMode::kAccess;
  uint16_t vlan = 1;           // access VLAN, or the service VLAN of a dot1q-tunnel port
  VlanSet trunk_vlans;         // VLANs a trunk carries tagged
  uint16_t native_vlan = 0;    // trunk: VLAN for untagged frames, sent untagged; 0 = none
  uint16_t tpid = kTpid8021Q;  // trunk: TPID of the tags it sends and accepts (0x8100, or 0x88a8 for QinQ)
  uint32_t max_macs = 1024;    // learned-address limit for this port (MAC-flood protection)
};

struct SwitchConfig {
  std::string name;
  uint32_t max_macs = 8192;         // learned-address limit for the whole switch
  Nanos mac_aging = 300 * kSecond;  // an address not seen for this long is forgotten
};

// Frames to transmit, grouped by egress port. Fixed capacity: each received frame appears at most once per port.
class EgressQueues {
 public:
  void clear() {
    for (uint64_t m = pending_; m != 0; m &= m - 1) counts_[__builtin_ctzll(m)] = 0;
    pending_ = 0;
  }
  void push(PortId port, const TxItem& item) {
    items_[port][counts_[port]++] = item;
    pending_ |= uint64_t{1} << port;
  }
  uint64_t pending_ports() const { return pending_; }
  std::span<const TxItem> items(PortId port) const { return {items_[port].data(), counts_[port]}; }

 private:
  uint64_t pending_ = 0;
  std::array<uint16_t, kMaxPortsPerSwitch> counts_{};
  std::array<std::array<TxItem, kMaxBatch>, kMaxPortsPerSwitch> items_{};
};

struct MacEntryInfo {
  uint16_t vlan;
  std::array<uint8_t, 6> mac;
  PortId port;
  Nanos age;  // time since last seen
};

class VlanSwitch {
 public:
  explicit VlanSwitch(SwitchConfig config);

  const SwitchConfig& config() const { return config_; }
  void set_config(const SwitchConfig& config);  // limits/aging; shrinking a limit does not evict existing entries

  // Ports are numbered densely from 0 and keep their id until removed.
  Result<PortId> add_port(const PortConfig& config);
  Status update_port(PortId id,
                     const PortConfig& config);  // re-derives VLAN membership; flushes its MACs if VLANs change
  void remove_port(PortId id);                   // forgets the MACs learned on it
  bool has_port(PortId id) const;
  const PortConfig& port_config(PortId id) const;

  // Classifies, learns and forwards a batch received on `in`. Appends to `out` (which the caller clears).
  // Frames may be modified in place (the classifying tag is stripped).
  void process(PortId in, Packet* const* pkts, size_t n, Nanos now, EgressQueues& out);

  // The runtime reports what the egress port accepted, for tx counters and tx drops.
  void account_tx(PortId port, std::span<const TxItem> items, size_t sent);

  // Reclaims expired MAC entries; bounded work per call (call it often, e.g. once per loop iteration or second).
  void age(Nanos now);

  std::vector<MacEntryInfo> mac_entries(Nanos now) const;
  size_t mac_count() const;
  const PortCounters& port_counters(PortId id) const;
  const VlanCounters& vlan_counters(uint16_t vlan) const;
  // VLANs with any traffic or membership, for status output.
  std::vector<uint16_t> active_vlans() const;

 private:
  // Implementation details are in vlan_switch.cc; kept behind this header for the benchmark and tests.
  struct Impl;
  SwitchConfig config_;
  std::unique_ptr<Impl> impl_;

 public:
  ~VlanSwitch();
  VlanSwitch(VlanSwitch&&) noexcept;
  VlanSwitch& operator=(VlanSwitch&&) noexcept;
};

}  // namespace cloudlet
