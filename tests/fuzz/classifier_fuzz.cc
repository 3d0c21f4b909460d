// libFuzzer target for the firewall's compiled classifier: the input becomes a rule set and a stream of keys. Compile
// must accept or refuse the rules (never crash), and for every key the compiled classifier must give exactly the
// answer of ClassifyReference (the linear-scan definition). Field values come from small pools so that rules overlap
// and keys hit them.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <utility>
#include <vector>

#include "firewall/classifier.h"

namespace {

using cloudlet::IpAddress;
using cloudlet::IpPrefix;
namespace fw = cloudlet::firewall;

class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : p_(data), end_(data + size) {}
  bool done() const { return p_ >= end_; }
  uint8_t u8() { return p_ < end_ ? *p_++ : 0; }
  uint16_t u16() { return static_cast<uint16_t>(u8() << 8 | u8()); }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
};

std::array<uint8_t, 16> Address(Reader& in, uint8_t family) {
  std::array<uint8_t, 16> a{};
  // A few distinct networks, so prefixes nest and collide.
  a[0] = static_cast<uint8_t>(10 + (in.u8() & 3));
  a[1] = in.u8() & 7;
  a[2] = in.u8();
  a[3] = in.u8();
  if (family == 6) {
    a[0] = 0xfd;
    a[15] = in.u8();
  }
  return a;
}

IpPrefix Prefix(Reader& in) {
  const uint8_t family = (in.u8() & 1) != 0 ? 6 : 4;
  IpPrefix p;
  p.address.family = family == 4 ? IpAddress::Family::kV4 : IpAddress::Family::kV6;
  p.address.bytes = Address(in, family);
  p.length = static_cast<uint8_t>(in.u8() % (family == 4 ? 33 : 129));
  return p;
}

uint16_t Port(Reader& in) {
  static constexpr uint16_t kPool[] = {0, 1, 22, 53, 80, 443, 1023, 1024, 5201, 8080, 65534, 65535};
  const uint8_t pick = in.u8();
  return pick < 200 ? kPool[pick % std::size(kPool)] : in.u16();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Reader in(data, size);
  std::vector<fw::Rule> rules;
  const size_t count = in.u8() % 64;
  for (size_t i = 0; i < count && !in.done(); ++i) {
    fw::Rule r;
    const uint8_t shape = in.u8();
    if ((shape & 1) != 0) r.from_zones.push_back(in.u8() & 3);
    if ((shape & 2) != 0) r.to_zones.push_back(in.u8() & 3);
    if ((shape & 4) != 0) r.src.push_back(Prefix(in));
    if ((shape & 8) != 0) r.dst.push_back(Prefix(in));
    static constexpr uint8_t kProtos[] = {0, 6, 17, 1, 58, 47};
    r.proto = kProtos[in.u8() % std::size(kProtos)];
    if ((shape & 16) != 0) r.family = (in.u8() & 1) != 0 ? 6 : 4;
    if ((shape & 32) != 0 && (r.proto == 6 || r.proto == 17)) {
      uint16_t lo = Port(in), hi = Port(in);
      if (lo > hi) std::swap(lo, hi);
      r.dports.push_back({lo, hi});
      if ((in.u8() & 1) != 0) r.sports.push_back({Port(in), 65535});
    }
    if ((shape & 64) != 0 && (r.proto == 1 || r.proto == 58)) {
      r.icmp_type = in.u8() & 15;
      if ((in.u8() & 1) != 0) r.icmp_code = in.u8() & 3;
    }
    r.action = static_cast<fw::Action>(in.u8() % 3);
    rules.push_back(std::move(r));
  }
  auto compiled = fw::Classifier::Compile(rules);
  if (!compiled.ok()) {
    if (compiled.error().message().empty()) std::abort();
    return 0;
  }
  const fw::Classifier& c = **compiled;
  std::vector<fw::ClassifyKey> keys;
  while (!in.done() && keys.size() < 256) {
    fw::ClassifyKey k;
    k.from = in.u8() & 3;
    k.to = in.u8() & 3;
    k.family = (in.u8() & 1) != 0 ? 6 : 4;
    static constexpr uint8_t kProtos[] = {6, 17, 1, 58, 47};
    k.proto = kProtos[in.u8() % std::size(kProtos)];
    k.src = Address(in, k.family);
    k.dst = Address(in, k.family);
    if (k.proto == 6 || k.proto == 17) {
      k.sport = Port(in);
      k.dport = Port(in);
    } else if (k.proto == 1 || k.proto == 58) {
      k.icmp_type = in.u8() & 15;
      k.icmp_code = in.u8() & 3;
    }
    keys.push_back(k);
  }
  std::vector<uint32_t> batch(keys.size());
  c.classify_batch(keys.data(), keys.size(), batch.data());
  for (size_t i = 0; i < keys.size(); ++i) {
    const uint32_t want = fw::ClassifyReference(rules, keys[i]);
    if (c.classify(keys[i]) != want || batch[i] != want) std::abort();
  }
  return 0;
}
