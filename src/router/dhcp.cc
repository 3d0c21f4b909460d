// DhcpServer: message parsing, address choice, the lease table and its JSON file. See dhcp.h for the scope.
#include "router/dhcp.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "base/fd.h"

namespace cloudlet::router {
namespace {

// BOOTP fixed header (RFC 2131 figure 1) offsets.
constexpr size_t kOp = 0, kHtype = 1, kHlen = 2, kXid = 4, kFlags = 10, kCiaddr = 12, kYiaddr = 16, kGiaddr = 24,
                 kChaddr = 28, kCookie = 236, kOptions = 240;
constexpr size_t kMinReply = 300;  // BOOTP minimum; some clients drop shorter replies
constexpr uint32_t kMagicCookie = 0x63825363;
constexpr uint16_t kBroadcastFlag = 0x8000;

enum : uint8_t {
  kDiscover = 1,
  kOffer = 2,
  kRequest = 3,
  kDecline = 4,
  kAck = 5,
  kNak = 6,
  kRelease = 7,
  kInform = 8,
};
enum : uint8_t {
  kOptPad = 0,
  kOptSubnetMask = 1,
  kOptRouter = 3,
  kOptDns = 6,
  kOptHostname = 12,
  kOptDomain = 15,
  kOptMtu = 26,
  kOptRequestedIp = 50,
  kOptLeaseTime = 51,
  kOptMessageType = 53,
  kOptServerId = 54,
  kOptT1 = 58,
  kOptT2 = 59,
  kOptEnd = 255,
};

constexpr size_t kMaxLeaseFileBytes = 16 << 20;

uint32_t Load32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | uint32_t{p[3]};
}
void Store32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}
uint32_t V4(const IpAddress& a) { return Load32(a.bytes.data()); }
uint32_t MaskOf(uint8_t len) { return len == 0 ? 0 : ~uint32_t{0} << (32 - len); }

std::string Printable(const uint8_t* p, size_t n) {
  std::string s;
  for (size_t i = 0; i < n; ++i) s.push_back(p[i] >= 0x20 && p[i] < 0x7f ? static_cast<char>(p[i]) : '?');
  return s;
}

// Appends one option; the caller has checked the room (replies are bounded well under kMinDhcpReplyCap).
uint8_t* PutOpt(uint8_t* p, uint8_t code, const void* data, size_t n) {
  p[0] = code;
  p[1] = static_cast<uint8_t>(n);
  std::memcpy(p + 2, data, n);
  return p + 2 + n;
}
uint8_t* PutOpt32(uint8_t* p, uint8_t code, uint32_t v) {
  uint8_t b[4];
  Store32(b, v);
  return PutOpt(p, code, b, 4);
}

Status WriteAll(int fd, const std::string& data, const std::string& what) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("write " + what);
    off += static_cast<size_t>(n);
  }
  return Status::Ok();
}

Error ReservationError(const MacAddr& mac, const IpAddress& addr, const std::string& why) {
  return Error("dhcp: reservation " + mac.to_string() + " -> " + FormatIpAddress(addr) + " " + why);
}

}  // namespace

// The parsed fields of one BOOTREQUEST that the server acts on.
struct DhcpServer::Request {
  const uint8_t* msg = nullptr;
  uint8_t type = 0;
  uint64_t mac = 0;
  uint32_t ciaddr = 0;
  uint32_t requested = 0;  // option 50, 0 = absent
  bool has_server_id = false;
  uint32_t server_id = 0;
  bool has_hostname = false;
  std::string hostname;
};

DhcpServer::DhcpServer(DhcpConfig config, std::string lease_file, std::function<int64_t()> unix_now)
    : config_(std::move(config)), lease_file_(std::move(lease_file)), unix_now_(std::move(unix_now)) {
  Rebuild();
}

