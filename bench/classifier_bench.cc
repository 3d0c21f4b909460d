// Firewall rule classification (Classifier::classify / classify_batch) over generated, realistic rule sets of 10,
// 1,000 and 10,000 rules: per rule a zone pair, an IPv4 src /16-/32 and dst /24-/32, tcp or udp with a dport or a
// small range; ~5% ICMP rules with a type. Half the keys are drawn from rules (they match), the rest match nothing
// (the worst case for a linear scan): half of those with addresses no rule covers, half near misses whose every
// field matches some rule (the hard case for bit vectors: many candidate words). match_fraction shows the mix. Reports
// packets classified per second; memory_bytes as a counter.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "firewall/classifier.h"

namespace cloudlet::firewall {
namespace {

constexpr ZoneId kZones = 8;
constexpr size_t kKeys = 4096;

IpPrefix RandomV4Prefix(std::mt19937_64& rng, int min_len, int max_len) {
  const int len = min_len + static_cast<int>(rng() % (max_len - min_len + 1));
  // Addresses in 10.0.0.0/8 and 172.16.0.0/12, as on a real site, so prefixes overlap somewhat.
  const uint32_t base = rng() % 4 == 0 ? 0xac100000u | (rng() & 0x000fffffu) : 0x0a000000u | (rng() & 0x00ffffffu);
  return MaskedPrefix({IpAddress::V4(base), static_cast<uint8_t>(len)});
}

std::vector<Rule> MakeRules(size_t n, std::mt19937_64& rng) {
  std::vector<Rule> rules(n);
  for (Rule& r : rules) {
    r.from_zones = {static_cast<ZoneId>(rng() % kZones)};
    r.to_zones = {static_cast<ZoneId>(rng() % kZones)};
    r.src = {RandomV4Prefix(rng, 16, 32)};
    r.dst = {RandomV4Prefix(rng, 24, 32)};
    if (rng() % 20 == 0) {
      r.proto = 1;
      r.icmp_type = static_cast<int16_t>(rng() % 2 ? 8 : 0);
    } else {
      r.proto = rng() % 2 ? 6 : 17;
      const auto port = static_cast<uint16_t>(1 + rng() % 60000);
      r.dports = {{port, static_cast<uint16_t>(port + (rng() % 4 == 0 ? rng() % 16 : 0))}};
    }
    r.action = rng() % 2 ? Action::kAccept : Action::kDrop;
  }
  return rules;
}

std::array<uint8_t, 16> AddrIn(const IpPrefix& p, std::mt19937_64& rng) {
  const uint32_t host = p.length == 32 ? 0 : static_cast<uint32_t>(rng()) >> p.length;
  uint32_t net = 0;
  for (int i = 0; i < 4; ++i) net = net << 8 | p.address.bytes[i];
  return IpAddress::V4(net | host).bytes;
}

std::vector<ClassifyKey> MakeKeys(const std::vector<Rule>& rules, std::mt19937_64& rng) {
  std::vector<ClassifyKey> keys(kKeys);
  for (size_t i = 0; i < kKeys; ++i) {
    ClassifyKey& k = keys[i];
    k.family = 4;
    if (i % 2 == 0) {  // from a rule: matches it (or an earlier one)
      const Rule& r = rules[rng() % rules.size()];
      k.from = r.from_zones[0];
      k.to = r.to_zones[0];
      k.src = AddrIn(r.src[0], rng);
      k.dst = AddrIn(r.dst[0], rng);
      k.proto = r.proto;
      if (r.proto == 1) {
        k.icmp_type = static_cast<uint8_t>(r.icmp_type);
      } else {
        k.sport = static_cast<uint16_t>(1024 + rng() % 60000);
        k.dport = r.dports[0].lo;
      }
    } else if (i % 4 == 1) {  // addresses outside every rule's prefixes: no match
      k.from = static_cast<ZoneId>(rng() % kZones);
      k.to = static_cast<ZoneId>(rng() % kZones);
      k.src = IpAddress::V4(0xc0a80000u | (rng() & 0xffff)).bytes;  // 192.168/16
      k.dst = IpAddress::V4(0x0a000000u | (rng() & 0xffffff)).bytes;
      k.proto = rng() % 2 ? 6 : 17;
      k.sport = static_cast<uint16_t>(1024 + rng() % 60000);
      k.dport = static_cast<uint16_t>(1 + rng() % 60000);
    } else {  // near misses: each field matches some rule, but (almost always) not the same one
      auto pick = [&]() -> const Rule& { return rules[rng() % rules.size()]; };
      k.from = pick().from_zones[0];
      k.to = pick().to_zones[0];
      k.src = AddrIn(pick().src[0], rng);
      k.dst = AddrIn(pick().dst[0], rng);
      k.proto = rng() % 2 ? 6 : 17;
      k.sport = static_cast<uint16_t>(1024 + rng() % 60000);
      const Rule& r = pick();
      k.dport = r.dports.empty() ? 80 : r.dports[0].lo;
    }
  }
  return keys;
}

struct Fixture {
  explicit Fixture(size_t n) {
    std::mt19937_64 rng(n);
    rules = MakeRules(n, rng);
    keys = MakeKeys(rules, rng);
    auto c = Classifier::Compile(rules);
    if (!c.ok()) std::abort();
    classifier = *c;
    for (const ClassifyKey& k : keys) matched += classifier->classify(k) != kNoMatch;
  }
  std::vector<Rule> rules;
  std::vector<ClassifyKey> keys;
  std::shared_ptr<const Classifier> classifier;
  size_t matched = 0;
};

void Report(benchmark::State& state, const Fixture& f, size_t packets) {
  state.SetItemsProcessed(static_cast<int64_t>(packets));
  state.counters["memory_bytes"] = static_cast<double>(f.classifier->memory_bytes());
  state.counters["match_fraction"] = static_cast<double>(f.matched) / static_cast<double>(f.keys.size());
}

void BM_Classify(benchmark::State& state) {
  const Fixture f(static_cast<size_t>(state.range(0)));
  size_t i = 0, packets = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(f.classifier->classify(f.keys[i]));
    i = (i + 1) % kKeys;
    ++packets;
  }
  Report(state, f, packets);
}
BENCHMARK(BM_Classify)->Arg(10)->Arg(1000)->Arg(10000);

void BM_ClassifyBatch(benchmark::State& state) {
  const Fixture f(static_cast<size_t>(state.range(0)));
  constexpr size_t kBatch = 32;
  std::vector<uint32_t> out(kBatch);
  size_t i = 0, packets = 0;
  for (auto _ : state) {
    f.classifier->classify_batch(&f.keys[i], kBatch, out.data());
    benchmark::DoNotOptimize(out.data());
    i = (i + kBatch) % kKeys;
    packets += kBatch;
  }
  Report(state, f, packets);
}
BENCHMARK(BM_ClassifyBatch)->Arg(10)->Arg(1000)->Arg(10000);

// Compile time of the same sets (a rule reload).
void BM_Compile(benchmark::State& state) {
  std::mt19937_64 rng(state.range(0));
  const std::vector<Rule> rules = MakeRules(static_cast<size_t>(state.range(0)), rng);
  for (auto _ : state) {
    auto c = Classifier::Compile(rules);
    benchmark::DoNotOptimize(c.ok());
  }
}
BENCHMARK(BM_Compile)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace cloudlet::firewall

BENCHMARK_MAIN();
