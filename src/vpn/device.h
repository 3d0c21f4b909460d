// One WireGuard interface's protocol state, sans-IO: its identity, its peers (handshake, keypairs, timers,
// endpoint, counters, packets staged while no session exists), the receiver-index table, MAC/cookie checks and
// per-source rate limiting of handshakes under load, and cryptokey routing in both directions.
//
// The I/O layer (tunnel.h) owns the sockets. It hands the device outbound IP packets (already placed in a buffer
// with room for the WireGuard header in front and padding + tag behind, so they are sealed in place), inbound
// datagrams (opened in place), and the time; the device returns what to send or deliver. Handshake and keepalive
// messages, and staged packets flushed when a session appears, go out through a DeviceSink as they arise; bulk
// data never does, so the I/O layer can batch it (UDP GSO, TUN TSO).
//
// Single-threaded: one Device per event loop, no locks. Configuration is a DeviceConfig (uapi.h), the model that
// `wg set` edits; Sync() brings the live state in line with it, keeping sessions of peers that stay.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "vpn/allowed_ips.h"
#include "vpn/constants.h"
#include "vpn/cookie.h"
#include "vpn/crypto.h"
#include "vpn/noise.h"
#include "vpn/ratelimiter.h"
#include "vpn/session.h"
#include "vpn/timers.h"
#include "vpn/uapi.h"

namespace cloudlet::vpn {

// Packets kept per peer while a handshake is in flight (wireguard-go's MaxStagedPackets).
constexpr size_t kMaxStagedPackets = 128;
// Handshake messages within one second above which the device counts as under load: MAC2 (a cookie) is then
// required and each source is rate limited. Stays under load for one second after the last such second.
constexpr uint32_t kUnderLoadHandshakesPerSecond = 128;
// Largest IP packet the device carries (the TUN MTU is at most this).
constexpr size_t kMaxInnerPacket = 65535;

// Where the device sends messages that are not bulk data. `bytes` is valid only during the call.
class DeviceSink {
 public:
  virtual ~DeviceSink() = default;
  virtual void SendDatagram(const UdpEndpoint& to, ByteView bytes) = 0;
};

struct DeviceOptions {
  TimerDurations timers;
  RandomSource random;                  // indices, jitter, rate-limiter keys
  std::function<int64_t()> unix_nanos;  // wall clock: TAI64N timestamps and last-handshake times
  size_t max_peers = kUapiMaxPeers;
};

// Why something was dropped; counted per device.
enum class DeviceDrop : uint8_t {
  kNoPeerForDestination,  // outbound: no allowed-IPs entry covers the destination
  kNoEndpoint,            // outbound: the peer has no endpoint yet
  kStagedOverflow,        // outbound: the staging queue was full; the oldest packet went
  kMalformedPacket,       // outbound or inbound: not an IPv4/IPv6 packet, or its lengths do not add up
  kBadMessage,            // inbound: unknown type or wrong size
  kBadMac,                // inbound: handshake MAC1 did not verify
  kCookieSent,            // inbound: under load without a valid MAC2: answered with a cookie reply
  kRateLimited,           // inbound: handshake over the per-source rate while under load
  kHandshakeRejected,     // inbound: initiation/response/cookie did not verify or was replayed
  kUnknownIndex,          // inbound: transport or response for no known session
  kTransportRejected,     // inbound: transport message failed Open (see OpenStatus: auth, replay, expiry)
  kSourceNotAllowed,      // inbound: decrypted packet's source is outside the peer's allowed IPs
  kCount,
};
const char* DeviceDropName(DeviceDrop drop);

struct DeviceCounters {
  uint64_t drops[static_cast<size_t>(DeviceDrop::kCount)] = {};
  uint64_t replayed = 0;  // subset of kTransportRejected: counter already seen
  uint64_t handshakes_completed = 0;
  uint64_t cookie_replies_sent = 0;
};

// What Receive() did with one datagram.
struct Received {
  enum class Kind : uint8_t { kDeliver, kConsumed, kDropped } kind = Kind::kDropped;
  // kDeliver: the decrypted IP packet, trimmed to its IP length; it lives inside the datagram's buffer.
  uint8_t* packet = nullptr;
  size_t packet_len = 0;
};

// What Seal() did with one outbound packet.
struct Sealed {
  enum class Kind : uint8_t { kSend, kStaged, kDropped } kind = Kind::kDropped;
  size_t message_len = 0;  // kSend: the type-4 message at the start of the buffer
  PeerId peer = 0;
};

class Device {
 public:
  static Result<std::unique_ptr<Device>> Create(DeviceOptions options);
  ~Device();

  // --- configuration ---
  // Makes the live state match `config` (after a `wg set` edited it): creates and removes peers, rebuilds every
  // handshake when the private key changed (sessions made with the old key are dropped), updates endpoints,
  // keepalives, preshared keys and allowed IPs. Never fails: a peer whose key cannot be used with ours (a
  // low-order point) stays configured but cannot handshake, and is logged. Sends persistent keepalives that
  // become due.
  void Sync(const DeviceConfig& config, Nanos now, DeviceSink& sink);
  // Copies the counters `wg show` reports (transfer, last handshake) into `config`'s peers.
  void FillStats(DeviceConfig& config) const;
  uint16_t listen_port() const { return listen_port_; }