Status DhcpServer::Validate(const DhcpConfig& c) {
  auto v4 = [](const IpAddress& a) { return a.family == IpAddress::Family::kV4; };
  if (!v4(c.subnet.address) || !v4(c.server) || !v4(c.range_lo) || !v4(c.range_hi))
    return Error("dhcp: subnet, server and range must be IPv4 addresses");
  if (c.subnet.length < 1 || c.subnet.length > 30)
    return Error("dhcp: subnet " + FormatIpPrefix(c.subnet) + " must be /1 to /30");
  const std::string sub = FormatIpPrefix(MaskedPrefix(c.subnet));
  if (!PrefixContains(c.subnet, c.server))
    return Error("dhcp: server address " + FormatIpAddress(c.server) + " is outside subnet " + sub);
  if (!PrefixContains(c.subnet, c.range_lo) || !PrefixContains(c.subnet, c.range_hi))
    return Error("dhcp: range " + FormatIpAddress(c.range_lo) + "-" + FormatIpAddress(c.range_hi) +
                 " is not inside subnet " + sub);
  if (V4(c.range_hi) < V4(c.range_lo))
    return Error("dhcp: range start " + FormatIpAddress(c.range_lo) + " is after its end " +
                 FormatIpAddress(c.range_hi));
  if (uint64_t{V4(c.range_hi)} - V4(c.range_lo) + 1 > kMaxDhcpPool)
    return Error("dhcp: range holds more than " + std::to_string(kMaxDhcpPool) + " addresses; use a smaller one");
  if (c.dns.size() > kMaxDhcpDnsServers)
    return Error("dhcp: at most " + std::to_string(kMaxDhcpDnsServers) + " DNS servers");
  for (const auto& d : c.dns)
    if (!v4(d)) return Error("dhcp: DNS server " + FormatIpAddress(d) + " is not IPv4");
  if (c.domain.size() > kMaxDhcpDomainLength)
    return Error("dhcp: domain is longer than " + std::to_string(kMaxDhcpDomainLength) + " bytes");
  if (c.lease_seconds < 60) return Error("dhcp: lease time must be at least 60 seconds");
  if (c.mtu != 0 && (c.mtu < 68 || c.mtu > 65535)) return Error("dhcp: MTU must be 68 to 65535 (or 0 for none)");
  for (size_t i = 0; i < c.reservations.size(); ++i) {
    const auto& [mac, addr] = c.reservations[i];
    if (!v4(addr) || !PrefixContains(c.subnet, addr)) return ReservationError(mac, addr, "is outside subnet " + sub);
    if (addr == c.server) return ReservationError(mac, addr, "is the server's own address");
    if (mac.is_multicast() || mac.is_zero()) return ReservationError(mac, addr, "has a MAC that is not unicast");
    for (size_t j = 0; j < i; ++j) {
      if (c.reservations[j].first == mac) return ReservationError(mac, addr, "repeats a reserved MAC");
      if (c.reservations[j].second == addr) return ReservationError(mac, addr, "repeats a reserved address");
    }
  }
  return Status::Ok();
}

void DhcpServer::Rebuild() {
  valid_ = Validate(config_).ok();
  res_by_mac_.clear();
  res_by_addr_.clear();
  if (!valid_) return;
  mask_ = MaskOf(config_.subnet.length);
  subnet_ = V4(config_.subnet.address) & mask_;
  server_ = V4(config_.server);
  lo_ = V4(config_.range_lo);
  hi_ = V4(config_.range_hi);
  for (const auto& [mac, addr] : config_.reservations) {
    res_by_mac_[mac.to_u64()] = V4(addr);
    res_by_addr_[V4(addr)] = mac.to_u64();
  }
}

bool DhcpServer::InPool(uint32_t a) const { return a >= lo_ && a <= hi_; }

bool DhcpServer::Reserved(uint32_t a, uint64_t* owner) const {
  auto it = res_by_addr_.find(a);
  if (it == res_by_addr_.end()) return false;
  *owner = it->second;
  return true;
}

