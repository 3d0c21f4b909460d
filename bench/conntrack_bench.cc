// The firewall's per-packet cost in process: the established fast path (conntrack lookup, TCP window update,
// counters; no classification) over 1k (fits in cache: the reference), 100k and 1M established TCP connections, one
// packet per connection and direction in random order, with and without ParseL3, without cache warming, with the
// pipelined Firewall::prefetch(info, stage) and with the batch Firewall::prefetch(span); and new-flow setup (parse,
// classify against a 10,000-rule set, create the connection, evict/expire). items_per_second is packets per second
// per core (ingress + egress for one routed packet).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <span>
#include <vector>

#include "base/huge_array.h"
#include "firewall/firewall.h"
#include "net/l3.h"
#include "net/packet.h"

namespace cloudlet::firewall {
namespace {

constexpr ZoneId kLan = 0, kWan = 1;
constexpr size_t kFrameLen = 64;  // Ethernet + IPv4 + TCP (54) padded to the minimum frame
const IpAddress kEgress = IpAddress::V4(203, 0, 113, 1);

void Put16(uint8_t* p, uint16_t v) {
  p[0] = v >> 8;
  p[1] = v & 0xff;
}
void Put32(uint8_t* p, uint32_t v) {
  Put16(p, v >> 16);
  Put16(p + 2, v & 0xffff);
}

// An IPv4 TCP frame (no payload) between client `c` (10.x.y.z) and server 198.51.100.7:443.
void BuildTcp(uint8_t* f, uint32_t c, uint16_t cport, bool from_client, uint8_t flags, uint32_t seq, uint32_t ack) {
  std::memset(f, 0, kFrameLen);
  Put16(f + 12, 0x0800);
  uint8_t* ip = f + 14;
  ip[0] = 0x45;
  Put16(ip + 2, 40);
  ip[8] = 64;
  ip[9] = kIpProtoTcp;
  const uint32_t client = 0x0a000000u | (c & 0xffffff);
  const uint32_t server = 0xc6336407u;
  Put32(ip + (from_client ? 12 : 16), client);
  Put32(ip + (from_client ? 16 : 12), server);
  SetIPv4HeaderChecksum(ip, 20);
  uint8_t* tcp = ip + 20;
  Put16(tcp, from_client ? cport : 443);
  Put16(tcp + 2, from_client ? 443 : cport);
  Put32(tcp + 4, seq);
  Put32(tcp + 8, ack);
  tcp[12] = 5 << 4;
  tcp[13] = flags;
  Put16(tcp + 14, 65535);
}

L3Info Parse(const uint8_t* f) {
  L3Info info;
  ParseL3(f, kFrameLen, 14, 0x0800, &info);
  return info;
}

Verdict Route(Firewall& fw, uint8_t* f, L3Info& info, ZoneId from, ZoneId to, Nanos now) {
  VnetHdr vnet;
  FlowState flow;
  Verdict v = fw.ingress(f, info, vnet, kFrameLen, from, now, &flow);
  if (v.action == Action::kAccept) v = fw.egress(f, info, vnet, kFrameLen, to, kEgress, now, &flow);
  return v;
}

RuleSet LanToWan(size_t extra_rules) {
  RuleSet rs;
  rs.zones = {"lan", "wan"};
  std::mt19937 rng(7);
  for (size_t i = 0; i < extra_rules; ++i) {
    // Rules the benchmark's traffic does not match, so classification has to rule them all out.
    Rule r;
    r.from_zones = {kLan};
    r.proto = kIpProtoTcp;
    r.src = {IpPrefix{IpAddress::V4(0xac100000u | (rng() & 0xfffff)), 32}};
    const uint16_t p = static_cast<uint16_t>(rng() % 60000 + 1);
    r.dports = {{p, p}};
    r.action = Action::kDrop;
    rs.rules.push_back(r);
  }
  Rule accept;
  accept.from_zones = {kLan};
  accept.to_zones = {kWan};
  rs.rules.push_back(accept);
  return rs;
}

// `conns` established connections (in a table 1.3 times that size) and one data packet per connection and
// direction, shuffled.
struct Established {
  std::unique_ptr<Firewall> fw;
  std::vector<uint8_t> frames;
  std::vector<L3Info> infos;
  std::vector<uint8_t> from_client;

