// The WireGuard userspace configuration protocol: parsing `set`, applying it with wireguard-go's semantics,
// serialising `get`, and the per-connection request framing.
#include "vpn/uapi.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <limits>
#include <utility>

namespace cloudlet::vpn {
namespace {

constexpr std::string_view kGetRequest = "get=1\n";
constexpr std::string_view kSetRequest = "set=1\n";
constexpr std::string_view kHexDigits = "0123456789abcdef";

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Exactly 64 hex digits (wireguard-go accepts either case; it writes lowercase).
bool DecodeKey(std::string_view hex, std::span<uint8_t, kKeySize> out) {
  if (hex.size() != 2 * kKeySize) return false;
  for (size_t i = 0; i < kKeySize; ++i) {
    const int hi = HexValue(hex[2 * i]);
    const int lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<uint8_t>((hi << 4) | lo);
  }
  return true;
}

void AppendHex(std::string& out, std::span<const uint8_t, kKeySize> key) {
  for (uint8_t b : key) {
    out.push_back(kHexDigits[b >> 4]);
    out.push_back(kHexDigits[b & 0xf]);
  }
}

// Decimal digits only (no sign, no spaces), as Go's strconv.ParseUint(value, 10, bits).
template <typename T>
std::optional<T> ParseUnsigned(std::string_view text) {
  if (text.empty() || !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  T value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace

// "1.2.3.4:51820" or "[::1]:51820".
std::optional<UdpEndpoint> ParseEndpoint(std::string_view text) {
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find("]:");
    if (close == std::string_view::npos) return std::nullopt;
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    if (host.find(':') == std::string_view::npos) return std::nullopt;  // brackets are for IPv6 only
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return std::nullopt;  // IPv6 needs brackets
  }
  const std::optional<IpAddress> address = ParseIpAddress(host);
  const std::optional<uint16_t> port_number = ParseUnsigned<uint16_t>(port);
  if (!address || !port_number) return std::nullopt;
  return UdpEndpoint{*address, *port_number};
}

std::string FormatEndpoint(const UdpEndpoint& endpoint) {
  const std::string address = FormatIpAddress(endpoint.address);
  if (endpoint.address.family == IpAddress::Family::kV6) return "[" + address + "]:" + std::to_string(endpoint.port);
  return address + ":" + std::to_string(endpoint.port);
}

namespace {

// "10.0.0.0/24" or "fd00::/64"; the length is required, without leading zeros.
std::optional<IpPrefix> ParsePrefix(std::string_view text) {
  const size_t slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  const std::optional<IpAddress> address = ParseIpAddress(text.substr(0, slash));
  const std::string_view length_text = text.substr(slash + 1);
  if (!address || length_text.size() > 3 || (length_text.size() > 1 && length_text.front() == '0')) {
    return std::nullopt;
  }
  const std::optional<uint8_t> length = ParseUnsigned<uint8_t>(length_text);
  if (!length || *length > address->bit_width()) return std::nullopt;
  return IpPrefix{*address, *length};
}

// X25519 clamping, as wireguard-go applies to every private key it is given.
void Clamp(PrivateKey& key) {
  key.data()[0] &= 248;
  key.data()[31] = static_cast<uint8_t>((key.data()[31] & 127) | 64);
}

// "true" is the only value wireguard-go accepts for its flags.
bool IsTrue(std::string_view value) { return value == "true"; }

class SetParser {
 public:
  Result<DeviceConfigChange> Parse(std::string_view body, int& error_errno) {
    size_t line_number = 0;
    while (!body.empty()) {
      ++line_number;
      const size_t newline = body.find('\n');
      const std::string_view line = body.substr(0, newline);
      body = newline == std::string_view::npos ? std::string_view() : body.substr(newline + 1);
      error_errno = kUapiErrnoInvalid;
      if (line_number > kUapiMaxRequestLines) {
        return Error("uapi set: more than " + std::to_string(kUapiMaxRequestLines) + " lines");
      }
      const std::string where = "uapi set line " + std::to_string(line_number);
      if (line.size() > kUapiMaxLineLength) {
        return Error(where + ": longer than " + std::to_string(kUapiMaxLineLength) + " bytes");
      }
      const size_t equals = line.find('=');
      if (equals == std::string_view::npos) {
        error_errno = kUapiErrnoProtocol;
        return Error(where + ": expected key=value");
      }
      const std::string_view key = line.substr(0, equals);
      const std::string_view value = line.substr(equals + 1);
      Status status =
          key == "public_key" ? StartPeer(value) : (peer_ == nullptr ? DeviceLine(key, value) : PeerLine(key, value));
      if (!status.ok()) return status.error().wrap(where);
    }
    error_errno = 0;
    return std::move(change_);
  }

 private:
  static Error BadValue(std::string_view key, std::string_view value, std::string_view expected) {
    return Error(std::string(key) + ": \"" + std::string(value.substr(0, 80)) + "\" is not " + std::string(expected));
  }

  Status StartPeer(std::string_view value) {
    PeerChange peer;
    if (!DecodeKey(value, peer.public_key)) return BadValue("public_key", value, "64 hex digits");
    change_.peers.push_back(std::move(peer));
    peer_ = &change_.peers.back();
    return Status::Ok();
  }

  Status DeviceLine(std::string_view key, std::string_view value) {
    if (key == "private_key") {
      PrivateKey private_key;
      if (!DecodeKey(value, private_key.span())) return BadValue(key, value, "64 hex digits");
      change_.private_key = private_key;
      return Status::Ok();
    }
    if (key == "listen_port") {
      change_.listen_port = ParseUnsigned<uint16_t>(value);
      if (!change_.listen_port) return BadValue(key, value, "a port 0-65535");
      return Status::Ok();
    }
    if (key == "fwmark") {
      change_.fwmark = ParseUnsigned<uint32_t>(value);
      if (!change_.fwmark) return BadValue(key, value, "a number 0-4294967295");
      return Status::Ok();
    }
    if (key == "replace_peers") {
      if (!IsTrue(value)) return BadValue(key, value, "true");
      change_.replace_peers = true;
      return Status::Ok();
    }
    return Error("\"" + std::string(key.substr(0, 80)) + "\" is not a device key (peer keys follow a public_key)");
  }

  Status PeerLine(std::string_view key, std::string_view value) {
    std::vector<PeerOperation>& operations = peer_->operations;
    if (key == "remove" || key == "update_only" || key == "replace_allowed_ips") {
      if (!IsTrue(value)) return BadValue(key, value, "true");
      if (key == "remove") {
        operations.emplace_back(RemovePeer{});
      } else if (key == "update_only") {
        operations.emplace_back(UpdateOnly{});
      } else {
        operations.emplace_back(ReplaceAllowedIps{});
      }
      return Status::Ok();
    }
    if (key == "preshared_key") {
      SetPresharedKey set;
      if (!DecodeKey(value, set.key.span())) return BadValue(key, value, "64 hex digits");
      operations.emplace_back(set);
      return Status::Ok();
    }
    if (key == "endpoint") {
      const std::optional<UdpEndpoint> endpoint = ParseEndpoint(value);
      if (!endpoint) return BadValue(key, value, "IPv4:port or [IPv6]:port");
      operations.emplace_back(SetEndpoint{*endpoint});
      return Status::Ok();
    }
    if (key == "persistent_keepalive_interval") {
      const std::optional<uint16_t> seconds = ParseUnsigned<uint16_t>(value);
      if (!seconds) return BadValue(key, value, "seconds 0-65535");
      operations.emplace_back(SetPersistentKeepalive{*seconds});
      return Status::Ok();
    }
    if (key == "allowed_ip") {
      const std::optional<IpPrefix> prefix = ParsePrefix(value);
      if (!prefix) return BadValue(key, value, "an IPv4 or IPv6 prefix (address/length)");
      operations.emplace_back(AddAllowedIp{*prefix});
      return Status::Ok();
    }
    if (key == "protocol_version") {
      if (value != "1") return BadValue(key, value, "1 (the only protocol version)");
      return Status::Ok();
    }
    return Error("\"" + std::string(key.substr(0, 80)) + "\" is not a peer key (device keys precede the first peer)");
  }

  DeviceConfigChange change_;
  PeerChange* peer_ = nullptr;  // the peer block being parsed; change_.peers only grows at its back
};

// Applies changes to a working copy, keeping an index of which peer owns each allowed IP.
class Applier {
 public:
  explicit Applier(DeviceConfig& config) : config_(config) {
    for (const auto& [key, peer] : config_.peers) {
      for (const IpPrefix& prefix : peer.allowed_ips) owners_[prefix] = key;
    }
  }

  Status Run(const DeviceConfigChange& change) {
    if (change.private_key) CL_RETURN_IF_ERROR(SetPrivateKey(*change.private_key));
    if (change.listen_port) config_.listen_port = *change.listen_port;
    if (change.fwmark) config_.fwmark = *change.fwmark;
    if (change.replace_peers) {
      config_.peers.clear();
      owners_.clear();
    }
    std::optional<PublicKey> own_public;
    if (config_.private_key && !change.peers.empty()) {
      CL_ASSIGN_OR_RETURN(own_public, DerivePublicKey(*config_.private_key));
    }
    for (const PeerChange& peer_change : change.peers) CL_RETURN_IF_ERROR(ApplyPeer(peer_change, own_public));
    return Status::Ok();
  }

 private:
  Status SetPrivateKey(PrivateKey key) {
    if (key.IsZero()) {
      config_.private_key.reset();
      return Status::Ok();
    }
    Clamp(key);
    CL_ASSIGN_OR_RETURN(const PublicKey own_public, DerivePublicKey(key));
    config_.private_key = key;
    // A peer cannot be the device itself.
    DropPeer(own_public);
    return Status::Ok();
  }

  Status ApplyPeer(const PeerChange& change, const std::optional<PublicKey>& own_public) {
    const PublicKey& key = change.public_key;
    // A block naming the device itself is parsed but changes nothing ("dummy" in wireguard-go).
    const bool dummy = own_public && *own_public == key;
    bool created = false;
    PeerConfig* peer = nullptr;
    if (!dummy) {
      auto it = config_.peers.find(key);
      if (it == config_.peers.end()) {
        if (config_.peers.size() >= kUapiMaxPeers) {
          return Error("too many peers (at most " + std::to_string(kUapiMaxPeers) + ")");
        }
        it = config_.peers.emplace(key, PeerConfig{}).first;
        created = true;
      }
      peer = &it->second;
    }
    for (const PeerOperation& operation : change.operations) {
      if (peer == nullptr) continue;  // removed or dummy: the rest of the block is ignored
      if (std::holds_alternative<RemovePeer>(operation)) {
        DropPeer(key);
        peer = nullptr;
      } else if (std::holds_alternative<UpdateOnly>(operation)) {
        if (created) {
          DropPeer(key);
          peer = nullptr;
        }
      } else if (const auto* psk = std::get_if<SetPresharedKey>(&operation)) {
        if (psk->key.IsZero()) {
          peer->preshared_key.reset();
        } else {
          peer->preshared_key = psk->key;
        }
      } else if (const auto* endpoint = std::get_if<SetEndpoint>(&operation)) {
        peer->endpoint = endpoint->endpoint;
      } else if (const auto* keepalive = std::get_if<SetPersistentKeepalive>(&operation)) {
        peer->persistent_keepalive_interval = keepalive->seconds;
      } else if (std::holds_alternative<ReplaceAllowedIps>(operation)) {
        for (const IpPrefix& prefix : peer->allowed_ips) owners_.erase(prefix);
        peer->allowed_ips.clear();
      } else if (const auto* allowed = std::get_if<AddAllowedIp>(&operation)) {
        CL_RETURN_IF_ERROR(GivePrefix(key, *peer, MaskedPrefix(allowed->prefix)));
      }
    }
    return Status::Ok();
  }

  // Gives `prefix` to `peer`, taking it from whichever peer had it.
  Status GivePrefix(const PublicKey& key, PeerConfig& peer, const IpPrefix& prefix) {
    auto [it, inserted] = owners_.try_emplace(prefix, key);
    if (inserted && owners_.size() > kUapiMaxAllowedIps) {
      owners_.erase(it);
      return Error("too many allowed IPs (at most " + std::to_string(kUapiMaxAllowedIps) + " per device)");
    }
    if (!inserted && it->second != key) {
      config_.peers.at(it->second).allowed_ips.erase(prefix);
      it->second = key;
    }
    peer.allowed_ips.insert(prefix);
    return Status::Ok();
  }

  void DropPeer(const PublicKey& key) {
    const auto it = config_.peers.find(key);
    if (it == config_.peers.end()) return;
    for (const IpPrefix& prefix : it->second.allowed_ips) owners_.erase(prefix);
    config_.peers.erase(it);
  }

  DeviceConfig& config_;
  std::map<IpPrefix, PublicKey> owners_;
};

std::string ErrnoReply(int error_errno) { return "errno=" + std::to_string(error_errno) + "\n\n"; }

}  // namespace

Result<DeviceConfigChange> ParseSet(std::string_view request_body, int& error_errno) {
  return SetParser().Parse(request_body, error_errno);
}

Result<DeviceConfigChange> ParseSet(std::string_view request_body) {
  int error_errno = 0;
  return ParseSet(request_body, error_errno);
}

Status Apply(const DeviceConfigChange& change, DeviceConfig& config) {
  DeviceConfig next = config;
  CL_RETURN_IF_ERROR(Applier(next).Run(change));
  config = std::move(next);
  return Status::Ok();
}

std::string SerializeGet(const DeviceConfig& config) {
  std::string out;
  const auto line = [&out](std::string_view key, const std::string& value) {
    out.append(key).append("=").append(value).append("\n");
  };
  if (config.private_key) {
    out.append("private_key=");
    AppendHex(out, config.private_key->span());
    out.append("\n");
  }
  if (config.listen_port != 0) line("listen_port", std::to_string(config.listen_port));
  if (config.fwmark != 0) line("fwmark", std::to_string(config.fwmark));
  for (const auto& [key, peer] : config.peers) {
    out.append("public_key=");
    AppendHex(out, key);
    out.append("\npreshared_key=");
    AppendHex(out, peer.preshared_key ? peer.preshared_key->span() : PresharedKey().span());
    out.append("\nprotocol_version=1\n");
    if (peer.endpoint) line("endpoint", FormatEndpoint(*peer.endpoint));
    const int64_t nanos = std::max<int64_t>(peer.last_handshake_unix_nanos, 0);
    line("last_handshake_time_sec", std::to_string(nanos / 1'000'000'000));
    line("last_handshake_time_nsec", std::to_string(nanos % 1'000'000'000));
    line("tx_bytes", std::to_string(peer.tx_bytes));
    line("rx_bytes", std::to_string(peer.rx_bytes));
    line("persistent_keepalive_interval", std::to_string(peer.persistent_keepalive_interval));
    for (const IpPrefix& prefix : peer.allowed_ips) {
      line("allowed_ip", FormatIpPrefix(prefix));
    }
  }
  out.append(ErrnoReply(0));
  return out;
}

std::string UapiSession::Feed(std::string_view bytes) {
  std::string reply;
  if (closed_) return reply;
  buffer_.append(bytes);
  while (!closed_ && HandleOne(reply)) {
  }
  return reply;
}

bool UapiSession::HandleOne(std::string& reply) {
  if (buffer_.empty()) return false;
  const std::string_view buffered(buffer_);
  const std::string_view head = buffered.substr(0, kSetRequest.size());
  if (!kGetRequest.starts_with(head) && !kSetRequest.starts_with(head)) {
    closed_ = true;  // not a request wireguard-go knows: it drops the connection without a reply
    return false;
  }
  if (head.size() < kSetRequest.size()) return false;

  if (head == kGetRequest) {
    if (buffered.size() <= kGetRequest.size()) return false;
    if (buffered[kGetRequest.size()] != '\n') {
      reply += ErrnoReply(kUapiErrnoInvalid);
      closed_ = true;
      return false;
    }
    reply += SerializeGet(config_);
    buffer_.erase(0, kGetRequest.size() + 1);
    scanned_ = 0;
    return true;
  }

  // set: the body runs to the first empty line; "set=1\n\n" has an empty body.
  const size_t search_from = std::max(kSetRequest.size() - 1, scanned_ == 0 ? 0 : scanned_ - 1);
  const size_t end = buffered.find("\n\n", search_from);
  if (end == std::string_view::npos) {
    scanned_ = buffered.size();
    const size_t last_newline = buffered.rfind('\n');
    if (buffered.size() > kSetRequest.size() + kUapiMaxRequestBytes ||
        buffered.size() - last_newline - 1 > kUapiMaxLineLength) {
      reply += ErrnoReply(kUapiErrnoInvalid);
      closed_ = true;
    }
    return false;
  }
  const std::string_view body = buffered.substr(kSetRequest.size(), end + 1 - kSetRequest.size());
  if (body.size() > kUapiMaxRequestBytes) {  // arrived in one Feed, so the check above never saw it unterminated
    reply += ErrnoReply(kUapiErrnoInvalid);
    closed_ = true;
    return false;
  }
  int error_errno = 0;
  Result<DeviceConfigChange> change = ParseSet(body, error_errno);
  if (!change.ok()) {
    reply += ErrnoReply(error_errno);
  } else {
    reply += ErrnoReply(Apply(*change, config_).ok() ? 0 : kUapiErrnoInvalid);
  }
  buffer_.erase(0, end + 2);
  scanned_ = 0;
  return true;
}

Result<UapiDeviceStatus> ParseGetReply(std::string_view reply) {
  UapiDeviceStatus status;
  UapiPeerStatus* peer = nullptr;
  bool saw_errno = false;
  size_t pos = 0;
  while (pos < reply.size() && !saw_errno) {
    size_t end = reply.find('\n', pos);
    if (end == std::string_view::npos) end = reply.size();
    const std::string_view line = reply.substr(pos, end - pos);
    pos = end + 1;
    const size_t eq = line.find('=');
    if (eq == std::string_view::npos)
      return Error("uapi get reply: line without '=': " + std::string(line.substr(0, 40)));
    const std::string_view key = line.substr(0, eq);
    const std::string_view value = line.substr(eq + 1);
    const auto bad = [&] { return Error("uapi get reply: bad " + std::string(key)); };
    if (key == "errno") {
      const auto code = ParseUnsigned<uint32_t>(value);
      if (!code) return bad();
      if (*code != 0)
        return Error("uapi get failed: errno " + std::to_string(*code) + " (" + std::strerror(static_cast<int>(*code)) +
                     ")");
      saw_errno = true;
    } else if (key == "private_key") {
      PrivateKey private_key;
      if (!DecodeKey(value, private_key.span())) return bad();
      auto public_key = DerivePublicKey(private_key);  // the private key itself goes no further than this scope
      if (public_key.ok()) status.public_key = *public_key;
    } else if (key == "listen_port") {
      const auto port = ParseUnsigned<uint16_t>(value);
      if (!port) return bad();
      status.listen_port = *port;
    } else if (key == "fwmark") {
      const auto mark = ParseUnsigned<uint32_t>(value);
      if (!mark) return bad();
      status.fwmark = *mark;
    } else if (key == "public_key") {
      if (status.peers.size() >= kUapiMaxPeers)
        return Error("uapi get reply: more than " + std::to_string(kUapiMaxPeers) + " peers");
      peer = &status.peers.emplace_back();
      if (!DecodeKey(value, peer->public_key)) return bad();
    } else if (peer == nullptr) {
      continue;  // a device key this client does not know
    } else if (key == "preshared_key") {
      PresharedKey psk;
      if (!DecodeKey(value, psk.span())) return bad();
      peer->has_preshared_key = !std::all_of(psk.span().begin(), psk.span().end(), [](uint8_t b) { return b == 0; });
    } else if (key == "endpoint") {
      peer->endpoint = ParseEndpoint(value);
      if (!peer->endpoint) return bad();
    } else if (key == "allowed_ip") {
      const auto prefix = ParsePrefix(value);
      if (!prefix) return bad();
      peer->allowed_ips.push_back(*prefix);
    } else if (key == "last_handshake_time_sec") {
      const auto sec = ParseUnsigned<int64_t>(value);
      if (!sec) return bad();
      peer->last_handshake_unix_sec = *sec;
    } else if (key == "rx_bytes" || key == "tx_bytes") {
      const auto bytes = ParseUnsigned<uint64_t>(value);
      if (!bytes) return bad();
      (key == "rx_bytes" ? peer->rx_bytes : peer->tx_bytes) = *bytes;
    } else if (key == "persistent_keepalive_interval") {
      const auto seconds = ParseUnsigned<uint16_t>(value);
      if (!seconds) return bad();
      peer->persistent_keepalive = *seconds;
    }
  }
  if (!saw_errno) return Error("uapi get reply: truncated (no errno line)");
  return status;
}

}  // namespace cloudlet::vpn