bool DhcpServer::Assignable(uint64_t mac, uint32_t a, int64_t now) const {
  if ((a & mask_) != subnet_ || a == server_ || a == subnet_ || a == (subnet_ | ~mask_)) return false;
  uint64_t owner = 0;
  if (Reserved(a, &owner)) {
    if (owner != mac) return false;
  } else {
    auto res = res_by_mac_.find(mac);
    if (res != res_by_mac_.end()) return false;  // a client with a reservation gets only that address
    if (!InPool(a)) return false;
  }
  if (auto it = by_addr_.find(a); it != by_addr_.end() && it->second != mac) return false;
  if (auto it = declined_.find(a); it != declined_.end() && it->second > now) return false;
  return true;
}

uint32_t DhcpServer::Choose(uint64_t mac, const Request& req, int64_t now) const {
  if (auto res = res_by_mac_.find(mac); res != res_by_mac_.end())
    return Assignable(mac, res->second, now) ? res->second : 0;
  if (auto it = by_mac_.find(mac); it != by_mac_.end() && Assignable(mac, it->second.address, now))
    return it->second.address;
  if (req.requested != 0 && Assignable(mac, req.requested, now)) return req.requested;
  // Lowest free: walk the pool beside the (sorted) owned addresses. O(pool) worst case, bounded by kMaxDhcpPool.
  for (uint64_t a = lo_; a <= hi_; ++a)
    if (Assignable(mac, static_cast<uint32_t>(a), now)) return static_cast<uint32_t>(a);
  return 0;
}

void DhcpServer::Assign(uint64_t mac, uint32_t a, bool bound, int64_t expires, const std::string* hostname) {
  Entry& e = by_mac_[mac];
  if (e.address != 0 && e.address != a) by_addr_.erase(e.address);
  e.address = a;
  e.bound = bound;
  e.expires = expires;
  if (hostname) e.hostname = *hostname;
  by_addr_[a] = mac;
  if (next_expiry_ == 0 || expires < next_expiry_) next_expiry_ = expires;
}

void DhcpServer::Remove(uint64_t mac) {
  auto it = by_mac_.find(mac);
  if (it == by_mac_.end()) return;
  by_addr_.erase(it->second.address);
  by_mac_.erase(it);
}

void DhcpServer::MaybeExpire(int64_t now) {
  if (next_expiry_ != 0 && now >= next_expiry_) expire();
}

void DhcpServer::expire() {
  const int64_t now = unix_now_();
  bool freed_bound = false;
  next_expiry_ = 0;
  for (auto it = by_mac_.begin(); it != by_mac_.end();) {
    if (it->second.expires <= now) {
      freed_bound |= it->second.bound;
      by_addr_.erase(it->second.address);
      it = by_mac_.erase(it);
      continue;
    }
    if (next_expiry_ == 0 || it->second.expires < next_expiry_) next_expiry_ = it->second.expires;
    ++it;
  }
  for (auto it = declined_.begin(); it != declined_.end();) {
    if (it->second <= now) {
      it = declined_.erase(it);
      continue;
    }
    if (next_expiry_ == 0 || it->second < next_expiry_) next_expiry_ = it->second;
    ++it;
  }
  if (freed_bound) Save();
}

size_t DhcpServer::Drop() {
  ++dropped_;
  return 0;
}

