// Aggregated bit vectors (Baboescu & Varghese, "Scalable packet classification", SIGCOMM 2001).
//
// Compile: for every field the rules' bounds cut the field's value space into elementary intervals; each interval
// gets the bitset of rules naming a value in it (bit i = rule i). Rules that say "any" in a field are one separate
// wildcard bitset per field, ORed in at lookup, rather than copied into every interval: a few hundred ICMP rules
// without ports would otherwise add ~150 words to each of thousands of port intervals. Bitsets are deduplicated
// across all fields and stored sparsely: per bitset an aggregate (bit j set iff 64-rule word j is nonzero) and a
// base index of its nonzero words, in order, in one contiguous pool.
//
// Lookup (no allocation): find each constrained field's bitset (direct table for zones, family, proto and ICMP;
// branchless binary search for ports and addresses, IPv4 as uint32 narrowed by a table on the top 16 bits, IPv6 as
// two big-endian uint64 halves); AND the fields' (specific | wildcard) aggregates to find candidate words in rule
// order; AND only those words across fields; the lowest set bit is the first matching rule. Fields no rule
// constrains are left out of the lookup.
//
// Memory: realistic sets cost a few words per interval (10,000 rules as in bench/classifier_bench.cc: ~2.6 MB,
// 0.5 MB of it the 16-bit index tables). Worst case per ordered field: intervals <= 2 * (prefixes or ranges) + 1,
// each distinct bitset up to rules/64 words. Nesting is bounded (at most 33 IPv4 / 129 IPv6 prefixes contain a
// point), but one prefix shared by thousands of scattered rules with thousands of distinct host prefixes inside it
// makes every interval's bitset distinct and dense: 10,000 rules -> ~10,000 intervals x 157 words x 8 B ~= 12.5 MB
// per address field; at kMaxRules with several prefixes per rule, hundreds of MB. memory_bytes() reports the figure.
#include "firewall/classifier.h"

#include <algorithm>
#include <bit>
#include <functional>
#include <unordered_map>

