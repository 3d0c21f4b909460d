// The Noise_IKpsk2 handshake between two in-memory peers (vpn/noise.h), its rejections, and a cross-check of the
// initiation against an independent python3 implementation.
#include "vpn/noise.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "identity_fixture.h"

namespace cloudlet::vpn {

struct HandshakeTestAccess {
  static const SecretBytes<kHashSize>& hash(const Handshake& h) { return h.hash_; }
  static const SymmetricKey& chaining_key(const Handshake& h) { return h.chaining_key_; }
  // Puts an initiator in the state after sending an initiation made elsewhere with `ephemeral`.
  static void ResumeAfterInitiation(Handshake& h, const SecretBytes<kHashSize>& hash, const SymmetricKey& chaining_key,
                                    const PrivateKey& ephemeral, uint32_t local_index) {
    h.Clear();
    h.state_ = Handshake::State::kCreatedInitiation;
    h.hash_ = hash;
    h.chaining_key_ = chaining_key;
    h.ephemeral_private_ = ephemeral;
    h.local_index_ = local_index;
  }
};

namespace {

constexpr int64_t kWall = int64_t{1700000000} * kSecond;
// From the python3 reference run described at ConsumesInitiationFromIndependentImplementation.
constexpr std::string_view kChainingAfterInitiation =
    "4696b0ed00cff9c62cf447eb5f9c899d508e66b889a8cef23c4ae5c60f902b5e";
constexpr std::string_view kHashAfterInitiation = "a1b2eff702e87503243a89aac8ee0639a24969dda1e0c6c866b15bbab4d6d184";

std::vector<uint8_t> Hex(std::string_view hex) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<uint8_t>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

SymmetricKey MakePsk() {
  SymmetricKey psk;
  RandomBytes(psk.span());
  return psk;
}

class NoiseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto suite = CryptoSuite::Create();
    ASSERT_TRUE(suite.ok()) << suite.error().message();
    crypto_.emplace(std::move(suite).value());
    UsePsk(SymmetricKey());
  }

  // Alice initiates to Bob; each holds a Handshake for the other.
  void UsePsk(const SymmetricKey& psk) {
    auto a = Handshake::Create(*crypto_, alice_, bob_.public_key, psk);
    auto b = Handshake::Create(*crypto_, bob_, alice_.public_key, psk);
    ASSERT_TRUE(a.ok() && b.ok());
    alice_to_bob_.emplace(std::move(a).value());
    bob_to_alice_.emplace(std::move(b).value());
    auto ca = CookieChecker::Create(*crypto_, alice_.public_key);
    auto cb = CookieChecker::Create(*crypto_, bob_.public_key);
    ASSERT_TRUE(ca.ok() && cb.ok());
    alice_checker_.emplace(std::move(ca).value());
    bob_checker_.emplace(std::move(cb).value());
  }

  PeerLookup BobLookup() {
    return [this](const PublicKey& key) -> Handshake* { return key == alice_.public_key ? &*bob_to_alice_ : nullptr; };
  }

  // The receive path: MAC1 check, then the Noise step.
  Result<Handshake*> BobReceivesInitiation(ByteView msg, Nanos now) {
    if (bob_checker_->Check(*crypto_, msg, source_, false, now) == MacCheck::kInvalid) return Error("mac1");
    return Handshake::ConsumeInitiation(*crypto_, bob_, msg, BobLookup(), now);
  }
  Status AliceReceivesResponse(ByteView msg, Nanos now) {
    if (alice_checker_->Check(*crypto_, msg, source_, false, now) == MacCheck::kInvalid) return Error("mac1");
    return alice_to_bob_->ConsumeResponse(*crypto_, msg, now);
  }