size_t DhcpServer::handle(const uint8_t* msg, size_t len, uint8_t* out, size_t cap, DhcpReplyTo* to) {
  DhcpReplyTo unused;
  if (to == nullptr) to = &unused;
  if (!valid_ || msg == nullptr || len < kOptions || len > kMaxDhcpMessage) return Drop();
  if (msg[kOp] != 1 || msg[kHtype] != 1 || msg[kHlen] != 6) return Drop();  // BOOTREQUEST over Ethernet only
  if (Load32(msg + kCookie) != kMagicCookie) return Drop();
  if (Load32(msg + kGiaddr) != 0) return Drop();  // relayed: not supported

  Request req;
  req.msg = msg;
  req.mac = LoadMac48(msg + kChaddr);
  req.ciaddr = Load32(msg + kCiaddr);
  if (req.mac == 0 || IsMulticastMac48(req.mac)) return Drop();
  // Options: bounds-checked TLVs up to End. Overload (52) is ignored: sname/file are never read as options.
  for (size_t off = kOptions; off < len;) {
    const uint8_t code = msg[off];
    if (code == kOptPad) {
      ++off;
      continue;
    }
    if (code == kOptEnd) break;
    if (off + 2 > len || off + 2 + msg[off + 1] > len) return Drop();  // runs off the end
    const uint8_t n = msg[off + 1];
    const uint8_t* v = msg + off + 2;
    switch (code) {
      case kOptMessageType:
        if (n != 1) return Drop();
        req.type = v[0];
        break;
      case kOptRequestedIp:
        if (n != 4) return Drop();
        req.requested = Load32(v);
        break;
      case kOptServerId:
        if (n != 4) return Drop();
        req.has_server_id = true;
        req.server_id = Load32(v);
        break;
      case kOptHostname:
        req.has_hostname = n > 0;
        req.hostname = Printable(v, n);
        break;
      default:
        break;
    }
    off += 2 + n;
  }

  const int64_t now = unix_now_();
  MaybeExpire(now);
  switch (req.type) {
    case kDiscover:
      return OnDiscover(req, now, out, cap, to);
    case kRequest:
      return OnRequest(req, now, out, cap, to);
    case kInform:
      return OnInform(req, out, cap, to);
    case kDecline: {
      if (req.has_server_id && req.server_id != server_) return Drop();
      auto it = by_mac_.find(req.mac);
      if (it == by_mac_.end() || it->second.address != req.requested) return Drop();
      const bool was_bound = it->second.bound;
      // Someone else answers ARP for this address: keep it out of use for a while (RFC 2131 4.3.3).
      declined_[req.requested] = now + kDhcpDeclineSeconds;
      if (next_expiry_ == 0 || now + kDhcpDeclineSeconds < next_expiry_) next_expiry_ = now + kDhcpDeclineSeconds;
      Remove(req.mac);
      if (was_bound) Save();
      return 0;
    }
    case kRelease: {
      if (req.has_server_id && req.server_id != server_) return Drop();
      auto it = by_mac_.find(req.mac);
      if (it == by_mac_.end() || it->second.address != req.ciaddr) return Drop();
      Remove(req.mac);
      Save();
      return 0;
    }
    default:
      return Drop();  // missing (BOOTP) or a server-to-client type
  }
}

size_t DhcpServer::OnDiscover(const Request& req, int64_t now, uint8_t* out, size_t cap, DhcpReplyTo* to) {
  const uint32_t a = Choose(req.mac, req, now);
  if (a == 0) return Drop();  // pool exhausted (or the reserved address was declined)
  auto it = by_mac_.find(req.mac);
  const bool keep_bound = it != by_mac_.end() && it->second.bound && it->second.address == a;
  if (!keep_bound)
    Assign(req.mac, a, /*bound=*/false, now + kDhcpOfferSeconds, req.has_hostname ? &req.hostname : nullptr);
  const size_t n = Reply(req, kOffer, 0, a, /*with_lease=*/true, out, cap);
  if (n == 0) return Drop();
  // RFC 2131 4.1: ciaddr is 0 here, so broadcast if the client asked for it, else unicast to yiaddr at chaddr.
  const bool bcast = LoadBe16(req.msg + kFlags) & kBroadcastFlag;
  *to = bcast ? DhcpReplyTo{true, IpAddress::V4(0xffffffff), MacAddr::Broadcast()}
              : DhcpReplyTo{false, IpAddress::V4(a), MacAddr::FromU64(req.mac)};
  return n;
}

