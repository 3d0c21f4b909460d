// Source NAT (masquerade) port allocation, port forwards (DNAT) and the rewrites a tracked connection applies to its
// packets, including the packet quoted inside an ICMP error, so that a "fragmentation needed" for a masqueraded flow
// reaches the host behind the masquerade with a quote it recognises.
#pragma once

#include <cstdint>

#include "firewall/conntrack.h"
#include "firewall/firewall.h"
#include "net/l3.h"

namespace cloudlet::firewall {

inline constexpr int kMaxPortAttempts = 128;

// Picks the masqueraded source port: `reply` is the connection's reply tuple with dst = the masquerade address and
// dport = the initiator's source port. The original port is kept when it lies in [lo, hi] and the reply tuple is
// free; otherwise up to kMaxPortAttempts ports are tried from a start hashed from the tuple (so flows spread over the
// range without a shared cursor an observer could predict). ICMP echo uses the identifier; protocols without ports
// only check the tuple. Returns false when nothing free was found.
bool AllocateMasqueradePort(const Conntrack& ct, CtTuple* reply, uint16_t lo, uint16_t hi);

// Whether forward `fw` applies to a new packet entering from `from`; if so, the destination it maps to.
bool MatchForward(const PortForward& fw, const L3Info& info, ZoneId from, std::array<uint8_t, 16>* to_addr,
                  uint16_t* to_port);

// Rewrites a packet of connection `c` (reply tuple `r`) travelling in direction `reply` so that it leaves as the other
// tuple expects.
void ApplyNat(uint8_t* data, L3Info& info, const VnetHdr& vnet, const Connection& c, const CtTuple& r, bool reply);

// The same for an ICMP error whose quoted packet belongs to `c` (the error travels in direction `reply`): the outer
// addresses and the quoted header's addresses and ports, keeping the IPv4 header and ICMP checksums right.
void ApplyNatIcmpError(uint8_t* data, size_t len, L3Info& outer, L3Info& inner, const VnetHdr& vnet,
                       const Connection& c, const CtTuple& r, bool reply);

}  // namespace cloudlet::firewall
