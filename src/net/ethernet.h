// Ethernet framing: MAC addresses, 802.1Q/802.1ad tags, a bounds-checked view of a frame's L2 header, and in-place
// tag push/pop on a Packet. Everything on the packet path is inline and allocation-free; nothing reads past `len`.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "net/packet.h"

namespace cloudlet {

constexpr size_t kEthAddrLen = 6;
constexpr size_t kEthHeaderLen = 14;  // dst, src, ethertype
constexpr size_t kVlanTagLen = 4;     // TPID, TCI
constexpr size_t kMaxParsedTags = 2;  // outer (S- or C-tag) and inner (C-tag); deeper tags stay payload

constexpr uint16_t kEtherTypeIpv4 = 0x0800;
constexpr uint16_t kEtherTypeArp = 0x0806;
constexpr uint16_t kEtherTypeIpv6 = 0x86dd;
constexpr uint16_t kEtherTypeVlan = 0x8100;     // 802.1Q C-tag
constexpr uint16_t kEtherTypeQinQ = 0x88a8;     // 802.1ad S-tag
constexpr uint16_t kEtherTypeQinQOld = 0x9100;  // pre-standard S-tag some switches still send

// True for the TPIDs parsed as VLAN tags.
constexpr bool IsVlanTpid(uint16_t ethertype) {
  return ethertype == kEtherTypeVlan || ethertype == kEtherTypeQinQ || ethertype == kEtherTypeQinQOld;
}

inline uint16_t LoadBe16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
inline void StoreBe16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

struct MacAddr {
  std::array<uint8_t, kEthAddrLen> bytes{};

  static MacAddr From(const uint8_t* p) {
    MacAddr m;
    std::memcpy(m.bytes.data(), p, kEthAddrLen);
    return m;
  }
  static constexpr MacAddr Broadcast() { return MacAddr{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}; }
  // Parses "52:54:00:12:34:56" (also '-' separated, any case). Returns nullopt on anything else.
  static std::optional<MacAddr> Parse(std::string_view text);

  // The 48 bits as an integer, first byte most significant: 52:54:00:12:34:56 -> 0x525400123456.
  uint64_t to_u64() const {
    uint64_t v = 0;
    for (uint8_t b : bytes) v = v << 8 | b;
    return v;
  }
  static MacAddr FromU64(uint64_t v) {
    MacAddr m;
    for (int i = 5; i >= 0; --i, v >>= 8) m.bytes[i] = static_cast<uint8_t>(v);
    return m;
  }
  // Group bit set: multicast, including broadcast.
  bool is_multicast() const { return bytes[0] & 1; }
  bool is_broadcast() const { return *this == Broadcast(); }
  bool is_zero() const { return to_u64() == 0; }
  std::string to_string() const;  // "52:54:00:12:34:56"

  friend bool operator==(const MacAddr&, const MacAddr&) = default;
};

// 48-bit MAC read straight from a frame as an integer (first byte most significant), as MacAddr::to_u64.
inline uint64_t LoadMac48(const uint8_t* p) {
  return uint64_t{p[0]} << 40 | uint64_t{p[1]} << 32 | uint64_t{p[2]} << 24 | uint64_t{p[3]} << 16 |
         uint64_t{p[4]} << 8 | uint64_t{p[5]};
}
constexpr bool IsMulticastMac48(uint64_t mac) { return (mac >> 40) & 1; }

// One 802.1Q / 802.1ad tag.
struct VlanTag {
  uint16_t tpid = 0;
  uint16_t tci = 0;  // PCP(3) | DEI(1) | VID(12)

  uint8_t pcp() const { return static_cast<uint8_t>(tci >> 13); }
  bool dei() const { return (tci >> 12) & 1; }
  uint16_t vid() const { return tci & 0x0fff; }
};

constexpr uint16_t MakeTci(uint8_t pcp, bool dei, uint16_t vid) {
  return static_cast<uint16_t>((pcp & 7) << 13 | (dei ? 1 : 0) << 12 | (vid & 0x0fff));
}

enum class FrameError : uint8_t {
  kNone,
  kTruncatedHeader,  // fewer than 14 bytes
  kTruncatedTag,     // a TPID announces a tag, but the tag and the ethertype after it do not fit
};
const char* FrameErrorName(FrameError error);

// The L2 header of a frame, parsed and bounds-checked. Points into the frame; valid as long as the frame is.
struct FrameView {
  const uint8_t* dst = nullptr;
  const uint8_t* src = nullptr;
  uint8_t num_tags = 0;                        // 0..kMaxParsedTags
  std::array<VlanTag, kMaxParsedTags> tags{};  // tags[0] is outermost
  uint16_t ethertype = 0;                      // after the parsed tags (a third TPID shows here as the ethertype)
  uint32_t l3_offset = 0;                      // where the payload after `ethertype` starts

