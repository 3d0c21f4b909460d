// VlanSwitch: port configuration, per-VLAN membership masks, and the batched forwarding pipeline
// (classify + strip tag, learn, look up, emit per egress port with the tag it must carry).
#include "switch/vlan_switch.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "net/ethernet.h"

namespace cloudlet {

static_assert(kMaxPortsPerSwitch == kMacTablePorts, "the MAC table keeps one count per switch port");
static_assert(kMaxPortsPerSwitch <= 64, "port sets are uint64_t bitmasks");

namespace {

constexpr size_t kVlanSlots = 4096;
// Slots examined per age() call: about 24 KiB of table, a few microseconds.
constexpr size_t kAgeSlotsPerCall = 1024;

struct PortState {
  bool present = false;
  PortConfig config;
  PortCounters counters;
};

Status ValidatePortConfig(const PortConfig& c) {
  const std::string what = "port '" + c.name + "'";
  switch (c.mode) {
    case PortMode::kAccess:
    case PortMode::kDot1qTunnel:
      if (c.vlan < 1 || c.vlan > kMaxVlanId)
        return Error(what + ": vlan " + std::to_string(c.vlan) + " out of range 1-4094");
      return Status::Ok();
    case PortMode::kTrunk:
      if (c.tpid != kTpid8021Q && c.tpid != kTpid8021AD)
        return Error(what + ": trunk tpid must be 0x8100 (802.1Q) or 0x88a8 (802.1ad)");
      if (c.native_vlan > kMaxVlanId)
        return Error(what + ": native_vlan " + std::to_string(c.native_vlan) + " out of range 1-4094 (0 = none)");
      if (c.trunk_vlans.test(0) || c.trunk_vlans.test(4095))
        return Error(what + ": trunk VLANs must be in range 1-4094 (0 and 4095 are reserved)");
      return Status::Ok();
  }
  return Error(what + ": unknown port mode");
}

// Whether a config change alters which VLANs the port is in (then its learned addresses are flushed).
bool MembershipDiffers(const PortConfig& a, const PortConfig& b) {
  if (a.mode != b.mode) return true;
  if (a.mode == PortMode::kTrunk) return a.trunk_vlans != b.trunk_vlans || a.native_vlan != b.native_vlan;
  return a.vlan != b.vlan;
}

}  // namespace

struct VlanSwitch::Impl {
  explicit Impl(const SwitchConfig& config) : table(config.max_macs) {}

  std::array<PortState, kMaxPortsPerSwitch> ports;
  uint64_t present = 0;
  // Per VLAN: ports that carry it, and of those, the ones that send it tagged. Rebuilt on every port change.
  std::array<uint64_t, kVlanSlots> members{};
  std::array<uint64_t, kVlanSlots> tagged{};
  std::array<uint16_t, kMaxPortsPerSwitch> egress_tpid{};
  std::array<VlanCounters, kVlanSlots> vlans{};
  MacTable table;