  // A whole handshake; returns {alice's keys, bob's keys}.
  std::pair<TransportKeypair, TransportKeypair> Handshake1Rtt(Nanos now, int64_t wall) {
    auto init = alice_to_bob_->CreateInitiation(*crypto_, 0xA11CE, now, wall);
    EXPECT_TRUE(init.ok()) << init.error().message();
    auto peer = BobReceivesInitiation(*init, now);
    EXPECT_TRUE(peer.ok()) << peer.error().message();
    EXPECT_EQ(*peer, &*bob_to_alice_);
    auto resp = bob_to_alice_->CreateResponse(*crypto_, 0xB0B, now);
    EXPECT_TRUE(resp.ok()) << resp.error().message();
    auto bob_keys = bob_to_alice_->BeginSession(*crypto_, now);
    Status st = AliceReceivesResponse(*resp, now);
    EXPECT_TRUE(st.ok()) << st.message();
    auto alice_keys = alice_to_bob_->BeginSession(*crypto_, now);
    EXPECT_TRUE(alice_keys.ok() && bob_keys.ok());
    return {*alice_keys, *bob_keys};
  }

  void ExpectWorkingSession(const TransportKeypair& a, const TransportKeypair& b) {
    EXPECT_TRUE(ConstantTimeEqual(a.send_key.span(), b.receive_key.span()));
    EXPECT_TRUE(ConstantTimeEqual(a.receive_key.span(), b.send_key.span()));
    EXPECT_FALSE(ConstantTimeEqual(a.send_key.span(), a.receive_key.span()));
    EXPECT_TRUE(a.initiator);
    EXPECT_FALSE(b.initiator);
    EXPECT_EQ(a.local_index, 0xA11CEu);
    EXPECT_EQ(a.remote_index, 0xB0Bu);
    EXPECT_EQ(b.local_index, 0xB0Bu);
    EXPECT_EQ(b.remote_index, 0xA11CEu);

    const std::string text = "an IP packet, padded to 16";
    const ByteView payload(reinterpret_cast<const uint8_t*>(text.data()), text.size());
    std::vector<uint8_t> wire(kTransportHeaderSize + payload.size() + kAeadTagSize);
    ASSERT_TRUE(SealTransport(*crypto_, a, 0, payload, wire).ok());
    auto header = ParseTransportHeader(wire);
    ASSERT_TRUE(header.has_value());
    EXPECT_EQ(header->receiver_index, b.local_index);
    std::vector<uint8_t> plain(payload.size());
    ASSERT_TRUE(OpenTransport(*crypto_, b, *header, plain).ok());
    EXPECT_EQ(std::string(plain.begin(), plain.end()), text);

    // And back, with a later counter; a tampered copy and a wrong counter fail.
    ASSERT_TRUE(SealTransport(*crypto_, b, 5, payload, wire).ok());
    header = ParseTransportHeader(wire);
    ASSERT_TRUE(header.has_value());
    EXPECT_EQ(header->counter, 5u);
    ASSERT_TRUE(OpenTransport(*crypto_, a, *header, plain).ok());
    EXPECT_EQ(std::string(plain.begin(), plain.end()), text);
    TransportHeader wrong_counter = *header;
    wrong_counter.counter = 6;
    EXPECT_FALSE(OpenTransport(*crypto_, a, wrong_counter, plain).ok());
    wire.back() ^= 0x80;
    EXPECT_FALSE(OpenTransport(*crypto_, a, *ParseTransportHeader(wire), plain).ok());
  }

  std::optional<CryptoSuite> crypto_;
  LocalIdentity alice_ = MakeIdentity();
  LocalIdentity bob_ = MakeIdentity();
  std::optional<Handshake> alice_to_bob_;
  std::optional<Handshake> bob_to_alice_;
  std::optional<CookieChecker> alice_checker_;
  std::optional<CookieChecker> bob_checker_;
  std::vector<uint8_t> source_ = {10, 0, 0, 1, 0xca, 0x6c};
};

TEST_F(NoiseTest, HandshakeWithoutPresharedKey) {
  auto [a, b] = Handshake1Rtt(kSecond, kWall);
  ExpectWorkingSession(a, b);
  EXPECT_EQ(a.created, kSecond);
  EXPECT_EQ(alice_to_bob_->state(), Handshake::State::kZeroed);
  EXPECT_EQ(bob_to_alice_->state(), Handshake::State::kZeroed);
}

TEST_F(NoiseTest, HandshakeWithPresharedKey) {
  UsePsk(MakePsk());
  auto [a, b] = Handshake1Rtt(kSecond, kWall);
  ExpectWorkingSession(a, b);
}

