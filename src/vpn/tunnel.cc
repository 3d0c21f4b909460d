// The event loop of one WireGuard interface: TUN <-> Device <-> UDP, plus the UAPI socket. See tunnel.h.
#include "vpn/tunnel.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <deque>
#include <future>
#include <mutex>
#include <vector>

#include "net/packet.h"
#include "vpn/device.h"
#include "vpn/offload.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

namespace cloudlet::vpn {
namespace {

constexpr size_t kVnetLen = sizeof(VnetHdr);
constexpr size_t kMaxUapiConnections = 16;
constexpr size_t kRxSlots = 8;               // recvmmsg batch; each slot takes one GRO'd burst
constexpr size_t kRxSlotBytes = 65536;       // the largest UDP payload (or GRO burst) the kernel hands over
constexpr size_t kMaxGsoBytes = 65000;       // one UDP GSO send stays under the 64 KiB IP limit
constexpr size_t kMaxSegments = 256;         // per TUN super-packet (64 KiB / MSS, MSS >= 256)
constexpr size_t kTxBufBytes = 256 * 1024;   // >= segments * stride for any super-packet that fits kMaxSegments
constexpr size_t kCoalescerCapacity = 4096;  // decrypted packets per TUN flush
constexpr int kMaxReadsPerWake = 64;         // fairness between TUN, UDP and the control socket
constexpr uint64_t kTagTun = 1, kTagUdp = 2, kTagListen = 3, kTagStop = 4, kTagCommand = 5, kTagConn = 100;

Nanos MonotonicNow() { return MonotonicClock().now(); }

int64_t UnixNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Indices and timer jitter. Drawn from a per-thread pool refilled from the CSPRNG: the timers ask for jitter on
// almost every packet of a bidirectional flow, and one getrandom() per packet shows up in profiles.
uint64_t SecureRandom() {
  thread_local std::array<uint64_t, 256> pool;
  thread_local size_t next = pool.size();
  if (next == pool.size()) {
    RandomBytes(MutableBytes(reinterpret_cast<uint8_t*>(pool.data()), sizeof pool));
    next = 0;
  }
  const uint64_t v = pool[next];
  pool[next++] = 0;
  return v;
}

sockaddr_in6 ToSockaddr(const UdpEndpoint& ep) {
  sockaddr_in6 sa{};
  sa.sin6_family = AF_INET6;
  sa.sin6_port = htons(ep.port);
  if (ep.address.family == IpAddress::Family::kV4) {
    sa.sin6_addr.s6_addr[10] = 0xff;
    sa.sin6_addr.s6_addr[11] = 0xff;
    std::memcpy(&sa.sin6_addr.s6_addr[12], ep.address.bytes.data(), 4);
  } else {
    std::memcpy(&sa.sin6_addr, ep.address.bytes.data(), 16);
  }
  return sa;
}

UdpEndpoint FromSockaddr(const sockaddr_in6& sa) {
  UdpEndpoint ep;
  ep.port = ntohs(sa.sin6_port);
  if (IN6_IS_ADDR_V4MAPPED(&sa.sin6_addr)) {
    const uint8_t* b = &sa.sin6_addr.s6_addr[12];
    ep.address = IpAddress::V4(b[0], b[1], b[2], b[3]);
  } else {
    ep.address.family = IpAddress::Family::kV6;
    std::memcpy(ep.address.bytes.data(), &sa.sin6_addr, 16);
  }
  return ep;
}

Result<UniqueFd> OpenTun(const std::string& name, bool offload) {
  if (name.empty() || name.size() >= IFNAMSIZ) return Error("vpn: interface name must be 1-15 characters");
  UniqueFd fd(::open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK));
  if (!fd.valid()) return ErrnoError("vpn: open /dev/net/tun");
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, name.data(), name.size());
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI | IFF_VNET_HDR;
  if (::ioctl(fd.get(), TUNSETIFF, &ifr) < 0) return ErrnoError("vpn: create TUN " + name);
  int vnet_size = kVnetLen;
  if (::ioctl(fd.get(), TUNSETVNETHDRSZ, &vnet_size) < 0) return ErrnoError("vpn: TUNSETVNETHDRSZ");
  // With offload the kernel hands over 64 KiB TCP segments with partial checksums; we segment them ourselves.
  const unsigned flags = offload ? (TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) : 0;
  if (::ioctl(fd.get(), TUNSETOFFLOAD, flags) < 0) return ErrnoError("vpn: TUNSETOFFLOAD");
  return fd;
}