  void rebuild_membership() {
    members.fill(0);
    tagged.fill(0);
    for (size_t p = 0; p < kMaxPortsPerSwitch; ++p) {
      if (!ports[p].present) continue;
      const PortConfig& c = ports[p].config;
      const uint64_t bit = uint64_t{1} << p;
      egress_tpid[p] = c.mode == PortMode::kTrunk ? c.tpid : 0;
      if (c.mode != PortMode::kTrunk) {
        members[c.vlan] |= bit;
        continue;
      }
      for (size_t v = 1; v <= kMaxVlanId; ++v) {
        if (!c.trunk_vlans.test(v)) continue;
        members[v] |= bit;
        tagged[v] |= bit;
      }
      if (c.native_vlan != 0) {
        members[c.native_vlan] |= bit;
        tagged[c.native_vlan] &= ~bit;
      }
    }
  }
};

VlanSwitch::VlanSwitch(SwitchConfig config) : config_(std::move(config)), impl_(std::make_unique<Impl>(config_)) {}
VlanSwitch::~VlanSwitch() = default;
VlanSwitch::VlanSwitch(VlanSwitch&&) noexcept = default;
VlanSwitch& VlanSwitch::operator=(VlanSwitch&&) noexcept = default;

void VlanSwitch::set_config(const SwitchConfig& config) {
  config_ = config;
  MacTable& table = impl_->table;
  if (table.set_limit(config.max_macs)) return;
  // A larger limit than the table was sized for: move the entries into a bigger table (control path, may allocate).
  MacTable bigger(config.max_macs);
  table.for_each([&](const MacTable::Entry& e) {
    (void)bigger.learn(e.key, e.port, e.last_seen, std::numeric_limits<Nanos>::max(),
                       std::numeric_limits<uint32_t>::max(), nullptr);
  });
  table = std::move(bigger);
}

Result<PortId> VlanSwitch::add_port(const PortConfig& config) {
  CL_RETURN_IF_ERROR(ValidatePortConfig(config));
  Impl& s = *impl_;
  if (!config.name.empty()) {
    for (const PortState& p : s.ports)
      if (p.present && p.config.name == config.name)
        return Error("switch '" + config_.name + "': port '" + config.name + "' already exists");
  }
  if (s.present == ~uint64_t{0})
    return Error("switch '" + config_.name + "': cannot add port '" + config.name + "': all " +
                 std::to_string(kMaxPortsPerSwitch) + " ports are in use");
  const PortId id = static_cast<PortId>(__builtin_ctzll(~s.present));
  PortState& port = s.ports[id];
  port.present = true;
  port.config = config;
  port.counters = PortCounters{};
  s.present |= uint64_t{1} << id;
  s.table.erase_port(id);  // nothing should be there; keeps the invariant obvious
  s.rebuild_membership();
  return id;
}

Status VlanSwitch::update_port(PortId id, const PortConfig& config) {
  if (!has_port(id)) return Error("switch '" + config_.name + "': no port " + std::to_string(id));
  CL_RETURN_IF_ERROR(ValidatePortConfig(config));
  Impl& s = *impl_;
  if (!config.name.empty()) {
    for (size_t p = 0; p < kMaxPortsPerSwitch; ++p)
      if (p != id && s.ports[p].present && s.ports[p].config.name == config.name)
        return Error("switch '" + config_.name + "': port '" + config.name + "' already exists");
  }
  PortState& port = s.ports[id];
  const bool flush = MembershipDiffers(port.config, config);
  port.config = config;
  if (flush) s.table.erase_port(id);
  s.rebuild_membership();
  return Status::Ok();
}

void VlanSwitch::remove_port(PortId id) {
  if (!has_port(id)) return;
  Impl& s = *impl_;
  s.table.erase_port(id);
  s.ports[id] = PortState{};
  s.present &= ~(uint64_t{1} << id);
  s.egress_tpid[id] = 0;
  s.rebuild_membership();
}

bool VlanSwitch::has_port(PortId id) const { return id < kMaxPortsPerSwitch && impl_->ports[id].present; }

const PortConfig& VlanSwitch::port_config(PortId id) const {
  static const PortConfig kNone{};
  return has_port(id) ? impl_->ports[id].config : kNone;
}

void VlanSwitch::process(PortId in, Packet* const* pkts, size_t n, Nanos now, EgressQueues& out) {
  if (!has_port(in)) return;
  Impl& s = *impl_;
  PortState& port = s.ports[in];
  PortCounters& pc = port.counters;
  const PortConfig& pcfg = port.config;
  const uint64_t in_bit = uint64_t{1} << in;
  const uint64_t flood_mask_base = s.present & ~in_bit;
  const Nanos aging = config_.mac_aging;
  const uint32_t port_limit = pcfg.max_macs;
  MacTable& table = s.table;

  auto drop = [&](DropReason reason) { ++pc.drops[static_cast<size_t>(reason)]; };

  // Pass 1: validate and classify every frame, strip the classifying tag, prefetch the table slots.
  struct Classified {
    Packet* pkt;
    uint64_t src_key;
    uint64_t dst_key;  // 0 for group addresses (always flooded)
    uint32_t rx_len;
  };
  Classified work[kMaxBatch];

  for (size_t base = 0; base < n; base += kMaxBatch) {
    const size_t chunk = std::min(kMaxBatch, n - base);
    size_t accepted = 0;
    for (size_t i = 0; i < chunk; ++i) {
      Packet* pkt = pkts[base + i];
      const uint32_t len = pkt->len;
      ++pc.rx_packets;
      pc.rx_bytes += len;
      const uint8_t* d = pkt->data;
      if (len < kEthHeaderLen) {
        drop(DropReason::kMalformed);
        continue;
      }
      const uint64_t src = LoadMac48(d + kEthAddrLen);
      const uint64_t dst = LoadMac48(d);
      if (IsMulticastMac48(src) || src == 0) {
        drop(DropReason::kInvalidSource);
        continue;
      }
      const uint16_t type = LoadBe16(d + 12);
      const bool tagged = IsVlanTpid(type);
      if (tagged && len < kEthHeaderLen + kVlanTagLen) {
        drop(DropReason::kMalformed);
        continue;
      }
      const uint16_t tci = tagged ? LoadBe16(d + 14) : 0;
      const uint16_t vid = tci & 0x0fff;
      const uint8_t tag_pcp = static_cast<uint8_t>(tci >> 13);
      uint16_t vlan;
      uint8_t pcp = 0;
      bool pop = false;
      switch (pcfg.mode) {
        case PortMode::kAccess:
          if (tagged && !(type == kTpid8021Q && vid == 0)) {
            drop(DropReason::kTaggedOnAccess);
            continue;
          }
          vlan = pcfg.vlan;
          pop = tagged;  // priority tag: keep its PCP, drop the tag
          pcp = tag_pcp;
          break;
        case PortMode::kTrunk:
          // A tag of the other TPID is not a tag at this trunk's layer (802.1Q C-VLAN vs 802.1ad S-VLAN
          // component): such frames are untagged here and belong to the native VLAN, tag kept as payload.
          if (tagged && type == pcfg.tpid && vid != 0) {
            if (!(s.members[vid] & in_bit)) {
              drop(DropReason::kVlanNotAllowed);
              if (vid <= kMaxVlanId) ++s.vlans[vid].drops;
              continue;
            }
            vlan = vid;
            pop = true;
            pcp = tag_pcp;
            break;
          }
          if (pcfg.native_vlan == 0) {
            drop(DropReason::kUntaggedWithoutNative);
            continue;
          }
          vlan = pcfg.native_vlan;
          if (tagged && type == pcfg.tpid) {  // priority-tagged
            pop = true;
            pcp = tag_pcp;
          }
          break;
        case PortMode::kDot1qTunnel:
        default:
          // Every customer frame, tagged or not, goes into the service VLAN; its tags stay in the payload.
          vlan = pcfg.vlan;
          pcp = tag_pcp;
          break;
      }
      if (pop) {
        uint8_t* w = pkt->data;
        std::memmove(w + kVlanTagLen, w, 2 * kEthAddrLen);
        pkt->data = w + kVlanTagLen;
        pkt->len = len - kVlanTagLen;
        pkt->headroom += kVlanTagLen;
        pkt->vnet.shift(-static_cast<int>(kVlanTagLen));
      }
      pkt->vlan = vlan;
      pkt->pcp = pcp;
      VlanCounters& vc = s.vlans[vlan];
      ++vc.packets;
      vc.bytes += len;
      const uint64_t src_key = MacTable::Key(vlan, src);
      const uint64_t dst_key = IsMulticastMac48(dst) ? 0 : MacTable::Key(vlan, dst);
      table.prefetch(src_key);
      if (dst_key) table.prefetch(dst_key);
      work[accepted++] = Classified{pkt, src_key, dst_key, len};
    }

    // Pass 2, in arrival order so a reply later in the batch finds the address learned earlier in it:
    // learn the source, look up the destination, queue the frame per egress port.
    for (size_t i = 0; i < accepted; ++i) {
      const Classified& w = work[i];
      Packet* pkt = w.pkt;
      const uint16_t vlan = pkt->vlan;
      uint16_t previous_port = 0;
      switch (table.learn(w.src_key, in, now, aging, port_limit, &previous_port)) {
        case MacTable::Learn::kRefreshed:
        case MacTable::Learn::kLearned:
          break;
        case MacTable::Learn::kMoved:
          ++pc.mac_moves;
          break;
        case MacTable::Learn::kLimitHit:
          ++pc.learn_limit_hits;
          break;
      }
      const uint64_t vlan_ports = s.members[vlan];
      const uint16_t tci_vlan = static_cast<uint16_t>(pkt->pcp << 13 | vlan);
      auto emit = [&](PortId p) {
        if (out.items(p).size() >= kMaxBatch) {
          drop(DropReason::kQueueFull);
          ++s.vlans[vlan].drops;
          return;
        }
        const bool tag = (s.tagged[vlan] >> p) & 1;
        out.push(p, TxItem{pkt, tag ? s.egress_tpid[p] : uint16_t{0}, tag ? tci_vlan : uint16_t{0}});
      };
      if (w.dst_key != 0) {
        const MacTable::Entry* e = table.find(w.dst_key, now, aging);
        if (e != nullptr && ((vlan_ports >> e->port) & 1)) {
          if (e->port == in) {
            drop(DropReason::kSamePort);
            ++s.vlans[vlan].drops;
            continue;
          }
          emit(e->port);
          continue;
        }
      }
      ++s.vlans[vlan].flooded;
      for (uint64_t m = vlan_ports & flood_mask_base; m != 0; m &= m - 1) emit(static_cast<PortId>(__builtin_ctzll(m)));
    }
  }
}

void VlanSwitch::account_tx(PortId port, std::span<const TxItem> items, size_t sent) {
  if (!has_port(port)) return;
  Impl& s = *impl_;
  PortCounters& pc = s.ports[port].counters;
  sent = std::min(sent, items.size());
  for (size_t i = 0; i < sent; ++i) {
    ++pc.tx_packets;
    pc.tx_bytes += items[i].pkt->len + (items[i].tpid != 0 ? kVlanTagLen : 0);
  }
  for (size_t i = sent; i < items.size(); ++i) {
    ++pc.drops[static_cast<size_t>(DropReason::kTxFailed)];
    ++s.vlans[items[i].pkt->vlan & 0x0fff].drops;
  }
}

void VlanSwitch::age(Nanos now) { impl_->table.expire(now, config_.mac_aging, kAgeSlotsPerCall); }

std::vector<MacEntryInfo> VlanSwitch::mac_entries(Nanos now) const {
  std::vector<MacEntryInfo> entries;
  entries.reserve(impl_->table.size());
  const Nanos aging = config_.mac_aging;
  impl_->table.for_each([&](const MacTable::Entry& e) {
    if (now - e.last_seen >= aging) return;
    entries.push_back(MacEntryInfo{MacTable::KeyVlan(e.key), MacAddr::FromU64(MacTable::KeyMac(e.key)).bytes, e.port,
                                   now - e.last_seen});
  });
  std::sort(entries.begin(), entries.end(), [](const MacEntryInfo& a, const MacEntryInfo& b) {
    return a.vlan != b.vlan ? a.vlan < b.vlan : a.mac < b.mac;
  });
  return entries;
}

size_t VlanSwitch::mac_count() const { return impl_->table.size(); }

const PortCounters& VlanSwitch::port_counters(PortId id) const {
  static const PortCounters kNone{};
  if (!has_port(id)) return kNone;
  PortCounters& c = impl_->ports[id].counters;
  c.macs = impl_->table.port_count(id);  // the table keeps the live count; publish it with the snapshot
  return c;
}

const VlanCounters& VlanSwitch::vlan_counters(uint16_t vlan) const {
  static const VlanCounters kNone{};
  return vlan < kVlanSlots ? impl_->vlans[vlan] : kNone;
}

std::vector<uint16_t> VlanSwitch::active_vlans() const {
  std::vector<uint16_t> vlans;
  for (uint16_t v = 1; v <= kMaxVlanId; ++v) {
    const VlanCounters& c = impl_->vlans[v];
    if (impl_->members[v] != 0 || c.packets != 0 || c.drops != 0) vlans.push_back(v);
  }
  return vlans;
}

}  // namespace cloudlet
