// OpenSSL 3 EVP and libsodium behind the CryptoSuite / X25519 / XChaCha20 interface of crypto.h.
#include "vpn/crypto.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <sodium.h>

#include <string>

namespace cloudlet::vpn {
namespace {

constexpr char kBlake2sName[] = "BLAKE2S-256";
// EVP lengths are ints; anything near that is not a datagram anyway.
constexpr size_t kMaxAeadInput = size_t{1} << 30;

Error OpensslError(const std::string& what) {
  unsigned long code = ERR_get_error();  // NOLINT(google-runtime-int): OpenSSL's type
  char text[256] = {};
  if (code != 0) ERR_error_string_n(code, text, sizeof(text));
  ERR_clear_error();
  return Error(what + " failed (OpenSSL: " + (code != 0 ? text : "no error queued") + ")");
}

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree>;

PkeyPtr PrivatePkey(const PrivateKey& key) {
  return PkeyPtr(EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, key.data(), key.size()));
}

void StoreLe64(uint8_t* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(v >> (8 * i));
}

void StoreBe(uint8_t* out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out[i] = static_cast<uint8_t>(v >> (8 * (bytes - 1 - i)));
}

std::array<uint8_t, kAeadNonceSize> CounterNonce(uint64_t counter) {
  std::array<uint8_t, kAeadNonceSize> nonce{};
  StoreLe64(nonce.data() + 4, counter);
  return nonce;
}

}  // namespace

void SecureZero(void* data, size_t size) { OPENSSL_cleanse(data, size); }

bool ConstantTimeEqual(ByteView a, ByteView b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

Result<PrivateKey> GeneratePrivateKey() {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_X25519, nullptr));
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1) return OpensslError("X25519 keygen init");
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_keygen(ctx.get(), &raw) != 1) return OpensslError("X25519 keygen");
  PkeyPtr pkey(raw);
  PrivateKey key;
  size_t len = key.size();
  if (EVP_PKEY_get_raw_private_key(pkey.get(), key.data(), &len) != 1 || len != key.size()) {
    return OpensslError("X25519 private key export");
  }
  return key;
}

Result<PublicKey> DerivePublicKey(const PrivateKey& private_key) {
  PkeyPtr pkey = PrivatePkey(private_key);
  if (!pkey) return OpensslError("X25519 private key import");
  PublicKey pub{};
  size_t len = pub.size();
  if (EVP_PKEY_get_raw_public_key(pkey.get(), pub.data(), &len) != 1 || len != pub.size()) {
    return OpensslError("X25519 public key export");
  }
  return pub;
}

Result<SymmetricKey> X25519(const PrivateKey& private_key, const PublicKey& public_key) {
  PkeyPtr priv = PrivatePkey(private_key);
  PkeyPtr peer(EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, public_key.data(), public_key.size()));
  if (!priv || !peer) return OpensslError("X25519 key import");
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new(priv.get(), nullptr));
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1 || EVP_PKEY_derive_set_peer(ctx.get(), peer.get()) != 1) {
    return OpensslError("X25519 derive setup");
  }
  SymmetricKey shared;
  size_t len = shared.size();
  // OpenSSL itself refuses an all-zero result; the check below keeps that guarantee independent of the version.
  if (EVP_PKEY_derive(ctx.get(), shared.data(), &len) != 1 || len != shared.size()) {
    ERR_clear_error();
    return Error("X25519: peer public key gives no shared secret (low-order point)");
  }
  if (shared.IsZero()) return Error("X25519: all-zero shared secret (low-order peer public key)");
  return shared;
}

Tai64n Tai64nFromUnixNanos(int64_t unix_nanos) {
  Tai64n out{};
  int64_t seconds = unix_nanos / 1'000'000'000;
  int64_t nanos = unix_nanos % 1'000'000'000;
  if (nanos < 0) {
    nanos += 1'000'000'000;
    seconds -= 1;
  }
  StoreBe(out.data(), (uint64_t{1} << 62) + static_cast<uint64_t>(seconds), 8);
  StoreBe(out.data() + 8, static_cast<uint64_t>(nanos), 4);
  return out;
}

