// IPv4 / IPv6 and their transports, for the router and the firewall: a bounds-checked parse of the L3 and L4 headers
// into one flat struct (what routing, connection tracking and classification read), Internet checksums with RFC 1624
// incremental updates (NAT and TTL rewrites in place, also on frames whose L4 checksum the NIC finishes:
// VnetHdr::kFlagNeedsCsum), and builders for the ICMP / ICMPv6 errors a router sends. Nothing allocates; nothing reads
// past the given length.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "net/ip_address.h"
#include "net/packet.h"

namespace cloudlet {

constexpr uint8_t kIpProtoIcmp = 1;
constexpr uint8_t kIpProtoTcp = 6;
constexpr uint8_t kIpProtoUdp = 17;
constexpr uint8_t kIpProtoIcmpv6 = 58;

constexpr uint8_t kTcpFin = 0x01;
constexpr uint8_t kTcpSyn = 0x02;
constexpr uint8_t kTcpRst = 0x04;
constexpr uint8_t kTcpPsh = 0x08;
constexpr uint8_t kTcpAck = 0x10;

// ICMP (v4) types and the codes a router uses.
constexpr uint8_t kIcmpEchoReply = 0;
constexpr uint8_t kIcmpDestUnreachable = 3;  // codes: 0 net, 1 host, 3 port, 4 fragmentation needed, 13 admin
constexpr uint8_t kIcmpEchoRequest = 8;
constexpr uint8_t kIcmpTimeExceeded = 11;  // code 0: TTL exceeded in transit
constexpr uint8_t kIcmpParamProblem = 12;
// ICMPv6 types.
constexpr uint8_t kIcmp6DestUnreachable = 1;  // codes: 0 no route, 1 admin prohibited, 3 address, 4 port
constexpr uint8_t kIcmp6PacketTooBig = 2;
constexpr uint8_t kIcmp6TimeExceeded = 3;
constexpr uint8_t kIcmp6ParamProblem = 4;
constexpr uint8_t kIcmp6EchoRequest = 128;
constexpr uint8_t kIcmp6EchoReply = 129;
constexpr uint8_t kIcmp6RouterSolicit = 133;
constexpr uint8_t kIcmp6RouterAdvert = 134;
constexpr uint8_t kIcmp6NeighborSolicit = 135;
constexpr uint8_t kIcmp6NeighborAdvert = 136;

enum class L3Error : uint8_t {
  kNone,
  kNotIp,      // ethertype is neither IPv4 nor IPv6
  kTruncated,  // the IP header (or a declared length) does not fit in the bytes given
  kBadHeader,  // wrong version, IHL < 5, total length < header, too many / malformed IPv6 extension headers
  kBadL4,      // first fragment (or unfragmented) but the L4 header's minimum does not fit, or TCP doff < 5
};
const char* L3ErrorName(L3Error error);

// The parsed headers of one IP packet. Offsets are from the start of the buffer passed to ParseL3.
struct L3Info {
  uint8_t family = 0;          // 4 or 6
  uint8_t proto = 0;           // transport protocol: IPv4 protocol, or IPv6's after skipping extension headers
  uint8_t ttl = 0;             // TTL / hop limit
  uint8_t tos = 0;             // IPv4 TOS / IPv6 traffic class
  bool dont_fragment = false;  // IPv4 DF (always true for IPv6: routers never fragment it)
  bool is_fragment = false;    // MF set or a nonzero offset (IPv6: a fragment header)
  bool has_l4 = false;         // the L4 header below is parsed (unfragmented or the first fragment)
  uint32_t l3_offset = 0;
  uint32_t l4_offset = 0;         // first byte after the IP header and any extension headers
  uint32_t ip_len = 0;            // bytes of the IP packet per its header (IPv4 total length / 40 + IPv6 payload
                                  // length); for a GSO super-frame the length field may be 0 or stale: then the bytes
                                  // present (len - l3_offset) are used. Always <= len - l3_offset.
  std::array<uint8_t, 16> src{};  // network order; IPv4 in bytes 0..3, rest zero (as IpAddress)
  std::array<uint8_t, 16> dst{};

  // Valid when has_l4:
  uint16_t sport = 0;     // TCP/UDP source port; ICMP/ICMPv6 echo request/reply: the identifier; else 0
  uint16_t dport = 0;     // TCP/UDP destination port; ICMP echo: the identifier; else 0
  uint8_t icmp_type = 0;  // ICMP / ICMPv6 type and code
  uint8_t icmp_code = 0;
  uint8_t tcp_flags = 0;  // FIN SYN RST PSH ACK URG ECE CWR in the low 8 bits
  uint32_t tcp_seq = 0;
  uint32_t tcp_ack = 0;
  uint16_t tcp_window = 0;      // raw (unscaled) window
  uint8_t tcp_wscale = 0xff;    // window scale option on a SYN; 0xff when absent
  uint32_t l4_payload_len = 0;  // bytes after the L4 header (TCP: segment data length, a GSO super-frame's whole)