namespace cloudlet::firewall {

const char* ActionName(Action action) {
  switch (action) {
    case Action::kAccept:
      return "accept";
    case Action::kDrop:
      return "drop";
    case Action::kReject:
      return "reject";
  }
  return "?";
}

namespace {

constexpr uint8_t kTcp = 6;
constexpr uint8_t kUdp = 17;
constexpr uint8_t kIcmp = 1;
constexpr uint8_t kIcmpV6 = 58;

bool IsPortProto(uint8_t proto) { return proto == kTcp || proto == kUdp; }
bool IsIcmpProto(uint8_t proto) { return proto == kIcmp || proto == kIcmpV6; }

IpAddress::Family KeyFamily(uint8_t family) { return family == 6 ? IpAddress::Family::kV6 : IpAddress::Family::kV4; }

bool PrefixesMatch(const std::vector<IpPrefix>& prefixes, uint8_t key_family, const std::array<uint8_t, 16>& addr) {
  if (prefixes.empty()) return true;
  if (key_family != 4 && key_family != 6) return false;
  const IpAddress address{KeyFamily(key_family), addr};
  for (const IpPrefix& p : prefixes) {
    if (p.length > p.address.bit_width()) continue;  // invalid; Compile rejects it
    if (PrefixContains(p, address)) return true;
  }
  return false;
}

bool PortsMatch(const std::vector<PortRange>& ranges, uint16_t port) {
  if (ranges.empty()) return true;
  return std::any_of(ranges.begin(), ranges.end(), [&](const PortRange& r) { return r.lo <= port && port <= r.hi; });
}

bool ZonesMatch(const std::vector<ZoneId>& zones, ZoneId zone) {
  return zones.empty() || std::find(zones.begin(), zones.end(), zone) != zones.end();
}

bool RuleMatches(const Rule& r, const ClassifyKey& k) {
  if (!ZonesMatch(r.from_zones, k.from) || !ZonesMatch(r.to_zones, k.to)) return false;
  if (r.family != 0 && r.family != k.family) return false;
  if (!PrefixesMatch(r.src, k.family, k.src) || !PrefixesMatch(r.dst, k.family, k.dst)) return false;
  if (r.proto != 0 && r.proto != k.proto) return false;
  if (!r.sports.empty() || !r.dports.empty()) {
    if (!IsPortProto(r.proto) || !IsPortProto(k.proto)) return false;
    if (!PortsMatch(r.sports, k.sport) || !PortsMatch(r.dports, k.dport)) return false;
  }
  if (r.icmp_type >= 0 || r.icmp_code >= 0) {
    if (!IsIcmpProto(r.proto) || !IsIcmpProto(k.proto)) return false;
    if (r.icmp_type >= 0 && r.icmp_type != k.icmp_type) return false;
    if (r.icmp_code >= 0 && r.icmp_code != k.icmp_code) return false;
  }
  return true;
}

std::string RuleError(size_t index, const std::string& what) { return "rule " + std::to_string(index) + ": " + what; }

Status ValidateRule(size_t i, const Rule& r) {
  if (r.family != 0 && r.family != 4 && r.family != 6) {
    return Error(RuleError(i, "family " + std::to_string(r.family) + " is not 4 or 6 (or 0 for both)"));
  }
  bool families[2][2] = {};  // [src/dst][v4/v6]: which families the prefix lists allow
  const std::vector<IpPrefix>* lists[2] = {&r.src, &r.dst};
  for (int side = 0; side < 2; ++side) {
    const char* name = side == 0 ? "src" : "dst";
    for (const IpPrefix& p : *lists[side]) {
      const bool v6 = p.address.family == IpAddress::Family::kV6;
      if (p.length > p.address.bit_width()) {
        return Error(RuleError(i, std::string(name) + " prefix length " + std::to_string(p.length) + " exceeds " +
                                      std::to_string(p.address.bit_width()) + " bits"));
      }
      if (r.family != 0 && r.family != (v6 ? 6 : 4)) {
        return Error(RuleError(i, std::string(name) + " prefix " + FormatIpPrefix(p) + " is IPv" + (v6 ? "6" : "4") +
                                      " but the rule's family is " + std::to_string(r.family)));
      }
      families[side][v6 ? 1 : 0] = true;
    }
  }
  if (!r.src.empty() && !r.dst.empty() && !(families[0][0] && families[1][0]) && !(families[0][1] && families[1][1])) {
    return Error(RuleError(i, "src and dst prefixes share no address family"));
  }
  if ((!r.sports.empty() || !r.dports.empty()) && !IsPortProto(r.proto)) {
    return Error(RuleError(i, "ports need proto tcp or udp"));
  }
  for (const auto* list : {&r.sports, &r.dports}) {
    for (const PortRange& pr : *list) {
      if (pr.lo > pr.hi) {
        return Error(
            RuleError(i, "port range " + std::to_string(pr.lo) + "-" + std::to_string(pr.hi) + " is empty (lo > hi)"));
      }
    }
  }
  if ((r.icmp_type >= 0 || r.icmp_code >= 0) && !IsIcmpProto(r.proto)) {
    return Error(RuleError(i, "icmp type/code need proto icmp or icmpv6"));
  }
  if (r.icmp_type < -1 || r.icmp_type > 255) {
    return Error(RuleError(i, "icmp type " + std::to_string(r.icmp_type) + " out of range 0-255 (-1: any)"));
  }
  if (r.icmp_code < -1 || r.icmp_code > 255) {
    return Error(RuleError(i, "icmp code " + std::to_string(r.icmp_code) + " out of range 0-255 (-1: any)"));
  }
  return Status::Ok();
}

using U128 = unsigned __int128;

// std::popcount compiles to a libgcc call on the x86-64 baseline (no POPCNT): inline SWAR on the lookup path.
inline int PopCount(uint64_t x) {
#ifdef __POPCNT__
  return std::popcount(x);
#else
  x -= (x >> 1) & 0x5555555555555555ULL;
  x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
  x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0fULL;
  return static_cast<int>((x * 0x0101010101010101ULL) >> 56);
#endif
}

uint32_t V4Value(const std::array<uint8_t, 16>& b) {
  return uint32_t{b[0]} << 24 | uint32_t{b[1]} << 16 | uint32_t{b[2]} << 8 | b[3];
}
uint64_t Be64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = v << 8 | p[i];
  return v;
}
U128 V6Value(const std::array<uint8_t, 16>& b) { return U128{Be64(b.data())} << 64 | Be64(b.data() + 8); }

// [lo, hi] of a prefix in its family's value space (host bits ignored, as PrefixContains does).
std::pair<U128, U128> PrefixInterval(const IpPrefix& p) {
  const int width = p.address.bit_width();
  const U128 v = width == 32 ? U128{V4Value(p.address.bytes)} : V6Value(p.address.bytes);
  const int host = width - p.length;
  const U128 host_mask = host == 0 ? 0 : (host == 128 ? ~U128{0} : (U128{1} << host) - 1);
  return {v & ~host_mask, (v & ~host_mask) | host_mask};
}

struct Interval {
  U128 lo, hi;
  uint32_t rule;
};

}  // namespace

