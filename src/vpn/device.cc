// The WireGuard interface state machine: peers, indices, handshakes, cookies and cryptokey routing. See device.h.
#include "vpn/device.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <set>

#include "vpn/messages.h"

namespace cloudlet::vpn {
namespace {

uint16_t LoadBe16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

std::string ShortKey(const PublicKey& key) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < 4; ++i) {
    out.push_back(kHex[key[i] >> 4]);
    out.push_back(kHex[key[i] & 0xf]);
  }
  return out + "…";
}

bool SameKey(const std::optional<PrivateKey>& a, const std::optional<PrivateKey>& b) {
  if (a.has_value() != b.has_value()) return false;
  return !a || ConstantTimeEqual(a->span(), b->span());
}

bool SamePsk(const std::optional<PresharedKey>& a, const std::optional<PresharedKey>& b) {
  if (a.has_value() != b.has_value()) return false;
  return !a || ConstantTimeEqual(a->span(), b->span());
}

}  // namespace

const char* DeviceDropName(DeviceDrop drop) {
  switch (drop) {
    case DeviceDrop::kNoPeerForDestination:
      return "no_peer_for_destination";
    case DeviceDrop::kNoEndpoint:
      return "no_endpoint";
    case DeviceDrop::kStagedOverflow:
      return "staged_overflow";
    case DeviceDrop::kMalformedPacket:
      return "malformed_packet";
    case DeviceDrop::kBadMessage:
      return "bad_message";
    case DeviceDrop::kBadMac:
      return "bad_mac";
    case DeviceDrop::kCookieSent:
      return "cookie_sent";
    case DeviceDrop::kRateLimited:
      return "rate_limited";
    case DeviceDrop::kHandshakeRejected:
      return "handshake_rejected";
    case DeviceDrop::kUnknownIndex:
      return "unknown_index";
    case DeviceDrop::kTransportRejected:
      return "transport_rejected";
    case DeviceDrop::kSourceNotAllowed:
      return "source_not_allowed";
    case DeviceDrop::kCount:
      break;
  }
  return "unknown";
}

std::optional<IpHeaderInfo> ParseIpHeader(const uint8_t* p, size_t len) {
  if (len < 1) return std::nullopt;
  IpHeaderInfo info;
  switch (p[0] >> 4) {
    case 4: {
      if (len < 20) return std::nullopt;
      const size_t ihl = size_t{p[0] & 0x0fu} * 4;
      const size_t total = LoadBe16(p + 2);
      if (ihl < 20 || total < ihl || total > len) return std::nullopt;
      info.source = IpAddress::V4(p[12], p[13], p[14], p[15]);
      info.destination = IpAddress::V4(p[16], p[17], p[18], p[19]);
      info.total_len = total;
      return info;
    }
    case 6: {
      if (len < 40) return std::nullopt;
      const size_t total = 40 + size_t{LoadBe16(p + 4)};
      if (total > len) return std::nullopt;
      info.source.family = info.destination.family = IpAddress::Family::kV6;
      std::memcpy(info.source.bytes.data(), p + 8, 16);
      std::memcpy(info.destination.bytes.data(), p + 24, 16);
      info.total_len = total;
      return info;
    }
    default:
      return std::nullopt;
  }
}

size_t EndpointAddressBytes(const UdpEndpoint& endpoint, uint8_t out[kMaxSourceAddressSize]) {
  const size_t n = endpoint.address.family == IpAddress::Family::kV4 ? 4 : 16;
  std::memcpy(out, endpoint.address.bytes.data(), n);
  out[n] = static_cast<uint8_t>(endpoint.port >> 8);
  out[n + 1] = static_cast<uint8_t>(endpoint.port);
  return n + 2;
}

struct Device::Peer {
  Peer(PeerId peer_id, const PublicKey& public_key, const TimerDurations& durations, RandomSource random)
      : id(peer_id), key(public_key), timers(durations, std::move(random)) {}

  PeerId id;
  PublicKey key;
  std::optional<Handshake> handshake;       // absent while the device has no private key or the key is unusable
  std::optional<uint32_t> handshake_index;  // the local index of a handshake in flight
  PeerKeypairs keypairs;
  PeerTimers timers;
  std::optional<UdpEndpoint> endpoint;
  std::optional<PresharedKey> psk;
  uint16_t keepalive_seconds = 0;
  std::set<IpPrefix> allowed_ips;
  uint64_t rx_bytes = 0;
  uint64_t tx_bytes = 0;
  int64_t last_handshake_unix_nanos = 0;
  std::deque<std::vector<uint8_t>> staged;
};

