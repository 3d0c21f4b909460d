// VpnRuntime over vpn/Tunnel: one Tunnel per VPN, its event loop on a thread of its own, its TUN created inside the
// VPN's gateway namespace (which gets the tunnel address, routes to the peers' allowed IPs and IP forwarding) while
// the UDP socket stays in the daemon's namespace, facing the uplink.
#include "control/vpn_runtime.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "base/fd.h"
#include "hostnet/host_net.h"
#include "vpn/keys.h"
#include "vpn/tunnel.h"
#include "vpn/uapi.h"
#include "vpn/uapi_client.h"

namespace cloudlet {

namespace {

constexpr int kUapiTimeoutSeconds = 2;

Result<vpn::IpAddress> ParseVpnIp(const std::string& text) {
  vpn::IpAddress ip;
  if (inet_pton(AF_INET, text.c_str(), ip.bytes.data()) == 1) {
    ip.family = vpn::IpAddress::Family::kV4;
    return ip;
  }
  if (inet_pton(AF_INET6, text.c_str(), ip.bytes.data()) == 1) {
    ip.family = vpn::IpAddress::Family::kV6;
    return ip;
  }
  return Error("'" + text + "' is not an IP address");
}

Result<vpn::IpPrefix> ParseVpnPrefix(const std::string& cidr) {
  size_t slash = cidr.find('/');
  if (slash == std::string::npos) return Error("'" + cidr + "' has no prefix length");
  CL_ASSIGN_OR_RETURN(vpn::IpAddress ip, ParseVpnIp(cidr.substr(0, slash)));
  int length = std::atoi(cidr.c_str() + slash + 1);
  if (length < 0 || length > ip.bit_width()) return Error("'" + cidr + "' has an invalid prefix length");
  return vpn::IpPrefix{ip, static_cast<uint8_t>(length)};
}

// "203.0.113.5:51820" or "[2001:db8::1]:51820" (validated by the config checks).
Result<vpn::UdpEndpoint> ParseVpnEndpoint(const std::string& text) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos) return Error("'" + text + "' is not IP:PORT");
  std::string host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  CL_ASSIGN_OR_RETURN(vpn::IpAddress ip, ParseVpnIp(host));
  int port = std::atoi(text.c_str() + colon + 1);
  if (port <= 0 || port > 65535) return Error("'" + text + "' has an invalid port");
  return vpn::UdpEndpoint{ip, static_cast<uint16_t>(port)};
}

// Reads a key file the way the daemon must: a readable-by-others file is an error here, not a warning, because
// the daemon would otherwise keep serving a key anyone on the host may have copied.
Result<vpn::SecretBytes<vpn::kKeySize>> ReadSecretKey(const std::string& path) {
  CL_ASSIGN_OR_RETURN(vpn::KeyFile file, vpn::ReadKeyFile(path));
  if (file.warning) return Error(*file.warning);
  return file.key;
}

// The operations that make a peer exactly what `p` says (an existing peer keeps its sessions).
Result<vpn::PeerChange> PeerChangeFor(const VpnPeerPlan& p) {
  vpn::PeerChange change;
  CL_ASSIGN_OR_RETURN(change.public_key, vpn::PublicKeyFromBase64(p.public_key));
  vpn::PresharedKey psk;  // all-zero removes a preshared key
  if (!p.preshared_key_file.empty()) {
    CL_ASSIGN_OR_RETURN(psk, ReadSecretKey(p.preshared_key_file));
  }
  change.operations.emplace_back(vpn::SetPresharedKey{psk});
  if (!p.endpoint.empty()) {
    CL_ASSIGN_OR_RETURN(vpn::UdpEndpoint ep, ParseVpnEndpoint(p.endpoint));
    change.operations.emplace_back(vpn::SetEndpoint{ep});
  }
  change.operations.emplace_back(vpn::SetPersistentKeepalive{p.persistent_keepalive});
  change.operations.emplace_back(vpn::ReplaceAllowedIps{});
  for (const auto& cidr : p.allowed_ips) {
    CL_ASSIGN_OR_RETURN(vpn::IpPrefix prefix, ParseVpnPrefix(cidr));
    change.operations.emplace_back(vpn::AddAllowedIp{prefix});
  }
  return change;
}

