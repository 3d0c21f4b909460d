// DhcpServer: a sans-IO DHCPv4 server (RFC 2131/2132) for one VLAN of the virtual router. It takes one BOOTREQUEST
// (the UDP payload sent to port 67) and a wall-clock time, and returns the BOOTREPLY payload and where to send it;
// the router owns the sockets/frames. Leases are keyed by the client's chaddr (htype 1, hlen 6) and persisted as JSON.
//
// Supported: DISCOVER/OFFER, REQUEST (SELECTING, INIT-REBOOT, RENEWING, REBINDING)/ACK/NAK, DECLINE, RELEASE, INFORM,
// fixed reservations. Not supported, by design: relays (giaddr != 0 is dropped and counted), BOOTP clients without
// option 53, option overload (52: options in sname/file are ignored, only the options field is read), client
// identifiers (61) as identity (chaddr is the identity; virtual NICs have stable MACs).
//
// Bounds: messages over 1500 bytes are dropped; the lease table holds at most one entry per pool/reserved address
// (an address is never leased twice), the pool is at most kMaxDhcpPool addresses, and the decline list is bounded
// by the same addresses.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "base/status.h"
#include "net/ethernet.h"
#include "net/ip_address.h"

namespace cloudlet::router {

constexpr size_t kMaxDhcpMessage = 1500;      // larger requests are dropped
constexpr size_t kMinDhcpReplyCap = 576;      // a reply never exceeds this
constexpr uint32_t kMaxDhcpPool = 65536;      // range_hi - range_lo + 1 at most
constexpr size_t kMaxDhcpDnsServers = 8;      // option 6 entries
constexpr size_t kMaxDhcpDomainLength = 255;  // option 15 length
constexpr int64_t kDhcpOfferSeconds = 60;     // an unanswered OFFER holds its address this long
constexpr int64_t kDhcpDeclineSeconds = 600;  // a DECLINEd address (in use by someone else) is skipped this long

struct DhcpConfig {
  IpPrefix subnet;               // e.g. 10.10.0.0/24 (the VLAN's subnet)
  IpAddress server;              // the router's address on the VLAN: server identifier and default gateway
  IpAddress range_lo, range_hi;  // inclusive pool, inside subnet, excludes server (skipped if inside)
  std::vector<IpAddress> dns;    // option 6 (may be empty)
  std::string domain;            // option 15 (may be empty)
  uint32_t lease_seconds = 3600;
  uint32_t mtu = 0;                                         // option 26 when nonzero
  std::vector<std::pair<MacAddr, IpAddress>> reservations;  // fixed addresses (inside subnet, any pool)
  bool operator==(const DhcpConfig&) const = default;
};

struct DhcpLease {
  MacAddr mac;
  IpAddress address;
  int64_t expires_unix = 0;
  std::string hostname;  // option 12, printable ASCII only (other bytes become '?')
  bool bound = false;    // false: offered, waiting for the REQUEST
};

// Where to send a reply (RFC 2131 4.1). broadcast: 255.255.255.255 to ff:ff:ff:ff:ff:ff (address/mac are filled with
// those too); otherwise unicast to `address` at `mac` (the client may not have the address configured yet, so the
// router must not ARP for it: use `mac` directly).
struct DhcpReplyTo {
  bool broadcast = true;
  IpAddress address;
  MacAddr mac;
};

class DhcpServer {
 public:
  // lease_file "" = not persisted. unix_now returns wall-clock unix seconds (tests fake it). An invalid config is
  // reported by load() (and by Validate); until then such a server answers nothing.
  DhcpServer(DhcpConfig config, std::string lease_file, std::function<int64_t()> unix_now);

  // Checks a config: IPv4 only, subnet /1../30, server and pool and reservations inside the subnet, pool at most
  // kMaxDhcpPool, no duplicate reservations, DNS/domain/MTU within the option limits.
  static Status Validate(const DhcpConfig& config);

  // Validates the config, then reads the lease file if present (written by save). Leases outside the pool/subnet,
  // reserved for another MAC, duplicated or expired are skipped. A corrupt file is an error naming it, left in place.
  Status load();

  // One BOOTREQUEST. Writes the BOOTREPLY into out[0..cap) and returns its length; 0 = no reply (not for us,
  // malformed, wrong server id, NAK suppressed, ...). cap >= kMinDhcpReplyCap is always enough.
  size_t handle(const uint8_t* msg, size_t len, uint8_t* out, size_t cap, DhcpReplyTo* to);

  void expire();                          // frees expired leases and offers, and forgets expired declines
  std::vector<DhcpLease> leases() const;  // sorted by address
  const DhcpConfig& config() const { return config_; }
  Status reconfigure(DhcpConfig config);         // keeps leases still valid under the new pool/subnet/reservations
  uint64_t dropped() const { return dropped_; }  // malformed / ignored messages
  // The last lease-file write failure (handle() cannot return one); ok when the last write succeeded.
  const Status& save_status() const { return save_status_; }

 private:
  struct Request;
  struct Entry {
    uint32_t address = 0;
    int64_t expires = 0;
    std::string hostname;
    bool bound = false;
  };

  void Rebuild();
  bool InPool(uint32_t a) const;
  bool Assignable(uint64_t mac, uint32_t a, int64_t now) const;  // may `a` be given to `mac` now?
  bool Reserved(uint32_t a, uint64_t* owner) const;
  uint32_t Choose(uint64_t mac, const Request& req, int64_t now) const;
  void Assign(uint64_t mac, uint32_t a, bool bound, int64_t expires, const std::string* hostname);
  void Remove(uint64_t mac);
  void MaybeExpire(int64_t now);
  void Save();
  size_t Drop();

  size_t OnDiscover(const Request& req, int64_t now, uint8_t* out, size_t cap, DhcpReplyTo* to);
  size_t OnRequest(const Request& req, int64_t now, uint8_t* out, size_t cap, DhcpReplyTo* to);
  size_t OnInform(const Request& req, uint8_t* out, size_t cap, DhcpReplyTo* to);
  size_t Ack(const Request& req, uint32_t a, int64_t now, uint8_t* out, size_t cap, DhcpReplyTo* to);
  size_t Nak(const Request& req, uint8_t* out, size_t cap, DhcpReplyTo* to);
  size_t Reply(const Request& req, uint8_t type, uint32_t ciaddr, uint32_t yiaddr, bool with_lease, uint8_t* out,
               size_t cap) const;

  DhcpConfig config_;
  std::string lease_file_;
  std::function<int64_t()> unix_now_;
  bool valid_ = false;
  uint32_t subnet_ = 0, mask_ = 0, server_ = 0, lo_ = 0, hi_ = 0;
  std::map<uint64_t, uint32_t> res_by_mac_;
  std::map<uint32_t, uint64_t> res_by_addr_;
  std::map<uint64_t, Entry> by_mac_;      // the lease table, one entry per client
  std::map<uint32_t, uint64_t> by_addr_;  // address -> owner, mirrors by_mac_
  std::map<uint32_t, int64_t> declined_;  // address -> unusable until
  int64_t next_expiry_ = 0;               // earliest expiry in the tables (0 = none); lets handle() skip sweeps
  uint64_t dropped_ = 0;
  Status save_status_;
};

}  // namespace cloudlet::router