Result<std::unique_ptr<Device>> Device::Create(DeviceOptions options) {
  if (!options.random) return Error("vpn device: no random source");
  if (!options.unix_nanos) return Error("vpn device: no wall clock");
  CL_ASSIGN_OR_RETURN(CryptoSuite crypto, CryptoSuite::Create());
  return std::unique_ptr<Device>(new Device(std::move(options), std::move(crypto)));
}

Device::Device(DeviceOptions options, CryptoSuite crypto)
    : options_(std::move(options)), crypto_(std::move(crypto)), rate_limiter_(options_.random) {}

Device::~Device() = default;

Device::Peer* Device::find(PeerId id) {
  auto it = peers_.find(id);
  return it == peers_.end() ? nullptr : it->second.get();
}

const Device::Peer* Device::find(PeerId id) const {
  auto it = peers_.find(id);
  return it == peers_.end() ? nullptr : it->second.get();
}

// --- indices ---------------------------------------------------------------------------------------------------

uint32_t Device::AllocateIndex(PeerId peer) {
  // Random so that indices reveal nothing and a stale message rarely hits a new session; bounded retries, then
  // a linear probe (only reachable with billions of live indices, which the peer limit rules out).
  uint32_t index = static_cast<uint32_t>(options_.random());
  for (int tries = 0; tries < 64 && (index == 0 || indices_.count(index)); ++tries) {
    index = static_cast<uint32_t>(options_.random());
  }
  while (index == 0 || indices_.count(index)) ++index;
  indices_.emplace(index, peer);
  return index;
}

void Device::FreeIndex(uint32_t index) { indices_.erase(index); }

void Device::FreeIndices(const RetiredIndices& retired) {
  for (size_t i = 0; i < retired.count; ++i) FreeIndex(retired.indices[i]);
}

// --- configuration ---------------------------------------------------------------------------------------------

void Device::RebuildHandshake(Peer& peer) {
  if (peer.handshake_index) FreeIndex(*peer.handshake_index);
  peer.handshake_index.reset();
  peer.handshake.reset();
  if (!identity_) return;
  SymmetricKey psk;
  if (peer.psk) std::memcpy(psk.span().data(), peer.psk->span().data(), kKeySize);
  auto hs = Handshake::Create(crypto_, *identity_, peer.key, psk);
  if (!hs.ok()) {
    spdlog::warn("vpn: peer {} cannot handshake with this private key: {}", ShortKey(peer.key), hs.error().message());
    return;
  }
  peer.handshake.emplace(std::move(*hs));
}

void Device::RemovePeer(PeerId id) {
  Peer* peer = find(id);
  if (peer == nullptr) return;
  peer->timers.stop();
  FreeIndices(peer->keypairs.clear());
  if (peer->handshake_index) FreeIndex(*peer->handshake_index);
  allowed_ips_.remove_peer(id);
  by_key_.erase(peer->key);
  peers_.erase(id);
}