std::set<std::string> RoutesOf(const VpnPlan& plan) {
  std::set<std::string> out;
  for (const auto& p : plan.peers) out.insert(p.allowed_ips.begin(), p.allowed_ips.end());
  return out;
}

// IPv4 (and IPv6 if the VPN uses it) forwarding inside the gateway namespace: it routes between tunnel and VLAN.
Status EnableForwarding(const std::string& netns, bool ipv6) {
  return HostNet::RunInNetns(netns, [&]() -> Status {
    std::vector<const char*> paths = {"/proc/sys/net/ipv4/ip_forward"};
    if (ipv6) paths.push_back("/proc/sys/net/ipv6/conf/all/forwarding");
    for (const char* path : paths) {
      UniqueFd fd(::open(path, O_WRONLY | O_CLOEXEC));
      if (!fd.valid() || ::write(fd.get(), "1\n", 2) != 2) return ErrnoError(std::string("enable forwarding: ") + path);
    }
    return Status::Ok();
  });
}

struct RunningVpn {
  VpnPlan plan;
  std::string public_key;  // base64
  std::unique_ptr<vpn::Tunnel> tunnel;
  std::thread thread;
  std::atomic<bool> done{false};

  ~RunningVpn() {
    if (tunnel) tunnel->Stop();
    if (thread.joinable()) thread.join();
  }
};

class TunnelRuntime final : public VpnRuntime {
 public:
  Result<std::vector<std::string>> Apply(const std::vector<VpnPlan>& vpns) override {
    std::lock_guard lock(mu_);
    std::vector<std::string> changes;
    std::set<std::string> wanted;
    for (const auto& p : vpns) wanted.insert(p.ifname);
    for (auto it = running_.begin(); it != running_.end();) {
      if (wanted.count(it->first)) {
        ++it;
        continue;
      }
      changes.push_back("stopped vpn " + it->second->plan.name + " (" + it->first + ")");
      it = running_.erase(it);  // stops and joins; the TUN and the UAPI socket go with the Tunnel
    }
    for (const auto& plan : vpns) {
      auto it = running_.find(plan.ifname);
      RunningVpn* cur = it == running_.end() ? nullptr : it->second.get();
      if (cur && !cur->done && cur->plan == plan) {
        // Same plan: the key file may still hold a new key (rotated in place); apply it without a restart.
        auto rotated = RotatedKey(*cur);
        if (!rotated.ok()) {  // `up` checks key files first; a tunnel already running keeps its key
          spdlog::warn("vpn {}: keeping the key in use: {}", plan.name, rotated.error().message());
          continue;
        }
        if (!*rotated) continue;
        vpn::DeviceConfigChange change;
        change.private_key = (*rotated)->first;
        CL_RETURN_IF_ERROR(cur->tunnel->Configure(change));
        cur->public_key = (*rotated)->second;
        changes.push_back("changed the key of vpn " + plan.name + " (public key " + cur->public_key + ")");
        continue;
      }
      if (cur && !cur->done && SameExceptPeers(cur->plan, plan)) {
        CL_ASSIGN_OR_RETURN(std::string line, UpdatePeers(*cur, plan));
        changes.push_back(std::move(line));
        continue;
      }
      if (cur) running_.erase(it);
      auto started = Start(plan);
      if (!started.ok()) return started.error().wrap("vpn " + plan.name);
      changes.push_back("started vpn " + plan.name + " (" + plan.ifname + " in netns " + plan.netns + ", UDP port " +
                        std::to_string(plan.listen_port) + ", " + std::to_string(plan.peers.size()) +
                        (plan.peers.size() == 1 ? " peer)" : " peers)"));
      running_[plan.ifname] = std::move(started).value();
    }
    return changes;
  }

  bool Matches(const std::vector<VpnPlan>& vpns) override {
    std::lock_guard lock(mu_);
    if (vpns.size() != running_.size()) return false;
    for (const auto& plan : vpns) {
      auto it = running_.find(plan.ifname);
      if (it == running_.end() || it->second->done || !(it->second->plan == plan)) return false;
      auto rotated = RotatedKey(*it->second);
      if (rotated.ok() && *rotated) return false;  // Apply applies the new key
    }
    return true;
  }