  explicit Established(uint32_t conns) {
    ConntrackConfig config;
    config.max_connections = conns + conns / 3;
    fw = std::make_unique<Firewall>(config);
    fw->replace(Firewall::Compile(LanToWan(0)).value(), 0);
    uint8_t f[kFrameLen];
    for (uint32_t i = 0; i < conns; ++i) {
      const uint16_t port = static_cast<uint16_t>(1024 + i % 60000);
      L3Info info;
      BuildTcp(f, i, port, true, kTcpSyn, 100, 0);
      info = Parse(f);
      Route(*fw, f, info, kLan, kWan, kSecond);
      BuildTcp(f, i, port, false, kTcpSyn | kTcpAck, 900, 101);
      info = Parse(f);
      Route(*fw, f, info, kWan, kLan, kSecond);
      BuildTcp(f, i, port, true, kTcpAck, 101, 901);
      info = Parse(f);
      Route(*fw, f, info, kLan, kWan, kSecond);
    }
    std::vector<uint32_t> order(2 * conns);
    for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
    std::shuffle(order.begin(), order.end(), std::mt19937(1));
    frames.resize(order.size() * kFrameLen);
    for (size_t k = 0; k < order.size(); ++k) {
      const uint32_t i = order[k] / 2;
      const bool client = order[k] % 2 == 0;
      const uint16_t port = static_cast<uint16_t>(1024 + i % 60000);
      uint8_t* p = &frames[k * kFrameLen];
      if (client) {
        BuildTcp(p, i, port, true, kTcpAck, 101, 901);
      } else {
        BuildTcp(p, i, port, false, kTcpAck, 901, 101);
      }
      infos.push_back(Parse(p));
      from_client.push_back(client);
    }
  }
};

// One table at a time (the 1M one is ~300 MB with its packets): built on first use, replaced when the size changes.
Established& Shared(uint32_t conns) {
  static std::unique_ptr<Established> e;
  static uint32_t built = 0;
  if (built != conns) {
    e.reset();
    e = std::make_unique<Established>(conns);
    built = conns;
  }
  return *e;
}

// The router port's receive buffers: RouterPort copies each frame the switch sends into one of 512 slots (stride
// kPacketHeadroom + kMaxFrameSize) and the router parses it there, so a parsed frame is one just written, not one
// fetched from a packet array far larger than the caches.
struct Slots {
  static constexpr size_t kCount = 512, kStride = kPacketHeadroom + kMaxFrameSize;
  HugeArray<uint8_t> buf{kCount * kStride};
  size_t next = 0;
  uint8_t* Receive(const uint8_t* frame) {
    uint8_t* p = buf.data() + next * kStride + kPacketHeadroom;
    std::memcpy(p, frame, kFrameLen);
    next = (next + 1) % kCount;
    return p;
  }
};

// Batches of kMaxBatch as the router hands them over: parse:1 receives each frame into a slot and parses it there
// (the copy is counted), parse:0 copies pre-parsed headers and routes the frames where they are; then route each
// packet. prefetch 0: no cache warming; 1: pipelined Firewall::prefetch(info, stage) kAhead packets ahead; 2: the
// batch Firewall::prefetch(span) once before routing the batch.
void BM_EstablishedFastPath(benchmark::State& state) {
  const uint32_t conns = static_cast<uint32_t>(state.range(0));
  const bool parse = state.range(1) != 0;
  const bool prefetch = state.range(2) == 1;
  const bool prefetch_batch = state.range(2) == 2;
  constexpr size_t kAhead = 8;
  Established& e = Shared(conns);
  const size_t n = e.infos.size() / kMaxBatch * kMaxBatch;
  size_t k = 0;
  uint64_t bad = 0;
  const Nanos now = 2 * kSecond;
  L3Info batch[kMaxBatch];
  uint8_t* frame[kMaxBatch];
  Slots slots;
  for (auto _ : state) {
    for (size_t j = 0; j < kMaxBatch; ++j) {
      if (parse) {
        frame[j] = slots.Receive(&e.frames[(k + j) * kFrameLen]);
        ParseL3(frame[j], kFrameLen, 14, 0x0800, &batch[j]);
      } else {
        frame[j] = &e.frames[(k + j) * kFrameLen];
        batch[j] = e.infos[k + j];
      }
    }
    if (prefetch_batch) e.fw->prefetch(std::span<const L3Info>(batch, kMaxBatch));
    if (prefetch) {
      for (size_t j = 0; j < 2 * kAhead; ++j) e.fw->prefetch(batch[j], 0);
      for (size_t j = 0; j < kAhead; ++j) e.fw->prefetch(batch[j], 1);
    }
    for (size_t j = 0; j < kMaxBatch; ++j) {
      if (prefetch) {
        if (j + 2 * kAhead < kMaxBatch) e.fw->prefetch(batch[j + 2 * kAhead], 0);
        if (j + kAhead < kMaxBatch) e.fw->prefetch(batch[j + kAhead], 1);
      }
      // The next batch's frames arrive meanwhile: a receive buffer the kernel has just written is in cache, a
      // corpus of 100k+ frames is not, so warm the one the next batch receives (the request is counted).
      if (parse) __builtin_prefetch(&e.frames[(k + kMaxBatch + j) % n * kFrameLen]);
      const bool c = e.from_client[k + j];
      const Verdict v = Route(*e.fw, frame[j], batch[j], c ? kLan : kWan, c ? kWan : kLan, now);
      bad += v.action != Action::kAccept;
    }
    k += kMaxBatch;
    if (k == n) k = 0;
  }
  if (bad) state.SkipWithError("established packets were refused");
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kMaxBatch));
  state.counters["connections"] = static_cast<double>(e.fw->stats().connections);
}
// Grouped by table size, so each table is built once (rebuilding one of 300 MB between runs fragments memory, and the
// next table may then get fewer huge pages than a long-running router's).
void EstablishedArgs(benchmark::internal::Benchmark* b) {
  for (int64_t conns : {1000, 100000, 1000000}) {
    for (int64_t parse : {0, 1}) {
      for (int64_t prefetch : {0, 1, 2}) b->Args({conns, parse, prefetch});
    }
  }
}
BENCHMARK(BM_EstablishedFastPath)->Apply(EstablishedArgs)->ArgNames({"conns", "parse", "prefetch"});

