// libFuzzer target for everything that reads frames from the network: ParseFrame, PopTag/PushTag, and
// VlanSwitch::process over port configurations chosen by the input. Frames sit in exactly-sized heap buffers
// (headroom before, nothing after) so ASan reports any read past a frame's end; invariants are checked with abort().
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "net/ethernet.h"
#include "switch/vlan_switch.h"

namespace cloudlet {
namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

void FuzzParser(const uint8_t* data, size_t size) {
  FrameView view;
  const FrameError err = ParseFrame(data, size, &view);
  if (err == FrameError::kNone) {
    Check(size >= kEthHeaderLen && view.l3_offset <= size && view.num_tags <= kMaxParsedTags);
    Check(view.l3_offset == kEthHeaderLen + view.num_tags * kVlanTagLen);
  } else {
    Check(view.num_tags == 0 && view.dst == nullptr);
  }

  // Pop then push the same tag back: the frame must be byte-identical and the vnet offsets restored.
  std::vector<uint8_t> buf(kPacketHeadroom + size);
  if (size) std::memcpy(buf.data() + kPacketHeadroom, data, size);
  Packet pkt;
  pkt.data = buf.data() + kPacketHeadroom;
  pkt.len = static_cast<uint32_t>(size);
  pkt.headroom = kPacketHeadroom;
  pkt.vnet.flags = VnetHdr::kFlagNeedsCsum;
  pkt.vnet.gso_type = VnetHdr::kGsoTcpV4;
  pkt.vnet.csum_start = 100;
  pkt.vnet.hdr_len = 200;
  VlanTag tag;
  if (PopTag(pkt, &tag)) {
    // PopTag needs only the outer tag complete; ParseFrame may still reject a truncated inner tag.
    Check(size >= kEthHeaderLen + kVlanTagLen && tag.tpid == LoadBe16(data + 12));
    if (err == FrameError::kNone) Check(view.num_tags >= 1 && tag.tpid == view.tags[0].tpid);
    Check(pkt.len == size - kVlanTagLen && pkt.vnet.csum_start == 96 && pkt.vnet.hdr_len == 196);
    Check(PushTag(pkt, tag.tpid, tag.tci));
    Check(pkt.len == size && std::memcmp(pkt.data, data, size) == 0 && pkt.vnet.csum_start == 100);
  } else {
    Check(pkt.len == size && (size == 0 || std::memcmp(pkt.data, data, size) == 0));
  }
}

PortConfig PortFromInput(FuzzedDataProvider& in, int index) {
  PortConfig c;
  c.name = "p" + std::to_string(index);
  c.mode = static_cast<PortMode>(in.ConsumeIntegralInRange<int>(0, 2));
  c.vlan = in.ConsumeIntegralInRange<uint16_t>(0, 8);  // small range so ports share VLANs; 0 is invalid on purpose
  const uint8_t vlans = in.ConsumeIntegral<uint8_t>();
  for (int v = 0; v < 8; ++v)
    if (vlans >> v & 1) c.trunk_vlans.set(v + 1);
  if (in.ConsumeBool()) c.trunk_vlans.set(4094);
  c.native_vlan = in.ConsumeIntegralInRange<uint16_t>(0, 8);
  c.tpid = in.ConsumeBool() ? kTpid8021Q : kTpid8021AD;
  c.max_macs = in.ConsumeIntegralInRange<uint32_t>(0, 8);
  return c;
}

void FuzzSwitch(FuzzedDataProvider& in) {
  SwitchConfig sc;
  sc.max_macs = in.ConsumeIntegralInRange<uint32_t>(1, 16);
  sc.mac_aging = in.ConsumeIntegralInRange<int64_t>(1, 1000);
  VlanSwitch sw(sc);
  const int num_ports = in.ConsumeIntegralInRange<int>(1, 6);
  for (int i = 0; i < num_ports; ++i) (void)sw.add_port(PortFromInput(in, i));

  auto out = std::make_unique<EgressQueues>();
  Nanos now = 0;
  for (int round = 0; round < 8 && in.remaining_bytes() > 0; ++round) {
    const PortId ingress = in.ConsumeIntegralInRange<PortId>(0, 7);
    const size_t n = in.ConsumeIntegralInRange<size_t>(0, kMaxBatch + 2);
    std::vector<std::unique_ptr<uint8_t[]>> buffers;
    std::vector<Packet> pkts(n);
    std::vector<Packet*> batch(n);
    for (size_t i = 0; i < n; ++i) {
      const size_t len = in.ConsumeIntegralInRange<size_t>(0, 80);
      std::vector<uint8_t> bytes = in.ConsumeBytes<uint8_t>(len);
      auto& buf = buffers.emplace_back(new uint8_t[kPacketHeadroom + bytes.size()]);
      if (!bytes.empty()) std::memcpy(buf.get() + kPacketHeadroom, bytes.data(), bytes.size());
      pkts[i].data = buf.get() + kPacketHeadroom;
      pkts[i].len = static_cast<uint32_t>(bytes.size());
      pkts[i].headroom = kPacketHeadroom;
      batch[i] = &pkts[i];
    }
    out->clear();
    sw.process(ingress, batch.data(), n, now, *out);
    for (uint64_t m = out->pending_ports(); m != 0; m &= m - 1) {
      const PortId p = static_cast<PortId>(__builtin_ctzll(m));
      Check(p != ingress && sw.has_port(p));
      auto items = out->items(p);
      Check(items.size() <= kMaxBatch);
      for (const TxItem& item : items) {
        const Packet* pkt = item.pkt;
        Check(pkt >= pkts.data() && pkt < pkts.data() + n);
        Check(pkt->vlan >= 1 && pkt->vlan <= kMaxVlanId && pkt->len >= kEthHeaderLen);
        Check(item.tpid == 0 || item.tpid == kTpid8021Q || item.tpid == kTpid8021AD);
        if (item.tpid != 0) Check((item.tci & 0x0fff) == pkt->vlan && item.tpid == sw.port_config(p).tpid);
        Check(!(pkt->data[6] & 1));  // a multicast source never gets through
      }
      sw.account_tx(p, items, in.ConsumeIntegralInRange<size_t>(0, items.size()));
    }
    Check(sw.mac_count() <= sc.max_macs);
    now += in.ConsumeIntegralInRange<int64_t>(0, 600);
    sw.age(now);
    if (in.ConsumeBool() && sw.has_port(0)) {
      PortConfig c = PortFromInput(in, 0);
      if (in.ConsumeBool()) {
        (void)sw.update_port(0, c);
      } else {
        sw.remove_port(0);
        (void)sw.add_port(c);
      }
      Check(sw.port_counters(0).macs == 0 || sw.has_port(0));
    }
  }
  (void)sw.mac_entries(now);
  (void)sw.active_vlans();
}

}  // namespace
}  // namespace cloudlet

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  cloudlet::FuzzParser(data, size);
  FuzzedDataProvider in(data, size);
  cloudlet::FuzzSwitch(in);
  return 0;
}