  // --- data path ---
  // Outbound: `buf` holds an IP packet of `ip_len` bytes at buf[kTransportHeaderSize]; buf is at least
  // SealedSize(ip_len) bytes. Routes by destination, pads and seals in place. kSend: send the first message_len
  // bytes of buf to endpoint(peer). kStaged: copied into the peer's queue until a handshake completes (one may
  // have been initiated through `sink`).
  Sealed Seal(uint8_t* buf, size_t buf_len, size_t ip_len, Nanos now, DeviceSink& sink);
  // The peer an IP packet is routed to (by destination address), if any. Lets the I/O layer route a TSO
  // super-packet once for all its segments.
  std::optional<PeerId> RouteOutbound(const uint8_t* ip_packet, size_t len) const;
  // As Seal, for a packet already routed to `peer`.
  Sealed SealForPeer(PeerId peer, uint8_t* buf, size_t buf_len, size_t ip_len, Nanos now, DeviceSink& sink);
  // Where messages to `peer` go.
  std::optional<UdpEndpoint> endpoint(PeerId peer) const;

  // Inbound: one datagram from `from`, opened in place. Handshake messages are answered through `sink`.
  Received Receive(uint8_t* datagram, size_t len, const UdpEndpoint& from, Nanos now, DeviceSink& sink);

  // --- time ---
  void Tick(Nanos now, DeviceSink& sink);
  Nanos NextDeadline(Nanos now) const;

  // --- introspection ---
  const DeviceCounters& counters() const { return counters_; }
  // For drops the I/O layer decides on its own (e.g. a TUN packet it could not route).
  void CountDrop(DeviceDrop reason) { Drop(reason); }
  size_t peer_count() const { return peers_.size(); }
  bool under_load(Nanos now) const { return now < under_load_until_; }
  // The peer's current session exists (tests, status).
  bool has_session(const PublicKey& peer) const;
  // The peer's staged packet count (tests).
  size_t staged_count(const PublicKey& peer) const;

 private:
  struct Peer;
  explicit Device(DeviceOptions options, CryptoSuite crypto);

  Peer* find(PeerId id);
  const Peer* find(PeerId id) const;
  void RemovePeer(PeerId id);
  void RebuildHandshake(Peer& peer);
  void Drop(DeviceDrop reason) { ++counters_.drops[static_cast<size_t>(reason)]; }

  uint32_t AllocateIndex(PeerId peer);
  void FreeIndex(uint32_t index);
  void FreeIndices(const RetiredIndices& retired);

  void RunActions(Peer& peer, const TimerActions& actions, Nanos now, DeviceSink& sink);
  void SendInitiation(Peer& peer, Nanos now, DeviceSink& sink);
  // Seals and sends an empty transport message; false without a usable session or endpoint. Timers not told.
  bool SendKeepalive(Peer& peer, Nanos now, DeviceSink& sink);
  void FlushStaged(Peer& peer, Nanos now, DeviceSink& sink);
  void InstallSession(Peer& peer, Nanos now);
  void Stage(Peer& peer, const uint8_t* ip_packet, size_t len);

  bool NoteHandshakeAndCheckLoad(Nanos now);
  Received ReceiveInitiation(uint8_t* msg, size_t len, const UdpEndpoint& from, Nanos now, DeviceSink& sink);
  Received ReceiveResponse(uint8_t* msg, size_t len, const UdpEndpoint& from, Nanos now, DeviceSink& sink);
  Received ReceiveCookieReply(const uint8_t* msg, size_t len, Nanos now);
  Received ReceiveTransport(uint8_t* msg, size_t len, const UdpEndpoint& from, Nanos now, DeviceSink& sink);
  // MAC1 (and MAC2 under load) and the rate limit; false = dropped (reason counted; a cookie reply may be sent).
  bool AdmitHandshake(const uint8_t* msg, size_t len, const UdpEndpoint& from, Nanos now, DeviceSink& sink);

  DeviceOptions options_;
  CryptoSuite crypto_;
  std::optional<LocalIdentity> identity_;
  std::optional<CookieChecker> cookie_checker_;
  HandshakeRateLimiter rate_limiter_;
  uint16_t listen_port_ = 0;

  std::map<PublicKey, PeerId> by_key_;
  std::unordered_map<PeerId, std::unique_ptr<Peer>> peers_;
  PeerId next_peer_id_ = 1;
  std::unordered_map<uint32_t, PeerId> indices_;  // receiver index -> peer (handshake and keypair indices)
  AllowedIps allowed_ips_;

  // Handshake-load accounting: messages seen in the current one-second window.
  Nanos load_window_start_ = 0;
  uint32_t load_window_count_ = 0;
  Nanos under_load_until_ = 0;

  DeviceCounters counters_;
};

// The IP version-specific view of a packet's addresses and length; nullopt if it is not a well-formed header.
struct IpHeaderInfo {
  IpAddress source;
  IpAddress destination;
  size_t total_len = 0;  // from the header; <= the bytes given
};
std::optional<IpHeaderInfo> ParseIpHeader(const uint8_t* packet, size_t len);

// The source address bytes the cookie MACs bind to: the IP address (4 or 16 bytes) followed by the port.
size_t EndpointAddressBytes(const UdpEndpoint& endpoint, uint8_t out[kMaxSourceAddressSize]);

}  // namespace cloudlet::vpn