uint32_t ClassifyReference(const std::vector<Rule>& rules, const ClassifyKey& key) {
  for (size_t i = 0; i < rules.size(); ++i) {
    if (RuleMatches(rules[i], key)) return static_cast<uint32_t>(i);
  }
  return kNoMatch;
}

struct Classifier::Impl {
  // Fields in lookup order: the usually most selective first, so the per-word AND stops early.
  enum FieldId { kSrc, kDst, kDport, kSport, kProto, kFrom, kTo, kIcmpType, kIcmpCode, kFamily, kFieldCount };

  struct DirectField {  // value -> bitset id; values >= size share the last entry
    std::vector<uint32_t> ids;
    uint32_t Find(uint32_t v) const { return ids[std::min<size_t>(v, ids.size() - 1)]; }
  };
  template <typename T>
  struct RangeField {  // elementary intervals: starts[0] == 0, ascending; ids[i] covers [starts[i], starts[i+1])
    std::vector<T> starts;
    std::vector<uint32_t> ids;
    uint32_t Find(T v) const {
      const T* base = starts.data();
      size_t n = starts.size();
      while (n > 1) {  // branchless: last start <= v
        const size_t half = n / 2;
        base = base[half] <= v ? base + half : base;
        n -= half;
      }
      return ids[base - starts.data()];
    }
  };
  // Ports and IPv4 addresses: with many intervals, a table on the value's top 16 bits narrows the search to the
  // intervals of that block (one step for ports), instead of ~15 dependent loads over the whole array.
  struct Range32 : RangeField<uint32_t> {
    static constexpr size_t kMinIntervalsForIndex = 64;
    std::vector<uint32_t> top;  // [b]: interval holding b << shift; [65536]: the last interval
    int shift = 0;
    void BuildIndex(int value_bits) {
      if (starts.size() < kMinIntervalsForIndex) return;
      shift = value_bits - 16;
      top.resize(65537);
      size_t idx = 0;
      for (uint32_t b = 0; b < 65536; ++b) {
        while (idx + 1 < starts.size() && starts[idx + 1] <= uint64_t{b} << shift) ++idx;
        top[b] = static_cast<uint32_t>(idx);
      }
      top[65536] = static_cast<uint32_t>(starts.size() - 1);
    }
    uint32_t Find(uint32_t v) const {
      if (top.empty()) return RangeField<uint32_t>::Find(v);
      const uint32_t b = v >> shift;
      const uint32_t* base = starts.data() + top[b];  // *base <= v; the answer is at most top[b + 1]
      size_t n = top[b + 1] - top[b] + 1;
      while (n > 1) {
        const size_t half = n / 2;
        base = base[half] <= v ? base + half : base;
        n -= half;
      }
      return ids[base - starts.data()];
    }
  };
  struct V6 {
    uint64_t hi, lo;
    bool operator<=(const V6& o) const { return hi < o.hi || (hi == o.hi && lo <= o.lo); }
  };

  size_t rule_count = 0;
  uint32_t agg_words = 0;  // per bitset: ceil(words / 64), words = ceil(rules / 64)
  // Bitset `id`: aggregate words agg[id * agg_words + a] (bit b set iff rule word 64 * a + b is nonzero), whose
  // nonzero words are pool[base[id]...] in order.
  std::vector<uint64_t> agg;
  std::vector<uint32_t> base;
  std::vector<uint64_t> pool;
  // Per field, the rules that say "any" there. Kept out of the per-interval bitsets (a field matches specific | wild)
  // because copying them into every interval is what makes plain ABV tables large.
  uint32_t wild[kFieldCount] = {};

