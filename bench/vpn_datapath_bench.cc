// Per-core cost of the VPN data path on 1420-byte packets (a full-MTU inner packet of a 1500-byte underlay), one
// thread, no I/O:
//  - BM_AeadSealOpen: raw ChaCha20-Poly1305 (CryptoSuite, i.e. OpenSSL EVP) encrypt then decrypt — the floor;
//  - BM_DatapathSealOpen: PeerKeypairs::Seal on the sending side then the receiving side's PeerKeypairs::Open, with
//    keys from a real in-memory Noise handshake: what the protocol core adds on top (header, padding, counters,
//    index lookup, expiry checks, replay window).
// Both report bytes/s of plaintext and packets/s ("pps"); bench/vpn.sh divides their bytes_per_second.
#include <benchmark/benchmark.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <utility>
#include <vector>

#include "vpn/crypto.h"
#include "vpn/noise.h"
#include "vpn/session.h"

namespace cloudlet::vpn {
namespace {

constexpr size_t kPayload = 1420;
constexpr Nanos kNow = 10 * kSecond;
constexpr int64_t kWall = int64_t{1700000000} * kSecond;

[[noreturn]] void Die(benchmark::State& state, const char* what) {
  state.SkipWithError(what);
  std::abort();  // setup failures make every figure meaningless
}

CryptoSuite MakeSuite(benchmark::State& state) {
  auto suite = CryptoSuite::Create();
  if (!suite.ok()) Die(state, "CryptoSuite::Create failed");
  return std::move(suite).value();
}

LocalIdentity MakeIdentity(benchmark::State& state) {
  auto priv = GeneratePrivateKey();
  if (!priv.ok()) Die(state, "GeneratePrivateKey failed");
  auto id = LocalIdentity::FromPrivate(*priv);
  if (!id.ok()) Die(state, "LocalIdentity::FromPrivate failed");
  return std::move(id).value();
}

void BM_AeadSealOpen(benchmark::State& state) {
  CryptoSuite crypto = MakeSuite(state);
  std::array<uint8_t, kKeySize> key{};
  RandomBytes(key);
  std::vector<uint8_t> plain(kPayload, 0x5a);
  std::vector<uint8_t> sealed(kPayload + kAeadTagSize);
  std::vector<uint8_t> opened(kPayload);
  uint64_t counter = 0;
  for (auto _ : state) {
    if (!crypto.AeadSeal(key, counter, plain, {}, sealed)) Die(state, "AeadSeal failed");
    if (!crypto.AeadOpen(key, counter, sealed, {}, opened)) Die(state, "AeadOpen failed");
    benchmark::DoNotOptimize(opened.data());
    ++counter;
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kPayload));
  state.counters["pps"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

void BM_DatapathSealOpen(benchmark::State& state) {
  CryptoSuite alice_crypto = MakeSuite(state);
  CryptoSuite bob_crypto = MakeSuite(state);
  const LocalIdentity alice_id = MakeIdentity(state);
  const LocalIdentity bob_id = MakeIdentity(state);
  auto alice_hs = Handshake::Create(alice_crypto, alice_id, bob_id.public_key, SymmetricKey());
  auto bob_hs = Handshake::Create(bob_crypto, bob_id, alice_id.public_key, SymmetricKey());
  if (!alice_hs.ok() || !bob_hs.ok()) Die(state, "Handshake::Create failed");

  // Alice initiates, Bob responds: the same four steps the device performs.
  auto init = alice_hs->CreateInitiation(alice_crypto, 1, kNow, kWall);
  if (!init.ok()) Die(state, "CreateInitiation failed");
  PeerLookup lookup = [&](const PublicKey& key) -> Handshake* {
    return key == alice_id.public_key ? &*bob_hs : nullptr;
  };
  if (!Handshake::ConsumeInitiation(bob_crypto, bob_id, *init, lookup, kNow).ok()) Die(state, "ConsumeInitiation");
  auto resp = bob_hs->CreateResponse(bob_crypto, 2, kNow);
  if (!resp.ok()) Die(state, "CreateResponse failed");
  auto bob_keys = bob_hs->BeginSession(bob_crypto, kNow);
  if (!bob_keys.ok()) Die(state, "BeginSession (responder) failed");
  if (!alice_hs->ConsumeResponse(alice_crypto, *resp, kNow).ok()) Die(state, "ConsumeResponse failed");
  auto alice_keys = alice_hs->BeginSession(alice_crypto, kNow);
  if (!alice_keys.ok()) Die(state, "BeginSession (initiator) failed");
  PeerKeypairs alice;
  PeerKeypairs bob;
  alice.Install(*alice_keys);
  bob.Install(*bob_keys);

  std::vector<uint8_t> plain(kPayload, 0x5a);
  std::vector<uint8_t> wire(SealedSize(kPayload));
  std::vector<uint8_t> opened(wire.size());
  for (auto _ : state) {
    auto size = alice.Seal(alice_crypto, plain, kNow, wire);
    if (!size.ok()) Die(state, "PeerKeypairs::Seal failed");
    const Opened o = bob.Open(bob_crypto, ByteView(wire.data(), *size), kNow, opened);
    if (!o.ok()) Die(state, OpenStatusName(o.status));
    benchmark::DoNotOptimize(opened.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kPayload));
  state.counters["pps"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

BENCHMARK(BM_AeadSealOpen);
BENCHMARK(BM_DatapathSealOpen);

}  // namespace
}  // namespace cloudlet::vpn

BENCHMARK_MAIN();
