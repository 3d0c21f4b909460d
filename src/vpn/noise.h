// The Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s handshake as WireGuard uses it (whitepaper 5.4.2-5.4.5): one
// Handshake per peer, producing and consuming the initiation and response messages and, once done, the
// transport keypair. Sans-IO: bytes, time and indices come in; bytes and keys go out. MAC checks on received
// messages are the CookieChecker's job (cookie.h) and happen before a message reaches this code.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>

#include "base/clock.h"
#include "base/status.h"
#include "vpn/cookie.h"
#include "vpn/crypto.h"
#include "vpn/messages.h"

namespace cloudlet::vpn {

// Initiations from one peer closer together than this are dropped (whitepaper 5.1: at most 50 per second).
constexpr Nanos kMinInitiationInterval = kSecond / 50;

// This device's static identity.
struct LocalIdentity {
  PrivateKey private_key;
  PublicKey public_key{};
  static Result<LocalIdentity> FromPrivate(const PrivateKey& private_key);
};

// Session keys derived from a completed handshake; transport messages to the peer carry remote_index.
struct TransportKeypair {
  SymmetricKey send_key;
  SymmetricKey receive_key;
  uint32_t local_index = 0;
  uint32_t remote_index = 0;
  Nanos created = 0;
  bool initiator = false;
};

class Handshake;
// Finds the handshake of the peer with this static public key, or nullptr for an unknown key.
using PeerLookup = std::function<Handshake*(const PublicKey& peer_static)>;

class Handshake {
 public:
  enum class State { kZeroed, kCreatedInitiation, kConsumedInitiation, kCreatedResponse, kConsumedResponse };

  // `preshared_key` is all zeros when the peer has none. Fails when DH(local, remote) is zero (bad remote key).
  static Result<Handshake> Create(CryptoSuite& crypto, const LocalIdentity& local, const PublicKey& remote_static,
                                  const SymmetricKey& preshared_key);

  // Initiator: a new initiation (MACs filled) sent from `local_index`. `wall_unix_nanos` feeds the TAI64N timestamp.
  Result<InitiationBytes> CreateInitiation(CryptoSuite& crypto, uint32_t local_index, Nanos now,
                                           int64_t wall_unix_nanos);

  // Responder: decrypts an initiation addressed to `local`, finds its peer with `lookup` and, when the timestamp is
  // newer than any seen from that peer and the peer is not flooding, stores the handshake state in that peer.
  static Result<Handshake*> ConsumeInitiation(CryptoSuite& crypto, const LocalIdentity& local, ByteView message,
                                              const PeerLookup& lookup, Nanos now);

  // Responder, after ConsumeInitiation: the response (MACs filled) sent from `local_index`.
  Result<ResponseBytes> CreateResponse(CryptoSuite& crypto, uint32_t local_index, Nanos now);

  // Initiator, after CreateInitiation: checks and absorbs the response. A failure leaves the state untouched.
  Status ConsumeResponse(CryptoSuite& crypto, ByteView message, Nanos now);

  // After CreateResponse or ConsumeResponse: derives the transport keys and wipes the handshake state.
  Result<TransportKeypair> BeginSession(CryptoSuite& crypto, Nanos now);

  // Initiator or responder: absorbs a cookie reply to the last handshake message sent to this peer.
  Status ConsumeCookieReply(ByteView reply, Nanos now) { return cookie_macs_.ConsumeReply(reply, now); }

  State state() const { return state_; }
  const PublicKey& remote_static() const { return remote_static_; }
  uint32_t local_index() const { return local_index_; }
  uint32_t remote_index() const { return remote_index_; }
  void set_preshared_key(const SymmetricKey& psk) { preshared_key_ = psk; }
  // Forgets any handshake in progress (keys and replay state stay).
  void Clear();

 private:
  // Lets tests/unit/vpn/noise_test.cc read the hash chain and resume from an independent implementation's state.
  friend struct HandshakeTestAccess;
  Handshake(const LocalIdentity& local, const PublicKey& remote_static, const SymmetricKey& preshared_key,
            const SymmetricKey& static_static, CookieMacs cookie_macs);

  PrivateKey local_private_;
  PublicKey local_public_{};
  PublicKey remote_static_{};
  SymmetricKey preshared_key_;
  SymmetricKey static_static_;  // DH(local static, remote static), fixed for the peer's lifetime
  CookieMacs cookie_macs_;

  State state_ = State::kZeroed;
  SecretBytes<kHashSize> hash_;
  SymmetricKey chaining_key_;
  PrivateKey ephemeral_private_;
  PublicKey remote_ephemeral_{};
  uint32_t local_index_ = 0;
  uint32_t remote_index_ = 0;
  Tai64n latest_timestamp_{};
  std::optional<Nanos> last_initiation_consumed_;
};

// Transport data (type 4) with a session's keys: out = header || AEAD(payload) || tag, sized
// kTransportHeaderSize + payload.size() + kAeadTagSize. Padding the payload is the caller's business.
Status SealTransport(CryptoSuite& crypto, const TransportKeypair& keys, uint64_t counter, ByteView payload,
                     MutableBytes out);
// Decrypts a parsed transport message into `out` (header.ciphertext.size() - 16 bytes). Replay checks are the
// caller's: call this first, then update the replay window only when it succeeds.
Status OpenTransport(CryptoSuite& crypto, const TransportKeypair& keys, const TransportHeader& header,
                     MutableBytes out);

}  // namespace cloudlet::vpn
