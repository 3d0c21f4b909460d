// TapPort (see tap_port.h): device creation, readv receive loop, writev send with scatter-gather tag insertion.
#include "port/tap_port.h"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "port/netdev.h"

namespace cloudlet {

Result<std::unique_ptr<TapPort>> TapPort::Open(const std::string& ifname) {
  CL_RETURN_IF_ERROR(ValidateInterfaceName(ifname));
  const std::string ctx = "tap " + ifname + ": ";
  UniqueFd fd(::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError(ctx + "open /dev/net/tun");

  ifreq ifr{};
  std::memcpy(ifr.ifr_name, ifname.data(), ifname.size());
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
  if (::ioctl(fd.get(), TUNSETIFF, &ifr) < 0) return ErrnoError(ctx + "create");
  int vnet_size = sizeof(VnetHdr);
  if (::ioctl(fd.get(), TUNSETVNETHDRSZ, &vnet_size) < 0) return ErrnoError(ctx + "TUNSETVNETHDRSZ");
  // Tell the kernel we accept partial checksums and TCP segmentation offload: it then hands over GSO super-frames.
  unsigned offload = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
  if (::ioctl(fd.get(), TUNSETOFFLOAD, offload) < 0) return ErrnoError(ctx + "TUNSETOFFLOAD");

  UniqueFd ctl(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!ctl.valid()) return ErrnoError(ctx + "control socket");
  CL_RETURN_IF_ERROR(SetInterfaceUp(ctl.get(), ifname));
  return std::unique_ptr<TapPort>(new TapPort(ifname, std::move(fd)));
}

TapPort::TapPort(std::string name, UniqueFd fd) : name_(std::move(name)), fd_(std::move(fd)) {
  slot_bytes_ = (kPacketHeadroom + kMaxFrameSize + 63) & ~size_t{63};
  buffers_.reset(new uint8_t[kMaxBatch * slot_bytes_]);
}

size_t TapPort::receive(Packet** out, size_t max) {
  max = std::min(max, kMaxBatch);
  size_t kept = 0;
  // Every read returns one frame; a bounded number of reads, stopping at the first EAGAIN.
  for (size_t attempt = 0; attempt < max; ++attempt) {
    Packet& p = packets_[kept];
    uint8_t* frame = buffers_.get() + kept * slot_bytes_ + kPacketHeadroom;
    iovec iov[2] = {{&p.vnet, sizeof(VnetHdr)}, {frame, kMaxFrameSize}};
    ssize_t n = ::readv(fd_.get(), iov, 2);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) ++io_.rx_errors;
      break;
    }
    // The kernel returns the full length even when it did not fit: that is a truncated frame.
    if (static_cast<size_t>(n) > sizeof(VnetHdr) + kMaxFrameSize ||
        static_cast<size_t>(n) < sizeof(VnetHdr) + kEthHeaderBytes) {
      ++io_.rx_errors;
      continue;
    }
    p.data = frame;
    p.len = static_cast<uint32_t>(static_cast<size_t>(n) - sizeof(VnetHdr));
    p.headroom = kPacketHeadroom;
    p.vlan = 0;
    p.pcp = 0;
    out[kept++] = &p;
  }
  return kept;
}

size_t TapPort::send(std::span<const TxItem> items) {
  size_t sent = 0;
  for (const TxItem& item : items) {
    if (!BuildTxScatter(item, tx_scatter_)) {
      ++io_.tx_errors;
      continue;
    }
    ssize_t n;
    do {
      n = ::writev(fd_.get(), tx_scatter_.iov, tx_scatter_.iovcnt);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      ++io_.tx_errors;
      continue;
    }
    ++sent;
  }
  return sent;
}

}  // namespace cloudlet
