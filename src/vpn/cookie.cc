// MAC1/MAC2 checks, cookie replies and cookie consumption (see cookie.h).
#include "vpn/cookie.h"

#include <algorithm>
#include <string_view>

namespace cloudlet::vpn {
namespace {

constexpr std::string_view kLabelMac1 = "mac1----";
constexpr std::string_view kLabelCookie = "cookie--";

ByteView AsBytes(std::string_view s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

// Where MAC1 sits in a handshake message, or nullopt for anything that is not a well-formed handshake message.
std::optional<size_t> Mac1Offset(ByteView message) {
  const auto type = PeekMessageType(message);
  if (!type) return std::nullopt;
  if (*type == MessageType::kInitiation && message.size() == kInitiationSize) return kInitiationMac1Offset;
  if (*type == MessageType::kResponse && message.size() == kResponseSize) return kResponseMac1Offset;
  return std::nullopt;
}

}  // namespace

Result<MacKeys> DeriveMacKeys(CryptoSuite& crypto, const PublicKey& public_key) {
  MacKeys keys;
  if (!crypto.Hash({AsBytes(kLabelMac1), public_key}, keys.mac1_key) ||
      !crypto.Hash({AsBytes(kLabelCookie), public_key}, keys.cookie_key)) {
    return Error("cookie: hashing the MAC keys failed (OpenSSL)");
  }
  return keys;
}

Result<CookieChecker> CookieChecker::Create(CryptoSuite& crypto, const PublicKey& own_public) {
  CL_ASSIGN_OR_RETURN(MacKeys keys, DeriveMacKeys(crypto, own_public));
  return CookieChecker(keys);
}

bool CookieChecker::MakeCookie(CryptoSuite& crypto, ByteView source_address, Nanos now,
                               std::span<uint8_t, kMacSize> cookie) {
  if (source_address.empty() || source_address.size() > kMaxSourceAddressSize) return false;
  if (!secret_birth_ || now - *secret_birth_ >= kCookieSecretLifetime || now < *secret_birth_) {
    RandomBytes(secret_.span());
    secret_birth_ = now;
  }
  return crypto.KeyedMac(secret_.span(), source_address, cookie);
}

MacCheck CookieChecker::Check(CryptoSuite& crypto, ByteView message, ByteView source_address, bool under_load,
                              Nanos now) {
  const auto mac1_offset = Mac1Offset(message);
  if (!mac1_offset) return MacCheck::kInvalid;
  Mac mac{};
  if (!crypto.KeyedMac(keys_.mac1_key, message.first(*mac1_offset), mac)) return MacCheck::kInvalid;
  if (!ConstantTimeEqual(mac, message.subspan(*mac1_offset, kMacSize))) return MacCheck::kInvalid;
  if (!under_load) return MacCheck::kValidMac1;

  SecretBytes<kMacSize> cookie;
  const size_t mac2_offset = *mac1_offset + kMacSize;
  if (!MakeCookie(crypto, source_address, now, cookie.span())) return MacCheck::kValidMac1;
  if (!crypto.KeyedMac(cookie.span(), message.first(mac2_offset), mac)) return MacCheck::kValidMac1;
  if (!ConstantTimeEqual(mac, message.subspan(mac2_offset, kMacSize))) return MacCheck::kValidMac1;
  return MacCheck::kValidMac1AndMac2;
}

Result<CookieReplyBytes> CookieChecker::CreateReply(CryptoSuite& crypto, ByteView message, ByteView source_address,
                                                    Nanos now) {
  const auto mac1_offset = Mac1Offset(message);
  if (!mac1_offset) return Error("cookie reply: not a handshake message");
  SecretBytes<kMacSize> cookie;
  if (!MakeCookie(crypto, source_address, now, cookie.span())) {
    return Error("cookie reply: source address must be 1-18 bytes (IP || port)");
  }
  CookieReply reply;
  reply.receiver_index = LoadLe32(message.data() + 4);  // the sender index of the message answered
  RandomBytes(reply.nonce);
  if (!XAeadSeal(keys_.cookie_key, reply.nonce, cookie.span(), message.subspan(*mac1_offset, kMacSize),
                 reply.encrypted_cookie)) {
    return Error("cookie reply: XChaCha20-Poly1305 seal failed");
  }
  return Serialize(reply);
}

Result<CookieMacs> CookieMacs::Create(CryptoSuite& crypto, const PublicKey& peer_public) {
  CL_ASSIGN_OR_RETURN(MacKeys keys, DeriveMacKeys(crypto, peer_public));
  return CookieMacs(keys);
}

bool CookieMacs::HasFreshCookie(Nanos now) const {
  return cookie_birth_ && now >= *cookie_birth_ && now - *cookie_birth_ < kCookieSecretLifetime - kCookieLatency;
}

Status CookieMacs::AddMacs(CryptoSuite& crypto, MutableBytes message, Nanos now) {
  const auto mac1_offset = Mac1Offset(message);
  if (!mac1_offset) return Error("MACs: not a handshake message");
  const std::span<uint8_t, kMacSize> mac1 = message.subspan(*mac1_offset).first<kMacSize>();
  const std::span<uint8_t, kMacSize> mac2 = message.subspan(*mac1_offset + kMacSize).first<kMacSize>();
  if (!crypto.KeyedMac(keys_.mac1_key, message.first(*mac1_offset), mac1)) return Error("MAC1: BLAKE2s failed");
  std::copy(mac1.begin(), mac1.end(), last_mac1_.begin());
  have_sent_mac1_ = true;
  if (!HasFreshCookie(now)) {
    std::fill(mac2.begin(), mac2.end(), 0);
    return Status::Ok();
  }
  if (!crypto.KeyedMac(cookie_.span(), message.first(*mac1_offset + kMacSize), mac2)) {
    return Error("MAC2: BLAKE2s failed");
  }
  return Status::Ok();
}

Status CookieMacs::ConsumeReply(ByteView reply_bytes, Nanos now) {
  const auto reply = ParseCookieReply(reply_bytes);
  if (!reply) return Error("cookie reply: wrong length or type");
  if (!have_sent_mac1_) return Error("cookie reply: no handshake message outstanding that it could answer");
  SecretBytes<kMacSize> cookie;
  if (!XAeadOpen(keys_.cookie_key, reply->nonce, reply->encrypted_cookie, last_mac1_, cookie.span())) {
    return Error("cookie reply: does not authenticate (wrong peer key or not answering our last message)");
  }
  cookie_ = cookie;
  cookie_birth_ = now;
  have_sent_mac1_ = false;
  return Status::Ok();
}

}  // namespace cloudlet::vpn
