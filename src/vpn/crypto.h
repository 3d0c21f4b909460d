// Cryptographic wiring of the WireGuard protocol core: X25519, ChaCha20-Poly1305, BLAKE2s (hash, HMAC, keyed MAC),
// the whitepaper's HKDF-style KDF1/2/3, XChaCha20-Poly1305 and TAI64N timestamps. Every primitive comes from
// OpenSSL 3 (EVP) or libsodium; nothing here implements a primitive by hand. Secrets live in SecretBytes, which are
// wiped when dropped.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>

#include "base/status.h"

// Opaque OpenSSL types, so this header does not pull in OpenSSL.
struct evp_md_st;
struct evp_md_ctx_st;
struct evp_mac_st;
struct evp_mac_ctx_st;
struct evp_cipher_st;
struct evp_cipher_ctx_st;

namespace cloudlet::vpn {

constexpr size_t kKeySize = 32;         // X25519 keys, symmetric keys, chaining keys
constexpr size_t kHashSize = 32;        // BLAKE2s-256
constexpr size_t kMacSize = 16;         // keyed BLAKE2s-128 (MAC1, MAC2, cookies)
constexpr size_t kAeadTagSize = 16;     // Poly1305
constexpr size_t kAeadNonceSize = 12;   // ChaCha20-Poly1305 (IETF)
constexpr size_t kXAeadNonceSize = 24;  // XChaCha20-Poly1305
constexpr size_t kTimestampSize = 12;   // TAI64N

using ByteView = std::span<const uint8_t>;
using MutableBytes = std::span<uint8_t>;

// Overwrites memory in a way the compiler may not elide.
void SecureZero(void* data, size_t size);
// Constant-time equality of two equally sized buffers (false when sizes differ).
bool ConstantTimeEqual(ByteView a, ByteView b);

// Fixed-size secret bytes, wiped on destruction and on Clear().
template <size_t N>
class SecretBytes {
 public:
  SecretBytes() = default;
  explicit SecretBytes(std::span<const uint8_t, N> bytes) { std::copy(bytes.begin(), bytes.end(), bytes_.begin()); }
  SecretBytes(const SecretBytes&) = default;
  SecretBytes& operator=(const SecretBytes&) = default;
  ~SecretBytes() { Clear(); }

  uint8_t* data() { return bytes_.data(); }
  const uint8_t* data() const { return bytes_.data(); }
  static constexpr size_t size() { return N; }
  std::span<uint8_t, N> span() { return std::span<uint8_t, N>(bytes_); }
  std::span<const uint8_t, N> span() const { return std::span<const uint8_t, N>(bytes_); }
  void Clear() { SecureZero(bytes_.data(), N); }
  bool IsZero() const {
    uint8_t acc = 0;
    for (uint8_t b : bytes_) acc |= b;
    return acc == 0;
  }

 private:
  std::array<uint8_t, N> bytes_{};
};

using PublicKey = std::array<uint8_t, kKeySize>;
using PrivateKey = SecretBytes<kKeySize>;
using SymmetricKey = SecretBytes<kKeySize>;
using Digest = std::array<uint8_t, kHashSize>;
using Mac = std::array<uint8_t, kMacSize>;
using Tai64n = std::array<uint8_t, kTimestampSize>;

// X25519 (RFC 7748). Per-handshake operations: each call builds its own EVP_PKEY.
// A fresh private key from OpenSSL's RNG, already clamped.
Result<PrivateKey> GeneratePrivateKey();
Result<PublicKey> DerivePublicKey(const PrivateKey& private_key);
// DH(private, public); an all-zero result (a low-order public key) is an error.
Result<SymmetricKey> X25519(const PrivateKey& private_key, const PublicKey& public_key);

// TAI64N label of a wall-clock time: 8-byte big-endian (2^62 + seconds), 4-byte big-endian nanoseconds.
// Big-endian, so later times compare greater with memcmp.
Tai64n Tai64nFromUnixNanos(int64_t unix_nanos);

// XChaCha20-Poly1305 (libsodium), used by cookie replies. `out` holds plaintext.size() + 16 bytes (seal) or
// ciphertext.size() - 16 bytes (open). Open returns false when authentication fails.
[[nodiscard]] bool XAeadSeal(std::span<const uint8_t, kKeySize> key, std::span<const uint8_t, kXAeadNonceSize> nonce,
                             ByteView plaintext, ByteView ad, MutableBytes out);
[[nodiscard]] bool XAeadOpen(std::span<const uint8_t, kKeySize> key, std::span<const uint8_t, kXAeadNonceSize> nonce,
                             ByteView ciphertext, ByteView ad, MutableBytes out);
// Fills `out` from libsodium's CSPRNG.
void RandomBytes(MutableBytes out);

// The symmetric primitives with their OpenSSL contexts created once and reused on every call (the data path
// encrypts through this). Not thread-safe: one CryptoSuite per thread. Every operation returns false only when
// OpenSSL itself fails (or, for AeadOpen, when authentication fails); outputs are then unspecified.
class CryptoSuite {
 public:
  static Result<CryptoSuite> Create();
  CryptoSuite(CryptoSuite&&) noexcept;
  CryptoSuite& operator=(CryptoSuite&&) noexcept;
  ~CryptoSuite();

