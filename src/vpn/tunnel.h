// A WireGuard interface in this process: the I/O around a Device. Owns the TUN interface (IFF_VNET_HDR, with TSO so
// 64 KiB TCP segments cross the TUN boundary in one read/write), the UDP socket (UDP GSO on send, GRO on receive,
// dual-stack), and the configuration socket /var/run/wireguard/NAME.sock that speaks the cross-platform UAPI, so
// `wg set/show/showconf` drive it as they drive wireguard-go. One thread runs everything from one epoll loop, so the
// Device needs no locks.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "base/fd.h"
#include "base/status.h"
#include "vpn/constants.h"
#include "vpn/uapi.h"

namespace cloudlet::vpn {

constexpr const char* kDefaultUapiDir = "/var/run/wireguard";
constexpr int kDefaultMtu = 1420;

struct TunnelOptions {
  std::string name;                        // the TUN interface, and the socket's name
  std::string uapi_dir = kDefaultUapiDir;  // created 0755 if missing; the socket itself is 0600
  TimerDurations timers;                   // shortened only by tests
  bool offload = true;                     // TUN TSO/checksum offload + UDP GSO/GRO (off: one packet per syscall)
  int mtu = kDefaultMtu;
  // When set, the TUN interface is created through this runner (e.g. inside another network namespace with
  // HostNet::RunInNetns) while the UDP socket stays in the caller's namespace, as the kernel's WireGuard does:
  // the tunnel's inside can live in a cloud network while its outside faces the uplink.
  std::function<Status(const std::function<Status()>&)> tun_runner;
};

class Tunnel {
 public:
  // Creates the TUN interface (down, no address: the caller or `ip` configures it), binds a UDP port (random
  // until configured) and starts listening on the UAPI socket. Fails if the socket path is served already.
  static Result<std::unique_ptr<Tunnel>> Open(const TunnelOptions& options);
  ~Tunnel();  // removes the socket file

  // Applies a configuration change (a wg-quick file's, or `wg setconf`'s) before or while running. Safe from any
  // thread: while Run() loops, the change is handed to the loop's thread and this waits for its result.
  Status Configure(const DeviceConfigChange& change);
  uint16_t listen_port() const;
  const std::string& name() const;
  const std::string& uapi_path() const;

  // Runs until Stop(), a fatal error, or the interface disappears (deleted with `ip link del`: a clean exit).
  Status Run();
  // Async-signal-safe: may be called from a signal handler or another thread.
  void Stop();

 private:
  struct Impl;
  explicit Tunnel(std::unique_ptr<Impl> impl);
  Status Loop();
  std::unique_ptr<Impl> impl_;
};

}  // namespace cloudlet::vpn