  IpAddress src_address() const;
  IpAddress dst_address() const;
  bool is_icmp_error() const;  // ICMP 3/4/5/11/12 or ICMPv6 1-4: carries an offending packet after 8 bytes
};

// Parses the IP packet that starts at data[l3_offset] (ethertype from the Ethernet header). Does not verify the IPv4
// header checksum (the router does it on the forwarding path: IPv4HeaderChecksumOk).
// Lengths: an IPv4 total length of 0 or an IPv6 payload length of 0 with more bytes present (GSO super-frame, BIG
// TCP, jumbogram) means "the bytes present"; otherwise the declared length must fit (kTruncated if not) and bytes
// after it (Ethernet padding) are ignored.
L3Error ParseL3(const uint8_t* data, size_t len, size_t l3_offset, uint16_t ethertype, L3Info* out);

// The packet embedded in an ICMP error (`outer` must be is_icmp_error()): its IP header and the first 8 bytes of its
// L4 header (ports / ICMP id are all conntrack needs; a truncated TCP header is accepted). Offsets are from `data`.
L3Error ParseIcmpInner(const uint8_t* data, size_t len, const L3Info& outer, L3Info* inner);

// --- checksums (all values in network order as they sit in the packet) ---
// (Words are summed as loaded from memory, so a ChecksumFold result is stored with memcpy, not byte-swapped, and
// ChecksumReplace16's from/to are the field's 2 bytes as loaded by memcpy, e.g. htons(port).)

// One's-complement sum of `len` bytes folded to 16 bits, not inverted; `initial` continues an earlier sum.
uint32_t ChecksumPartial(const uint8_t* data, size_t len, uint32_t initial = 0);
uint16_t ChecksumFold(uint32_t sum);  // folds and inverts: the value to store
bool IPv4HeaderChecksumOk(const uint8_t* ip_header, size_t header_len);
void SetIPv4HeaderChecksum(uint8_t* ip_header, size_t header_len);
// Full TCP/UDP/ICMPv6 checksum with the pseudo-header (ICMPv4: no pseudo-header), computed and stored.
void SetL4Checksum(uint8_t* data, const L3Info& info);
// Whether the L4 checksum verifies (true when there is none to check: non-first or any fragment, other protocols,
// UDP over IPv4 with checksum 0).
bool L4ChecksumOk(const uint8_t* data, const L3Info& info);
// The not-inverted sum of the TCP/UDP/ICMPv6 pseudo-header for `info`'s addresses and protocol and `l4_len` bytes of
// L4: what a CHECKSUM_PARTIAL (vnet kFlagNeedsCsum) frame holds in its checksum field, as ChecksumFold's input.
uint32_t PseudoHeaderSum(const L3Info& info, uint32_t l4_len);

// RFC 1624: the checksum at `field` (2 bytes, in the packet) after 16/32/128 bits covered by it changed from `from` to
// `to`. `partial` = the field holds a not-yet-inverted pseudo-header sum (vnet kFlagNeedsCsum): then only pseudo-header
// changes (addresses) apply and the update is the complement operation, as Linux's inet_proto_csum_replace4.
void ChecksumReplace16(uint8_t* field, uint16_t from, uint16_t to, bool partial = false);
void ChecksumReplace32(uint8_t* field, const uint8_t from[4], const uint8_t to[4], bool partial = false);
void ChecksumReplace128(uint8_t* field, const uint8_t from[16], const uint8_t to[16], bool partial = false);

// --- rewrites in place (keep every checksum right; `vnet` tells whether the L4 checksum is partial) ---

// Decrements the IPv4 TTL (incremental header checksum) or the IPv6 hop limit. Caller checked ttl > 1.
void DecrementTtl(uint8_t* data, L3Info& info);
// NAT: replaces the source or destination address (IPv4 header checksum, L4 checksum incl. pseudo-header; UDP with
// a zero checksum stays zero) and/or the L4 port / ICMP echo identifier (`port` in host order like info.sport; pass
// the current value to keep it). Updates `info` to match.
void RewriteSource(uint8_t* data, L3Info& info, const VnetHdr& vnet, const std::array<uint8_t, 16>& addr,
                   uint16_t port);
void RewriteDestination(uint8_t* data, L3Info& info, const VnetHdr& vnet, const std::array<uint8_t, 16>& addr,
                        uint16_t port);

// --- ICMP errors a router originates ---

// Writes an IP packet (no Ethernet header) into out[0..cap): an ICMP (family 4) or ICMPv6 (family 6) error of
// `type`/`code` from `router_addr` to the offending packet's source, quoting as much of the offending IP packet
// (`offending` .. + `offending_len`) as fits in 576 bytes (IPv4) / 1280 bytes (IPv6). `mtu` fills the next-hop MTU of
// "fragmentation needed" (v4 type 3 code 4) and "packet too big" (v6 type 2); `pointer` fills parameter problem.
// TTL 64. Returns the length written, or 0 if `cap` is too small or `offending` is not a parseable IP packet.
size_t BuildIcmpError(const uint8_t* offending, size_t offending_len, const L3Info& offending_info,
                      const std::array<uint8_t, 16>& router_addr, uint8_t type, uint8_t code, uint32_t mtu,
                      uint8_t* out, size_t cap);

// Whether a router may answer this packet with an ICMP error (RFC 1812 4.3.2.7 / RFC 4443 2.4 (e)): not for ICMP
// errors, non-first fragments, or packets to/from multicast, broadcast, unspecified or loopback addresses.
bool MayAnswerWithIcmpError(const L3Info& info);

}  // namespace cloudlet