  DirectField from, to, family, proto, icmp_type, icmp_code;
  Range32 sport, dport, src4, dst4;
  RangeField<V6> src6, dst6;
  uint32_t empty_id = 0;  // keys of neither family: no specific rule matches their address
  bool active[kFieldCount] = {};
  uint8_t active_list[kFieldCount] = {};
  uint8_t active_count = 0;

  // Build state.
  size_t words = 0;
  std::unordered_multimap<uint64_t, uint32_t> dedup;

  uint32_t Intern(const std::vector<uint64_t>& dense, uint64_t hash);
  // Sweeps `intervals` (each a value range in [0, max] matching rule .rule; duplicates and overlaps allowed) and
  // calls emit(start, bitset id) per elementary interval.
  void Sweep(const std::vector<Interval>& intervals, U128 max, const std::function<void(U128, uint32_t)>& emit);
  uint32_t InternRules(const std::vector<uint32_t>& rules);

  void FindIds(const ClassifyKey& k, uint32_t* ids) const;
  uint32_t Resolve(const uint32_t* ids) const;
};

uint32_t Classifier::Impl::Intern(const std::vector<uint64_t>& dense, uint64_t hash) {
  auto [it, end] = dedup.equal_range(hash);
  for (; it != end; ++it) {
    const uint32_t id = it->second;
    bool same = true;
    for (size_t w = 0; w < words && same; ++w) {
      const uint64_t* a = &agg[size_t{id} * agg_words];
      size_t rank = base[id];
      for (size_t j = 0; j < w / 64; ++j) rank += std::popcount(a[j]);
      const uint64_t bit = uint64_t{1} << (w % 64);
      const uint64_t stored = (a[w / 64] & bit) ? pool[rank + std::popcount(a[w / 64] & (bit - 1))] : 0;
      same = stored == dense[w];
    }
    if (same) return id;
  }
  const auto id = static_cast<uint32_t>(base.size());
  base.push_back(static_cast<uint32_t>(pool.size()));
  for (uint32_t a = 0; a < agg_words; ++a) {
    uint64_t aw = 0;
    for (size_t w = size_t{a} * 64; w < std::min(words, size_t{a} * 64 + 64); ++w) {
      if (dense[w] == 0) continue;
      aw |= uint64_t{1} << (w % 64);
      pool.push_back(dense[w]);
    }
    agg.push_back(aw);
  }
  dedup.emplace(hash, id);
  return id;
}

uint32_t Classifier::Impl::InternRules(const std::vector<uint32_t>& rules) {
  std::vector<Interval> all;
  all.reserve(rules.size());
  for (uint32_t r : rules) all.push_back({0, 0, r});
  uint32_t id = 0;
  Sweep(all, 0, [&](U128, uint32_t bid) { id = bid; });
  return id;
}

void Classifier::Impl::Sweep(const std::vector<Interval>& intervals, U128 max,
                             const std::function<void(U128, uint32_t)>& emit) {
  // Events: +1 at lo, -1 at hi + 1. Counts per rule, since one rule's ranges may overlap.
  struct Event {
    U128 at;
    uint32_t rule;
    int delta;
  };
  std::vector<Event> events;
  events.reserve(intervals.size() * 2);
  for (const Interval& iv : intervals) {
    events.push_back({iv.lo, iv.rule, +1});
    if (iv.hi != max) events.push_back({iv.hi + 1, iv.rule, -1});
  }
  std::sort(events.begin(), events.end(), [](const Event& a, const Event& b) { return a.at < b.at; });

  // Zobrist-style hash, updated as rules enter and leave the current set.
  auto rule_hash = [](uint32_t r) {
    uint64_t x = r + 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
  };
  std::vector<uint64_t> dense(words, 0);
  std::unordered_map<uint32_t, int> counts;
  uint64_t hash = 0;
  size_t e = 0;
  U128 at = 0;
  while (true) {
    while (e < events.size() && events[e].at == at) {
      const Event& ev = events[e++];
      int& c = counts[ev.rule];
      const int before = c;
      c += ev.delta;
      if ((before == 0) != (c == 0)) {  // membership changed
        dense[ev.rule / 64] ^= uint64_t{1} << (ev.rule % 64);
        hash ^= rule_hash(ev.rule);
      }
    }
    emit(at, Intern(dense, hash));
    if (e == events.size()) break;
    at = events[e].at;
  }
}

