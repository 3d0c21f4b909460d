// Noise_IKpsk2 message construction and consumption (see noise.h). Each step names the whitepaper's operation;
// consuming works on local copies of the chaining key and hash and commits only when the whole message verified.
#include "vpn/noise.h"

#include <cstring>
#include <string_view>

namespace cloudlet::vpn {
namespace {

constexpr std::string_view kConstruction = "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s";
constexpr std::string_view kIdentifier = "WireGuard v1 zx2c4 Jason@zx2c4.com";
// Timestamps are rounded down to this many nanoseconds (the power of two below 1 s / 50), as the Linux
// implementation does, so they do not leak fine-grained clock readings.
constexpr int64_t kTimestampGranularity = int64_t{1} << 24;

ByteView AsBytes(std::string_view s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

Error CryptoFailure(const char* step) { return Error(std::string("handshake: ") + step + " failed (OpenSSL)"); }

// The symmetric state every message step updates.
struct SymmetricState {
  SymmetricKey chaining_key;
  SecretBytes<kHashSize> hash;

  // C = HASH(Construction); H = HASH(C || Identifier); H = HASH(H || responder static public).
  bool Init(CryptoSuite& crypto, const PublicKey& responder_static) {
    return crypto.Hash({AsBytes(kConstruction)}, chaining_key.span()) &&
           crypto.Hash({chaining_key.span(), AsBytes(kIdentifier)}, hash.span()) && MixHash(crypto, responder_static);
  }
  bool MixHash(CryptoSuite& crypto, ByteView data) { return crypto.Hash({hash.span(), data}, hash.span()); }
  // C = KDF1(C, input)
  bool MixKey(CryptoSuite& crypto, ByteView input) {
    return crypto.Kdf(chaining_key.span(), input, chaining_key.span());
  }
  // (C, k) = KDF2(C, input)
  bool MixKeyAndGetKey(CryptoSuite& crypto, ByteView input, SymmetricKey& key) {
    return crypto.Kdf(chaining_key.span(), input, chaining_key.span(), key.span());
  }
};

}  // namespace

Result<LocalIdentity> LocalIdentity::FromPrivate(const PrivateKey& private_key) {
  CL_ASSIGN_OR_RETURN(PublicKey pub, DerivePublicKey(private_key));
  LocalIdentity id;
  id.private_key = private_key;
  id.public_key = pub;
  return id;
}

Handshake::Handshake(const LocalIdentity& local, const PublicKey& remote_static, const SymmetricKey& preshared_key,
                     const SymmetricKey& static_static, CookieMacs cookie_macs)
    : local_private_(local.private_key),
      local_public_(local.public_key),
      remote_static_(remote_static),
      preshared_key_(preshared_key),
      static_static_(static_static),
      cookie_macs_(std::move(cookie_macs)) {}

Result<Handshake> Handshake::Create(CryptoSuite& crypto, const LocalIdentity& local, const PublicKey& remote_static,
                                    const SymmetricKey& preshared_key) {
  auto static_static = X25519(local.private_key, remote_static);
  if (!static_static.ok()) return static_static.error().wrap("peer public key unusable");
  CL_ASSIGN_OR_RETURN(CookieMacs macs, CookieMacs::Create(crypto, remote_static));
  return Handshake(local, remote_static, preshared_key, *static_static, std::move(macs));
}

void Handshake::Clear() {
  state_ = State::kZeroed;
  hash_.Clear();
  chaining_key_.Clear();
  ephemeral_private_.Clear();
  remote_ephemeral_ = {};
  local_index_ = 0;
  remote_index_ = 0;
}

Result<InitiationBytes> Handshake::CreateInitiation(CryptoSuite& crypto, uint32_t local_index, Nanos now,
                                                    int64_t wall_unix_nanos) {
  SymmetricState s;
  if (!s.Init(crypto, remote_static_)) return CryptoFailure("initial hash");
  CL_ASSIGN_OR_RETURN(PrivateKey ephemeral, GeneratePrivateKey());
  CL_ASSIGN_OR_RETURN(PublicKey ephemeral_public, DerivePublicKey(ephemeral));

  Initiation msg;
  msg.sender_index = local_index;
  msg.ephemeral = ephemeral_public;
  if (!s.MixKey(crypto, ephemeral_public) || !s.MixHash(crypto, ephemeral_public)) return CryptoFailure("ephemeral");

  CL_ASSIGN_OR_RETURN(SymmetricKey es, X25519(ephemeral, remote_static_));
  SymmetricKey key;
  if (!s.MixKeyAndGetKey(crypto, es.span(), key) ||
      !crypto.AeadSeal(key.span(), 0, local_public_, s.hash.span(), msg.encrypted_static) ||
      !s.MixHash(crypto, msg.encrypted_static)) {
    return CryptoFailure("static");
  }

  const int64_t rounded_wall =
      wall_unix_nanos - (((wall_unix_nanos % kSecond) + kSecond) % kSecond) % kTimestampGranularity;
  const Tai64n timestamp = Tai64nFromUnixNanos(rounded_wall);
  if (!s.MixKeyAndGetKey(crypto, static_static_.span(), key) ||
      !crypto.AeadSeal(key.span(), 0, timestamp, s.hash.span(), msg.encrypted_timestamp) ||
      !s.MixHash(crypto, msg.encrypted_timestamp)) {
    return CryptoFailure("timestamp");
  }

  InitiationBytes bytes = Serialize(msg);
  CL_RETURN_IF_ERROR(cookie_macs_.AddMacs(crypto, bytes, now));

  Clear();
  state_ = State::kCreatedInitiation;
  hash_ = s.hash;
  chaining_key_ = s.chaining_key;
  ephemeral_private_ = ephemeral;
  local_index_ = local_index;
  return bytes;
}

Result<Handshake*> Handshake::ConsumeInitiation(CryptoSuite& crypto, const LocalIdentity& local, ByteView message,
                                                const PeerLookup& lookup, Nanos now) {
  const auto msg = ParseInitiation(message);
  if (!msg) return Error("initiation: wrong length or type");
  SymmetricState s;
  if (!s.Init(crypto, local.public_key)) return CryptoFailure("initial hash");
  if (!s.MixKey(crypto, msg->ephemeral) || !s.MixHash(crypto, msg->ephemeral)) return CryptoFailure("ephemeral");

  auto es = X25519(local.private_key, msg->ephemeral);
  if (!es.ok()) return es.error().wrap("initiation: ephemeral key");
  SymmetricKey key;
  PublicKey remote_static{};
  if (!s.MixKeyAndGetKey(crypto, es->span(), key)) return CryptoFailure("static key derivation");
  if (!crypto.AeadOpen(key.span(), 0, msg->encrypted_static, s.hash.span(), remote_static)) {
    return Error("initiation: static key does not decrypt (not addressed to this device, or corrupted)");
  }
  if (!s.MixHash(crypto, msg->encrypted_static)) return CryptoFailure("static hash");

  Handshake* peer = lookup ? lookup(remote_static) : nullptr;
  if (peer == nullptr) return Error("initiation: from an unknown peer public key");

  Tai64n timestamp{};
  if (!s.MixKeyAndGetKey(crypto, peer->static_static_.span(), key)) return CryptoFailure("timestamp key derivation");
  if (!crypto.AeadOpen(key.span(), 0, msg->encrypted_timestamp, s.hash.span(), timestamp)) {
    return Error("initiation: timestamp does not decrypt (corrupted)");
  }
  if (!s.MixHash(crypto, msg->encrypted_timestamp)) return CryptoFailure("timestamp hash");

  if (std::memcmp(timestamp.data(), peer->latest_timestamp_.data(), timestamp.size()) <= 0) {
    return Error("initiation: replayed (timestamp not newer than the last one from this peer)");
  }
  if (peer->last_initiation_consumed_ && now - *peer->last_initiation_consumed_ < kMinInitiationInterval) {
    return Error("initiation: peer sends initiations faster than 50 per second");
  }

  peer->Clear();
  peer->state_ = State::kConsumedInitiation;
  peer->hash_ = s.hash;
  peer->chaining_key_ = s.chaining_key;
  peer->remote_ephemeral_ = msg->ephemeral;
  peer->remote_index_ = msg->sender_index;
  peer->latest_timestamp_ = timestamp;
  peer->last_initiation_consumed_ = now;
  return peer;
}

Result<ResponseBytes> Handshake::CreateResponse(CryptoSuite& crypto, uint32_t local_index, Nanos now) {
  if (state_ != State::kConsumedInitiation) return Error("response: no consumed initiation to answer");
  SymmetricState s;
  s.hash = hash_;
  s.chaining_key = chaining_key_;
  CL_ASSIGN_OR_RETURN(PrivateKey ephemeral, GeneratePrivateKey());
  CL_ASSIGN_OR_RETURN(PublicKey ephemeral_public, DerivePublicKey(ephemeral));

  Response msg;
  msg.sender_index = local_index;
  msg.receiver_index = remote_index_;
  msg.ephemeral = ephemeral_public;
  if (!s.MixKey(crypto, ephemeral_public) || !s.MixHash(crypto, ephemeral_public)) return CryptoFailure("ephemeral");

  CL_ASSIGN_OR_RETURN(SymmetricKey ee, X25519(ephemeral, remote_ephemeral_));
  CL_ASSIGN_OR_RETURN(SymmetricKey se, X25519(ephemeral, remote_static_));
  SymmetricKey tau;
  SymmetricKey key;
  if (!s.MixKey(crypto, ee.span()) || !s.MixKey(crypto, se.span()) ||
      !crypto.Kdf(s.chaining_key.span(), preshared_key_.span(), s.chaining_key.span(), tau.span(), key.span()) ||
      !s.MixHash(crypto, tau.span()) ||
      !crypto.AeadSeal(key.span(), 0, ByteView(), s.hash.span(), msg.encrypted_nothing) ||
      !s.MixHash(crypto, msg.encrypted_nothing)) {
    return CryptoFailure("response keys");
  }

  ResponseBytes bytes = Serialize(msg);
  CL_RETURN_IF_ERROR(cookie_macs_.AddMacs(crypto, bytes, now));

  state_ = State::kCreatedResponse;
  hash_ = s.hash;
  chaining_key_ = s.chaining_key;
  ephemeral_private_ = ephemeral;
  local_index_ = local_index;
  return bytes;
}

Status Handshake::ConsumeResponse(CryptoSuite& crypto, ByteView message, Nanos /*now*/) {
  const auto msg = ParseResponse(message);
  if (!msg) return Error("response: wrong length or type");
  if (state_ != State::kCreatedInitiation) return Error("response: no initiation outstanding");
  if (msg->receiver_index != local_index_) return Error("response: addressed to another handshake index");

  SymmetricState s;
  s.hash = hash_;
  s.chaining_key = chaining_key_;
  if (!s.MixKey(crypto, msg->ephemeral) || !s.MixHash(crypto, msg->ephemeral)) return CryptoFailure("ephemeral");
  auto ee = X25519(ephemeral_private_, msg->ephemeral);
  if (!ee.ok()) return ee.error().wrap("response: ephemeral key");
  auto se = X25519(local_private_, msg->ephemeral);
  if (!se.ok()) return se.error().wrap("response: ephemeral key");
  SymmetricKey tau;
  SymmetricKey key;
  if (!s.MixKey(crypto, ee->span()) || !s.MixKey(crypto, se->span()) ||
      !crypto.Kdf(s.chaining_key.span(), preshared_key_.span(), s.chaining_key.span(), tau.span(), key.span()) ||
      !s.MixHash(crypto, tau.span())) {
    return CryptoFailure("response keys");
  }
  if (!crypto.AeadOpen(key.span(), 0, msg->encrypted_nothing, s.hash.span(), MutableBytes())) {
    return Error("response: does not authenticate (wrong keys, preshared key mismatch, or corrupted)");
  }
  if (!s.MixHash(crypto, msg->encrypted_nothing)) return CryptoFailure("response hash");

  state_ = State::kConsumedResponse;
  hash_ = s.hash;
  chaining_key_ = s.chaining_key;
  remote_ephemeral_ = msg->ephemeral;
  remote_index_ = msg->sender_index;
  return Status::Ok();
}

Result<TransportKeypair> Handshake::BeginSession(CryptoSuite& crypto, Nanos now) {
  if (state_ != State::kConsumedResponse && state_ != State::kCreatedResponse) {
    return Error("session: handshake not complete");
  }
  const bool initiator = state_ == State::kConsumedResponse;
  SymmetricKey first;
  SymmetricKey second;
  if (!crypto.Kdf(chaining_key_.span(), ByteView(), first.span(), second.span())) return CryptoFailure("session keys");
  TransportKeypair keys;
  keys.send_key = initiator ? first : second;
  keys.receive_key = initiator ? second : first;
  keys.local_index = local_index_;
  keys.remote_index = remote_index_;
  keys.created = now;
  keys.initiator = initiator;
  Clear();
  return keys;
}

Status SealTransport(CryptoSuite& crypto, const TransportKeypair& keys, uint64_t counter, ByteView payload,
                     MutableBytes out) {
  if (out.size() != kTransportHeaderSize + payload.size() + kAeadTagSize) return Error("transport: output size");
  WriteTransportHeader(out, keys.remote_index, counter);
  if (!crypto.AeadSeal(keys.send_key.span(), counter, payload, ByteView(), out.subspan(kTransportHeaderSize))) {
    return Error("transport: seal failed (OpenSSL)");
  }
  return Status::Ok();
}

Status OpenTransport(CryptoSuite& crypto, const TransportKeypair& keys, const TransportHeader& header,
                     MutableBytes out) {
  if (header.receiver_index != keys.local_index) return Error("transport: addressed to another session");
  if (!crypto.AeadOpen(keys.receive_key.span(), header.counter, header.ciphertext, ByteView(), out)) {
    return Error("transport: does not authenticate");
  }
  return Status::Ok();
}

}  // namespace cloudlet::vpn