TEST_F(NoiseTest, SuccessiveHandshakesGiveFreshKeys) {
  auto [a1, b1] = Handshake1Rtt(kSecond, kWall);
  auto [a2, b2] = Handshake1Rtt(2 * kSecond, kWall + kSecond);
  ExpectWorkingSession(a2, b2);
  EXPECT_FALSE(ConstantTimeEqual(a1.send_key.span(), a2.send_key.span()));
}

TEST_F(NoiseTest, PresharedKeyMismatchFailsAtResponse) {
  auto a = Handshake::Create(*crypto_, alice_, bob_.public_key, MakePsk());
  ASSERT_TRUE(a.ok());
  alice_to_bob_.emplace(std::move(a).value());
  auto init = alice_to_bob_->CreateInitiation(*crypto_, 1, kSecond, kWall);
  ASSERT_TRUE(init.ok());
  ASSERT_TRUE(BobReceivesInitiation(*init, kSecond).ok());  // the PSK is not in the initiation
  auto resp = bob_to_alice_->CreateResponse(*crypto_, 2, kSecond);
  ASSERT_TRUE(resp.ok());
  EXPECT_FALSE(AliceReceivesResponse(*resp, kSecond).ok());
  EXPECT_EQ(alice_to_bob_->state(), Handshake::State::kCreatedInitiation);
}

TEST_F(NoiseTest, ReplayedOrOlderInitiationRejected) {
  auto old_init = alice_to_bob_->CreateInitiation(*crypto_, 1, kSecond, kWall);
  auto init = alice_to_bob_->CreateInitiation(*crypto_, 1, kSecond, kWall + kSecond);
  ASSERT_TRUE(old_init.ok() && init.ok());
  ASSERT_TRUE(BobReceivesInitiation(*init, kSecond).ok());
  auto replay = BobReceivesInitiation(*init, 10 * kSecond);
  ASSERT_FALSE(replay.ok());
  EXPECT_NE(replay.error().message().find("replayed"), std::string::npos) << replay.error().message();
  EXPECT_FALSE(BobReceivesInitiation(*old_init, 20 * kSecond).ok());
  // Within the timestamp granularity (2^24 ns) two initiations carry the same timestamp: the second is a replay.
  auto same = alice_to_bob_->CreateInitiation(*crypto_, 1, kSecond, kWall + kSecond + 1000);
  ASSERT_TRUE(same.ok());
  EXPECT_FALSE(BobReceivesInitiation(*same, 30 * kSecond).ok());
}

TEST_F(NoiseTest, InitiationFloodRejected) {
  auto first = alice_to_bob_->CreateInitiation(*crypto_, 1, 0, kWall);
  auto second = alice_to_bob_->CreateInitiation(*crypto_, 1, 0, kWall + kSecond);
  ASSERT_TRUE(first.ok() && second.ok());
  ASSERT_TRUE(BobReceivesInitiation(*first, kSecond).ok());
  EXPECT_FALSE(BobReceivesInitiation(*second, kSecond + kMinInitiationInterval - 1).ok());
  EXPECT_TRUE(BobReceivesInitiation(*second, kSecond + kMinInitiationInterval).ok());
}

TEST_F(NoiseTest, WrongStaticKeysRejected) {
  const LocalIdentity carol = MakeIdentity();
  // Alice thinks Bob's key is Carol's: Bob cannot decrypt (and MAC1 is keyed for Carol).
  auto to_carol = Handshake::Create(*crypto_, alice_, carol.public_key, SymmetricKey());
  ASSERT_TRUE(to_carol.ok());
  auto init = to_carol->CreateInitiation(*crypto_, 1, kSecond, kWall);
  ASSERT_TRUE(init.ok());
  EXPECT_EQ(bob_checker_->Check(*crypto_, *init, source_, false, kSecond), MacCheck::kInvalid);
  EXPECT_FALSE(Handshake::ConsumeInitiation(*crypto_, bob_, *init, BobLookup(), kSecond).ok());

  // Carol (unknown to Bob) initiates to Bob: decrypts, but the lookup finds no peer.
  auto from_carol = Handshake::Create(*crypto_, carol, bob_.public_key, SymmetricKey());
  ASSERT_TRUE(from_carol.ok());
  init = from_carol->CreateInitiation(*crypto_, 1, kSecond, kWall);
  ASSERT_TRUE(init.ok());
  auto consumed = BobReceivesInitiation(*init, kSecond);
  ASSERT_FALSE(consumed.ok());
  EXPECT_NE(consumed.error().message().find("unknown peer"), std::string::npos);

  // A low-order remote static key is refused up front.
  EXPECT_FALSE(Handshake::Create(*crypto_, alice_, PublicKey{}, SymmetricKey()).ok());
}