bool XAeadSeal(std::span<const uint8_t, kKeySize> key, std::span<const uint8_t, kXAeadNonceSize> nonce,
               ByteView plaintext, ByteView ad, MutableBytes out) {
  if (out.size() != plaintext.size() + crypto_aead_xchacha20poly1305_ietf_ABYTES) return false;
  unsigned long long out_len = 0;  // NOLINT(google-runtime-int): libsodium's type
  return crypto_aead_xchacha20poly1305_ietf_encrypt(out.data(), &out_len, plaintext.data(), plaintext.size(), ad.data(),
                                                    ad.size(), nullptr, nonce.data(), key.data()) == 0;
}

bool XAeadOpen(std::span<const uint8_t, kKeySize> key, std::span<const uint8_t, kXAeadNonceSize> nonce,
               ByteView ciphertext, ByteView ad, MutableBytes out) {
  if (ciphertext.size() < crypto_aead_xchacha20poly1305_ietf_ABYTES ||
      out.size() != ciphertext.size() - crypto_aead_xchacha20poly1305_ietf_ABYTES) {
    return false;
  }
  unsigned long long out_len = 0;  // NOLINT(google-runtime-int): libsodium's type
  return crypto_aead_xchacha20poly1305_ietf_decrypt(out.data(), &out_len, nullptr, ciphertext.data(), ciphertext.size(),
                                                    ad.data(), ad.size(), nonce.data(), key.data()) == 0;
}

void RandomBytes(MutableBytes out) { randombytes_buf(out.data(), out.size()); }

void CryptoSuite::Deleter::operator()(EVP_MD* p) const { EVP_MD_free(p); }
void CryptoSuite::Deleter::operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
void CryptoSuite::Deleter::operator()(EVP_MAC* p) const { EVP_MAC_free(p); }
void CryptoSuite::Deleter::operator()(EVP_MAC_CTX* p) const { EVP_MAC_CTX_free(p); }
void CryptoSuite::Deleter::operator()(EVP_CIPHER* p) const { EVP_CIPHER_free(p); }
void CryptoSuite::Deleter::operator()(EVP_CIPHER_CTX* p) const { EVP_CIPHER_CTX_free(p); }

CryptoSuite::CryptoSuite(CryptoSuite&&) noexcept = default;
CryptoSuite& CryptoSuite::operator=(CryptoSuite&&) noexcept = default;
CryptoSuite::~CryptoSuite() = default;

Result<CryptoSuite> CryptoSuite::Create() {
  if (sodium_init() < 0) return Error("libsodium initialisation failed");
  CryptoSuite s;
  s.blake2s_.reset(EVP_MD_fetch(nullptr, kBlake2sName, nullptr));
  s.hash_ctx_.reset(EVP_MD_CTX_new());
  if (!s.blake2s_ || !s.hash_ctx_) return OpensslError("BLAKE2s-256 fetch");

  s.hmac_.reset(EVP_MAC_fetch(nullptr, "HMAC", nullptr));
  if (!s.hmac_) return OpensslError("HMAC fetch");
  s.hmac_ctx_.reset(EVP_MAC_CTX_new(s.hmac_.get()));
  char digest_name[] = "BLAKE2S-256";
  const OSSL_PARAM hmac_params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
      OSSL_PARAM_construct_end(),
  };
  if (!s.hmac_ctx_ || EVP_MAC_CTX_set_params(s.hmac_ctx_.get(), hmac_params) != 1) {
    return OpensslError("HMAC-BLAKE2s setup");
  }

  s.blake2s_mac_.reset(EVP_MAC_fetch(nullptr, "BLAKE2SMAC", nullptr));
  if (!s.blake2s_mac_) return OpensslError("BLAKE2SMAC fetch");
  s.blake2s_mac_ctx_.reset(EVP_MAC_CTX_new(s.blake2s_mac_.get()));
  if (!s.blake2s_mac_ctx_) return OpensslError("BLAKE2SMAC context");

  s.chacha_.reset(EVP_CIPHER_fetch(nullptr, "ChaCha20-Poly1305", nullptr));
  s.seal_ctx_.reset(EVP_CIPHER_CTX_new());
  s.open_ctx_.reset(EVP_CIPHER_CTX_new());
  if (!s.chacha_ || !s.seal_ctx_ || !s.open_ctx_ ||
      EVP_EncryptInit_ex2(s.seal_ctx_.get(), s.chacha_.get(), nullptr, nullptr, nullptr) != 1 ||
      EVP_DecryptInit_ex2(s.open_ctx_.get(), s.chacha_.get(), nullptr, nullptr, nullptr) != 1) {
    return OpensslError("ChaCha20-Poly1305 setup");
  }
  return s;
}

