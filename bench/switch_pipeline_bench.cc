// In-process forwarding pipeline of VlanSwitch on 64-byte frames, in batches of kMaxBatch: classify, learn, look up,
// queue per egress port, account tx. No I/O: this is the ceiling the switch core puts on a data-plane thread.
// Reports Mpps (received frames per second / 1e6).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <cstring>
#include <vector>

#include "net/ethernet.h"
#include "switch/vlan_switch.h"

namespace cloudlet {
namespace {

constexpr size_t kFrameLen = 64;  // as on the wire minus FCS: 60 + the 4 the benchmark leaves for a tag

MacAddr HostMac(uint32_t side, uint32_t n) { return MacAddr::FromU64(0x020000000000ULL | uint64_t{side} << 24 | n); }

// Frames and their buffers, prepared once; `reset` restores a frame a previous iteration popped a tag from.
struct FrameSet {
  struct Slot {
    alignas(64) uint8_t buf[kPacketHeadroom + kFrameLen];
    Packet pkt;
  };
  explicit FrameSet(size_t capacity) { slots.reserve(capacity); }  // packets point into slots: never reallocate
  std::vector<Slot> slots;
  std::vector<uint8_t> frame_template;  // per slot kFrameLen bytes: the original frame
  size_t tagged_len = 0;

  void add(const MacAddr& dst, const MacAddr& src, uint16_t tpid, uint16_t tci) {
    if (slots.size() == slots.capacity()) std::abort();
    Slot& s = slots.emplace_back();
    uint8_t* f = s.buf + kPacketHeadroom;
    std::memset(f, 0, kFrameLen);
    std::memcpy(f, dst.bytes.data(), 6);
    std::memcpy(f + 6, src.bytes.data(), 6);
    size_t off = 12;
    if (tpid) {
      StoreBe16(f + off, tpid);
      StoreBe16(f + off + 2, tci);
      off += 4;
    }
    StoreBe16(f + off, kEtherTypeIpv4);
    s.pkt.data = f;
    s.pkt.len = kFrameLen;
    s.pkt.headroom = kPacketHeadroom;
    frame_template.insert(frame_template.end(), f, f + kFrameLen);
  }
  void reset(size_t i) {
    Slot& s = slots[i];
    s.pkt.data = s.buf + kPacketHeadroom;
    s.pkt.len = kFrameLen;
    s.pkt.headroom = kPacketHeadroom;
    std::memcpy(s.pkt.data, &frame_template[i * kFrameLen], 16);  // addresses and tag are all a pop touches
  }
};

enum class Scenario { kAccessToAccess, kAccessToTrunk, kTrunkToAccess, kFlood };

void RunPipeline(benchmark::State& state, Scenario scenario) {
  const uint32_t flows = static_cast<uint32_t>(state.range(0));
  SwitchConfig sc;
  sc.max_macs = 2 * flows + 16;
  VlanSwitch sw(sc);
  PortConfig access;
  access.vlan = 10;
  access.max_macs = flows + 8;
  PortConfig trunk;
  trunk.mode = PortMode::kTrunk;
  trunk.trunk_vlans.set(10).set(20);
  trunk.max_macs = flows + 8;

  const bool ingress_trunk = scenario == Scenario::kTrunkToAccess;
  const bool egress_trunk = scenario == Scenario::kAccessToTrunk;
  const PortId in = *sw.add_port(ingress_trunk ? trunk : access);
  const PortId dst_port = *sw.add_port(egress_trunk ? trunk : access);
  if (scenario == Scenario::kFlood) {  // broadcast into a VLAN of 4 ports: 1 access + 1 trunk egress besides dst
    (void)*sw.add_port(access);
    (void)*sw.add_port(trunk);
  }

  // Teach the switch every destination host behind dst_port (as it would from their replies).
  auto out = std::make_unique<EgressQueues>();
  {
    FrameSet hello(flows);
    for (uint32_t i = 0; i < flows; ++i) {
      hello.add(MacAddr::Broadcast(), HostMac(2, i), egress_trunk ? kTpid8021Q : 0, egress_trunk ? 10 : 0);
    }
    for (size_t base = 0; base < flows; base += kMaxBatch) {
      Packet* batch[kMaxBatch];
      size_t n = std::min<size_t>(kMaxBatch, flows - base);
      for (size_t i = 0; i < n; ++i) batch[i] = &hello.slots[base + i].pkt;
      out->clear();
      sw.process(dst_port, batch, n, 0, *out);
    }
  }

  const size_t total = std::max<size_t>(flows, kMaxBatch);
  FrameSet frames(total);
  for (size_t i = 0; i < total; ++i) {
    const uint32_t flow = static_cast<uint32_t>(i % flows);
    const MacAddr dst = scenario == Scenario::kFlood ? MacAddr::Broadcast() : HostMac(2, flow);
    frames.add(dst, HostMac(1, flow), ingress_trunk ? kTpid8021Q : 0, ingress_trunk ? MakeTci(3, false, 10) : 0);
  }
  std::vector<Packet*> ptrs;
  for (auto& s : frames.slots) ptrs.push_back(&s.pkt);

  Nanos now = kSecond;
  size_t cursor = 0;
  uint64_t packets = 0;
  for (auto _ : state) {
    if (ingress_trunk) {
      for (size_t i = 0; i < kMaxBatch; ++i) frames.reset(cursor + i);
    }
    out->clear();
    sw.process(in, &ptrs[cursor], kMaxBatch, now, *out);
    for (uint64_t m = out->pending_ports(); m != 0; m &= m - 1) {
      const PortId p = static_cast<PortId>(__builtin_ctzll(m));
      auto items = out->items(p);
      benchmark::DoNotOptimize(items.data());
      sw.account_tx(p, items, items.size());
    }
    packets += kMaxBatch;
    cursor += kMaxBatch;
    if (cursor + kMaxBatch > ptrs.size()) cursor = 0;
    now += 1000;  // 1 us per batch
  }
  state.SetItemsProcessed(static_cast<int64_t>(packets));
  state.counters["Mpps"] = benchmark::Counter(static_cast<double>(packets) / 1e6, benchmark::Counter::kIsRate);
  if (sw.port_counters(in).total_drops() != 0) state.SkipWithError("frames dropped: the benchmark is misconfigured");
}

void BM_KnownUnicastAccessToAccess(benchmark::State& s) { RunPipeline(s, Scenario::kAccessToAccess); }
void BM_KnownUnicastAccessToTrunkPush(benchmark::State& s) { RunPipeline(s, Scenario::kAccessToTrunk); }
void BM_KnownUnicastTrunkToAccessPop(benchmark::State& s) { RunPipeline(s, Scenario::kTrunkToAccess); }
void BM_FloodBroadcast3Ports(benchmark::State& s) { RunPipeline(s, Scenario::kFlood); }

// Argument: distinct flows (source/destination host pairs), i.e. MAC table working set.
BENCHMARK(BM_KnownUnicastAccessToAccess)->Arg(1)->Arg(64)->Arg(4096);
BENCHMARK(BM_KnownUnicastAccessToTrunkPush)->Arg(1)->Arg(64)->Arg(4096);
BENCHMARK(BM_KnownUnicastTrunkToAccessPop)->Arg(64)->Arg(4096);
BENCHMARK(BM_FloodBroadcast3Ports)->Arg(64);

}  // namespace
}  // namespace cloudlet

BENCHMARK_MAIN();