  MacAddr dst_mac() const { return MacAddr::From(dst); }
  MacAddr src_mac() const { return MacAddr::From(src); }
  const VlanTag* outer_tag() const { return num_tags > 0 ? &tags[0] : nullptr; }
  const VlanTag* inner_tag() const { return num_tags > 1 ? &tags[1] : nullptr; }
};

// Parses the Ethernet header and up to two VLAN tags. Never reads beyond data[len - 1].
inline FrameError ParseFrame(const uint8_t* data, size_t len, FrameView* view) {
  *view = FrameView{};
  if (data == nullptr || len < kEthHeaderLen) return FrameError::kTruncatedHeader;
  view->dst = data;
  view->src = data + kEthAddrLen;
  size_t off = 2 * kEthAddrLen;
  uint16_t type = LoadBe16(data + off);
  while (IsVlanTpid(type) && view->num_tags < kMaxParsedTags) {
    if (len < off + kVlanTagLen + 2) {
      *view = FrameView{};  // a failed parse leaves nothing half-filled to misuse
      return FrameError::kTruncatedTag;
    }
    view->tags[view->num_tags++] = VlanTag{type, LoadBe16(data + off + 2)};
    off += kVlanTagLen;
    type = LoadBe16(data + off);
  }
  view->ethertype = type;
  view->l3_offset = static_cast<uint32_t>(off + 2);
  return FrameError::kNone;
}

inline FrameError ParseFrame(const Packet& pkt, FrameView* view) { return ParseFrame(pkt.data, pkt.len, view); }

// Removes the outermost tag in place: the 12 address bytes move 4 bytes up, `data` advances, the freed bytes become
// headroom, and the vnet offsets shift by -4. Returns false (packet untouched) if the frame has no complete tag.
inline bool PopTag(Packet& pkt, VlanTag* popped = nullptr) {
  if (pkt.len < kEthHeaderLen + kVlanTagLen) return false;
  uint8_t* d = pkt.data;
  uint16_t tpid = LoadBe16(d + 12);
  if (!IsVlanTpid(tpid)) return false;
  if (popped) *popped = VlanTag{tpid, LoadBe16(d + 14)};
  std::memmove(d + kVlanTagLen, d, 2 * kEthAddrLen);
  pkt.data = d + kVlanTagLen;
  pkt.len -= kVlanTagLen;
  pkt.headroom += kVlanTagLen;
  pkt.vnet.shift(-static_cast<int>(kVlanTagLen));
  return true;
}

// Inserts a tag after the addresses, in place, using 4 bytes of headroom; the vnet offsets shift by +4.
// Returns false (packet untouched) without enough headroom, on a frame shorter than 12 bytes, or past kMaxFrameSize.
// Note: this modifies the shared buffer. A frame flooded to several ports with different tagging must instead be
// sent with a separate header (see WriteTaggedHeader) or tagged, sent, and popped again before the next port.
inline bool PushTag(Packet& pkt, uint16_t tpid, uint16_t tci) {
  if (pkt.headroom < kVlanTagLen || pkt.len < 2 * kEthAddrLen || pkt.len + kVlanTagLen > kMaxFrameSize) return false;
  uint8_t* d = pkt.data - kVlanTagLen;
  std::memmove(d, pkt.data, 2 * kEthAddrLen);
  StoreBe16(d + 12, tpid);
  StoreBe16(d + 14, tci);
  pkt.data = d;
  pkt.len += kVlanTagLen;
  pkt.headroom -= kVlanTagLen;
  pkt.vnet.shift(static_cast<int>(kVlanTagLen));
  return true;
}

// For scatter-gather transmit: writes dst, src and the tag (16 bytes) to `out`. The frame on the wire is then
// out[0..16) followed by pkt.data[12..len). Returns false if the frame is shorter than 12 bytes.
inline bool WriteTaggedHeader(const Packet& pkt, uint16_t tpid, uint16_t tci,
                              uint8_t out[2 * kEthAddrLen + kVlanTagLen]) {
  if (pkt.len < 2 * kEthAddrLen) return false;
  std::memcpy(out, pkt.data, 2 * kEthAddrLen);
  StoreBe16(out + 12, tpid);
  StoreBe16(out + 14, tci);
  return true;
}

}  // namespace cloudlet