size_t DhcpServer::OnRequest(const Request& req, int64_t now, uint8_t* out, size_t cap, DhcpReplyTo* to) {
  auto it = by_mac_.find(req.mac);
  if (req.has_server_id) {
    if (req.server_id != server_) {
      // SELECTING another server's offer: withdraw ours.
      if (it != by_mac_.end() && !it->second.bound) Remove(req.mac);
      return Drop();
    }
    // SELECTING: ciaddr 0, the offered address in option 50.
    if (req.requested == 0) return Drop();
    if (!Assignable(req.mac, req.requested, now)) return Nak(req, out, cap, to);
    return Ack(req, req.requested, now, out, cap, to);
  }
  if (req.ciaddr == 0) {
    // INIT-REBOOT: the client asks to keep an address it had.
    if (req.requested == 0) return Drop();
    if ((req.requested & mask_) != subnet_) return Nak(req, out, cap, to);
    const auto res = res_by_mac_.find(req.mac);
    const bool known = it != by_mac_.end() || res != res_by_mac_.end();
    const uint32_t ours = res != res_by_mac_.end() ? res->second : (it != by_mac_.end() ? it->second.address : 0);
    if (known) {
      if (ours != req.requested || !Assignable(req.mac, req.requested, now)) return Nak(req, out, cap, to);
      return Ack(req, req.requested, now, out, cap, to);
    }
    uint64_t owner = 0;
    if (by_addr_.count(req.requested) || Reserved(req.requested, &owner)) return Nak(req, out, cap, to);
    return Drop();  // we know nothing about this client: stay silent (RFC 2131 4.3.2)
  }
  // RENEWING (unicast) / REBINDING (broadcast): ciaddr is the client's address. A client we lost track of (lease
  // file gone) may keep a free pool address.
  if ((req.ciaddr & mask_) != subnet_ || !Assignable(req.mac, req.ciaddr, now)) return Nak(req, out, cap, to);
  return Ack(req, req.ciaddr, now, out, cap, to);
}

size_t DhcpServer::Ack(const Request& req, uint32_t a, int64_t now, uint8_t* out, size_t cap, DhcpReplyTo* to) {
  const size_t n = Reply(req, kAck, req.ciaddr, a, /*with_lease=*/true, out, cap);
  if (n == 0) return Drop();
  Assign(req.mac, a, /*bound=*/true, now + config_.lease_seconds, req.has_hostname ? &req.hostname : nullptr);
  Save();
  const bool bcast = LoadBe16(req.msg + kFlags) & kBroadcastFlag;
  if (req.ciaddr != 0)
    *to = DhcpReplyTo{false, IpAddress::V4(req.ciaddr), MacAddr::FromU64(req.mac)};
  else if (bcast)
    *to = DhcpReplyTo{true, IpAddress::V4(0xffffffff), MacAddr::Broadcast()};
  else
    *to = DhcpReplyTo{false, IpAddress::V4(a), MacAddr::FromU64(req.mac)};
  return n;
}

size_t DhcpServer::Nak(const Request& req, uint8_t* out, size_t cap, DhcpReplyTo* to) {
  const size_t n = Reply(req, kNak, 0, 0, /*with_lease=*/false, out, cap);
  if (n == 0) return Drop();
  // A NAK'd client drops its address: forget what we held for it so its next DISCOVER starts clean.
  if (auto it = by_mac_.find(req.mac); it != by_mac_.end() && !it->second.bound) Remove(req.mac);
  *to = DhcpReplyTo{true, IpAddress::V4(0xffffffff), MacAddr::Broadcast()};  // RFC 2131 4.1: NAKs are broadcast
  return n;
}

size_t DhcpServer::OnInform(const Request& req, uint8_t* out, size_t cap, DhcpReplyTo* to) {
  if (req.ciaddr == 0 || (req.ciaddr & mask_) != subnet_) return Drop();
  const size_t n = Reply(req, kAck, req.ciaddr, 0, /*with_lease=*/false, out, cap);
  if (n == 0) return Drop();
  *to = DhcpReplyTo{false, IpAddress::V4(req.ciaddr), MacAddr::FromU64(req.mac)};
  return n;
}