Status SetMtu(const std::string& name, int mtu) {
  UniqueFd ctl(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!ctl.valid()) return ErrnoError("vpn: control socket");
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, name.data(), name.size());
  ifr.ifr_mtu = mtu;
  if (::ioctl(ctl.get(), SIOCSIFMTU, &ifr) < 0) return ErrnoError("vpn: set MTU " + std::to_string(mtu));
  return Status::Ok();
}

// The IP length of the largest segment a TUN read turns into: the packet itself, or for TSO the IP and TCP headers
// plus gso_size. Computed from the headers: the virtio hdr_len the kernel fills in is not reliable for TUN.
// SegmentTunPacket validates everything again; here a bad header just yields a size it will refuse.
size_t SegmentIpLength(const VnetHdr& hdr, const uint8_t* p, size_t len) {
  if (hdr.gso_type == VnetHdr::kGsoNone || len < 1) return std::min<size_t>(len, 65535);
  const size_t ip_hdr = (p[0] >> 4) == 4 ? size_t{p[0] & 0x0fu} * 4 : 40;
  if (len < ip_hdr + 20) return std::min<size_t>(len, 65535);
  const size_t tcp_hdr = static_cast<size_t>(p[ip_hdr + 12] >> 4) * 4;
  return std::min<size_t>(ip_hdr + tcp_hdr + hdr.gso_size, 65535);
}

}  // namespace

struct Tunnel::Impl : DeviceSink {
  TunnelOptions options;
  std::string uapi_path;
  UniqueFd tun, udp, listener, epoll, stop, command;
  // Configure() from another thread while Run() loops: the change is queued and applied by the loop thread, which
  // alone touches the Device.
  struct PendingChange {
    const DeviceConfigChange* change;
    std::promise<Status> done;
  };
  std::mutex command_mu;
  std::deque<PendingChange*> commands;  // guarded by command_mu
  bool looping = false;                 // guarded by command_mu
  uint16_t bound_port = 0;
  uint32_t bound_fwmark = 0;
  bool gro = false;
  std::unique_ptr<Device> device;
  DeviceConfig config;  // what `wg` sees and edits; the device follows it after each change
  struct Conn {
    UniqueFd fd;
    std::unique_ptr<UapiSession> session;
  };
  std::array<Conn, kMaxUapiConnections> conns;

  // Buffers, allocated once.
  std::vector<uint8_t> tun_buf = std::vector<uint8_t>(kVnetLen + 65535);
  std::vector<uint8_t> tx_buf;  // segments laid out at a fixed stride, sealed in place
  std::vector<uint8_t> rx_buf = std::vector<uint8_t>(kRxSlots * kRxSlotBytes);
  std::array<size_t, kMaxSegments> seg_lens{};
  TcpCoalescer coalescer{kCoalescerCapacity};

  // DeviceSink: handshake messages, keepalives and flushed staged packets, sent at once.
  void SendDatagram(const UdpEndpoint& to, ByteView bytes) override {
    const sockaddr_in6 sa = ToSockaddr(to);
    if (::sendto(udp.get(), bytes.data(), bytes.size(), MSG_DONTWAIT, reinterpret_cast<const sockaddr*>(&sa),
                 sizeof sa) < 0) {
      spdlog::debug("vpn {}: sendto: {}", options.name, std::strerror(errno));
    }
  }