TEST_F(NoiseTest, EveryFlippedInitiationByteRejected) {
  auto init = alice_to_bob_->CreateInitiation(*crypto_, 1, kSecond, kWall);
  ASSERT_TRUE(init.ok());
  // MAC2 is only looked at under load (cookie_test covers it); every byte before it must be covered.
  for (size_t i = 0; i < kInitiationMac2Offset; ++i) {
    InitiationBytes bad = *init;
    bad[i] ^= 0x01;
    EXPECT_FALSE(BobReceivesInitiation(bad, kSecond).ok()) << "byte " << i;
  }
  // Bypassing the MAC1 check, the Noise layer alone still rejects changes to the encrypted part.
  for (size_t i = 8; i < kInitiationMac1Offset; ++i) {
    InitiationBytes bad = *init;
    bad[i] ^= 0x80;
    EXPECT_FALSE(Handshake::ConsumeInitiation(*crypto_, bob_, bad, BobLookup(), kSecond).ok()) << "byte " << i;
  }
  EXPECT_TRUE(BobReceivesInitiation(*init, kSecond).ok());
}

TEST_F(NoiseTest, EveryFlippedResponseByteRejected) {
  auto init = alice_to_bob_->CreateInitiation(*crypto_, 1, kSecond, kWall);
  ASSERT_TRUE(init.ok());
  ASSERT_TRUE(BobReceivesInitiation(*init, kSecond).ok());
  auto resp = bob_to_alice_->CreateResponse(*crypto_, 2, kSecond);
  ASSERT_TRUE(resp.ok());
  for (size_t i = 0; i < kResponseMac2Offset; ++i) {
    ResponseBytes bad = *resp;
    bad[i] ^= 0x04;
    EXPECT_FALSE(AliceReceivesResponse(bad, kSecond).ok()) << "byte " << i;
  }
  for (size_t i = 12; i < kResponseMac1Offset; ++i) {
    ResponseBytes bad = *resp;
    bad[i] ^= 0x04;
    EXPECT_FALSE(alice_to_bob_->ConsumeResponse(*crypto_, bad, kSecond).ok()) << "byte " << i;
  }
  // Failures left Alice's state alone: the genuine response still completes the handshake.
  EXPECT_TRUE(AliceReceivesResponse(*resp, kSecond).ok());
  EXPECT_TRUE(alice_to_bob_->BeginSession(*crypto_, kSecond).ok());
}

TEST(MessagesTest, LittleEndianLayoutsRoundTrip) {
  Response r;
  r.sender_index = 0x04030201;
  r.receiver_index = 0x08070605;
  r.ephemeral.fill(0xee);
  r.mac2.fill(0x22);
  const ResponseBytes bytes = Serialize(r);
  EXPECT_EQ(std::vector<uint8_t>(bytes.begin(), bytes.begin() + 13),
            std::vector<uint8_t>({2, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0xee}));
  EXPECT_EQ(bytes[kResponseMac2Offset], 0x22);
  auto parsed = ParseResponse(bytes);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->sender_index, r.sender_index);
  EXPECT_EQ(parsed->receiver_index, r.receiver_index);
  EXPECT_EQ(parsed->ephemeral, r.ephemeral);
  EXPECT_EQ(parsed->mac2, r.mac2);
  ResponseBytes reserved_set = bytes;
  reserved_set[1] = 1;  // reserved bytes must be zero
  EXPECT_FALSE(ParseResponse(reserved_set).has_value());
  EXPECT_FALSE(ParseInitiation(bytes).has_value());
  EXPECT_FALSE(PeekMessageType(reserved_set).has_value());
  EXPECT_EQ(PeekMessageType(bytes), MessageType::kResponse);

  std::array<uint8_t, kTransportMinSize> data{};
  WriteTransportHeader(data, 0xdeadbeef, 0x0102030405060708);
  auto header = ParseTransportHeader(data);
  ASSERT_TRUE(header.has_value());
  EXPECT_EQ(header->receiver_index, 0xdeadbeefu);
  EXPECT_EQ(header->counter, 0x0102030405060708u);
  EXPECT_EQ(header->ciphertext.size(), kAeadTagSize);
  EXPECT_EQ(data[8], 0x08);
}