// New flows: SYNs of distinct tuples through a 10,000-rule set into a 65536-entry table (steady state: every SYN
// creates a connection and evicts the oldest unestablished one); expire() every 256 packets.
void BM_NewFlowSetup(benchmark::State& state) {
  constexpr size_t kTuples = 262144;
  ConntrackConfig config;
  config.max_connections = 65536;
  Firewall fw(config);
  fw.replace(Firewall::Compile(LanToWan(10000)).value(), 0);
  std::vector<uint8_t> frames(kTuples * kFrameLen);
  for (uint32_t i = 0; i < kTuples; ++i) {
    BuildTcp(&frames[i * kFrameLen], i / 4, static_cast<uint16_t>(20000 + i % 4), true, kTcpSyn, i, 0);
  }
  size_t k = 0;
  uint64_t bad = 0;
  Nanos now = kSecond;
  for (auto _ : state) {
    uint8_t* f = &frames[k * kFrameLen];
    L3Info info;
    ParseL3(f, kFrameLen, 14, 0x0800, &info);
    bad += Route(fw, f, info, kLan, kWan, now).action != Action::kAccept;
    if ((k & 255) == 0) {
      now += kMillisecond;
      fw.expire(now);
    }
    if (++k == kTuples) k = 0;
  }
  if (bad) state.SkipWithError("new flows were refused");
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.counters["evicted"] = static_cast<double>(fw.stats().evicted);
}
BENCHMARK(BM_NewFlowSetup);

}  // namespace
}  // namespace cloudlet::firewall

BENCHMARK_MAIN();