  Status BindUdp(uint16_t port);
  Status ApplyChange(const DeviceConfigChange& change);
  void RunCommands();
  void EndLoop();
  Status ApplySocketChanges();
  void AfterConfigChange(Nanos now);
  Status EpollAdd(int fd, uint64_t tag);

  bool HandleTun(Nanos now);  // false when the interface is gone
  void SendSealed(const UdpEndpoint& to, uint8_t* base, size_t stride, const size_t* lens, size_t count);
  void HandleUdp(Nanos now);
  void FlushDeliveries();
  void Accept();
  void HandleConn(size_t slot, Nanos now);
};

Status Tunnel::Impl::EpollAdd(int fd, uint64_t tag) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = tag;
  if (::epoll_ctl(epoll.get(), EPOLL_CTL_ADD, fd, &ev) < 0) return ErrnoError("vpn: epoll_ctl");
  return Status::Ok();
}

Status Tunnel::Impl::BindUdp(uint16_t port) {
  UniqueFd fd(::socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return ErrnoError("vpn: UDP socket");
  int off = 0;
  if (::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off) < 0) return ErrnoError("vpn: IPV6_V6ONLY");
  // Deep buffers absorb bursts of 64 KiB GSO sends; FORCE works as root, the plain call caps at rmem_max otherwise.
  int bytes = 8 << 20;
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes) < 0) {
    (void)::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
  }
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_SNDBUFFORCE, &bytes, sizeof bytes) < 0) {
    (void)::setsockopt(fd.get(), SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes);
  }
  sockaddr_in6 sa{};
  sa.sin6_family = AF_INET6;
  sa.sin6_addr = in6addr_any;
  sa.sin6_port = htons(port);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) {
    return ErrnoError("vpn: bind UDP port " + std::to_string(port));
  }
  socklen_t len = sizeof sa;
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&sa), &len) < 0) return ErrnoError("vpn: getsockname");
  int on = 1;
  gro = options.offload && ::setsockopt(fd.get(), SOL_UDP, UDP_GRO, &on, sizeof on) == 0;
  if (bound_fwmark != 0 && ::setsockopt(fd.get(), SOL_SOCKET, SO_MARK, &bound_fwmark, sizeof bound_fwmark) < 0) {
    return ErrnoError("vpn: SO_MARK");
  }
  if (udp.valid()) (void)::epoll_ctl(epoll.get(), EPOLL_CTL_DEL, udp.get(), nullptr);
  udp = std::move(fd);
  bound_port = ntohs(sa.sin6_port);
  return EpollAdd(udp.get(), kTagUdp);
}

Status Tunnel::Impl::ApplySocketChanges() {
  if (config.fwmark != bound_fwmark) {
    bound_fwmark = config.fwmark;
    if (::setsockopt(udp.get(), SOL_SOCKET, SO_MARK, &bound_fwmark, sizeof bound_fwmark) < 0) {
      return ErrnoError("vpn: SO_MARK");
    }
  }
  if (config.listen_port != 0 && config.listen_port != bound_port) CL_RETURN_IF_ERROR(BindUdp(config.listen_port));
  return Status::Ok();
}

void Tunnel::Impl::AfterConfigChange(Nanos now) {
  if (Status s = ApplySocketChanges(); !s.ok()) spdlog::error("vpn {}: {}", options.name, s.error().message());
  config.listen_port = bound_port;  // `wg show` reports the port actually bound, as wireguard-go does
  device->Sync(config, now, *this);
}

// --- TUN -> peers ----------------------------------------------------------------------------------------------