  // BLAKE2s-256 of the concatenation of `parts`.
  [[nodiscard]] bool Hash(std::initializer_list<ByteView> parts, std::span<uint8_t, kHashSize> out);
  // HMAC-BLAKE2s-256 of the concatenation of `parts`.
  [[nodiscard]] bool Hmac(ByteView key, std::initializer_list<ByteView> parts, std::span<uint8_t, kHashSize> out);
  // Keyed BLAKE2s with a 16-byte digest (key of 1..32 bytes): MAC in the whitepaper.
  [[nodiscard]] bool KeyedMac(ByteView key, ByteView data, std::span<uint8_t, kMacSize> out);
  // KDF_n(key, input) of the whitepaper: t0 = HMAC(key, input), t1 = HMAC(t0, 0x1), ti = HMAC(t0, t(i-1) || i).
  // Writes t1 to out1 and, when given (32 bytes each), t2 to out2 and t3 to out3. Outputs may alias `key`.
  [[nodiscard]] bool Kdf(ByteView key, ByteView input, std::span<uint8_t, kKeySize> out1, MutableBytes out2 = {},
                         MutableBytes out3 = {});

  // ChaCha20-Poly1305 with an explicit 96-bit nonce. Seal: out = ciphertext || tag (plaintext.size() + 16 bytes).
  // Open: out = plaintext (ciphertext.size() - 16 bytes); false when the tag does not verify. In place is allowed.
  [[nodiscard]] bool AeadSeal(std::span<const uint8_t, kKeySize> key, std::span<const uint8_t, kAeadNonceSize> nonce,
                              ByteView plaintext, ByteView ad, MutableBytes out);
  [[nodiscard]] bool AeadOpen(std::span<const uint8_t, kKeySize> key, std::span<const uint8_t, kAeadNonceSize> nonce,
                              ByteView ciphertext, ByteView ad, MutableBytes out);
  // WireGuard's nonce: 4 zero bytes followed by the 64-bit little-endian counter.
  [[nodiscard]] bool AeadSeal(std::span<const uint8_t, kKeySize> key, uint64_t counter, ByteView plaintext, ByteView ad,
                              MutableBytes out);
  [[nodiscard]] bool AeadOpen(std::span<const uint8_t, kKeySize> key, uint64_t counter, ByteView ciphertext,
                              ByteView ad, MutableBytes out);

 private:
  struct Deleter {
    void operator()(evp_md_st* p) const;
    void operator()(evp_md_ctx_st* p) const;
    void operator()(evp_mac_st* p) const;
    void operator()(evp_mac_ctx_st* p) const;
    void operator()(evp_cipher_st* p) const;
    void operator()(evp_cipher_ctx_st* p) const;
  };
  CryptoSuite() = default;

  std::unique_ptr<evp_md_st, Deleter> blake2s_;
  std::unique_ptr<evp_md_ctx_st, Deleter> hash_ctx_;
  std::unique_ptr<evp_mac_st, Deleter> hmac_;
  std::unique_ptr<evp_mac_ctx_st, Deleter> hmac_ctx_;
  std::unique_ptr<evp_mac_st, Deleter> blake2s_mac_;
  std::unique_ptr<evp_mac_ctx_st, Deleter> blake2s_mac_ctx_;
  std::unique_ptr<evp_cipher_st, Deleter> chacha_;
  std::unique_ptr<evp_cipher_ctx_st, Deleter> seal_ctx_;
  std::unique_ptr<evp_cipher_ctx_st, Deleter> open_ctx_;
};

}  // namespace cloudlet::vpn
