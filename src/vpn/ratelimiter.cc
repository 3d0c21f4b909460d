// Per-source token buckets for handshake messages; see ratelimiter.h.
#include "vpn/ratelimiter.h"

#include <sodium.h>

#include <algorithm>
#include <cstring>

namespace cloudlet::vpn {
namespace {

std::array<uint8_t, 16> HashKeyFrom(const RandomSource& random) {
  std::array<uint8_t, 16> key{};
  if (!random) return key;
  const uint64_t a = random();
  const uint64_t b = random();
  std::memcpy(key.data(), &a, sizeof a);
  std::memcpy(key.data() + 8, &b, sizeof b);
  return key;
}

}  // namespace

size_t HandshakeRateLimiter::KeyedHash::operator()(const SourceKey& source) const {
  // SipHash-2-4: needs no sodium_init().
  std::array<uint8_t, crypto_shorthash_BYTES> out{};
  crypto_shorthash(out.data(), source.data(), source.size(), key.data());
  size_t h = 0;
  std::memcpy(&h, out.data(), std::min(sizeof h, out.size()));
  return h;
}

HandshakeRateLimiter::HandshakeRateLimiter(const RandomSource& random, size_t max_entries)
    : max_entries_(max_entries), table_(16, KeyedHash{HashKeyFrom(random)}) {}

void HandshakeRateLimiter::collect_garbage(Nanos now) {
  last_gc_ = now;
  gc_started_ = true;
  std::erase_if(table_, [now](const auto& entry) { return now - entry.second.last_seen > kIdleExpiry; });
}

bool HandshakeRateLimiter::allow(const IpAddress& source, Nanos now) {
  if (!gc_started_ || now - last_gc_ >= kIdleExpiry) collect_garbage(now);

  SourceKey key{};
  key[0] = source.family == IpAddress::Family::kV4 ? 4 : 6;
  const size_t significant = source.family == IpAddress::Family::kV4 ? 4 : 8;
  std::copy_n(source.bytes.begin(), significant, key.begin() + 1);

  const auto it = table_.find(key);
  if (it == table_.end()) {
    if (table_.size() >= max_entries_) return false;  // full: refuse new sources until idle ones expire
    table_.emplace(key, Bucket{.last_seen = now, .tokens = kTokenMax - kPacketCost});
    return true;
  }
  Bucket& bucket = it->second;
  // Clamped both ways: tolerate a caller's clock stepping back, and never overflow on a long gap.
  const Nanos elapsed = std::clamp<Nanos>(now - bucket.last_seen, 0, kTokenMax);
  bucket.tokens = std::min(kTokenMax, bucket.tokens + elapsed);
  bucket.last_seen = std::max(bucket.last_seen, now);
  if (bucket.tokens < kPacketCost) return false;
  bucket.tokens -= kPacketCost;
  return true;
}

}  // namespace cloudlet::vpn
