// AfPacketPort (see af_packet_port.h): socket setup, batched receive with tag re-insertion, batched scatter-gather
// send.
#include "port/af_packet_port.h"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "port/netdev.h"

namespace cloudlet {
namespace {

Status SetIntOption(int fd, int level, int option, int value, const char* what) {
  if (::setsockopt(fd, level, option, &value, sizeof(value)) < 0) return ErrnoError(what);
  return Status::Ok();
}

// Forces a big socket buffer as root (SO_*BUFFORCE); otherwise asks for it within the sysctl limit.
void SetBuffer(int fd, int force_option, int option, int bytes) {
  if (::setsockopt(fd, SOL_SOCKET, force_option, &bytes, sizeof(bytes)) == 0) return;
  (void)::setsockopt(fd, SOL_SOCKET, option, &bytes, sizeof(bytes));
}

}  // namespace

Result<std::unique_ptr<AfPacketPort>> AfPacketPort::Open(const std::string& ifname) { return Open(ifname, Options{}); }

Result<std::unique_ptr<AfPacketPort>> AfPacketPort::Open(const std::string& ifname, const Options& options) {
  CL_RETURN_IF_ERROR(ValidateInterfaceName(ifname));
  if (options.frame_capacity < kEthHeaderBytes || options.frame_capacity > kMaxFrameSize) {
    return Error("interface " + ifname + ": frame capacity out of range");
  }
  // Protocol 0: nothing is queued until bind() below, after every option is in place.
  UniqueFd fd(::socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return ErrnoError("interface " + ifname + ": AF_PACKET socket (needs CAP_NET_RAW)");

  CL_ASSIGN_OR_RETURN(int ifindex, InterfaceIndex(fd.get(), ifname));
  CL_ASSIGN_OR_RETURN(bool ethernet, IsEthernetInterface(fd.get(), ifname));
  if (!ethernet) return Error("interface " + ifname + ": not an Ethernet interface");

  const std::string ctx = "interface " + ifname + ": ";
  CL_RETURN_IF_ERROR(SetIntOption(fd.get(), SOL_PACKET, PACKET_VNET_HDR, 1, (ctx + "PACKET_VNET_HDR").c_str()));
  CL_RETURN_IF_ERROR(SetIntOption(fd.get(), SOL_PACKET, PACKET_AUXDATA, 1, (ctx + "PACKET_AUXDATA").c_str()));
  CL_RETURN_IF_ERROR(
      SetIntOption(fd.get(), SOL_PACKET, PACKET_IGNORE_OUTGOING, 1, (ctx + "PACKET_IGNORE_OUTGOING").c_str()));
  // No PACKET_QDISC_BYPASS: it would skip the kernel's capture taps, so tcpdump on a port would not see what the
  // switch sends. Through a veth's noqueue qdisc it cost nothing measurable (docs/PERFORMANCE.md).
  SetBuffer(fd.get(), SO_RCVBUFFORCE, SO_RCVBUF, options.rcvbuf_bytes);
  SetBuffer(fd.get(), SO_SNDBUFFORCE, SO_SNDBUF, options.sndbuf_bytes);

  sockaddr_ll addr{};
  addr.sll_family = AF_PACKET;
  addr.sll_protocol = htons(ETH_P_ALL);
  addr.sll_ifindex = ifindex;
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0) return ErrnoError(ctx + "bind");

  return std::unique_ptr<AfPacketPort>(new AfPacketPort(ifname, std::move(fd), ifindex, options.frame_capacity));
}

AfPacketPort::AfPacketPort(std::string name, UniqueFd fd, int ifindex, size_t frame_capacity)
    : name_(std::move(name)), fd_(std::move(fd)), ifindex_(ifindex), frame_capacity_(frame_capacity) {
  // Slots are 64-byte aligned so the frame (at kPacketHeadroom) starts on a cache line.
  slot_bytes_ = (kPacketHeadroom + frame_capacity_ + 63) & ~size_t{63};
  buffers_.reset(new uint8_t[kMaxBatch * slot_bytes_]);
  for (size_t i = 0; i < kMaxBatch; ++i) {
    rx_iov_[i][0] = {&packets_[i].vnet, sizeof(VnetHdr)};
    rx_iov_[i][1] = {buffers_.get() + i * slot_bytes_ + kPacketHeadroom, frame_capacity_};
    msghdr& h = rx_msgs_[i].msg_hdr;
    h.msg_iov = rx_iov_[i].data();
    h.msg_iovlen = 2;
    h.msg_control = rx_cmsg_[i].bytes;
  }
}

size_t AfPacketPort::receive(Packet** out, size_t max) {
  max = std::min(max, kMaxBatch);
  if (max == 0) return 0;
  for (size_t i = 0; i < max; ++i) {
    rx_msgs_[i].msg_hdr.msg_controllen = kCmsgSpace;
    rx_msgs_[i].msg_hdr.msg_flags = 0;
  }
  int n = ::recvmmsg(fd_.get(), rx_msgs_.data(), static_cast<unsigned>(max), MSG_DONTWAIT, nullptr);
  if (n < 0) {
    // A pending socket error (e.g. ENETDOWN when the interface goes away) is reported once and cleared by reading it.
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) ++io_.rx_errors;
    return 0;
  }
  size_t kept = 0;
  for (int i = 0; i < n; ++i) {
    const mmsghdr& m = rx_msgs_[i];
    if ((m.msg_hdr.msg_flags & MSG_TRUNC) || m.msg_len < sizeof(VnetHdr) + kEthHeaderBytes) {
      ++io_.rx_errors;
      continue;
    }
    Packet& p = packets_[i];  // p.vnet was filled by the kernel through rx_iov_[i][0]
    p.data = buffers_.get() + i * slot_bytes_ + kPacketHeadroom;
    p.len = static_cast<uint32_t>(m.msg_len - sizeof(VnetHdr));
    p.headroom = kPacketHeadroom;
    p.vlan = 0;
    p.pcp = 0;
    bool ok = true;
    for (cmsghdr* c = CMSG_FIRSTHDR(&m.msg_hdr); c != nullptr; c = CMSG_NXTHDR(const_cast<msghdr*>(&m.msg_hdr), c)) {
      if (c->cmsg_level != SOL_PACKET || c->cmsg_type != PACKET_AUXDATA) continue;
      if (c->cmsg_len < CMSG_LEN(sizeof(tpacket_auxdata))) continue;
      tpacket_auxdata aux;
      std::memcpy(&aux, CMSG_DATA(c), sizeof(aux));
      if (!(aux.tp_status & TP_STATUS_VLAN_VALID)) continue;
      const uint16_t tpid = (aux.tp_status & TP_STATUS_VLAN_TPID_VALID) ? aux.tp_vlan_tpid : 0x8100;
      ok = InsertTagInline(p, tpid, aux.tp_vlan_tci);
    }
    if (!ok) {
      ++io_.rx_errors;
      continue;
    }
    out[kept++] = &p;
  }
  return kept;
}

