// WireGuard's cookie mechanism (whitepaper 5.4.4, 5.4.7): MAC1 on every handshake message, keyed by the receiver's
// static public key, proves the sender knows whom it talks to; MAC2, keyed by a cookie the receiver handed out,
// proves the sender owns its source address when the receiver is under load.
//   CookieChecker (receiver, one per device): checks MAC1 always and MAC2 under load, writes cookie replies.
//   CookieMacs (sender, one per peer): fills MAC1/MAC2 on outgoing handshake messages, consumes cookie replies.
// Sans-IO: time comes in as a parameter; the caller picks the source address bytes (IP || port).
#pragma once

#include <cstdint>
#include <optional>

#include "base/clock.h"
#include "base/status.h"
#include "vpn/constants.h"
#include "vpn/crypto.h"
#include "vpn/messages.h"

namespace cloudlet::vpn {

// The receiver's secret for cookies is replaced after this long (the whitepaper's COOKIE_SECRET_MAX_AGE); a sender
// keeps using a cookie for this long minus kCookieLatency (a cookie made just before the rotation must not outlive
// the secret it was made with).
constexpr Nanos kCookieSecretLifetime = kCookieSecretMaxAge;
constexpr Nanos kCookieLatency = 5 * kSecond;

// Source addresses are at most an IPv6 address and a port.
constexpr size_t kMaxSourceAddressSize = 16 + 2;

enum class MacCheck {
  kInvalid,           // wrong length/type or MAC1 does not verify: drop silently
  kValidMac1,         // MAC1 ok; MAC2 not checked (not under load) or missing/wrong (under load: send a cookie reply)
  kValidMac1AndMac2,  // both ok: the source address is proven
};

// Precomputed keys that depend only on one static public key.
struct MacKeys {
  Digest mac1_key{};    // HASH("mac1----" || public)
  Digest cookie_key{};  // HASH("cookie--" || public)
};
Result<MacKeys> DeriveMacKeys(CryptoSuite& crypto, const PublicKey& public_key);

class CookieChecker {
 public:
  // `own_public` is this device's static public key.
  static Result<CookieChecker> Create(CryptoSuite& crypto, const PublicKey& own_public);

  // Checks a whole handshake message (initiation or response). MAC2 is checked only when `under_load`.
  MacCheck Check(CryptoSuite& crypto, ByteView message, ByteView source_address, bool under_load, Nanos now);

  // A cookie reply answering `message` (a handshake message that passed MAC1) from `source_address`.
  Result<CookieReplyBytes> CreateReply(CryptoSuite& crypto, ByteView message, ByteView source_address, Nanos now);

 private:
  explicit CookieChecker(const MacKeys& keys) : keys_(keys) {}
  // cookie = MAC(secret, source address), rotating the secret first when it is older than its lifetime.
  bool MakeCookie(CryptoSuite& crypto, ByteView source_address, Nanos now, std::span<uint8_t, kMacSize> cookie);

  MacKeys keys_;
  SecretBytes<kKeySize> secret_;
  std::optional<Nanos> secret_birth_;
};

class CookieMacs {
 public:
  // `peer_public` is the static public key of the peer the messages go to.
  static Result<CookieMacs> Create(CryptoSuite& crypto, const PublicKey& peer_public);

  // Fills MAC1 of `message` (an initiation or response, serialised) and MAC2 when a fresh cookie is held
  // (zeros otherwise). Remembers MAC1: a cookie reply answers it.
  Status AddMacs(CryptoSuite& crypto, MutableBytes message, Nanos now);

  // Decrypts a cookie reply to the last message sent; the cookie then keys MAC2 for kCookieSecretLifetime -
  // kCookieLatency. Each sent MAC1 accepts one reply.
  Status ConsumeReply(ByteView reply, Nanos now);

  bool HasFreshCookie(Nanos now) const;

 private:
  explicit CookieMacs(const MacKeys& keys) : keys_(keys) {}

  MacKeys keys_;
  SecretBytes<kMacSize> cookie_;
  std::optional<Nanos> cookie_birth_;
  Mac last_mac1_{};
  bool have_sent_mac1_ = false;
};

}  // namespace cloudlet::vpn