void Device::Sync(const DeviceConfig& config, Nanos now, DeviceSink& sink) {
  listen_port_ = config.listen_port;
  const std::optional<PrivateKey> old_key =
      identity_ ? std::optional<PrivateKey>(identity_->private_key) : std::nullopt;
  const bool key_changed = !SameKey(old_key, config.private_key);
  if (key_changed) {
    identity_.reset();
    cookie_checker_.reset();
    if (config.private_key) {
      auto identity = LocalIdentity::FromPrivate(*config.private_key);
      auto checker = identity.ok() ? CookieChecker::Create(crypto_, identity->public_key)
                                   : Result<CookieChecker>(identity.error());
      if (identity.ok() && checker.ok()) {
        identity_.emplace(std::move(*identity));
        cookie_checker_.emplace(std::move(*checker));
      } else {
        spdlog::error("vpn: private key unusable: {}", checker.error().message());
      }
    }
  }

  // Peers that went away.
  std::vector<PeerId> gone;
  for (const auto& [key, id] : by_key_) {
    if (!config.peers.count(key)) gone.push_back(id);
  }
  for (PeerId id : gone) RemovePeer(id);

  for (const auto& [key, pc] : config.peers) {
    Peer* peer = nullptr;
    bool fresh = false;
    if (auto it = by_key_.find(key); it != by_key_.end()) {
      peer = find(it->second);
    } else {
      if (peers_.size() >= options_.max_peers) {
        spdlog::warn("vpn: peer limit {} reached; {} not added", options_.max_peers, ShortKey(key));
        continue;
      }
      const PeerId id = next_peer_id_++;
      auto owned = std::make_unique<Peer>(id, key, options_.timers, options_.random);
      peer = owned.get();
      peers_.emplace(id, std::move(owned));
      by_key_.emplace(key, id);
      fresh = true;
    }
    const bool psk_changed = !SamePsk(peer->psk, pc.preshared_key);
    peer->psk = pc.preshared_key;
    if (key_changed && !fresh) FreeIndices(peer->keypairs.clear());  // sessions of the old identity are void
    if (fresh || key_changed || psk_changed) RebuildHandshake(*peer);
    if (pc.endpoint && pc.endpoint != peer->endpoint) peer->endpoint = pc.endpoint;
    if (pc.allowed_ips != peer->allowed_ips) {
      allowed_ips_.remove_peer(peer->id);
      peer->allowed_ips.clear();
      for (const IpPrefix& prefix : pc.allowed_ips) {
        if (Status s = allowed_ips_.insert(prefix, peer->id); !s.ok()) {
          spdlog::warn("vpn: peer {}: allowed IP not installed: {}", ShortKey(key), s.error().message());
          continue;
        }
        peer->allowed_ips.insert(prefix);
      }
    }
    if (pc.persistent_keepalive_interval != peer->keepalive_seconds) {
      peer->keepalive_seconds = pc.persistent_keepalive_interval;
      RunActions(*peer, peer->timers.set_persistent_keepalive(Nanos{peer->keepalive_seconds} * kSecond, now), now,
                 sink);
    }
  }
}

void Device::FillStats(DeviceConfig& config) const {
  for (auto& [key, pc] : config.peers) {
    auto it = by_key_.find(key);
    if (it == by_key_.end()) continue;
    const Peer* peer = find(it->second);
    pc.rx_bytes = peer->rx_bytes;
    pc.tx_bytes = peer->tx_bytes;
    pc.last_handshake_unix_nanos = peer->last_handshake_unix_nanos;
    pc.endpoint = peer->endpoint;  // roaming moves it; `wg show` reports where the peer is now
  }
}

std::optional<UdpEndpoint> Device::endpoint(PeerId id) const {
  const Peer* peer = find(id);
  return peer ? peer->endpoint : std::nullopt;
}

bool Device::has_session(const PublicKey& key) const {
  auto it = by_key_.find(key);
  return it != by_key_.end() && find(it->second)->keypairs.current().has_value();
}

size_t Device::staged_count(const PublicKey& key) const {
  auto it = by_key_.find(key);
  return it == by_key_.end() ? 0 : find(it->second)->staged.size();
}

// --- outbound --------------------------------------------------------------------------------------------------

std::optional<PeerId> Device::RouteOutbound(const uint8_t* ip_packet, size_t len) const {
  const auto info = ParseIpHeader(ip_packet, len);
  if (!info) return std::nullopt;
  return allowed_ips_.lookup(info->destination);
}

Sealed Device::Seal(uint8_t* buf, size_t buf_len, size_t ip_len, Nanos now, DeviceSink& sink) {
  if (buf_len < kTransportHeaderSize + ip_len || !ParseIpHeader(buf + kTransportHeaderSize, ip_len)) {
    Drop(DeviceDrop::kMalformedPacket);
    return {};
  }
  const auto peer = RouteOutbound(buf + kTransportHeaderSize, ip_len);
  if (!peer) {
    Drop(DeviceDrop::kNoPeerForDestination);
    return {};
  }
  return SealForPeer(*peer, buf, buf_len, ip_len, now, sink);
}