Result<std::shared_ptr<const Classifier>> Classifier::Compile(const std::vector<Rule>& rules) {
  if (rules.size() > kMaxRules) {
    return Error("too many rules: " + std::to_string(rules.size()) + " (at most " + std::to_string(kMaxRules) + ")");
  }
  for (size_t i = 0; i < rules.size(); ++i) CL_RETURN_IF_ERROR(ValidateRule(i, rules[i]));

  std::shared_ptr<Classifier> c(new Classifier());
  c->impl_ = std::make_unique<Impl>();
  Impl& m = *c->impl_;
  m.rule_count = rules.size();
  if (rules.empty()) return std::shared_ptr<const Classifier>(std::move(c));
  m.words = (rules.size() + 63) / 64;
  m.agg_words = static_cast<uint32_t>((m.words + 63) / 64);

  auto build_direct = [&](Impl::DirectField& f, uint32_t domain_max, Impl::FieldId id, auto&& values_of) {
    std::vector<Interval> ivs;
    std::vector<uint32_t> any;
    uint32_t top = 0;
    for (uint32_t r = 0; r < rules.size(); ++r) {
      const std::vector<uint32_t> vals = values_of(rules[r]);
      if (vals.empty()) any.push_back(r);
      for (uint32_t v : vals) {
        ivs.push_back({v, v, r});
        top = std::max(top, v);
      }
    }
    m.active[id] = !ivs.empty();
    m.wild[id] = m.InternRules(any);
    // Table up to the largest value any rule names, plus one entry for everything above it.
    const uint32_t size = std::min(domain_max, top + 1) + 1;
    f.ids.assign(size, 0);
    std::vector<std::pair<uint32_t, uint32_t>> starts;
    m.Sweep(ivs, domain_max, [&](U128 at, uint32_t bid) { starts.emplace_back(static_cast<uint32_t>(at), bid); });
    size_t s = 0;
    for (uint32_t v = 0; v < size; ++v) {
      while (s + 1 < starts.size() && starts[s + 1].first <= v) ++s;
      f.ids[v] = starts[s].second;
    }
  };
  auto list = [](const std::vector<ZoneId>& zones) { return std::vector<uint32_t>(zones.begin(), zones.end()); };
  build_direct(m.from, 0xffff, Impl::kFrom, [&](const Rule& r) { return list(r.from_zones); });
  build_direct(m.to, 0xffff, Impl::kTo, [&](const Rule& r) { return list(r.to_zones); });
  build_direct(m.family, 0xff, Impl::kFamily,
               [](const Rule& r) { return r.family == 0 ? std::vector<uint32_t>{} : std::vector<uint32_t>{r.family}; });
  build_direct(m.proto, 0xff, Impl::kProto,
               [](const Rule& r) { return r.proto == 0 ? std::vector<uint32_t>{} : std::vector<uint32_t>{r.proto}; });
  build_direct(m.icmp_type, 0xff, Impl::kIcmpType, [](const Rule& r) {
    return r.icmp_type < 0 ? std::vector<uint32_t>{} : std::vector<uint32_t>{static_cast<uint32_t>(r.icmp_type)};
  });
  build_direct(m.icmp_code, 0xff, Impl::kIcmpCode, [](const Rule& r) {
    return r.icmp_code < 0 ? std::vector<uint32_t>{} : std::vector<uint32_t>{static_cast<uint32_t>(r.icmp_code)};
  });

  auto build_ports = [&](Impl::Range32& f, Impl::FieldId id, auto member) {
    std::vector<Interval> ivs;
    std::vector<uint32_t> any;
    for (uint32_t r = 0; r < rules.size(); ++r) {
      const std::vector<PortRange>& ranges = rules[r].*member;
      if (ranges.empty()) any.push_back(r);
      for (const PortRange& pr : ranges) ivs.push_back({pr.lo, pr.hi, r});
    }
    m.active[id] = !ivs.empty();
    m.wild[id] = m.InternRules(any);
    m.Sweep(ivs, 0xffff, [&](U128 at, uint32_t bid) {
      f.starts.push_back(static_cast<uint32_t>(at));
      f.ids.push_back(bid);
    });
    f.BuildIndex(16);
  };
  build_ports(m.sport, Impl::kSport, &Rule::sports);
  build_ports(m.dport, Impl::kDport, &Rule::dports);

  m.empty_id = m.InternRules({});
  auto build_addr = [&](Impl::Range32& f4, Impl::RangeField<Impl::V6>& f6, Impl::FieldId id, auto member) {
    std::vector<Interval> ivs4, ivs6;
    std::vector<uint32_t> any;
    for (uint32_t r = 0; r < rules.size(); ++r) {
      const std::vector<IpPrefix>& prefixes = rules[r].*member;
      if (prefixes.empty()) any.push_back(r);
      for (const IpPrefix& p : prefixes) {
        auto [lo, hi] = PrefixInterval(p);
        (p.address.family == IpAddress::Family::kV4 ? ivs4 : ivs6).push_back({lo, hi, r});
      }
    }
    m.active[id] = !ivs4.empty() || !ivs6.empty();
    m.wild[id] = m.InternRules(any);
    m.Sweep(ivs4, 0xffffffffu, [&](U128 at, uint32_t bid) {
      f4.starts.push_back(static_cast<uint32_t>(at));
      f4.ids.push_back(bid);
    });
    f4.BuildIndex(32);
    m.Sweep(ivs6, ~U128{0}, [&](U128 at, uint32_t bid) {
      f6.starts.push_back({static_cast<uint64_t>(at >> 64), static_cast<uint64_t>(at)});
      f6.ids.push_back(bid);
    });
  };
  build_addr(m.src4, m.src6, Impl::kSrc, &Rule::src);
  build_addr(m.dst4, m.dst6, Impl::kDst, &Rule::dst);

  for (uint8_t f = 0; f < Impl::kFieldCount; ++f) {
    if (m.active[f]) m.active_list[m.active_count++] = f;
  }
  m.dedup = {};
  m.agg.shrink_to_fit();
  m.base.shrink_to_fit();
  m.pool.shrink_to_fit();
  // Every field unconstrained: the all-rules bitset must still be consulted, so use the family field.
  if (m.active_count == 0) m.active_list[m.active_count++] = Impl::kFamily;
  return std::shared_ptr<const Classifier>(std::move(c));
}