bool Tunnel::Impl::HandleTun(Nanos now) {
  for (int reads = 0; reads < kMaxReadsPerWake; ++reads) {
    const ssize_t n = ::read(tun.get(), tun_buf.data(), tun_buf.size());
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) return true;
      spdlog::info("vpn {}: TUN read: {} (interface removed?)", options.name, std::strerror(errno));
      return false;
    }
    if (static_cast<size_t>(n) <= kVnetLen) continue;
    VnetHdr hdr;
    std::memcpy(&hdr, tun_buf.data(), kVnetLen);
    uint8_t* packet = tun_buf.data() + kVnetLen;
    const size_t len = static_cast<size_t>(n) - kVnetLen;

    // Route once for all segments: they share the destination.
    const auto peer = device->RouteOutbound(packet, len);
    if (!peer) {
      device->CountDrop(ParseIpHeader(packet, len) ? DeviceDrop::kNoPeerForDestination : DeviceDrop::kMalformedPacket);
      continue;
    }
    const size_t stride = SealedSize(SegmentIpLength(hdr, packet, len));
    auto segments =
        SegmentTunPacket(hdr, ByteView(packet, len),
                         SegmentArea{MutableBytes(tx_buf), stride, kTransportHeaderSize, std::span<size_t>(seg_lens)});
    if (!segments.ok()) {
      spdlog::debug("vpn {}: TUN packet dropped: {}", options.name, segments.error().message());
      continue;
    }
    size_t sealed = 0;
    std::array<size_t, kMaxSegments> msg_lens{};
    for (size_t i = 0; i < *segments; ++i) {
      uint8_t* slot = tx_buf.data() + i * stride;
      const Sealed s = device->SealForPeer(*peer, slot, stride, seg_lens[i], now, *this);
      if (s.kind != Sealed::Kind::kSend) continue;  // staged (handshake pending) or dropped: counted there
      if (sealed != i) std::memmove(tx_buf.data() + sealed * stride, slot, s.message_len);
      msg_lens[sealed++] = s.message_len;
    }
    if (sealed == 0) continue;
    if (auto to = device->endpoint(*peer)) SendSealed(*to, tx_buf.data(), stride, msg_lens.data(), sealed);
  }
  return true;
}

// Sends `count` messages laid out at `stride`: with UDP GSO as few large sends as the 64 KiB limit allows (every
// message but the last of a send must fill the stride), else one sendmsg each.
void Tunnel::Impl::SendSealed(const UdpEndpoint& to, uint8_t* base, size_t stride, const size_t* lens, size_t count) {
  sockaddr_in6 sa = ToSockaddr(to);
  size_t i = 0;
  while (i < count) {
    size_t n = 1;
    size_t bytes = lens[i];
    if (options.offload) {
      while (i + n < count && lens[i + n - 1] == stride && bytes + lens[i + n] <= kMaxGsoBytes) {
        bytes += lens[i + n];
        ++n;
      }
    }
    iovec iov{base + i * stride, bytes};
    msghdr msg{};
    msg.msg_name = &sa;
    msg.msg_namelen = sizeof sa;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(uint16_t))] = {};
    if (n > 1) {
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      cmsghdr* cm = CMSG_FIRSTHDR(&msg);
      cm->cmsg_level = SOL_UDP;
      cm->cmsg_type = UDP_SEGMENT;
      cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
      const uint16_t gso = static_cast<uint16_t>(stride);
      std::memcpy(CMSG_DATA(cm), &gso, sizeof gso);
    }
    if (::sendmsg(udp.get(), &msg, 0) < 0) {
      if (errno == EIO && n > 1) {
        // No GSO on this path (e.g. the route's device lacks it): fall back to one datagram per message.
        options.offload = false;
        continue;
      }
      spdlog::debug("vpn {}: sendmsg: {}", options.name, std::strerror(errno));
    }
    i += n;
  }
}

// --- peers -> TUN ----------------------------------------------------------------------------------------------