const PortIoCounters& AfPacketPort::io_counters() const {
  // The kernel resets its counts on every read, so they are accumulated here.
  tpacket_stats stats{};
  socklen_t len = sizeof(stats);
  if (::getsockopt(fd_.get(), SOL_PACKET, PACKET_STATISTICS, &stats, &len) == 0) io_.rx_dropped += stats.tp_drops;
  return io_;
}

size_t AfPacketPort::send(std::span<const TxItem> items) {
  size_t sent = 0;
  while (!items.empty()) {
    size_t chunk = std::min(items.size(), kMaxBatch);
    sent += send_chunk(items.first(chunk));
    items = items.subspan(chunk);
  }
  return sent;
}

size_t AfPacketPort::send_chunk(std::span<const TxItem> items) {
  size_t built = 0;
  for (const TxItem& item : items) {
    TxScatter& s = tx_scatter_[built];
    if (!BuildTxScatter(item, s)) {
      ++io_.tx_errors;
      continue;
    }
    msghdr& h = tx_msgs_[built].msg_hdr;
    h = msghdr{};
    h.msg_iov = s.iov;
    h.msg_iovlen = static_cast<size_t>(s.iovcnt);
    ++built;
  }
  size_t done = 0;
  size_t sent = 0;
  int waits = 0;
  while (done < built) {
    int r = ::sendmmsg(fd_.get(), tx_msgs_.data() + done, static_cast<unsigned>(built - done), MSG_DONTWAIT);
    if (r > 0) {
      done += static_cast<size_t>(r);
      sent += static_cast<size_t>(r);
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && waits < 2) {
      // Socket buffer full: give the kernel a moment to drain it, bounded, then drop what is left.
      pollfd pfd{fd_.get(), POLLOUT, 0};
      (void)::poll(&pfd, 1, 1);
      ++waits;
      continue;
    }
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      io_.tx_errors += built - done;
      break;
    }
    // The kernel refused this frame (ENOBUFS: the peer dropped it; EMSGSIZE; EINVAL offload metadata): skip it.
    ++io_.tx_errors;
    ++done;
  }
  return sent;
}

}  // namespace cloudlet
