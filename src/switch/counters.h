// Counters of the VLAN switch: per port and per VLAN, and the reasons a frame is dropped.
// Plain uint64_t fields: the switch runs on one data-plane thread; the runtime copies them out for status, so a
// snapshot may be a few packets behind but each field is never torn on x86-64.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace cloudlet {

enum class DropReason : uint8_t {
  kMalformed,              // shorter than an Ethernet header, or a tag cut off
  kInvalidSource,          // source MAC is multicast/broadcast or all-zero
  kVlanNotAllowed,         // tagged with a VLAN the ingress port does not carry (or reserved VID 4095)
  kTaggedOnAccess,         // a tagged frame (other than priority-tagged VID 0) arrived on an access port
  kUntaggedWithoutNative,  // an untagged or priority-tagged frame arrived on a trunk without a native VLAN
  kSamePort,               // the destination was learned on the ingress port
  kQueueFull,              // the egress queue of this batch was full (only if process() is misused)
  kTxFailed,               // the egress port did not accept the frame
  kCount,
};
constexpr size_t kDropReasonCount = static_cast<size_t>(DropReason::kCount);

// snake_case name of a drop reason, used as JSON key by the control plane.
constexpr const char* DropReasonName(DropReason reason) {
  switch (reason) {
    case DropReason::kMalformed:
      return "malformed";
    case DropReason::kInvalidSource:
      return "invalid_source";
    case DropReason::kVlanNotAllowed:
      return "vlan_not_allowed";
    case DropReason::kTaggedOnAccess:
      return "tagged_on_access";
    case DropReason::kUntaggedWithoutNative:
      return "untagged_without_native";
    case DropReason::kSamePort:
      return "same_port";
    case DropReason::kQueueFull:
      return "queue_full";
    case DropReason::kTxFailed:
      return "tx_failed";
    case DropReason::kCount:
      break;
  }
  return "unknown";
}

struct PortCounters {
  uint64_t rx_packets = 0;
  uint64_t rx_bytes = 0;  // as received, tags included
  uint64_t tx_packets = 0;
  uint64_t tx_bytes = 0;  // as sent, pushed tag included
  // Indexed by DropReason. Ingress drops count on the ingress port, tx_failed on the egress port.
  std::array<uint64_t, kDropReasonCount> drops{};
  uint64_t macs = 0;              // addresses currently learned on this port
  uint64_t mac_moves = 0;         // addresses that moved to this port from another one
  uint64_t learn_limit_hits = 0;  // new addresses not learned because this port's or the switch's limit was reached

  uint64_t drop(DropReason reason) const { return drops[static_cast<size_t>(reason)]; }
  uint64_t total_drops() const {
    uint64_t sum = 0;
    for (uint64_t d : drops) sum += d;
    return sum;
  }
};

struct VlanCounters {
  uint64_t packets = 0;  // frames classified into this VLAN
  uint64_t bytes = 0;    // their length as received
  uint64_t flooded = 0;  // of those, frames flooded (unknown unicast, broadcast, multicast)
  uint64_t drops = 0;  // frames of this VLAN dropped for any reason after classification, or tagged for it and refused
};

}  // namespace cloudlet