void Tunnel::Impl::HandleUdp(Nanos now) {
  std::array<mmsghdr, kRxSlots> msgs{};
  std::array<iovec, kRxSlots> iovs{};
  std::array<sockaddr_in6, kRxSlots> names{};
  alignas(cmsghdr) char control[kRxSlots][CMSG_SPACE(sizeof(int))];
  for (int round = 0; round < kMaxReadsPerWake / 8; ++round) {
    for (size_t i = 0; i < kRxSlots; ++i) {
      iovs[i] = {rx_buf.data() + i * kRxSlotBytes, kRxSlotBytes};
      msgs[i].msg_hdr = {};
      msgs[i].msg_hdr.msg_name = &names[i];
      msgs[i].msg_hdr.msg_namelen = sizeof names[i];
      msgs[i].msg_hdr.msg_iov = &iovs[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_control = control[i];
      msgs[i].msg_hdr.msg_controllen = sizeof control[i];
    }
    const int n = ::recvmmsg(udp.get(), msgs.data(), kRxSlots, MSG_DONTWAIT, nullptr);
    if (n <= 0) return;
    for (int i = 0; i < n; ++i) {
      const size_t len = msgs[i].msg_len;
      size_t segment = len;
      for (cmsghdr* cm = CMSG_FIRSTHDR(&msgs[i].msg_hdr); cm; cm = CMSG_NXTHDR(&msgs[i].msg_hdr, cm)) {
        if (cm->cmsg_level == SOL_UDP && cm->cmsg_type == UDP_GRO) {
          int gso = 0;
          std::memcpy(&gso, CMSG_DATA(cm), sizeof gso);
          if (gso > 0) segment = static_cast<size_t>(gso);
        }
      }
      const UdpEndpoint from = FromSockaddr(names[i]);
      uint8_t* base = rx_buf.data() + i * kRxSlotBytes;
      for (size_t off = 0; off < len; off += segment) {
        const size_t seg_len = std::min(segment, len - off);
        const Received r = device->Receive(base + off, seg_len, from, now, *this);
        if (r.kind != Received::Kind::kDeliver) continue;
        if (coalescer.full()) FlushDeliveries();
        (void)coalescer.Add(std::span<uint8_t>(r.packet, r.packet_len));  // a malformed TCP header is dropped
      }
    }
    // Delivered packets live in rx_buf: write them before the next recvmmsg reuses it.
    FlushDeliveries();
    if (static_cast<size_t>(n) < kRxSlots) return;
  }
}

void Tunnel::Impl::FlushDeliveries() {
  for (const CoalescedPacket& p : coalescer.Finish()) {
    if (::writev(tun.get(), p.iov, static_cast<int>(p.iov_count)) < 0) {
      spdlog::debug("vpn {}: TUN write: {}", options.name, std::strerror(errno));
    }
  }
  coalescer.Reset();
}

// --- UAPI ------------------------------------------------------------------------------------------------------

void Tunnel::Impl::Accept() {
  for (int i = 0; i < 8; ++i) {
    UniqueFd fd(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!fd.valid()) return;
    auto slot = std::find_if(conns.begin(), conns.end(), [](const Conn& c) { return !c.fd.valid(); });
    if (slot == conns.end()) continue;  // too many clients: this one is closed
    // Replies are written with a timeout: a client that does not read cannot stall the data plane for long.
    timeval tv{1, 0};
    (void)::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    const size_t index = static_cast<size_t>(slot - conns.begin());
    if (!EpollAdd(fd.get(), kTagConn + index).ok()) continue;
    slot->fd = std::move(fd);
    slot->session = std::make_unique<UapiSession>(config);
  }
}

void Tunnel::Impl::HandleConn(size_t index, Nanos now) {
  Conn& conn = conns[index];
  char buf[4096];
  const ssize_t n = ::recv(conn.fd.get(), buf, sizeof buf, MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  bool close = n <= 0;
  if (n > 0) {
    device->FillStats(config);
    const std::string reply = conn.session->Feed(std::string_view(buf, static_cast<size_t>(n)));
    AfterConfigChange(now);
    size_t done = 0;
    while (done < reply.size()) {
      const ssize_t w = ::send(conn.fd.get(), reply.data() + done, reply.size() - done, MSG_NOSIGNAL);
      if (w <= 0) {
        close = true;
        break;
      }
      done += static_cast<size_t>(w);
    }
    close = close || conn.session->closed();
  }
  if (close) {
    (void)::epoll_ctl(epoll.get(), EPOLL_CTL_DEL, conn.fd.get(), nullptr);
    conn.fd.reset();
    conn.session.reset();
  }
}

// --- Tunnel ----------------------------------------------------------------------------------------------------

Result<std::unique_ptr<Tunnel>> Tunnel::Open(const TunnelOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  if (options.mtu < 576 || options.mtu > 65535 - 80) return Error("vpn: MTU must be 576-65455");
  impl->uapi_path = options.uapi_dir + "/" + options.name + ".sock";
  if (impl->uapi_path.size() >= sizeof(sockaddr_un{}.sun_path)) return Error("vpn: socket path too long");

  DeviceOptions dopts;
  dopts.timers = options.timers;
  dopts.random = SecureRandom;
  dopts.unix_nanos = UnixNanos;
  CL_ASSIGN_OR_RETURN(impl->device, Device::Create(std::move(dopts)));
  impl->tx_buf.resize(kTxBufBytes);

  impl->epoll.reset(::epoll_create1(EPOLL_CLOEXEC));
  impl->stop.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  impl->command.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!impl->command.valid()) return ErrnoError("vpn: eventfd");
  if (!impl->epoll.valid() || !impl->stop.valid()) return ErrnoError("vpn: epoll/eventfd");
  CL_RETURN_IF_ERROR(impl->EpollAdd(impl->stop.get(), kTagStop));
  CL_RETURN_IF_ERROR(impl->EpollAdd(impl->command.get(), kTagCommand));

  // The socket first: if another process serves this name, fail before touching the interface.
  if (::mkdir(options.uapi_dir.c_str(), 0755) < 0 && errno != EEXIST)
    return ErrnoError("vpn: mkdir " + options.uapi_dir);
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  std::memcpy(sun.sun_path, impl->uapi_path.c_str(), impl->uapi_path.size());
  {
    UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (::connect(probe.get(), reinterpret_cast<sockaddr*>(&sun), sizeof sun) == 0) {
      return Error("vpn: " + impl->uapi_path + " is served by a running process: interface " + options.name +
                   " is already up");
    }
    (void)::unlink(impl->uapi_path.c_str());  // stale socket from a crashed process
  }
  auto open_tun = [&]() -> Status {
    CL_ASSIGN_OR_RETURN(impl->tun, OpenTun(options.name, options.offload));
    return SetMtu(options.name, options.mtu);
  };
  CL_RETURN_IF_ERROR(options.tun_runner ? options.tun_runner(open_tun) : open_tun());
  CL_RETURN_IF_ERROR(impl->EpollAdd(impl->tun.get(), kTagTun));
  CL_RETURN_IF_ERROR(impl->BindUdp(0));
  impl->config.listen_port = impl->bound_port;

  impl->listener.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!impl->listener.valid()) return ErrnoError("vpn: unix socket");
  const mode_t old_umask = ::umask(0077);  // the socket hands out the private key: owner only
  const int rc = ::bind(impl->listener.get(), reinterpret_cast<sockaddr*>(&sun), sizeof sun);
  ::umask(old_umask);
  if (rc < 0) return ErrnoError("vpn: bind " + impl->uapi_path);
  if (::listen(impl->listener.get(), 16) < 0) return ErrnoError("vpn: listen " + impl->uapi_path);
  CL_RETURN_IF_ERROR(impl->EpollAdd(impl->listener.get(), kTagListen));
  return std::unique_ptr<Tunnel>(new Tunnel(std::move(impl)));
}