  nlohmann::json Snapshot() override {
    std::lock_guard lock(mu_);
    nlohmann::json out = nlohmann::json::array();
    for (const auto& [ifname, r] : running_) {
      nlohmann::json peers = nlohmann::json::array();
      nlohmann::json live = nlohmann::json::object();
      if (!r->done) {
        auto status = vpn::UapiGet(r->tunnel->uapi_path(), kUapiTimeoutSeconds);
        auto parsed = status.ok() ? Result<nlohmann::json>(PeersJson(*status)) : Result<nlohmann::json>(status.error());
        if (parsed.ok()) {
          live = std::move(parsed).value();
        } else {
          spdlog::warn("status of vpn {}: {}", r->plan.name, parsed.error().message());
        }
      }
      for (const auto& p : r->plan.peers) {
        nlohmann::json peer = {{"name", p.name},
                               {"public_key", p.public_key},
                               {"endpoint", p.endpoint},
                               {"allowed_ips", p.allowed_ips},
                               {"persistent_keepalive", p.persistent_keepalive},
                               {"latest_handshake", 0},
                               {"rx_bytes", 0},
                               {"tx_bytes", 0}};
        if (auto l = live.find(p.public_key); l != live.end()) {
          for (const char* k : {"endpoint", "latest_handshake", "rx_bytes", "tx_bytes"}) {
            if (l->contains(k)) peer[k] = (*l)[k];
          }
        }
        peers.push_back(std::move(peer));
      }
      out.push_back({{"name", r->plan.name},
                     {"project", r->plan.project},
                     {"interface", ifname},
                     {"netns", r->plan.netns},
                     {"listen_port", r->tunnel->listen_port()},
                     {"public_key", r->public_key},
                     {"address", r->plan.address},
                     {"running", !r->done},
                     {"peers", std::move(peers)}});
    }
    return out;
  }

 private:
  static bool SameExceptPeers(VpnPlan a, VpnPlan b) {
    a.peers.clear();
    b.peers.clear();
    return a == b;
  }

  // The key now in the running VPN's key file and its base64 public key, if that differs from the one in use.
  static Result<std::optional<std::pair<vpn::PrivateKey, std::string>>> RotatedKey(const RunningVpn& r) {
    CL_ASSIGN_OR_RETURN(vpn::PrivateKey key, ReadSecretKey(r.plan.private_key_file));
    CL_ASSIGN_OR_RETURN(vpn::PublicKey public_key, vpn::DerivePublicKey(key));
    std::string base64 = vpn::KeyToBase64(public_key);
    if (base64 == r.public_key) return std::optional<std::pair<vpn::PrivateKey, std::string>>();
    return std::optional<std::pair<vpn::PrivateKey, std::string>>(std::make_pair(key, base64));
  }

  static Result<std::unique_ptr<RunningVpn>> Start(const VpnPlan& plan) {
    CL_ASSIGN_OR_RETURN(vpn::PrivateKey private_key, ReadSecretKey(plan.private_key_file));
    CL_ASSIGN_OR_RETURN(vpn::PublicKey public_key, vpn::DerivePublicKey(private_key));
    vpn::DeviceConfigChange config;
    config.private_key = private_key;
    config.listen_port = plan.listen_port;
    config.replace_peers = true;
    for (const auto& p : plan.peers) {
      CL_ASSIGN_OR_RETURN(vpn::PeerChange change, PeerChangeFor(p));
      config.peers.push_back(std::move(change));
    }

    auto r = std::make_unique<RunningVpn>();
    r->plan = plan;
    r->public_key = vpn::KeyToBase64(public_key);
    vpn::TunnelOptions options;
    options.name = plan.ifname;
    options.mtu = static_cast<int>(plan.mtu);
    const std::string netns = plan.netns;
    options.tun_runner = [netns](const std::function<Status()>& fn) { return HostNet::RunInNetns(netns, fn); };
    CL_ASSIGN_OR_RETURN(r->tunnel, vpn::Tunnel::Open(options));
    CL_RETURN_IF_ERROR(r->tunnel->Configure(config));

    bool ipv6 = plan.address.find(':') != std::string::npos;
    CL_RETURN_IF_ERROR(EnableForwarding(plan.netns, ipv6));
    CL_RETURN_IF_ERROR(HostNet::ReplaceAddresses(plan.ifname, {plan.address}, plan.netns));
    CL_RETURN_IF_ERROR(HostNet::SetLinkUp(plan.ifname, plan.netns));
    for (const auto& route : RoutesOf(plan)) {
      CL_RETURN_IF_ERROR(HostNet::ReplaceDeviceRoute(route, plan.ifname, plan.netns));
    }

    RunningVpn* raw = r.get();
    r->thread = std::thread([raw] {
      Status st = raw->tunnel->Run();
      if (!st.ok()) spdlog::error("vpn {}: {}", raw->plan.name, st.message());
      raw->done = true;
    });
    return r;
  }

