// Keypair rotation and the transport data paths of one peer; see session.h for the rules.
#include "vpn/session.h"

#include <algorithm>
#include <cstring>
#include <utility>

namespace cloudlet::vpn {
namespace {

// As the Linux driver's wg_birthdate_has_expired: expired once `lifetime` has fully elapsed.
bool HasExpired(Nanos birth, Nanos lifetime, Nanos now) { return now - birth >= lifetime; }

// Moves the keypair out of `slot` and empties it, so no copy of its keys stays behind (reset wipes them).
std::optional<SessionKeypair> Take(std::optional<SessionKeypair>& slot) { return std::exchange(slot, std::nullopt); }

void Retire(std::optional<SessionKeypair>& slot, RetiredIndices& retired) {
  if (!slot) return;
  retired.add(slot->keys.local_index);
  slot.reset();
}

}  // namespace

const char* OpenStatusName(OpenStatus status) {
  switch (status) {
    case OpenStatus::kOk:
      return "ok";
    case OpenStatus::kMalformed:
      return "malformed transport message";
    case OpenStatus::kUnknownIndex:
      return "unknown receiver index";
    case OpenStatus::kExpired:
      return "keypair expired (REJECT_AFTER_TIME)";
    case OpenStatus::kCounterTooLarge:
      return "counter beyond REJECT_AFTER_MESSAGES";
    case OpenStatus::kAuthFailed:
      return "does not authenticate";
    case OpenStatus::kReplayed:
      return "replayed or too old for the replay window";
  }
  return "unknown";
}

RetiredIndices PeerKeypairs::Install(const TransportKeypair& keys) {
  RetiredIndices retired;
  SessionKeypair fresh;
  fresh.keys = keys;
  if (keys.initiator) {
    if (next_) {
      // A responder keypair never confirmed: it becomes previous (it may still receive), the old current goes.
      Retire(previous_, retired);
      previous_ = Take(next_);
      Retire(current_, retired);
    } else {
      Retire(previous_, retired);
      previous_ = Take(current_);
    }
    current_ = std::move(fresh);
  } else {
    Retire(next_, retired);
    next_ = std::move(fresh);
    // Promotion will turn current into previous; the old previous has no further use.
    Retire(previous_, retired);
  }
  return retired;
}

RetiredIndices PeerKeypairs::clear() {
  RetiredIndices retired;
  Retire(current_, retired);
  Retire(previous_, retired);
  Retire(next_, retired);
  return retired;
}

bool PeerKeypairs::owns_index(uint32_t local_index) const {
  return (current_ && current_->keys.local_index == local_index) ||
         (previous_ && previous_->keys.local_index == local_index) || (next_ && next_->keys.local_index == local_index);
}

SessionKeypair* PeerKeypairs::find(uint32_t local_index) {
  for (std::optional<SessionKeypair>* slot : {&current_, &previous_, &next_}) {
    if (*slot && (*slot)->keys.local_index == local_index) return &**slot;
  }
  return nullptr;
}

Result<size_t> PeerKeypairs::Seal(CryptoSuite& crypto, ByteView plaintext, Nanos now, MutableBytes out) {
  if (!current_) return Error("transport: no session with this peer yet (handshake needed)");
  SessionKeypair& keypair = *current_;
  if (HasExpired(keypair.keys.created, kRejectAfterTime, now)) {
    return Error("transport: session older than REJECT_AFTER_TIME (handshake needed)");
  }
  if (keypair.send_counter >= kRejectAfterMessages) {
    return Error("transport: session used up its REJECT_AFTER_MESSAGES counters (handshake needed)");
  }
  if (plaintext.size() > out.size() || SealedSize(plaintext.size()) > out.size()) {
    return Error("transport: output buffer smaller than header + padded payload + tag");
  }
  const size_t padded = PaddedSize(plaintext.size());
  MutableBytes payload = out.subspan(kTransportHeaderSize, padded);
  // memmove: the caller may have placed the plaintext at its final position already.
  if (!plaintext.empty() && plaintext.data() != payload.data()) {
    std::memmove(payload.data(), plaintext.data(), plaintext.size());
  }
  std::fill(payload.begin() + static_cast<ptrdiff_t>(plaintext.size()), payload.end(), uint8_t{0});
  // The counter is spent even if sealing fails, so a nonce is never used twice.
  const uint64_t counter = keypair.send_counter++;
  const size_t total = SealedSize(plaintext.size());
  CL_RETURN_IF_ERROR(SealTransport(crypto, keypair.keys, counter, payload, out.first(total)));
  return total;
}

Opened PeerKeypairs::Open(CryptoSuite& crypto, ByteView message, Nanos now, MutableBytes out) {
  Opened result;
  const std::optional<TransportHeader> header = ParseTransportHeader(message);
  if (!header) return result;
  const size_t plaintext_size = header->ciphertext.size() - kAeadTagSize;
  if (out.size() < plaintext_size) return result;

  SessionKeypair* keypair = find(header->receiver_index);
  if (keypair == nullptr) {
    result.status = OpenStatus::kUnknownIndex;
    return result;
  }
  if (HasExpired(keypair->keys.created, kRejectAfterTime, now)) {
    result.status = OpenStatus::kExpired;
    return result;
  }
  if (header->counter >= kRejectAfterMessages) {
    result.status = OpenStatus::kCounterTooLarge;
    return result;
  }
  if (!OpenTransport(crypto, keypair->keys, *header, out.first(plaintext_size)).ok()) {
    result.status = OpenStatus::kAuthFailed;
    return result;
  }
  // Only now, with the counter authenticated, may it move the window.
  if (!keypair->receive_window.accept(header->counter)) {
    result.status = OpenStatus::kReplayed;
    return result;
  }

  result.status = OpenStatus::kOk;
  result.plaintext_size = plaintext_size;
  result.keepalive = plaintext_size == 0;
  if (next_ && keypair == &*next_) {
    // First data under the keypair we responded to: the initiator has it, so it becomes current.
    if (previous_) result.retired_index = previous_->keys.local_index;
    previous_ = Take(current_);
    current_ = Take(next_);
    result.promoted_next = true;
    keypair = &*current_;
  }
  result.on_current = current_ && keypair == &*current_;
  return result;
}

}  // namespace cloudlet::vpn