bool CryptoSuite::Hash(std::initializer_list<ByteView> parts, std::span<uint8_t, kHashSize> out) {
  if (EVP_DigestInit_ex2(hash_ctx_.get(), blake2s_.get(), nullptr) != 1) return false;
  for (ByteView part : parts) {
    if (!part.empty() && EVP_DigestUpdate(hash_ctx_.get(), part.data(), part.size()) != 1) return false;
  }
  unsigned int len = 0;
  return EVP_DigestFinal_ex(hash_ctx_.get(), out.data(), &len) == 1 && len == kHashSize;
}

bool CryptoSuite::Hmac(ByteView key, std::initializer_list<ByteView> parts, std::span<uint8_t, kHashSize> out) {
  if (EVP_MAC_init(hmac_ctx_.get(), key.data(), key.size(), nullptr) != 1) return false;
  for (ByteView part : parts) {
    if (!part.empty() && EVP_MAC_update(hmac_ctx_.get(), part.data(), part.size()) != 1) return false;
  }
  size_t len = 0;
  return EVP_MAC_final(hmac_ctx_.get(), out.data(), &len, out.size()) == 1 && len == kHashSize;
}

bool CryptoSuite::KeyedMac(ByteView key, ByteView data, std::span<uint8_t, kMacSize> out) {
  if (key.empty() || key.size() > kKeySize) return false;
  size_t mac_size = kMacSize;
  // The digest length is part of BLAKE2's parameter block, so this is a true BLAKE2s-128, not a truncation.
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &mac_size),
      OSSL_PARAM_construct_end(),
  };
  if (EVP_MAC_init(blake2s_mac_ctx_.get(), key.data(), key.size(), params) != 1) return false;
  if (!data.empty() && EVP_MAC_update(blake2s_mac_ctx_.get(), data.data(), data.size()) != 1) return false;
  size_t len = 0;
  return EVP_MAC_final(blake2s_mac_ctx_.get(), out.data(), &len, out.size()) == 1 && len == kMacSize;
}

bool CryptoSuite::Kdf(ByteView key, ByteView input, std::span<uint8_t, kKeySize> out1, MutableBytes out2,
                      MutableBytes out3) {
  if ((!out2.empty() && out2.size() != kKeySize) || (!out3.empty() && out3.size() != kKeySize)) return false;
  if (out2.empty() && !out3.empty()) return false;
  SecretBytes<kHashSize> prk;
  SecretBytes<kHashSize> t;
  const uint8_t one = 1;
  const uint8_t two = 2;
  const uint8_t three = 3;
  if (!Hmac(key, {input}, prk.span())) return false;
  if (!Hmac(prk.span(), {ByteView(&one, 1)}, t.span())) return false;
  std::copy(t.span().begin(), t.span().end(), out1.begin());
  if (out2.empty()) return true;
  if (!Hmac(prk.span(), {t.span(), ByteView(&two, 1)}, t.span())) return false;
  std::copy(t.span().begin(), t.span().end(), out2.begin());
  if (out3.empty()) return true;
  if (!Hmac(prk.span(), {t.span(), ByteView(&three, 1)}, t.span())) return false;
  std::copy(t.span().begin(), t.span().end(), out3.begin());
  return true;
}

