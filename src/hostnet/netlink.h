// Internal to hostnet: RAII ownership for libnl objects and a route socket that reports kernel errors as text
// (errno string plus the kernel's extended-ack message), so callers can build "create veth X <-> Y: File exists".
#pragma once

#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/route.h>
#include <netlink/socket.h>

#include <memory>
#include <string>

#include "base/status.h"

namespace cloudlet::hostnet {

template <typename T, void (*Free)(T*)>
struct NlDeleter {
  void operator()(T* p) const {
    if (p) Free(p);
  }
};
using SockPtr = std::unique_ptr<nl_sock, NlDeleter<nl_sock, nl_socket_free>>;
using LinkPtr = std::unique_ptr<rtnl_link, NlDeleter<rtnl_link, rtnl_link_put>>;
using AddrPtr = std::unique_ptr<rtnl_addr, NlDeleter<rtnl_addr, rtnl_addr_put>>;
using RoutePtr = std::unique_ptr<rtnl_route, NlDeleter<rtnl_route, rtnl_route_put>>;
using NlAddrPtr = std::unique_ptr<nl_addr, NlDeleter<nl_addr, nl_addr_put>>;
using CachePtr = std::unique_ptr<nl_cache, NlDeleter<nl_cache, nl_cache_free>>;

// The last NLMSG_ERROR the kernel sent on a socket.
struct KernelError {
  int err = 0;         // positive errno, 0 = none
  std::string extack;  // kernel's human-readable reason, may be empty
};

// A NETLINK_ROUTE socket bound in the calling thread's network namespace at Open().
class RouteSocket {
 public:
  static Result<RouteSocket> Open();

  nl_sock* get() const { return sock_.get(); }
  // Call before each request so Describe() reports this request's error, not an older one.
  void ClearError() { *last_ = KernelError{}; }
  int kernel_errno() const { return last_->err; }
  // Text for a failed libnl call returning `nl_err` (<0): the kernel's errno text and extack when the kernel
  // answered with an error, otherwise libnl's own description.
  std::string Describe(int nl_err) const;

 private:
  RouteSocket(SockPtr sock, std::unique_ptr<KernelError> last) : sock_(std::move(sock)), last_(std::move(last)) {}
  SockPtr sock_;
  std::unique_ptr<KernelError> last_;  // heap-allocated: the error callback keeps a pointer across moves
};

// " in netns NAME" for error messages, "" for the current namespace.
inline std::string InNetnsText(const std::string& netns) { return netns.empty() ? "" : " in netns " + netns; }
// Interface names as the kernel accepts them (1-15 bytes, no '/', ':' or whitespace), so they are also safe
// path components under /proc/sys.
Status ValidateIfname(const std::string& ifname);
// Named-namespace names: 1-64 printable bytes, no '/', not "." or "..": a single file under /run/netns.
Status ValidateNetnsName(const std::string& name);

// Looks up `ifname` by name in the socket's namespace. Ok(nullptr) when there is no such interface.
Result<LinkPtr> FindLink(RouteSocket& sock, const std::string& ifname);

}  // namespace cloudlet::hostnet