size_t DhcpServer::Reply(const Request& req, uint8_t type, uint32_t ciaddr, uint32_t yiaddr, bool with_lease,
                         uint8_t* out, size_t cap) const {
  if (out == nullptr || cap < kMinDhcpReplyCap) return 0;  // the longest reply fits in 576 bytes (checked below)
  std::memset(out, 0, kMinReply);
  out[kOp] = 2;
  out[kHtype] = 1;
  out[kHlen] = 6;
  std::memcpy(out + kXid, req.msg + kXid, 4);
  std::memcpy(out + kFlags, req.msg + kFlags, 2);
  Store32(out + kCiaddr, ciaddr);
  Store32(out + kYiaddr, yiaddr);
  std::memcpy(out + kChaddr, req.msg + kChaddr, 16);
  Store32(out + kCookie, kMagicCookie);
  uint8_t* p = out + kOptions;
  p = PutOpt(p, kOptMessageType, &type, 1);
  p = PutOpt32(p, kOptServerId, server_);
  if (type != kNak) {
    if (with_lease) {
      const uint32_t lease = config_.lease_seconds;
      p = PutOpt32(p, kOptLeaseTime, lease);
      p = PutOpt32(p, kOptT1, lease / 2);
      p = PutOpt32(p, kOptT2, static_cast<uint32_t>(uint64_t{lease} * 7 / 8));
    }
    p = PutOpt32(p, kOptSubnetMask, mask_);
    p = PutOpt32(p, kOptRouter, server_);
    if (!config_.dns.empty()) {
      uint8_t b[4 * kMaxDhcpDnsServers];
      for (size_t i = 0; i < config_.dns.size(); ++i) std::memcpy(b + 4 * i, config_.dns[i].bytes.data(), 4);
      p = PutOpt(p, kOptDns, b, 4 * config_.dns.size());
    }
    if (!config_.domain.empty()) p = PutOpt(p, kOptDomain, config_.domain.data(), config_.domain.size());
    if (config_.mtu != 0) {
      uint8_t b[2];
      StoreBe16(b, static_cast<uint16_t>(config_.mtu));
      p = PutOpt(p, kOptMtu, b, 2);
    }
  }
  *p++ = kOptEnd;
  // Validate() bounds DNS (8) and domain (255): 240 + 3+6+18+12+34+257+4+1 = 575 bytes at most.
  const size_t n = static_cast<size_t>(p - out);
  if (n < kMinReply) return kMinReply;  // zero padding after End (already cleared)
  return n;
}

std::vector<DhcpLease> DhcpServer::leases() const {
  std::vector<DhcpLease> v;
  v.reserve(by_addr_.size());
  for (const auto& [addr, mac] : by_addr_) {
    const Entry& e = by_mac_.at(mac);
    v.push_back(DhcpLease{MacAddr::FromU64(mac), IpAddress::V4(addr), e.expires, e.hostname, e.bound});
  }
  return v;
}

void DhcpServer::Save() {
  if (lease_file_.empty()) return;
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& [addr, mac] : by_addr_) {
    const Entry& e = by_mac_.at(mac);
    if (!e.bound) continue;
    arr.push_back({{"mac", MacAddr::FromU64(mac).to_string()},
                   {"address", FormatIpAddress(IpAddress::V4(addr))},
                   {"expires", e.expires},
                   {"hostname", e.hostname}});
  }
  const std::string data = nlohmann::json{{"version", 1}, {"leases", std::move(arr)}}.dump(1) + "\n";
  const std::string tmp = lease_file_ + ".tmp";
  save_status_ = [&]() -> Status {
    {
      UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
      if (!fd.valid()) return ErrnoError("cannot write DHCP lease file " + tmp);
      if (::fchmod(fd.get(), 0644) != 0) return ErrnoError("chmod " + tmp);
      CL_RETURN_IF_ERROR(WriteAll(fd.get(), data, tmp));
      if (::fsync(fd.get()) != 0) return ErrnoError("fsync " + tmp);
    }
    if (::rename(tmp.c_str(), lease_file_.c_str()) != 0) return ErrnoError("rename " + tmp + " to " + lease_file_);
    const size_t slash = lease_file_.rfind('/');
    const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : lease_file_.substr(0, slash);
    UniqueFd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (d.valid()) (void)::fsync(d.get());  // makes the rename durable; best effort
    return Status::Ok();
  }();
  if (!save_status_.ok()) spdlog::warn("dhcp: {}", save_status_.message());
}