bool CryptoSuite::AeadSeal(std::span<const uint8_t, kKeySize> key, std::span<const uint8_t, kAeadNonceSize> nonce,
                           ByteView plaintext, ByteView ad, MutableBytes out) {
  if (out.size() != plaintext.size() + kAeadTagSize || plaintext.size() > kMaxAeadInput || ad.size() > kMaxAeadInput) {
    return false;
  }
  EVP_CIPHER_CTX* ctx = seal_ctx_.get();
  int len = 0;
  if (EVP_EncryptInit_ex2(ctx, nullptr, key.data(), nonce.data(), nullptr) != 1) return false;
  // Empty inputs are skipped: a null input pointer would mean "finalise" to the AEAD cipher.
  if (!ad.empty() && EVP_EncryptUpdate(ctx, nullptr, &len, ad.data(), static_cast<int>(ad.size())) != 1) return false;
  if (!plaintext.empty() &&
      (EVP_EncryptUpdate(ctx, out.data(), &len, plaintext.data(), static_cast<int>(plaintext.size())) != 1 ||
       static_cast<size_t>(len) != plaintext.size())) {
    return false;
  }
  if (EVP_EncryptFinal_ex(ctx, out.data() + plaintext.size(), &len) != 1) return false;
  return EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, kAeadTagSize, out.data() + plaintext.size()) == 1;
}

bool CryptoSuite::AeadOpen(std::span<const uint8_t, kKeySize> key, std::span<const uint8_t, kAeadNonceSize> nonce,
                           ByteView ciphertext, ByteView ad, MutableBytes out) {
  if (ciphertext.size() < kAeadTagSize || out.size() != ciphertext.size() - kAeadTagSize ||
      ciphertext.size() > kMaxAeadInput || ad.size() > kMaxAeadInput) {
    return false;
  }
  const size_t body = ciphertext.size() - kAeadTagSize;
  // Copy the tag first: decrypting in place may overwrite nothing of it, but the API passes it as non-const.
  std::array<uint8_t, kAeadTagSize> tag{};
  std::copy(ciphertext.begin() + static_cast<ptrdiff_t>(body), ciphertext.end(), tag.begin());
  EVP_CIPHER_CTX* ctx = open_ctx_.get();
  int len = 0;
  if (EVP_DecryptInit_ex2(ctx, nullptr, key.data(), nonce.data(), nullptr) != 1) return false;
  if (!ad.empty() && EVP_DecryptUpdate(ctx, nullptr, &len, ad.data(), static_cast<int>(ad.size())) != 1) return false;
  if (body != 0 && (EVP_DecryptUpdate(ctx, out.data(), &len, ciphertext.data(), static_cast<int>(body)) != 1 ||
                    static_cast<size_t>(len) != body)) {
    return false;
  }
  if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, kAeadTagSize, tag.data()) != 1) return false;
  uint8_t scratch[kAeadTagSize];
  if (EVP_DecryptFinal_ex(ctx, scratch, &len) != 1) {
    SecureZero(out.data(), out.size());  // never hand out unauthenticated plaintext
    return false;
  }
  return true;
}

bool CryptoSuite::AeadSeal(std::span<const uint8_t, kKeySize> key, uint64_t counter, ByteView plaintext, ByteView ad,
                           MutableBytes out) {
  return AeadSeal(key, CounterNonce(counter), plaintext, ad, out);
}

bool CryptoSuite::AeadOpen(std::span<const uint8_t, kKeySize> key, uint64_t counter, ByteView ciphertext, ByteView ad,
                           MutableBytes out) {
  return AeadOpen(key, CounterNonce(counter), ciphertext, ad, out);
}

}  // namespace cloudlet::vpn
