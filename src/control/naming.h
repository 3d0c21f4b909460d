// Names of the kernel interfaces cloudlet creates. They are derived from (project, declaration) with a stable hash so
// that a restarted daemon finds the same interfaces again, and they fit Linux's 15-character IFNAMSIZ limit.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace cloudlet {

// FNV-1a, 32 bit: stable across builds and platforms (std::hash is not).
uint32_t StableHash32(std::string_view data);

// Host end of an endpoint's veth: "clp-" + 8 hex digits of hash(project, endpoint), 12 characters.
std::string EndpointHostIfname(const std::string& project, const std::string& endpoint);

// The two ends of the veth that links two switches: "cll-" + 8 hex + 'a' or 'b', 13 characters.
std::string LinkIfname(const std::string& project, const std::string& link, char side);

// A VPN's gateway network namespace: "clv-" + 8 hex digits of hash(project, vpn).
std::string VpnNetns(const std::string& project, const std::string& vpn);
// Host end of the veth from the VPN's switch into its gateway namespace: "clg-" + 8 hex, 12 characters.
std::string VpnHostIfname(const std::string& project, const std::string& vpn);
// The VPN's WireGuard TUN interface (inside the gateway namespace) and UAPI socket name: "clw-" + 8 hex.
std::string VpnTunIfname(const std::string& project, const std::string& vpn);
// The gateway's end of that veth, inside the gateway namespace.
constexpr const char* kVpnGatewayIfname = "eth0";

// Names of everything cloudlet creates start with one of these (for tests and cleanup checks).
constexpr std::string_view kEndpointIfPrefix = "clp-";
constexpr std::string_view kLinkIfPrefix = "cll-";
constexpr std::string_view kVpnNetnsPrefix = "clv-";
constexpr std::string_view kVpnHostIfPrefix = "clg-";
constexpr std::string_view kVpnTunPrefix = "clw-";

// "rt-" + 8 hex digits of a hash of the project path: the instance key of the project's router port.
std::string RouterPortKey(const std::string& project);

}  // namespace cloudlet