  // Removed peers are removed, new and changed ones (re)set; untouched peers keep their sessions.
  static Result<std::string> UpdatePeers(RunningVpn& r, const VpnPlan& plan) {
    std::map<std::string, const VpnPeerPlan*> before, after;
    for (const auto& p : r.plan.peers) before[p.public_key] = &p;
    for (const auto& p : plan.peers) after[p.public_key] = &p;
    vpn::DeviceConfigChange change;
    std::vector<std::string> added, removed, updated;
    for (const auto& [key, p] : before) {
      if (after.count(key)) continue;
      vpn::PeerChange pc;
      CL_ASSIGN_OR_RETURN(pc.public_key, vpn::PublicKeyFromBase64(key));
      pc.operations.emplace_back(vpn::RemovePeer{});
      change.peers.push_back(std::move(pc));
      removed.push_back(p->name);
    }
    for (const auto& [key, p] : after) {
      auto old = before.find(key);
      if (old != before.end() && *old->second == *p) continue;
      CL_ASSIGN_OR_RETURN(vpn::PeerChange pc, PeerChangeFor(*p));
      change.peers.push_back(std::move(pc));
      (old == before.end() ? added : updated).push_back(p->name);
    }
    if (!change.peers.empty()) CL_RETURN_IF_ERROR(r.tunnel->Configure(change));

    std::set<std::string> old_routes = RoutesOf(r.plan), new_routes = RoutesOf(plan);
    for (const auto& route : old_routes) {
      if (!new_routes.count(route)) CL_RETURN_IF_ERROR(HostNet::DeleteDeviceRoute(route, plan.ifname, plan.netns));
    }
    for (const auto& route : new_routes) {
      if (!old_routes.count(route)) CL_RETURN_IF_ERROR(HostNet::ReplaceDeviceRoute(route, plan.ifname, plan.netns));
    }
    r.plan = plan;

    std::string line = "updated peers of vpn " + plan.name + ":";
    auto list = [&](const char* what, const std::vector<std::string>& names) {
      if (names.empty()) return;
      line += std::string(" ") + what;
      for (size_t i = 0; i < names.size(); ++i) line += (i ? ", " : " ") + names[i];
      line += ";";
    };
    list("added", added);
    list("updated", updated);
    list("removed", removed);
    if (line.back() == ';') line.pop_back();
    if (added.empty() && updated.empty() && removed.empty()) line += " renamed";
    return line;
  }

  std::mutex mu_;
  std::map<std::string, std::unique_ptr<RunningVpn>> running_;  // by TUN name
};

}  // namespace

nlohmann::json PeersJson(const vpn::UapiDeviceStatus& status) {
  nlohmann::json peers = nlohmann::json::object();
  for (const vpn::UapiPeerStatus& p : status.peers) {
    nlohmann::json& peer = peers[vpn::KeyToBase64(p.public_key)] = nlohmann::json::object();
    if (p.endpoint) peer["endpoint"] = vpn::FormatEndpoint(*p.endpoint);
    peer["latest_handshake"] = p.last_handshake_unix_sec;
    peer["rx_bytes"] = p.rx_bytes;
    peer["tx_bytes"] = p.tx_bytes;
  }
  return peers;
}

Result<nlohmann::json> ParseUapiGetPeers(const std::string& reply) {
  CL_ASSIGN_OR_RETURN(vpn::UapiDeviceStatus status, vpn::ParseGetReply(reply));
  return PeersJson(status);
}

std::unique_ptr<VpnRuntime> MakeTunnelRuntime() { return std::make_unique<TunnelRuntime>(); }

}  // namespace cloudlet