Tunnel::Tunnel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Tunnel::~Tunnel() {
  if (impl_ && impl_->listener.valid()) (void)::unlink(impl_->uapi_path.c_str());
}

// The live endpoints go into the model first: the change must not move a roamed peer back to its configured
// address.
Status Tunnel::Impl::ApplyChange(const DeviceConfigChange& change) {
  device->FillStats(config);
  DeviceConfig next = config;
  CL_RETURN_IF_ERROR(Apply(change, next));
  config = std::move(next);
  AfterConfigChange(MonotonicNow());
  if (config.listen_port != bound_port)
    return Error("vpn: could not bind listen port " + std::to_string(config.listen_port));
  return Status::Ok();
}

void Tunnel::Impl::RunCommands() {
  uint64_t count = 0;
  (void)!::read(command.get(), &count, sizeof count);
  std::deque<PendingChange*> batch;
  {
    std::lock_guard lock(command_mu);
    batch.swap(commands);
  }
  for (PendingChange* p : batch) p->done.set_value(ApplyChange(*p->change));
}

void Tunnel::Impl::EndLoop() {
  std::lock_guard lock(command_mu);
  looping = false;
  for (PendingChange* p : commands) p->done.set_value(Error("vpn " + options.name + ": the tunnel stopped"));
  commands.clear();
}

