// RouteSocket: libnl route socket with kernel error capture (errno + extended ack) for readable errors.
#include "hostnet/netlink.h"

#include <linux/netlink.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace cloudlet::hostnet {
namespace {

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

// The NLMSGERR_ATTR_MSG string that follows an error when the kernel sets NLM_F_ACK_TLVS; "" when absent.
std::string ExtackMessage(const nlmsgerr* e) {
  // libnl hands us nlmsg_data(hdr): the header sits right before it in the same receive buffer.
  const auto* hdr = reinterpret_cast<const nlmsghdr*>(reinterpret_cast<const char*>(e) - NLMSG_HDRLEN);
  if (!(hdr->nlmsg_flags & NLM_F_ACK_TLVS)) return "";
  size_t offset = NLMSG_HDRLEN + sizeof(nlmsgerr);
  if (!(hdr->nlmsg_flags & NLM_F_CAPPED)) offset += NLMSG_ALIGN(e->msg.nlmsg_len) - NLMSG_HDRLEN;
  if (hdr->nlmsg_len <= offset) return "";
  const char* base = reinterpret_cast<const char*>(hdr);
  auto* attrs = reinterpret_cast<nlattr*>(const_cast<char*>(base + offset));
  nlattr* msg = nla_find(attrs, static_cast<int>(hdr->nlmsg_len - offset), NLMSGERR_ATTR_MSG);
  if (!msg || nla_len(msg) <= 0) return "";
  const char* text = static_cast<const char*>(nla_data(msg));
  return std::string(text, strnlen(text, static_cast<size_t>(nla_len(msg))));
}

int RecordKernelError(sockaddr_nl*, nlmsgerr* e, void* arg) {
  auto* last = static_cast<KernelError*>(arg);
  last->err = -e->error;
  last->extack = ExtackMessage(e);
  return NL_STOP;  // libnl still returns its own code for the call; we keep the exact errno here
}

}  // namespace

Result<RouteSocket> RouteSocket::Open() {
  SockPtr sock(nl_socket_alloc());
  if (!sock) return Error("netlink socket: out of memory");
  if (int err = nl_connect(sock.get(), NETLINK_ROUTE); err < 0) {
    return Error(std::string("netlink socket: ") + nl_geterror(err));
  }
  int one = 1;
  // Best effort: older kernels lack these; errors then just come without the kernel's explanation.
  (void)setsockopt(nl_socket_get_fd(sock.get()), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
  (void)setsockopt(nl_socket_get_fd(sock.get()), SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
  auto last = std::make_unique<KernelError>();
  if (int err = nl_socket_modify_err_cb(sock.get(), NL_CB_CUSTOM, RecordKernelError, last.get()); err < 0) {
    return Error(std::string("netlink socket: ") + nl_geterror(err));
  }
  return RouteSocket(std::move(sock), std::move(last));
}

std::string RouteSocket::Describe(int nl_err) const {
  if (last_->err > 0) {
    std::string text = std::strerror(last_->err);
    if (!last_->extack.empty()) text += " (" + last_->extack + ")";
    return text;
  }
  return nl_geterror(nl_err);
}

Status ValidateIfname(const std::string& ifname) {
  if (ifname.empty() || ifname.size() > 15) {
    return Error("interface name '" + ifname + "' must be 1-15 characters");
  }
  if (ifname == "." || ifname == "..") return Error("interface name '" + ifname + "' is reserved");
  for (unsigned char c : ifname) {
    if (c <= ' ' || c >= 0x7f || c == '/' || c == ':') {
      return Error("interface name '" + ifname + "' may not contain '/', ':', spaces or control characters");
    }
  }
  return Status::Ok();
}

Status ValidateNetnsName(const std::string& name) {
  if (name.empty() || name.size() > 64) return Error("netns name '" + name + "' must be 1-64 characters");
  if (name == "." || name == "..") return Error("netns name '" + name + "' is reserved");
  for (unsigned char c : name) {
    if (c <= ' ' || c >= 0x7f || c == '/') {
      return Error("netns name '" + name + "' may not contain '/', spaces or control characters");
    }
  }
  return Status::Ok();
}

Result<LinkPtr> FindLink(RouteSocket& sock, const std::string& ifname) {
  rtnl_link* raw = nullptr;
  sock.ClearError();
  int err = rtnl_link_get_kernel(sock.get(), 0, ifname.c_str(), &raw);
  LinkPtr link(raw);
  if (err >= 0) return link;
  if (sock.kernel_errno() == ENODEV || err == -NLE_OBJ_NOTFOUND || err == -NLE_NODEV) return LinkPtr();
  return Error("look up interface " + ifname + ": " + sock.Describe(err));
}

}  // namespace cloudlet::hostnet
