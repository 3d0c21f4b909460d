// Interface ioctls for the kernel ports (see netdev.h).
#include "port/netdev.h"

#include <net/if.h>
#include <net/if_arp.h>
#include <sys/ioctl.h>

#include <cstring>

namespace cloudlet {
namespace {

Status FillIfreq(const std::string& ifname, ifreq& ifr) {
  CL_RETURN_IF_ERROR(ValidateInterfaceName(ifname));
  std::memset(&ifr, 0, sizeof(ifr));
  std::memcpy(ifr.ifr_name, ifname.data(), ifname.size());
  return Status::Ok();
}

}  // namespace

Status ValidateInterfaceName(const std::string& ifname) {
  if (ifname.empty() || ifname.size() >= IFNAMSIZ) {
    return Error("interface name '" + ifname + "': must be 1-" + std::to_string(IFNAMSIZ - 1) + " characters");
  }
  for (char c : ifname) {
    if (c == '/' || c == ':' || c == '\0' || c == ' ' || c == '\t' || c == '\n') {
      return Error("interface name '" + ifname + "': contains a character the kernel does not allow");
    }
  }
  if (ifname == "." || ifname == "..") return Error("interface name '" + ifname + "' is not allowed");
  return Status::Ok();
}

Result<int> InterfaceIndex(int sock_fd, const std::string& ifname) {
  ifreq ifr;
  CL_RETURN_IF_ERROR(FillIfreq(ifname, ifr));
  if (::ioctl(sock_fd, SIOCGIFINDEX, &ifr) < 0) return ErrnoError("interface " + ifname);
  return ifr.ifr_ifindex;
}

Result<bool> IsEthernetInterface(int sock_fd, const std::string& ifname) {
  ifreq ifr;
  CL_RETURN_IF_ERROR(FillIfreq(ifname, ifr));
  if (::ioctl(sock_fd, SIOCGIFHWADDR, &ifr) < 0) return ErrnoError("interface " + ifname);
  return ifr.ifr_hwaddr.sa_family == ARPHRD_ETHER;
}

Status SetInterfaceUp(int sock_fd, const std::string& ifname) {
  ifreq ifr;
  CL_RETURN_IF_ERROR(FillIfreq(ifname, ifr));
  if (::ioctl(sock_fd, SIOCGIFFLAGS, &ifr) < 0) return ErrnoError("interface " + ifname + ": get flags");
  if (ifr.ifr_flags & IFF_UP) return Status::Ok();
  ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
  if (::ioctl(sock_fd, SIOCSIFFLAGS, &ifr) < 0) return ErrnoError("interface " + ifname + ": set up");
  return Status::Ok();
}

}  // namespace cloudlet
