// Test helper: a plain AF_PACKET socket (no vnet header) to put frames on a link and read them back, with any tag
// the kernel moved out of band written back inline, plus a frame builder. Independent of the port code under test.
#pragma once

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/fd.h"

namespace cloudlet::testing {

// Local experimental ethertype: the kernel stacks ignore it, so test frames never trigger replies.
constexpr uint16_t kTestEthertype = 0x88b5;

using Frame = std::vector<uint8_t>;

inline Frame MakeFrame(uint8_t dst_last, uint8_t src_last, size_t len, uint8_t marker, uint16_t tpid = 0,
                       uint16_t tci = 0) {
  Frame f = {0x02, 0, 0, 0, 0, dst_last, 0x02, 0, 0, 0, 0, src_last};
  if (tpid != 0) {
    f.insert(f.end(), {uint8_t(tpid >> 8), uint8_t(tpid), uint8_t(tci >> 8), uint8_t(tci)});
  }
  f.insert(f.end(), {uint8_t(kTestEthertype >> 8), uint8_t(kTestEthertype & 0xff)});
  while (f.size() < len) f.push_back(static_cast<uint8_t>(marker + f.size()));
  f[f.size() - 1] = marker;
  if (f.size() > 14) f[f.size() - 2] = marker;
  return f;
}

// True if the frame carries kTestEthertype after at most two tags.
inline bool IsTestFrame(const uint8_t* d, size_t len) {
  size_t off = 12;
  for (int tags = 0; tags <= 2 && off + 2 <= len; ++tags, off += 4) {
    uint16_t type = uint16_t(d[off] << 8 | d[off + 1]);
    if (type == kTestEthertype) return true;
    if (type != 0x8100 && type != 0x88a8) return false;
  }
  return false;
}

class RawSocket {
 public:
  // Opens in the calling thread's namespace. Returns an invalid socket on failure.
  static RawSocket Open(const std::string& ifname) {
    RawSocket s;
    s.fd_.reset(::socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!s.fd_.valid()) return s;
    int one = 1;
    ::setsockopt(s.fd_.get(), SOL_PACKET, PACKET_AUXDATA, &one, sizeof(one));
    ::setsockopt(s.fd_.get(), SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one));
    sockaddr_ll a{};
    a.sll_family = AF_PACKET;
    a.sll_protocol = htons(ETH_P_ALL);
    a.sll_ifindex = static_cast<int>(if_nametoindex(ifname.c_str()));
    if (a.sll_ifindex == 0 || ::bind(s.fd_.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) < 0) s.fd_.reset();
    return s;
  }

  bool valid() const { return fd_.valid(); }
  int fd() const { return fd_.get(); }
  bool Send(const Frame& f) { return ::send(fd_.get(), f.data(), f.size(), 0) == static_cast<ssize_t>(f.size()); }

  // Returns the first test frame received within timeout_ms (tags inline), skipping any other traffic.
  std::optional<Frame> ReceiveTestFrame(int timeout_ms) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    std::vector<uint8_t> buf(70000);
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_.get(), POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      alignas(cmsghdr) uint8_t ctrl[CMSG_SPACE(sizeof(tpacket_auxdata))];
      iovec iov{buf.data() + 4, buf.size() - 4};
      msghdr m{};
      m.msg_iov = &iov;
      m.msg_iovlen = 1;
      m.msg_control = ctrl;
      m.msg_controllen = sizeof(ctrl);
      ssize_t n = ::recvmsg(fd_.get(), &m, 0);
      if (n < 14) continue;
      uint8_t* d = buf.data() + 4;
      size_t len = static_cast<size_t>(n);
      for (cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
        if (c->cmsg_level != SOL_PACKET || c->cmsg_type != PACKET_AUXDATA) continue;
        tpacket_auxdata aux;
        std::memcpy(&aux, CMSG_DATA(c), sizeof(aux));
        if (!(aux.tp_status & TP_STATUS_VLAN_VALID)) continue;
        uint16_t tpid = (aux.tp_status & TP_STATUS_VLAN_TPID_VALID) ? aux.tp_vlan_tpid : 0x8100;
        std::memmove(d - 4, d, 12);
        d -= 4;
        d[12] = uint8_t(tpid >> 8);
        d[13] = uint8_t(tpid);
        d[14] = uint8_t(aux.tp_vlan_tci >> 8);
        d[15] = uint8_t(aux.tp_vlan_tci);
        len += 4;
      }
      if (IsTestFrame(d, len)) return Frame(d, d + len);
    }
    return std::nullopt;
  }

 private:
  UniqueFd fd_;
};

}  // namespace cloudlet::testing