void Classifier::Impl::FindIds(const ClassifyKey& k, uint32_t* ids) const {
  for (uint8_t i = 0; i < active_count; ++i) {
    uint32_t id = 0;
    switch (active_list[i]) {
      case kSrc:
        id = k.family == 4   ? src4.Find(V4Value(k.src))
             : k.family == 6 ? src6.Find(V6{Be64(k.src.data()), Be64(k.src.data() + 8)})
                             : empty_id;
        break;
      case kDst:
        id = k.family == 4   ? dst4.Find(V4Value(k.dst))
             : k.family == 6 ? dst6.Find(V6{Be64(k.dst.data()), Be64(k.dst.data() + 8)})
                             : empty_id;
        break;
      case kDport:
        id = dport.Find(k.dport);
        break;
      case kSport:
        id = sport.Find(k.sport);
        break;
      case kProto:
        id = proto.Find(k.proto);
        break;
      case kFrom:
        id = from.Find(k.from);
        break;
      case kTo:
        id = to.Find(k.to);
        break;
      case kIcmpType:
        id = icmp_type.Find(k.icmp_type);
        break;
      case kIcmpCode:
        id = icmp_code.Find(k.icmp_code);
        break;
      case kFamily:
        id = family.Find(k.family);
        break;
      default:
        break;
    }
    ids[i] = id;
  }
}

