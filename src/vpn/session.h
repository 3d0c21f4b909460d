// The transport-session layer of one WireGuard peer, sans-IO: its current / previous / next keypairs with the
// Linux driver's rotation (drivers/net/wireguard/noise.c), and sealing / opening type-4 data messages with them
// under send.c / receive.c's rules (expiry, counter limits, authenticate-then-replay-check). No allocation per
// packet: the caller provides every output buffer, and the receive path reports drops as an enum, not an Error.
//
// Rotation:
//  - a keypair we initiated becomes current at once; the old current becomes previous (if a responder keypair was
//    waiting in next, that one becomes previous instead and the old current is dropped);
//  - a keypair we responded to waits in next, and previous is dropped: the initiator may not have it yet, so we
//    cannot send with it. The first data message that authenticates under next promotes it to current (old
//    current -> previous), which completes the handshake for the responder.
//  - previous keeps decrypting packets that were in flight across a rotation; nothing is ever sent with it.
//
// Received plaintext keeps WireGuard's zero padding: the IP layer strips it using the IP header's total length.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "base/clock.h"
#include "base/status.h"
#include "vpn/constants.h"
#include "vpn/crypto.h"
#include "vpn/messages.h"
#include "vpn/noise.h"
#include "vpn/replay.h"
#include "vpn/timers.h"

namespace cloudlet::vpn {

// Plaintext is zero-padded to a multiple of this before encryption (whitepaper 5.4.6).
constexpr size_t kPaddingMultiple = 16;

constexpr size_t PaddedSize(size_t plaintext_size) {
  return (plaintext_size + kPaddingMultiple - 1) / kPaddingMultiple * kPaddingMultiple;
}
// Size of the type-4 message carrying `plaintext_size` bytes: header + padded payload + tag.
constexpr size_t SealedSize(size_t plaintext_size) {
  return kTransportHeaderSize + PaddedSize(plaintext_size) + kAeadTagSize;
}

// One session's keys and per-direction state.
struct SessionKeypair {
  TransportKeypair keys;        // send/receive keys, local/remote index, birth time, initiator flag
  uint64_t send_counter = 0;    // the next counter to send with
  ReplayWindow receive_window;  // counters already accepted

  SessionSnapshot snapshot() const { return {true, keys.initiator, keys.created, send_counter}; }
};

// Why a received transport message was dropped (kOk when it was not).
enum class OpenStatus {
  kOk,
  kMalformed,        // not a type-4 message, too short, or output buffer too small
  kUnknownIndex,     // receiver index matches none of this peer's keypairs
  kExpired,          // the keypair is older than REJECT_AFTER_TIME
  kCounterTooLarge,  // counter >= REJECT_AFTER_MESSAGES
  kAuthFailed,       // the AEAD tag does not verify (forged, corrupted, wrong key)
  kReplayed,         // authenticated, but the counter was seen before or is behind the replay window
};
const char* OpenStatusName(OpenStatus status);

// What Open() found. Fields past `status` are meaningful only when status == kOk.
struct Opened {
  OpenStatus status = OpenStatus::kMalformed;
  size_t plaintext_size = 0;  // bytes written to `out`, padding included
  bool keepalive = false;     // empty payload
  // The message promoted the responder's next keypair: the handshake is complete (PeerTimers::on_handshake_complete).
  bool promoted_next = false;
  // The message came under the current keypair: feed current_snapshot() to PeerTimers::on_receive_path.
  bool on_current = false;
  // Local index of a keypair the promotion dropped; the caller frees it from its index table.
  std::optional<uint32_t> retired_index;

  bool ok() const { return status == OpenStatus::kOk; }
};

// Local indices of keypairs that were dropped; the caller frees them from its receiver-index table.
struct RetiredIndices {
  std::array<uint32_t, 3> indices{};
  size_t count = 0;
  void add(uint32_t index) { indices[count++] = index; }
};

class PeerKeypairs {
 public:
  // Installs a freshly derived keypair (Handshake::BeginSession) by the rotation rules above.
  RetiredIndices Install(const TransportKeypair& keys);
  // Drops every keypair and wipes its keys (the zero_key_material timer: REJECT_AFTER_TIME * 3 without a new one).
  RetiredIndices clear();

  // Encrypts `plaintext` with the current keypair into `out` as a complete type-4 message of
  // SealedSize(plaintext.size()) bytes and returns that size. `plaintext` may already sit at out[16..] (in place).
  // Fails when there is no current keypair, it is older than REJECT_AFTER_TIME, its counter reached
  // REJECT_AFTER_MESSAGES, or `out` is too small. An empty plaintext is a keepalive and stays empty.
  // Afterwards, PeerTimers::on_send_path(current_snapshot(), now) says whether to rekey.
  Result<size_t> Seal(CryptoSuite& crypto, ByteView plaintext, Nanos now, MutableBytes out);

  // Authenticates and decrypts a type-4 message addressed to one of this peer's keypairs into `out` (at least
  // message.size() - 32 bytes; `out` may alias the message's payload). The replay window is updated only after the
  // message authenticated.
  Opened Open(CryptoSuite& crypto, ByteView message, Nanos now, MutableBytes out);

  // The current session for PeerTimers' data-path rules (valid == false when there is none).
  SessionSnapshot current_snapshot() const { return current_ ? current_->snapshot() : SessionSnapshot{}; }
  // True when `local_index` belongs to one of this peer's keypairs (the device routes messages by it).
  bool owns_index(uint32_t local_index) const;

  const std::optional<SessionKeypair>& current() const { return current_; }
  const std::optional<SessionKeypair>& previous() const { return previous_; }
  const std::optional<SessionKeypair>& next() const { return next_; }

 private:
  // Lets tests/unit/vpn/session_test.cc move a send counter near its limit.
  friend struct PeerKeypairsTestAccess;

  SessionKeypair* find(uint32_t local_index);

  std::optional<SessionKeypair> current_;
  std::optional<SessionKeypair> previous_;
  std::optional<SessionKeypair> next_;
};

}  // namespace cloudlet::vpn