Status Tunnel::Configure(const DeviceConfigChange& change) {
  Impl::PendingChange pending{&change, {}};
  std::future<Status> done = pending.done.get_future();
  {
    std::lock_guard lock(impl_->command_mu);
    if (!impl_->looping) return impl_->ApplyChange(change);  // not running: this thread owns the Device
    impl_->commands.push_back(&pending);
  }
  const uint64_t one = 1;
  (void)!::write(impl_->command.get(), &one, sizeof one);
  return done.get();
}

uint16_t Tunnel::listen_port() const { return impl_->bound_port; }
const std::string& Tunnel::name() const { return impl_->options.name; }
const std::string& Tunnel::uapi_path() const { return impl_->uapi_path; }

void Tunnel::Stop() {
  const uint64_t one = 1;
  (void)!::write(impl_->stop.get(), &one, sizeof one);
}

Status Tunnel::Run() {
  {
    std::lock_guard lock(impl_->command_mu);
    impl_->looping = true;
  }
  Status status = Loop();
  impl_->EndLoop();
  return status;
}

Status Tunnel::Loop() {
  Impl& s = *impl_;
  std::array<epoll_event, 16> events;
  // Ticking and finding the next deadline walk every peer, so they run when a deadline is due, and at least every
  // kTimerRecheck so timers that traffic armed meanwhile are seen — not on every wake-up under load. WireGuard's
  // timers are seconds long with up to 333 ms of jitter; this granularity changes nothing a peer can observe.
  constexpr Nanos kTimerRecheck = 100 * kMillisecond;
  Nanos next_tick = 0;
  for (;;) {
    Nanos now = MonotonicNow();
    if (now >= next_tick) {
      s.device->Tick(now, s);
      next_tick = std::clamp(s.device->NextDeadline(now), now + kMillisecond, now + kTimerRecheck);
    }
    const int timeout_ms = static_cast<int>((next_tick - now + kMillisecond - 1) / kMillisecond);
    const int n = ::epoll_wait(s.epoll.get(), events.data(), static_cast<int>(events.size()), timeout_ms);
    if (n < 0 && errno != EINTR) return ErrnoError("vpn: epoll_wait");
    now = MonotonicNow();
    for (int i = 0; i < n; ++i) {
      const uint64_t tag = events[i].data.u64;
      if (tag == kTagStop) return Status::Ok();
      if (tag == kTagCommand) {
        s.RunCommands();
        next_tick = now;  // a change may have armed timers or added peers
        continue;
      }
      if (tag == kTagTun) {
        if (!s.HandleTun(now)) return Status::Ok();
      } else if (tag == kTagUdp) {
        s.HandleUdp(now);
      } else if (tag == kTagListen) {
        s.Accept();
      } else if (tag >= kTagConn && tag < kTagConn + kMaxUapiConnections) {
        s.HandleConn(tag - kTagConn, now);
        next_tick = now;  // a `wg set` may have armed timers (persistent keepalive) or added peers
      }
    }
  }
}

}  // namespace cloudlet::vpn
