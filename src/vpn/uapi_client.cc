// One request/reply exchange on a UAPI socket. See uapi_client.h.
#include "vpn/uapi_client.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>

#include "base/fd.h"

namespace cloudlet::vpn {

std::string UapiSocketPath(const std::string& dir, const std::string& name) { return dir + "/" + name + ".sock"; }

Result<std::string> UapiTransact(const std::string& socket_path, std::string_view request, int timeout_seconds) {
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof sun.sun_path) return Error(socket_path + ": path too long");
  std::memcpy(sun.sun_path, socket_path.c_str(), socket_path.size());
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return ErrnoError("unix socket");
  timeval tv{timeout_seconds, 0};
  (void)::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  (void)::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sun), sizeof sun) != 0) {
    return Error(socket_path + ": " + std::strerror(errno) + " (is the interface running?)");
  }
  size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n = ::send(fd.get(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return ErrnoError(socket_path + ": send");
    sent += static_cast<size_t>(n);
  }
  // The reply ends with "errno=N\n\n"; a get reply's body never holds an empty line before that.
  std::string reply;
  char buf[16384];
  while (reply.size() < kUapiMaxReplyBytes) {
    const ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError(socket_path + ": receive");
    if (n == 0) break;
    reply.append(buf, static_cast<size_t>(n));
    if (reply.size() >= 2 && reply.compare(reply.size() - 2, 2, "\n\n") == 0) break;
  }
  const size_t at = reply.rfind("errno=");
  if (at == std::string::npos || reply.size() < 2 || reply.compare(reply.size() - 2, 2, "\n\n") != 0) {
    return Error(socket_path + ": incomplete reply");
  }
  const int code = std::atoi(reply.c_str() + at + 6);
  if (code != 0)
    return Error(socket_path + ": request refused: errno " + std::to_string(code) + " (" + std::strerror(code) + ")");
  return reply;
}

Result<UapiDeviceStatus> UapiGet(const std::string& socket_path, int timeout_seconds) {
  CL_ASSIGN_OR_RETURN(std::string reply, UapiTransact(socket_path, "get=1\n\n", timeout_seconds));
  auto status = ParseGetReply(reply);
  SecureZero(reply.data(), reply.size());  // it held the private key
  return status;
}

}  // namespace cloudlet::vpn