TEST_F(NoiseTest, TruncatedOrExtendedMessagesRejected) {
  auto init = alice_to_bob_->CreateInitiation(*crypto_, 1, kSecond, kWall);
  ASSERT_TRUE(init.ok());
  for (size_t len = 0; len < kInitiationSize; ++len) {
    EXPECT_FALSE(BobReceivesInitiation(ByteView(*init).first(len), kSecond).ok()) << "length " << len;
    EXPECT_FALSE(Handshake::ConsumeInitiation(*crypto_, bob_, ByteView(*init).first(len), BobLookup(), kSecond).ok());
  }
  std::vector<uint8_t> longer(init->begin(), init->end());
  longer.push_back(0);
  EXPECT_FALSE(BobReceivesInitiation(longer, kSecond).ok());

  ASSERT_TRUE(BobReceivesInitiation(*init, kSecond).ok());
  auto resp = bob_to_alice_->CreateResponse(*crypto_, 2, kSecond);
  ASSERT_TRUE(resp.ok());
  for (size_t len = 0; len < kResponseSize; ++len) {
    EXPECT_FALSE(alice_to_bob_->ConsumeResponse(*crypto_, ByteView(*resp).first(len), kSecond).ok());
  }
  for (size_t len = 0; len < kTransportMinSize; ++len) {
    std::vector<uint8_t> short_data(len, 0);
    if (len >= 4) short_data[0] = 4;
    EXPECT_FALSE(ParseTransportHeader(short_data).has_value()) << "length " << len;
  }
}

TEST_F(NoiseTest, OutOfOrderStepsRejected) {
  EXPECT_FALSE(bob_to_alice_->CreateResponse(*crypto_, 2, kSecond).ok());
  EXPECT_FALSE(alice_to_bob_->BeginSession(*crypto_, kSecond).ok());
  auto init = alice_to_bob_->CreateInitiation(*crypto_, 1, kSecond, kWall);
  ASSERT_TRUE(init.ok());
  EXPECT_FALSE(alice_to_bob_->BeginSession(*crypto_, kSecond).ok());
  ASSERT_TRUE(BobReceivesInitiation(*init, kSecond).ok());
  auto resp = bob_to_alice_->CreateResponse(*crypto_, 2, kSecond);
  ASSERT_TRUE(resp.ok());
  // A response to another index (an older initiation of ours) is refused.
  auto newer = alice_to_bob_->CreateInitiation(*crypto_, 77, kSecond, kWall + kSecond);
  ASSERT_TRUE(newer.ok());
  EXPECT_FALSE(alice_to_bob_->ConsumeResponse(*crypto_, *resp, kSecond).ok());
}

