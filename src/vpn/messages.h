// WireGuard wire messages: layouts, sizes and bounds-checked parse/serialise. Every multi-byte integer on the
// wire is little-endian; the first 4 bytes are the message type (1..4) followed by three zero bytes. Parsers
// check the exact length (or the minimum, for transport data) and the type before reading anything else.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>

#include "vpn/crypto.h"

namespace cloudlet::vpn {

enum class MessageType : uint32_t {
  kInitiation = 1,
  kResponse = 2,
  kCookieReply = 3,
  kTransportData = 4,
};

constexpr size_t kInitiationSize = 148;
constexpr size_t kResponseSize = 92;
constexpr size_t kCookieReplySize = 64;
constexpr size_t kTransportHeaderSize = 16;
constexpr size_t kTransportMinSize = kTransportHeaderSize + kAeadTagSize;  // an empty (keepalive) payload

constexpr size_t kEncryptedStaticSize = kKeySize + kAeadTagSize;           // 48
constexpr size_t kEncryptedTimestampSize = kTimestampSize + kAeadTagSize;  // 28
constexpr size_t kEncryptedNothingSize = kAeadTagSize;                     // 16
constexpr size_t kEncryptedCookieSize = kMacSize + kAeadTagSize;           // 32

// Offsets of the two MACs at the end of both handshake messages: mac1 covers everything before it, mac2
// everything before mac2 (mac1 included).
constexpr size_t kInitiationMac1Offset = kInitiationSize - 2 * kMacSize;
constexpr size_t kInitiationMac2Offset = kInitiationSize - kMacSize;
constexpr size_t kResponseMac1Offset = kResponseSize - 2 * kMacSize;
constexpr size_t kResponseMac2Offset = kResponseSize - kMacSize;

using InitiationBytes = std::array<uint8_t, kInitiationSize>;
using ResponseBytes = std::array<uint8_t, kResponseSize>;
using CookieReplyBytes = std::array<uint8_t, kCookieReplySize>;

inline uint32_t LoadLe32(const uint8_t* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}
inline uint64_t LoadLe64(const uint8_t* p) { return uint64_t{LoadLe32(p)} | uint64_t{LoadLe32(p + 4)} << 32; }
inline void StoreLe32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
inline void StoreLe64(uint8_t* p, uint64_t v) {
  StoreLe32(p, static_cast<uint32_t>(v));
  StoreLe32(p + 4, static_cast<uint32_t>(v >> 32));
}

// The type of a datagram when it is long enough to hold a header and the reserved bytes are zero.
inline std::optional<MessageType> PeekMessageType(ByteView datagram) {
  if (datagram.size() < 4) return std::nullopt;
  const uint32_t type = LoadLe32(datagram.data());
  if (type < 1 || type > 4) return std::nullopt;
  return static_cast<MessageType>(type);
}

// Type 1: sender(4) ephemeral(32) static(32+16) timestamp(12+16) mac1(16) mac2(16).
struct Initiation {
  uint32_t sender_index = 0;
  PublicKey ephemeral{};
  std::array<uint8_t, kEncryptedStaticSize> encrypted_static{};
  std::array<uint8_t, kEncryptedTimestampSize> encrypted_timestamp{};
  Mac mac1{};
  Mac mac2{};
};

// Type 2: sender(4) receiver(4) ephemeral(32) empty(0+16) mac1(16) mac2(16).
struct Response {
  uint32_t sender_index = 0;
  uint32_t receiver_index = 0;
  PublicKey ephemeral{};
  std::array<uint8_t, kEncryptedNothingSize> encrypted_nothing{};
  Mac mac1{};
  Mac mac2{};
};

// Type 3: receiver(4) nonce(24) cookie(16+16).
struct CookieReply {
  uint32_t receiver_index = 0;
  std::array<uint8_t, kXAeadNonceSize> nonce{};
  std::array<uint8_t, kEncryptedCookieSize> encrypted_cookie{};
};

// Type 4 header: receiver(4) counter(8), then the encrypted payload and its 16-byte tag. A view into the datagram.
struct TransportHeader {
  uint32_t receiver_index = 0;
  uint64_t counter = 0;
  ByteView ciphertext;  // encrypted payload || tag, at least 16 bytes
};

namespace wire_detail {
inline void StoreType(uint8_t* p, MessageType t) { StoreLe32(p, static_cast<uint32_t>(t)); }
template <size_t N>
inline void Put(uint8_t*& p, const std::array<uint8_t, N>& a) {
  std::memcpy(p, a.data(), N);
  p += N;
}
template <size_t N>
inline void Get(const uint8_t*& p, std::array<uint8_t, N>& a) {
  std::memcpy(a.data(), p, N);
  p += N;
}
inline bool HasType(ByteView b, size_t size, MessageType t) {
  return b.size() == size && LoadLe32(b.data()) == static_cast<uint32_t>(t);
}
}  // namespace wire_detail

inline InitiationBytes Serialize(const Initiation& m) {
  InitiationBytes out{};
  uint8_t* p = out.data();
  wire_detail::StoreType(p, MessageType::kInitiation);
  StoreLe32(p + 4, m.sender_index);
  p += 8;
  wire_detail::Put(p, m.ephemeral);
  wire_detail::Put(p, m.encrypted_static);
  wire_detail::Put(p, m.encrypted_timestamp);
  wire_detail::Put(p, m.mac1);
  wire_detail::Put(p, m.mac2);
  return out;
}

inline std::optional<Initiation> ParseInitiation(ByteView b) {
  if (!wire_detail::HasType(b, kInitiationSize, MessageType::kInitiation)) return std::nullopt;
  Initiation m;
  const uint8_t* p = b.data() + 4;
  m.sender_index = LoadLe32(p);
  p += 4;
  wire_detail::Get(p, m.ephemeral);
  wire_detail::Get(p, m.encrypted_static);
  wire_detail::Get(p, m.encrypted_timestamp);
  wire_detail::Get(p, m.mac1);
  wire_detail::Get(p, m.mac2);
  return m;
}

inline ResponseBytes Serialize(const Response& m) {
  ResponseBytes out{};
  uint8_t* p = out.data();
  wire_detail::StoreType(p, MessageType::kResponse);
  StoreLe32(p + 4, m.sender_index);
  StoreLe32(p + 8, m.receiver_index);
  p += 12;
  wire_detail::Put(p, m.ephemeral);
  wire_detail::Put(p, m.encrypted_nothing);
  wire_detail::Put(p, m.mac1);
  wire_detail::Put(p, m.mac2);
  return out;
}

inline std::optional<Response> ParseResponse(ByteView b) {
  if (!wire_detail::HasType(b, kResponseSize, MessageType::kResponse)) return std::nullopt;
  Response m;
  const uint8_t* p = b.data() + 4;
  m.sender_index = LoadLe32(p);
  m.receiver_index = LoadLe32(p + 4);
  p += 8;
  wire_detail::Get(p, m.ephemeral);
  wire_detail::Get(p, m.encrypted_nothing);
  wire_detail::Get(p, m.mac1);
  wire_detail::Get(p, m.mac2);
  return m;
}

inline CookieReplyBytes Serialize(const CookieReply& m) {
  CookieReplyBytes out{};
  uint8_t* p = out.data();
  wire_detail::StoreType(p, MessageType::kCookieReply);
  StoreLe32(p + 4, m.receiver_index);
  p += 8;
  wire_detail::Put(p, m.nonce);
  wire_detail::Put(p, m.encrypted_cookie);
  return out;
}

inline std::optional<CookieReply> ParseCookieReply(ByteView b) {
  if (!wire_detail::HasType(b, kCookieReplySize, MessageType::kCookieReply)) return std::nullopt;
  CookieReply m;
  const uint8_t* p = b.data() + 4;
  m.receiver_index = LoadLe32(p);
  p += 4;
  wire_detail::Get(p, m.nonce);
  wire_detail::Get(p, m.encrypted_cookie);
  return m;
}

// Writes the 16-byte transport header into `out` (at least 16 bytes).
inline void WriteTransportHeader(MutableBytes out, uint32_t receiver_index, uint64_t counter) {
  wire_detail::StoreType(out.data(), MessageType::kTransportData);
  StoreLe32(out.data() + 4, receiver_index);
  StoreLe64(out.data() + 8, counter);
}

inline std::optional<TransportHeader> ParseTransportHeader(ByteView b) {
  if (b.size() < kTransportMinSize || LoadLe32(b.data()) != static_cast<uint32_t>(MessageType::kTransportData)) {
    return std::nullopt;
  }
  return TransportHeader{LoadLe32(b.data() + 4), LoadLe64(b.data() + 8), b.subspan(kTransportHeaderSize)};
}

}  // namespace cloudlet::vpn
