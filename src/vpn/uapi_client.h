// The client side of the configuration socket, as `wg` uses it: one request, one reply. Used by `cloudlet vpn` and
// by the daemon's status; works the same against wireguard-go.
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"
#include "vpn/uapi.h"

namespace cloudlet::vpn {

// A reply (and the bytes read for it) is never larger than this.
constexpr size_t kUapiMaxReplyBytes = 16u << 20;

// "/var/run/wireguard/NAME.sock" for an interface name (the directory is `dir`).
std::string UapiSocketPath(const std::string& dir, const std::string& name);

// Sends `request` ("get=1\n\n" or "set=1\n...\n\n") and returns the reply through its "errno=N\n\n" line.
// Errors: the socket is absent or refuses ("... is not running"), a timeout, a truncated reply, errno != 0 (with
// its meaning: wireguard-go answers EINVAL for bad values, EPROTO for bad lines).
Result<std::string> UapiTransact(const std::string& socket_path, std::string_view request, int timeout_seconds = 5);

// `get` and ParseGetReply in one.
Result<UapiDeviceStatus> UapiGet(const std::string& socket_path, int timeout_seconds = 5);

}  // namespace cloudlet::vpn