Sealed Device::SealForPeer(PeerId id, uint8_t* buf, size_t buf_len, size_t ip_len, Nanos now, DeviceSink& sink) {
  Peer* peer = find(id);
  if (peer == nullptr) {
    Drop(DeviceDrop::kNoPeerForDestination);
    return {};
  }
  if (!peer->endpoint) {
    Drop(DeviceDrop::kNoEndpoint);
    return {};
  }
  if (!peer->staged.empty() && peer->keypairs.current()) FlushStaged(*peer, now, sink);
  auto sealed =
      peer->keypairs.Seal(crypto_, ByteView(buf + kTransportHeaderSize, ip_len), now, MutableBytes(buf, buf_len));
  if (!sealed.ok()) {
    // No usable session: keep the packet for when one exists and ask for a handshake.
    Stage(*peer, buf + kTransportHeaderSize, ip_len);
    RunActions(*peer, peer->timers.request_handshake(now), now, sink);
    return {Sealed::Kind::kStaged, 0, id};
  }
  peer->tx_bytes += *sealed;
  peer->timers.on_data_sent(now);
  peer->timers.on_authenticated_packet_sent(now);
  const TimerActions actions = peer->timers.on_send_path(peer->keypairs.current_snapshot(), now);
  if (actions.any()) RunActions(*peer, actions, now, sink);
  return {Sealed::Kind::kSend, *sealed, id};
}

void Device::Stage(Peer& peer, const uint8_t* ip_packet, size_t len) {
  if (peer.staged.size() >= kMaxStagedPackets) {
    peer.staged.pop_front();
    Drop(DeviceDrop::kStagedOverflow);
  }
  peer.staged.emplace_back(ip_packet, ip_packet + len);
}

void Device::FlushStaged(Peer& peer, Nanos now, DeviceSink& sink) {
  if (!peer.endpoint) return;
  std::vector<uint8_t> buf;
  while (!peer.staged.empty()) {
    const std::vector<uint8_t>& packet = peer.staged.front();
    buf.resize(SealedSize(packet.size()));
    auto sealed = peer.keypairs.Seal(crypto_, packet, now, buf);
    if (!sealed.ok()) return;  // the session went away; they wait for the next one
    sink.SendDatagram(*peer.endpoint, ByteView(buf.data(), *sealed));
    peer.tx_bytes += *sealed;
    peer.timers.on_data_sent(now);
    peer.timers.on_authenticated_packet_sent(now);
    peer.staged.pop_front();
  }
}

// --- timers and control messages -------------------------------------------------------------------------------

void Device::RunActions(Peer& peer, const TimerActions& actions, Nanos now, DeviceSink& sink) {
  if (actions.zero_key_material) {
    FreeIndices(peer.keypairs.clear());
    if (peer.handshake) peer.handshake->Clear();
    if (peer.handshake_index) FreeIndex(*peer.handshake_index);
    peer.handshake_index.reset();
  }
  if (actions.handshake_gave_up) peer.staged.clear();
  if (actions.send_handshake_initiation) SendInitiation(peer, now, sink);
  // The timers already counted this keepalive as sent; without a session it becomes a handshake request.
  if (actions.send_keepalive && !SendKeepalive(peer, now, sink)) {
    RunActions(peer, peer.timers.request_handshake(now), now, sink);
  }
}

void Device::SendInitiation(Peer& peer, Nanos now, DeviceSink& sink) {
  if (!peer.handshake || !peer.endpoint) return;
  if (peer.handshake_index) FreeIndex(*peer.handshake_index);
  const uint32_t index = AllocateIndex(peer.id);
  peer.handshake_index = index;
  auto initiation = peer.handshake->CreateInitiation(crypto_, index, now, options_.unix_nanos());
  if (!initiation.ok()) {
    spdlog::warn("vpn: initiation to {} failed: {}", ShortKey(peer.key), initiation.error().message());
    return;
  }
  sink.SendDatagram(*peer.endpoint, *initiation);
  peer.tx_bytes += initiation->size();
}

bool Device::SendKeepalive(Peer& peer, Nanos now, DeviceSink& sink) {
  uint8_t msg[kTransportMinSize];
  if (!peer.endpoint || !peer.keypairs.Seal(crypto_, ByteView(), now, msg).ok()) return false;
  sink.SendDatagram(*peer.endpoint, msg);
  peer.tx_bytes += sizeof msg;
  return true;
}

void Device::InstallSession(Peer& peer, Nanos now) {
  auto keys = peer.handshake->BeginSession(crypto_, now);
  if (!keys.ok()) return;
  peer.handshake_index.reset();  // the index now belongs to the keypair
  FreeIndices(peer.keypairs.Install(*keys));
  peer.timers.on_session_derived(now);
}

void Device::Tick(Nanos now, DeviceSink& sink) {
  for (auto& [id, peer] : peers_) {
    const TimerActions actions = peer->timers.tick(now);
    if (actions.any()) RunActions(*peer, actions, now, sink);
  }
}

