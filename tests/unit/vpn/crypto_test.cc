// Known-answer tests for the cryptographic wiring (vpn/crypto.h): each primitive against a published vector or
// a value computed independently with python3 (hashlib, hmac, cryptography).
#include "vpn/crypto.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cloudlet::vpn {
namespace {

std::vector<uint8_t> Hex(std::string_view hex) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<uint8_t>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  return out;
}

template <typename Bytes>
std::string ToHex(const Bytes& bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (uint8_t b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 15]);
  }
  return out;
}

ByteView Text(std::string_view s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

template <size_t N>
std::array<uint8_t, N> Fixed(std::string_view hex) {
  std::array<uint8_t, N> out{};
  const auto v = Hex(hex);
  EXPECT_EQ(v.size(), N);
  std::copy_n(v.begin(), std::min(N, v.size()), out.begin());
  return out;
}

class CryptoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto suite = CryptoSuite::Create();
    ASSERT_TRUE(suite.ok()) << suite.error().message();
    crypto_.emplace(std::move(suite).value());
  }
  std::optional<CryptoSuite> crypto_;
};

// RFC 7748 section 6.1.
TEST_F(CryptoTest, X25519Rfc7748Vector) {
  const PrivateKey alice(
      std::span<const uint8_t, 32>(Fixed<32>("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")));
  const PrivateKey bob(
      std::span<const uint8_t, 32>(Fixed<32>("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")));
  auto alice_pub = DerivePublicKey(alice);
  auto bob_pub = DerivePublicKey(bob);
  ASSERT_TRUE(alice_pub.ok() && bob_pub.ok());
  EXPECT_EQ(ToHex(*alice_pub), "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
  EXPECT_EQ(ToHex(*bob_pub), "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
  auto k1 = X25519(alice, *bob_pub);
  auto k2 = X25519(bob, *alice_pub);
  ASSERT_TRUE(k1.ok() && k2.ok());
  EXPECT_EQ(ToHex(k1->span()), "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
  EXPECT_EQ(ToHex(k2->span()), ToHex(k1->span()));
}

TEST_F(CryptoTest, X25519RejectsLowOrderPublicKey) {
  auto priv = GeneratePrivateKey();
  ASSERT_TRUE(priv.ok());
  const PublicKey zero{};  // the identity point: every DH result is zero
  EXPECT_FALSE(X25519(*priv, zero).ok());
  PublicKey one{};
  one[0] = 1;  // order-1 point u=1 (another all-zero result)
  EXPECT_FALSE(X25519(*priv, one).ok());
}

TEST_F(CryptoTest, GeneratedKeysAgree) {
  auto a = GeneratePrivateKey();
  auto b = GeneratePrivateKey();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(ToHex(a->span()), ToHex(b->span()));
  EXPECT_EQ(a->data()[0] & 7, 0);  // clamped
  EXPECT_EQ(a->data()[31] & 0xc0, 0x40);
  auto pa = DerivePublicKey(*a);
  auto pb = DerivePublicKey(*b);
  ASSERT_TRUE(pa.ok() && pb.ok());
  auto s1 = X25519(*a, *pb);
  auto s2 = X25519(*b, *pa);
  ASSERT_TRUE(s1.ok() && s2.ok());
  EXPECT_EQ(ToHex(s1->span()), ToHex(s2->span()));
}

// RFC 8439 section 2.8.2.
TEST_F(CryptoTest, ChaCha20Poly1305Rfc8439Vector) {
  const auto key = Fixed<32>("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
  const auto nonce = Fixed<12>("070000004041424344454647");
  const auto ad = Hex("50515253c0c1c2c3c4c5c6c7");
  const std::string_view text =
      "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would "
      "be it.";
  std::vector<uint8_t> sealed(text.size() + kAeadTagSize);
  ASSERT_TRUE(crypto_->AeadSeal(key, nonce, Text(text), ad, sealed));
  EXPECT_EQ(
      ToHex(sealed),
      "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b1a71de0a9e0"
      "60b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc3ff4def08e4b7a9de576d2"
      "6586cec64b6116"
      "1ae10b594f09e26a7e902ecbd0600691");
  std::vector<uint8_t> opened(text.size());
  ASSERT_TRUE(crypto_->AeadOpen(key, nonce, sealed, ad, opened));
  EXPECT_EQ(std::string(opened.begin(), opened.end()), text);

  sealed[5] ^= 1;
  EXPECT_FALSE(crypto_->AeadOpen(key, nonce, sealed, ad, opened));
  sealed[5] ^= 1;
  auto bad_ad = ad;
  bad_ad[0] ^= 1;
  EXPECT_FALSE(crypto_->AeadOpen(key, nonce, sealed, bad_ad, opened));
  EXPECT_FALSE(crypto_->AeadOpen(key, nonce, ByteView(sealed).first(10), ad, opened));
}

TEST_F(CryptoTest, CounterNonceIsFourZeroBytesThenLittleEndianCounter) {
  const auto key = Fixed<32>("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
  const auto payload = Hex("00112233445566778899");
  const uint64_t counter = 0x0102030405060708;
  const auto nonce = Fixed<12>("000000000807060504030201");
  std::vector<uint8_t> a(payload.size() + kAeadTagSize);
  std::vector<uint8_t> b(payload.size() + kAeadTagSize);
  ASSERT_TRUE(crypto_->AeadSeal(key, counter, payload, {}, a));
  ASSERT_TRUE(crypto_->AeadSeal(key, nonce, payload, {}, b));
  EXPECT_EQ(a, b);
  // Empty payload (a keepalive) is just the tag, and in-place decryption works.
  std::array<uint8_t, kAeadTagSize> tag_only{};
  ASSERT_TRUE(crypto_->AeadSeal(key, 7, {}, {}, tag_only));
  EXPECT_TRUE(crypto_->AeadOpen(key, 7, tag_only, {}, MutableBytes()));
  EXPECT_FALSE(crypto_->AeadOpen(key, 8, tag_only, {}, MutableBytes()));
  std::vector<uint8_t> plain(payload.size());
  ASSERT_TRUE(crypto_->AeadOpen(key, counter, a, {}, MutableBytes(a).first(payload.size())));
  EXPECT_TRUE(std::equal(payload.begin(), payload.end(), a.begin()));
}

// RFC 7693 appendix B.
TEST_F(CryptoTest, Blake2s256OfAbc) {
  Digest d{};
  ASSERT_TRUE(crypto_->Hash({Text("abc")}, d));
  EXPECT_EQ(ToHex(d), "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982");
  ASSERT_TRUE(crypto_->Hash({Text("a"), Text(""), Text("bc")}, d));  // parts are concatenated
  EXPECT_EQ(ToHex(d), "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982");
}

// Expected values: python3 -c "import hashlib,hmac; k=bytes(range(32)); d=b'cloudlet wireguard test input';
//   print(hmac.new(k,d,hashlib.blake2s).hexdigest()); print(hashlib.blake2s(d,key=k,digest_size=16).hexdigest())"
TEST_F(CryptoTest, HmacBlake2sMatchesPython) {
  std::array<uint8_t, 32> key{};
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(i);
  Digest d{};
  ASSERT_TRUE(crypto_->Hmac(key, {Text("cloudlet wireguard "), Text("test input")}, d));
  EXPECT_EQ(ToHex(d), "097c03379cd673fb1cd0f80a6b5f604f28ecb1feb7d63d0089bdf874cc5ff410");
}

TEST_F(CryptoTest, KeyedBlake2s128MatchesPython) {
  std::array<uint8_t, 32> key{};
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(i);
  Mac m{};
  ASSERT_TRUE(crypto_->KeyedMac(key, Text("cloudlet wireguard test input"), m));
  EXPECT_EQ(ToHex(m), "268b4fa990f406f60f141cd6ebee6e39");
  // Reusing the context with another key and again gives consistent results.
  Mac other{};
  ASSERT_TRUE(crypto_->KeyedMac(ByteView(key).first(16), Text("x"), other));
  ASSERT_TRUE(crypto_->KeyedMac(key, Text("cloudlet wireguard test input"), m));
  EXPECT_EQ(ToHex(m), "268b4fa990f406f60f141cd6ebee6e39");
  EXPECT_FALSE(crypto_->KeyedMac(ByteView(), Text("x"), m));
}

// KDF3 against python: t0=hmac(k,x); t1=hmac(t0,b'\x01'); t2=hmac(t0,t1+b'\x02'); t3=hmac(t0,t2+b'\x03').
TEST_F(CryptoTest, KdfMatchesWhitepaperDefinition) {
  std::array<uint8_t, 32> key{};
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(i);
  std::array<uint8_t, 32> t1{};
  std::array<uint8_t, 32> t2{};
  std::array<uint8_t, 32> t3{};
  ASSERT_TRUE(crypto_->Kdf(key, Text("input"), t1, t2, t3));
  EXPECT_EQ(ToHex(t1), "87b7f70b24183c6db5dc4f6d9f4c47cdb203321aa2a0bef714896adb3107a040");
  EXPECT_EQ(ToHex(t2), "538a02e1eb2e31b7e4d4b82476d1fe2acf50085d3fb584537279195f5d1f5824");
  EXPECT_EQ(ToHex(t3), "9ad858025593be88de0f9442a589cfe84a88dc19e4753d93684d1c5efc4837f9");
  // KDF1 and KDF2 are prefixes of KDF3, and the output may alias the key.
  std::array<uint8_t, 32> aliased = key;
  ASSERT_TRUE(crypto_->Kdf(aliased, Text("input"), aliased));
  EXPECT_EQ(aliased, t1);
}

TEST_F(CryptoTest, Tai64nLayout) {
  const Tai64n t = Tai64nFromUnixNanos(int64_t{1700000000} * 1'000'000'000 + 123456789);
  EXPECT_EQ(ToHex(t),
            "40000000"
            "6553f100"
            "075bcd15");
  const Tai64n later = Tai64nFromUnixNanos(int64_t{1700000001} * 1'000'000'000);
  EXPECT_LT(std::memcmp(t.data(), later.data(), t.size()), 0);
}

TEST_F(CryptoTest, XChaCha20Poly1305RoundTrip) {
  std::array<uint8_t, 32> key{};
  RandomBytes(key);
  std::array<uint8_t, kXAeadNonceSize> nonce{};
  RandomBytes(nonce);
  const auto ad = Hex("0102030405");
  const std::string_view text = "a cookie of sixteen";
  std::vector<uint8_t> sealed(text.size() + kAeadTagSize);
  ASSERT_TRUE(XAeadSeal(key, nonce, Text(text), ad, sealed));
  std::vector<uint8_t> opened(text.size());
  ASSERT_TRUE(XAeadOpen(key, nonce, sealed, ad, opened));
  EXPECT_EQ(std::string(opened.begin(), opened.end()), text);
  nonce[23] ^= 1;
  EXPECT_FALSE(XAeadOpen(key, nonce, sealed, ad, opened));
  nonce[23] ^= 1;
  EXPECT_FALSE(XAeadOpen(key, nonce, sealed, ByteView(ad).first(4), opened));
  EXPECT_FALSE(XAeadOpen(key, nonce, ByteView(sealed).first(8), ad, opened));
}

TEST(SecretBytesTest, ClearWipes) {
  SecretBytes<8> s;
  s.data()[3] = 9;
  EXPECT_FALSE(s.IsZero());
  s.Clear();
  EXPECT_TRUE(s.IsZero());
}

}  // namespace
}  // namespace cloudlet::vpn