// The initiation below comes from an independent python3 implementation (hashlib + cryptography) of the
// whitepaper's construction, with static keys 0x01*32 (initiator) and 0x02*32 (responder), ephemeral 0x03*32,
// sender index 0x11223344 and TAI64N(1700000000 s, 0 ns). Consuming it checks our hash chain, key derivations,
// AEAD use, TAI64N layout and MAC1 against that implementation.
TEST_F(NoiseTest, ConsumesInitiationFromIndependentImplementation) {
  const auto raw = [](uint8_t fill) {
    std::array<uint8_t, 32> bytes{};
    bytes.fill(fill);
    return PrivateKey(std::span<const uint8_t, 32>(bytes));
  };
  auto initiator = LocalIdentity::FromPrivate(raw(1));
  auto responder = LocalIdentity::FromPrivate(raw(2));
  ASSERT_TRUE(initiator.ok() && responder.ok());
  const auto msg = Hex(
      "01000000443322115dfedd3b6bd47f6fa28ee15d969d5bb0ea53774d488bdaf9df1c6e0124b3ef220a26599fb2188bb723276fc173af67"
      "616c817fc32fd04d686d87ec152fac10eed2bda3bb3b6f1eded6977684082284d817fb46b3a99b6be9bd273ed68fee6bc695abecae6b72"
      "f27ddb85c8819bd064ef21d63b971adeb1c2dc1c92d100000000000000000000000000000000");
  ASSERT_EQ(msg.size(), kInitiationSize);
  auto checker = CookieChecker::Create(*crypto_, responder->public_key);
  ASSERT_TRUE(checker.ok());
  EXPECT_EQ(checker->Check(*crypto_, msg, source_, false, 0), MacCheck::kValidMac1);
  auto peer = Handshake::Create(*crypto_, *responder, initiator->public_key, SymmetricKey());
  ASSERT_TRUE(peer.ok());
  auto consumed = Handshake::ConsumeInitiation(
      *crypto_, *responder, msg,
      [&](const PublicKey& key) -> Handshake* { return key == initiator->public_key ? &*peer : nullptr; }, 0);
  ASSERT_TRUE(consumed.ok()) << consumed.error().message();
  EXPECT_EQ(peer->remote_index(), 0x11223344u);
  EXPECT_EQ(peer->state(), Handshake::State::kConsumedInitiation);
  // The hash chain after the initiation, as python computed it.
  EXPECT_EQ(Hex(kChainingAfterInitiation), std::vector<uint8_t>(HandshakeTestAccess::chaining_key(*peer).data(),
                                                                HandshakeTestAccess::chaining_key(*peer).data() + 32));
  EXPECT_EQ(Hex(kHashAfterInitiation), std::vector<uint8_t>(HandshakeTestAccess::hash(*peer).data(),
                                                            HandshakeTestAccess::hash(*peer).data() + 32));
}

// Continuing the python run: a responder with ephemeral 0x04*32, preshared key 0x05*32 and sender index 0x55667788
// answers that initiation. An initiator resumed at python's post-initiation state (ephemeral 0x03*32) must accept
// the response and derive python's transport keys: initiator send = KDF2(C, empty)[0], receive = [1].
TEST_F(NoiseTest, ConsumesResponseFromIndependentImplementation) {
  const auto raw = [](uint8_t fill) {
    std::array<uint8_t, 32> bytes{};
    bytes.fill(fill);
    return SecretBytes<32>(std::span<const uint8_t, 32>(bytes));
  };
  const auto fixed = [](std::string_view hex) {
    const auto v = Hex(hex);
    return SecretBytes<32>(std::span<const uint8_t, 32>(v.data(), 32));
  };
  auto initiator = LocalIdentity::FromPrivate(raw(1));
  auto responder = LocalIdentity::FromPrivate(raw(2));
  ASSERT_TRUE(initiator.ok() && responder.ok());
  auto hs = Handshake::Create(*crypto_, *initiator, responder->public_key, raw(5));
  ASSERT_TRUE(hs.ok());
  HandshakeTestAccess::ResumeAfterInitiation(*hs, fixed(kHashAfterInitiation), fixed(kChainingAfterInitiation), raw(3),
                                             0x11223344);
  const auto response = Hex(
      "020000008877665544332211ac01b2209e86354fb853237b5de0f4fab13c7fcbf433a61c019369617fecf10b80139b3dc764171a016c7e"
      "fed1adb6db6f668d3ddba45dea139a293afb717a4800000000000000000000000000000000");
  ASSERT_EQ(response.size(), kResponseSize);
  auto checker = CookieChecker::Create(*crypto_, initiator->public_key);
  ASSERT_TRUE(checker.ok());
  EXPECT_EQ(checker->Check(*crypto_, response, source_, false, 0), MacCheck::kValidMac1);
  Handshake without_psk = *hs;
  without_psk.set_preshared_key(SymmetricKey());
  EXPECT_FALSE(without_psk.ConsumeResponse(*crypto_, response, 0).ok());

  Status st = hs->ConsumeResponse(*crypto_, response, 0);
  ASSERT_TRUE(st.ok()) << st.message();
  auto keys = hs->BeginSession(*crypto_, 0);
  ASSERT_TRUE(keys.ok());
  EXPECT_TRUE(ConstantTimeEqual(keys->send_key.span(),
                                Hex("a18cc809fd05b6b5f99644cf506f89dce368c2f54a9dbeb9a384f36c274317ef")));
  EXPECT_TRUE(ConstantTimeEqual(keys->receive_key.span(),
                                Hex("b1aa1b797d3a45da97552b8084ade493aa767f15af95854bc86557f6dacd851d")));
  EXPECT_EQ(keys->remote_index, 0x55667788u);
  EXPECT_EQ(keys->local_index, 0x11223344u);
}

}  // namespace
}  // namespace cloudlet::vpn

