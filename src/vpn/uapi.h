// The WireGuard cross-platform userspace configuration protocol (wireguard.com/xplatform), sans-IO: the text that
// `wg set` / `wg show` / `wg showconf` exchange with a userspace implementation over /var/run/wireguard/NAME.sock.
// Owns the device configuration model a `get` reports and a `set` edits, the strict parser of `set` bodies, the
// wireguard-go semantics of applying them (replace_peers, remove, update_only, replace_allowed_ips), the `get`
// serialiser, and UapiSession, which turns a connection's byte stream into replies. Reading and writing the socket
// is the caller's job.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/status.h"
#include "vpn/allowed_ips.h"
#include "vpn/crypto.h"

namespace cloudlet::vpn {

// Errno values a reply carries (wireguard-go's ipc.IpcError*): bad keys or values, and lines that are not key=value.
constexpr int kUapiErrnoInvalid = 22;   // EINVAL
constexpr int kUapiErrnoProtocol = 71;  // EPROTO

// Bounds on what one connection may make us hold or build.
constexpr size_t kUapiMaxLineLength = 256;  // longest valid line is ~80 bytes
constexpr size_t kUapiMaxRequestLines = 32768;
constexpr size_t kUapiMaxRequestBytes = 2 * 1024 * 1024;
constexpr size_t kUapiMaxPeers = size_t{1} << 16;                      // wireguard-go's MaxPeers
constexpr size_t kUapiMaxAllowedIps = AllowedIps::kDefaultMaxEntries;  // across all peers of a device

using PresharedKey = SecretBytes<kKeySize>;

struct UdpEndpoint {
  IpAddress address;
  uint16_t port = 0;
  bool operator==(const UdpEndpoint&) const = default;
};

struct PeerConfig {
  std::optional<PresharedKey> preshared_key;  // never all-zero: setting zeros removes it
  std::optional<UdpEndpoint> endpoint;
  uint16_t persistent_keepalive_interval = 0;  // seconds; 0 = off
  std::set<IpPrefix> allowed_ips;              // host bits masked; a prefix belongs to at most one peer
  // Reported by `get`, never set by it: kept by the data plane.
  uint64_t rx_bytes = 0;
  uint64_t tx_bytes = 0;
  int64_t last_handshake_unix_nanos = 0;  // 0 = never
};

struct DeviceConfig {
  std::optional<PrivateKey> private_key;  // clamped; never all-zero
  uint16_t listen_port = 0;               // 0 = pick any
  uint32_t fwmark = 0;                    // 0 = none
  std::map<PublicKey, PeerConfig> peers;
};

// One per-peer line of a `set`, in the order given. protocol_version=1 is validated and dropped.
struct RemovePeer {};
struct UpdateOnly {};  // the peer is only updated, not created, if it does not exist yet
struct SetPresharedKey {
  PresharedKey key;  // all-zero removes the key
};
struct SetEndpoint {
  UdpEndpoint endpoint;
};
struct SetPersistentKeepalive {
  uint16_t seconds = 0;
};
struct ReplaceAllowedIps {};
struct AddAllowedIp {
  IpPrefix prefix;  // as written; Apply masks host bits
};
using PeerOperation = std::variant<RemovePeer, UpdateOnly, SetPresharedKey, SetEndpoint, SetPersistentKeepalive,
                                   ReplaceAllowedIps, AddAllowedIp>;

struct PeerChange {
  PublicKey public_key{};
  std::vector<PeerOperation> operations;
};

// What one `set` asks for. Device keys apply before the peers (wireguard-go accepts them only before the first
// public_key); repeated device keys: the last wins.
struct DeviceConfigChange {
  std::optional<PrivateKey> private_key;  // all-zero removes the key
  std::optional<uint16_t> listen_port;
  std::optional<uint32_t> fwmark;
  bool replace_peers = false;
  std::vector<PeerChange> peers;
};

// Parses the lines of a `set` request after "set=1\n", without the terminating blank line (each line ends in
// '\n'). Strict: unknown keys, device keys after the first public_key, peer keys before it, malformed hex, numbers,
// endpoints or prefixes are errors.
Result<DeviceConfigChange> ParseSet(std::string_view request_body);
// As ParseSet; on error also tells the errno the reply carries.
Result<DeviceConfigChange> ParseSet(std::string_view request_body, int& error_errno);

// Applies `change` the way wireguard-go does: a private key whose public key equals a peer's removes that peer
// (and a public_key line naming the device itself is ignored); replace_peers drops every peer first; each
// public_key line creates the peer unless it exists; update_only undoes that creation; remove drops the peer and
// ignores the rest of its block; replace_allowed_ips drops the peer's prefixes; allowed_ip moves a prefix to the
// peer. All or nothing: on error `config` is unchanged.
Status Apply(const DeviceConfigChange& change, DeviceConfig& config);

// The body of a `get` reply, in wireguard-go's order, ending with "errno=0\n\n".
std::string SerializeGet(const DeviceConfig& config);

// "1.2.3.4:51820" or "[fd00::1]:51820", as `get` writes endpoints and `set` takes them.
std::optional<UdpEndpoint> ParseEndpoint(std::string_view text);
std::string FormatEndpoint(const UdpEndpoint& endpoint);

// A `get` reply as a client reads it (`cloudlet vpn show`, the daemon's status). The private key is not kept: only
// the public key derived from it.
struct UapiPeerStatus {
  PublicKey public_key{};
  std::optional<UdpEndpoint> endpoint;
  std::vector<IpPrefix> allowed_ips;
  int64_t last_handshake_unix_sec = 0;  // 0 = never
  uint64_t rx_bytes = 0;
  uint64_t tx_bytes = 0;
  uint16_t persistent_keepalive = 0;  // seconds; 0 = off
  bool has_preshared_key = false;
};
struct UapiDeviceStatus {
  std::optional<PublicKey> public_key;  // none while the interface has no private key
  uint16_t listen_port = 0;
  uint32_t fwmark = 0;
  std::vector<UapiPeerStatus> peers;
};
// Parses a whole `get` reply, up to its "errno=N" line: strict about the keys it knows (bad values are errors),
// skipping keys it does not (a newer server may add some). A nonzero errno is an error. The inverse of SerializeGet
// for everything but secrets.
Result<UapiDeviceStatus> ParseGetReply(std::string_view reply);

// One connection to the configuration socket. Feed it bytes as they arrive (split anywhere, any number of
// requests); it returns the reply bytes to write. Requests are handled in order against `config`, which must
// outlive the session. After a request that is neither get nor set, or one exceeding the bounds, closed() is true:
// the caller closes the connection (the stream cannot be resynchronised). A request with an error is read to its
// blank line and answered with its errno; the next request is then handled (wireguard-go would desynchronise).
// Buffering is bounded by kUapiMaxRequestBytes plus the bytes of one Feed call.
class UapiSession {
 public:
  explicit UapiSession(DeviceConfig& config) : config_(config) {}

  std::string Feed(std::string_view bytes);
  bool closed() const { return closed_; }

 private:
  // Handles one complete request at the front of buffer_, appending its reply; false if more bytes are needed.
  bool HandleOne(std::string& reply);

  DeviceConfig& config_;
  std::string buffer_;
  size_t scanned_ = 0;  // bytes of buffer_ known to hold no request terminator
  bool closed_ = false;
};

}  // namespace cloudlet::vpn
