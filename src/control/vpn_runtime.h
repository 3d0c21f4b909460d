// The executor's view of the VPNs: run exactly these WireGuard interfaces, and report on them. The real
// implementation runs a vpn/Tunnel per VPN in the daemon (its UDP socket in the daemon's namespace, its TUN in the
// VPN's gateway namespace, one thread each); tests use a fake. Keys are read from their files when a tunnel is
// configured and never leave the runtime: plans carry paths, snapshots carry public keys only.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/status.h"
#include "control/planner.h"
#include "vpn/uapi.h"

namespace cloudlet {

class VpnRuntime {
 public:
  virtual ~VpnRuntime() = default;
  // Converges on `vpns` (every project's): starts new tunnels (and restarts dead ones), applies changed peer lists
  // in place (sessions of unchanged peers are kept), restarts a tunnel whose own settings changed, stops the rest.
  // Returns one line per change ("started vpn remote ...", "updated peers of vpn remote: added alice").
  virtual Result<std::vector<std::string>> Apply(const std::vector<VpnPlan>& vpns) = 0;
  // True if Apply(vpns) would change nothing.
  virtual bool Matches(const std::vector<VpnPlan>& vpns) = 0;
  // [{"name","project","interface","netns","listen_port","public_key","address","running","peers":[{"name",
  //   "public_key","endpoint","allowed_ips","latest_handshake","rx_bytes","tx_bytes","persistent_keepalive"}]}]
  // latest_handshake: Unix seconds, 0 = never.
  virtual nlohmann::json Snapshot() = 0;
};

std::unique_ptr<VpnRuntime> MakeTunnelRuntime();

// Parses the reply to a UAPI `get=1` request into the "peers" part of a snapshot, keyed by base64 public key;
// the private key line is skipped. Exposed for tests.
Result<nlohmann::json> ParseUapiGetPeers(const std::string& reply);
// The same from an already parsed reply.
nlohmann::json PeersJson(const vpn::UapiDeviceStatus& status);

}  // namespace cloudlet