Nanos Device::NextDeadline(Nanos now) const {
  Nanos next = PeerTimers::kNever;
  for (const auto& [id, peer] : peers_) next = std::min(next, peer->timers.next_deadline(now));
  return next;
}

// --- inbound ---------------------------------------------------------------------------------------------------

Received Device::Receive(uint8_t* datagram, size_t len, const UdpEndpoint& from, Nanos now, DeviceSink& sink) {
  const auto type = PeekMessageType(ByteView(datagram, len));
  if (!type) {
    Drop(DeviceDrop::kBadMessage);
    return {};
  }
  switch (*type) {
    case MessageType::kTransportData:
      return ReceiveTransport(datagram, len, from, now, sink);
    case MessageType::kInitiation:
      return ReceiveInitiation(datagram, len, from, now, sink);
    case MessageType::kResponse:
      return ReceiveResponse(datagram, len, from, now, sink);
    case MessageType::kCookieReply:
      return ReceiveCookieReply(datagram, len, now);
  }
  Drop(DeviceDrop::kBadMessage);
  return {};
}

bool Device::NoteHandshakeAndCheckLoad(Nanos now) {
  if (now - load_window_start_ >= kSecond) {
    load_window_start_ = now;
    load_window_count_ = 0;
  }
  if (++load_window_count_ > kUnderLoadHandshakesPerSecond) under_load_until_ = now + kSecond;
  return now < under_load_until_;
}

bool Device::AdmitHandshake(const uint8_t* msg, size_t len, const UdpEndpoint& from, Nanos now, DeviceSink& sink) {
  if (!cookie_checker_ || !identity_) {
    Drop(DeviceDrop::kBadMac);  // without a private key nothing can be addressed to us
    return false;
  }
  const bool load = NoteHandshakeAndCheckLoad(now);
  uint8_t source[kMaxSourceAddressSize];
  const size_t source_len = EndpointAddressBytes(from, source);
  const MacCheck check = cookie_checker_->Check(crypto_, ByteView(msg, len), ByteView(source, source_len), load, now);
  if (check == MacCheck::kInvalid) {
    Drop(DeviceDrop::kBadMac);
    return false;
  }
  if (!load) return true;
  if (check != MacCheck::kValidMac1AndMac2) {
    auto reply = cookie_checker_->CreateReply(crypto_, ByteView(msg, len), ByteView(source, source_len), now);
    if (reply.ok()) {
      sink.SendDatagram(from, *reply);
      ++counters_.cookie_replies_sent;
    }
    Drop(DeviceDrop::kCookieSent);
    return false;
  }
  if (!rate_limiter_.allow(from.address, now)) {
    Drop(DeviceDrop::kRateLimited);
    return false;
  }
  return true;
}

Received Device::ReceiveInitiation(uint8_t* msg, size_t len, const UdpEndpoint& from, Nanos now, DeviceSink& sink) {
  if (len != kInitiationSize) {
    Drop(DeviceDrop::kBadMessage);
    return {};
  }
  if (!AdmitHandshake(msg, len, from, now, sink)) return {};
  const PeerLookup lookup = [this](const PublicKey& key) -> Handshake* {
    auto it = by_key_.find(key);
    if (it == by_key_.end()) return nullptr;
    Peer* peer = find(it->second);
    return peer->handshake ? &*peer->handshake : nullptr;
  };
  auto consumed = Handshake::ConsumeInitiation(crypto_, *identity_, ByteView(msg, len), lookup, now);
  if (!consumed.ok()) {
    spdlog::debug("vpn: initiation dropped: {}", consumed.error().message());
    Drop(DeviceDrop::kHandshakeRejected);
    return {};
  }
  Peer& peer = *find(by_key_.at((*consumed)->remote_static()));
  peer.endpoint = from;
  peer.rx_bytes += len;
  peer.timers.on_authenticated_packet_received(now);

  if (peer.handshake_index) FreeIndex(*peer.handshake_index);
  const uint32_t index = AllocateIndex(peer.id);
  peer.handshake_index = index;
  auto response = peer.handshake->CreateResponse(crypto_, index, now);
  if (!response.ok()) {
    Drop(DeviceDrop::kHandshakeRejected);
    return {};
  }
  InstallSession(peer, now);  // waits in `next` until the initiator's first message confirms it
  sink.SendDatagram(from, *response);
  peer.tx_bytes += response->size();
  peer.timers.on_authenticated_packet_sent(now);
  return {Received::Kind::kConsumed};
}