Status DhcpServer::load() {
  if (Status st = Validate(config_); !st.ok()) return st;
  if (lease_file_.empty()) return Status::Ok();
  UniqueFd fd(::open(lease_file_.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return Status::Ok();
    return ErrnoError("cannot read DHCP lease file " + lease_file_);
  }
  std::string data;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("cannot read DHCP lease file " + lease_file_);
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
    if (data.size() > kMaxLeaseFileBytes) return Error("DHCP lease file " + lease_file_ + " is larger than 16 MiB");
  }
  const std::string advice = " (left in place; fix or remove it: clients then get fresh addresses)";
  auto corrupt = [&](const std::string& why) {
    return Error("DHCP lease file " + lease_file_ + " is corrupt: " + why + advice);
  };
  auto j = nlohmann::json::parse(data, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return corrupt("not valid JSON");
  if (!j.is_object() || !j.contains("version") || j["version"] != 1) return corrupt("expected {\"version\": 1, ...}");
  if (!j.contains("leases") || !j["leases"].is_array()) return corrupt("\"leases\" is not a list");
  struct Parsed {
    uint64_t mac;
    uint32_t addr;
    int64_t expires;
    std::string hostname;
  };
  std::vector<Parsed> parsed;
  size_t i = 0;
  for (const auto& l : j["leases"]) {
    const std::string where = "leases[" + std::to_string(i++) + "]";
    if (!l.is_object() || !l.contains("mac") || !l["mac"].is_string() || !l.contains("address") ||
        !l["address"].is_string() || !l.contains("expires") || !l["expires"].is_number_integer())
      return corrupt(where + " needs string \"mac\", string \"address\" and integer \"expires\"");
    auto mac = MacAddr::Parse(l["mac"].get<std::string>());
    auto addr = ParseIpAddress(l["address"].get<std::string>());
    if (!mac || !addr) return corrupt(where + " has a malformed mac or address");
    std::string host;
    if (l.contains("hostname") && l["hostname"].is_string()) {
      const std::string h = l["hostname"].get<std::string>();
      host = Printable(reinterpret_cast<const uint8_t*>(h.data()), std::min<size_t>(h.size(), 255));
    }
    if (addr->family != IpAddress::Family::kV4) continue;
    parsed.push_back({mac->to_u64(), V4(*addr), l["expires"].get<int64_t>(), std::move(host)});
  }
  // Only now (the whole file is good) touch the table.
  const int64_t now = unix_now_();
  for (const auto& p : parsed) {
    if (p.expires <= now || p.mac == 0 || IsMulticastMac48(p.mac) || by_mac_.count(p.mac)) continue;
    if (!Assignable(p.mac, p.addr, now)) continue;  // outside the pool/subnet, or someone else's
    Assign(p.mac, p.addr, /*bound=*/true, p.expires, &p.hostname);
  }
  return Status::Ok();
}

Status DhcpServer::reconfigure(DhcpConfig config) {
  CL_RETURN_IF_ERROR(Validate(config));
  config_ = std::move(config);
  Rebuild();
  const int64_t now = unix_now_();
  std::map<uint64_t, Entry> old;
  old.swap(by_mac_);
  by_addr_.clear();
  next_expiry_ = 0;
  bool changed = false;
  for (auto& [mac, e] : old) {
    if (e.expires <= now || !Assignable(mac, e.address, now)) {
      changed |= e.bound;
      continue;
    }
    Assign(mac, e.address, e.bound, e.expires, &e.hostname);
  }
  for (const auto& [a, until] : declined_)
    if (next_expiry_ == 0 || until < next_expiry_) next_expiry_ = until;
  if (changed) Save();
  return Status::Ok();
}

}  // namespace cloudlet::router