// The python3 reference that produced the vectors above (python3 + hashlib + the 'cryptography' package):
// clang-format off
//   # Independent WireGuard Noise_IKpsk2 handshake: hashlib + cryptography.
//   import hashlib, hmac, struct
//   from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
//   from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
//   from cryptography.hazmat.primitives import serialization as ser
//   H=lambda *p: hashlib.blake2s(b''.join(p)).digest()
//   HM=lambda k,*p: hmac.new(k,b''.join(p),hashlib.blake2s).digest()
//   def kdf(k,x,n):
//       t0=HM(k,x); out=[]; t=b''
//       for i in range(1,n+1):
//           t=HM(t0,t,bytes([i])); out.append(t)
//       return out
//   def pub(priv):
//       k=X25519PrivateKey.from_private_bytes(priv).public_key()
//       return k.public_bytes(ser.Encoding.Raw, ser.PublicFormat.Raw)
//   def dh(priv,p): return X25519PrivateKey.from_private_bytes(priv).exchange(X25519PublicKey.from_public_bytes(p))
//   def aead(k,pt,ad): return ChaCha20Poly1305(k).encrypt(b'\0'*12,pt,ad)
//   si=bytes([1])*32; sr=bytes([2])*32; ei=bytes([3])*32
//   Si=pub(si); Sr=pub(sr); Ei=pub(ei)
//   C=H(b"Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s"); Hh=H(C,b"WireGuard v1 zx2c4 Jason@zx2c4.com"); Hh=H(Hh,Sr)
//   C,=kdf(C,Ei,1); Hh=H(Hh,Ei)
//   C,k=kdf(C,dh(ei,Sr),2); st=aead(k,Si,Hh); Hh=H(Hh,st)
//   C,k=kdf(C,dh(si,Sr),2)
//   ts=struct.pack('>QI',(1<<62)+1700000000,0)
//   ets=aead(k,ts,Hh); Hh=H(Hh,ets)
//   msg=struct.pack('<II',1,0x11223344)+Ei+st+ets
//   mac1=hashlib.blake2s(msg,key=H(b"mac1----",Sr),digest_size=16).digest()
//   msg+=mac1+b'\0'*16
//   assert len(msg)==148
//   def cx(b): return ', '.join('0x%02x'%x for x in b)
//   print("initiation:", msg.hex())
//   print("Si", Si.hex()); print("Sr", Sr.hex())
//   print("chaining", C.hex()); print("hash", Hh.hex())
//   # Responder (ephemeral 0x04*32, psk 0x05*32, sender index 0x55667788) answering the initiation above.
//   er=bytes([4])*32; Er=pub(er); psk=bytes([5])*32
//   C,=kdf(C,Er,1); Hh=H(Hh,Er)
//   C,=kdf(C,dh(er,Ei),1)
//   C,=kdf(C,dh(er,Si),1)
//   C,tau,k=kdf(C,psk,3); Hh=H(Hh,tau)
//   empty=aead(k,b'',Hh); Hh=H(Hh,empty)
//   r=struct.pack('<III',2,0x55667788,0x11223344)+Er+empty
//   r+=hashlib.blake2s(r,key=H(b"mac1----",Si),digest_size=16).digest()+b'\0'*16
//   assert len(r)==92
//   print("response:", r.hex())
//   ti,tr=kdf(C,b'',2)
//   print("initiator send", ti.hex()); print("initiator recv", tr.hex())
// clang-format on