Received Device::ReceiveResponse(uint8_t* msg, size_t len, const UdpEndpoint& from, Nanos now, DeviceSink& sink) {
  if (len != kResponseSize) {
    Drop(DeviceDrop::kBadMessage);
    return {};
  }
  if (!AdmitHandshake(msg, len, from, now, sink)) return {};
  const auto parsed = ParseResponse(ByteView(msg, len));
  auto it = parsed ? indices_.find(parsed->receiver_index) : indices_.end();
  Peer* peer = it == indices_.end() ? nullptr : find(it->second);
  if (peer == nullptr || !peer->handshake || peer->handshake_index != parsed->receiver_index) {
    Drop(DeviceDrop::kUnknownIndex);
    return {};
  }
  if (!peer->handshake->ConsumeResponse(crypto_, ByteView(msg, len), now).ok()) {
    Drop(DeviceDrop::kHandshakeRejected);
    return {};
  }
  InstallSession(*peer, now);
  peer->endpoint = from;
  peer->rx_bytes += len;
  peer->timers.on_authenticated_packet_received(now);
  peer->timers.on_handshake_complete(now);
  peer->last_handshake_unix_nanos = options_.unix_nanos();
  ++counters_.handshakes_completed;
  // The responder can send only after it hears from us on the new session: staged data or a keepalive.
  if (peer->staged.empty()) {
    if (SendKeepalive(*peer, now, sink)) peer->timers.on_authenticated_packet_sent(now);
  } else {
    FlushStaged(*peer, now, sink);
  }
  return {Received::Kind::kConsumed};
}

Received Device::ReceiveCookieReply(const uint8_t* msg, size_t len, Nanos now) {
  const auto parsed = ParseCookieReply(ByteView(msg, len));
  auto it = parsed ? indices_.find(parsed->receiver_index) : indices_.end();
  Peer* peer = it == indices_.end() ? nullptr : find(it->second);
  if (peer == nullptr || !peer->handshake) {
    Drop(DeviceDrop::kUnknownIndex);
    return {};
  }
  if (!peer->handshake->ConsumeCookieReply(ByteView(msg, len), now).ok()) {
    Drop(DeviceDrop::kHandshakeRejected);
    return {};
  }
  return {Received::Kind::kConsumed};
}

Received Device::ReceiveTransport(uint8_t* msg, size_t len, const UdpEndpoint& from, Nanos now, DeviceSink& sink) {
  if (len < kTransportMinSize) {
    Drop(DeviceDrop::kBadMessage);
    return {};
  }
  auto it = indices_.find(LoadLe32(msg + 4));
  Peer* peer = it == indices_.end() ? nullptr : find(it->second);
  if (peer == nullptr) {
    Drop(DeviceDrop::kUnknownIndex);
    return {};
  }
  const Opened opened = peer->keypairs.Open(crypto_, ByteView(msg, len), now,
                                            MutableBytes(msg + kTransportHeaderSize, len - kTransportMinSize));
  if (!opened.ok()) {
    if (opened.status == OpenStatus::kReplayed) ++counters_.replayed;
    Drop(DeviceDrop::kTransportRejected);
    return {};
  }
  if (opened.retired_index) FreeIndex(*opened.retired_index);
  peer->endpoint = from;  // roaming: the latest authenticated packet says where the peer is
  peer->rx_bytes += len;
  peer->timers.on_authenticated_packet_received(now);
  if (opened.promoted_next) {
    peer->timers.on_handshake_complete(now);
    peer->last_handshake_unix_nanos = options_.unix_nanos();
    ++counters_.handshakes_completed;
    FlushStaged(*peer, now, sink);
  }
  Received result{Received::Kind::kConsumed};
  if (!opened.keepalive) {
    uint8_t* packet = msg + kTransportHeaderSize;
    const auto info = ParseIpHeader(packet, opened.plaintext_size);
    if (!info) {
      Drop(DeviceDrop::kMalformedPacket);
      return {};
    }
    if (allowed_ips_.lookup(info->source) != peer->id) {
      Drop(DeviceDrop::kSourceNotAllowed);
      return {};
    }
    peer->timers.on_data_received(now);
    result = {Received::Kind::kDeliver, packet, info->total_len};
  }
  if (opened.on_current) {
    const TimerActions actions = peer->timers.on_receive_path(peer->keypairs.current_snapshot(), now);
    if (actions.any()) RunActions(*peer, actions, now, sink);
  }
  return result;
}

}  // namespace cloudlet::vpn