uint32_t Classifier::Impl::Resolve(const uint32_t* ids) const {
  const uint8_t n = active_count;
  const uint64_t* spec_agg[kFieldCount];
  const uint64_t* wild_agg[kFieldCount];
  size_t spec_off[kFieldCount], wild_off[kFieldCount];  // pool index of the current aggregate word's first word
  for (uint8_t f = 0; f < n; ++f) {
    const uint32_t w = wild[active_list[f]];
    spec_agg[f] = &agg[size_t{ids[f]} * agg_words];
    wild_agg[f] = &agg[size_t{w} * agg_words];
    spec_off[f] = base[ids[f]];
    wild_off[f] = base[w];
  }
  const uint64_t* p = pool.data();
  for (uint32_t a = 0; a < agg_words; ++a) {
    uint64_t cand = ~uint64_t{0};
    for (uint8_t f = 0; f < n; ++f) cand &= spec_agg[f][a] | wild_agg[f][a];
    while (cand != 0) {
      const int bit = std::countr_zero(cand);
      const uint64_t below = (uint64_t{1} << bit) - 1;
      uint64_t word = ~uint64_t{0};
      for (uint8_t f = 0; f < n && word != 0; ++f) {
        const uint64_t sa = spec_agg[f][a], wa = wild_agg[f][a];
        const uint64_t sw = (sa >> bit) & 1 ? p[spec_off[f] + PopCount(sa & below)] : 0;
        const uint64_t ww = (wa >> bit) & 1 ? p[wild_off[f] + PopCount(wa & below)] : 0;
        word &= sw | ww;
      }
      if (word != 0) return (a * 64 + bit) * 64 + std::countr_zero(word);
      cand &= cand - 1;
    }
    for (uint8_t f = 0; f < n; ++f) {
      spec_off[f] += PopCount(spec_agg[f][a]);
      wild_off[f] += PopCount(wild_agg[f][a]);
    }
  }
  return kNoMatch;
}

Classifier::Classifier() = default;
Classifier::~Classifier() = default;

uint32_t Classifier::classify(const ClassifyKey& key) const {
  const Impl& m = *impl_;
  if (m.rule_count == 0) return kNoMatch;
  uint32_t ids[Impl::kFieldCount];
  m.FindIds(key, ids);
  return m.Resolve(ids);
}

void Classifier::classify_batch(const ClassifyKey* keys, size_t n, uint32_t* out) const {
  const Impl& m = *impl_;
  if (m.rule_count == 0) {
    std::fill(out, out + n, kNoMatch);
    return;
  }
  // Find every key's bitsets first and prefetch their aggregates, so the misses of a group overlap.
  constexpr size_t kGroup = 8;
  uint32_t ids[kGroup][Impl::kFieldCount];
  for (size_t base = 0; base < n; base += kGroup) {
    const size_t g = std::min(kGroup, n - base);
    for (size_t i = 0; i < g; ++i) {
      m.FindIds(keys[base + i], ids[i]);
      for (uint8_t f = 0; f < m.active_count; ++f) __builtin_prefetch(&m.agg[size_t{ids[i][f]} * m.agg_words]);
    }
    for (size_t i = 0; i < g; ++i) out[base + i] = m.Resolve(ids[i]);
  }
}

size_t Classifier::rule_count() const { return impl_->rule_count; }

size_t Classifier::memory_bytes() const {
  const Impl& m = *impl_;
  size_t bytes = sizeof(Classifier) + sizeof(Impl) + m.agg.capacity() * sizeof(uint64_t) +
                 m.base.capacity() * sizeof(uint32_t) + m.pool.capacity() * sizeof(uint64_t);
  for (const auto* f : {&m.from, &m.to, &m.family, &m.proto, &m.icmp_type, &m.icmp_code}) {
    bytes += f->ids.capacity() * sizeof(uint32_t);
  }
  for (const auto* f : {&m.sport, &m.dport, &m.src4, &m.dst4}) {
    bytes += (f->starts.capacity() + f->ids.capacity() + f->top.capacity()) * sizeof(uint32_t);
  }
  for (const auto* f : {&m.src6, &m.dst6}) {
    bytes += f->starts.capacity() * sizeof(Impl::V6) + f->ids.capacity() * sizeof(uint32_t);
  }
  return bytes;
}

}  // namespace cloudlet::firewall
