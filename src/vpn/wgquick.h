// wg-quick(8) configuration files: the parser, the writer (for exporting a client's config), and the translation
// into the DeviceConfigChange that `wg setconf` would send for the same file.
//
// Accepted like wg-quick + wg(8): section names and keys case-insensitive, '#' starts a comment anywhere on a line
// (hooks included, as wg-quick strips it before looking at the key), blank lines, whitespace around keys, values and
// list items ignored, list values comma-separated and repeatable (Address, DNS, AllowedIPs), an address without a
// prefix length meaning /32 (or /128), "off" for FwMark and PersistentKeepalive. Stricter than wg where a mistake is
// likely and the fix obvious: a key given twice (other than the list keys and hooks), a second [Interface], keys
// outside a section, endpoint port 0, empty list items, an allowed IP given to two peers, unknown keys and sections are
// errors. Every error is collected, each "FILE:LINE: Key: message".
//
// Hooks (PreUp, PostUp, PreDown, PostDown) are parsed and kept so a config can be read and written back unchanged,
// but cloudlet never runs them: they are arbitrary shell commands run as root, and cloudlet configures addresses,
// routes and DNS itself. A caller bringing an interface up should refuse (or at least warn about) a config that has
// hooks; see WgQuickConfig::has_hooks().
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "vpn/allowed_ips.h"
#include "vpn/crypto.h"
#include "vpn/uapi.h"

namespace cloudlet::vpn {

// Bounds on what a config file may make us hold.
constexpr size_t kWgQuickMaxFileBytes = size_t{1} << 20;
constexpr size_t kWgQuickMaxLines = 100000;
constexpr size_t kWgQuickMaxLineLength = 4096;  // hooks can be long shell lines
constexpr size_t kWgQuickMaxHookLength = 4000;  // one PreUp/PostUp/PreDown/PostDown command
constexpr size_t kWgQuickMaxListValues = 1024;  // Address values, DNS values, and commands per hook
constexpr size_t kWgQuickMaxReportedErrors = 20;

// "Endpoint = host:port" as written; the host is resolved only when the config is applied (ResolveEndpoint).
struct WgQuickEndpoint {
  std::string host;  // an IPv4 address, a DNS name, or an IPv6 address (without the brackets)
  uint16_t port = 0;
  bool operator==(const WgQuickEndpoint&) const = default;
};

struct WgQuickInterface {
  std::optional<PrivateKey> private_key;
  std::optional<uint16_t> listen_port;
  std::optional<uint32_t> fwmark;   // "off" is 0
  std::vector<IpPrefix> addresses;  // as written (host bits kept: they are the interface's address)
  std::vector<IpAddress> dns_servers;
  std::vector<std::string> dns_search;  // DNS values that are not addresses: search domains, as wg-quick does
  std::optional<uint32_t> mtu;
  std::optional<std::string> table;  // "off", "auto", a number or a routing table name
  std::vector<std::string> pre_up, post_up, pre_down, post_down;
  std::optional<bool> save_config;
};

struct WgQuickPeer {
  PublicKey public_key{};
  std::optional<PresharedKey> preshared_key;
  std::vector<IpPrefix> allowed_ips;  // in file order, as written
  std::optional<WgQuickEndpoint> endpoint;
  std::optional<uint16_t> persistent_keepalive;  // seconds; "off" is 0
};

// Resolves an endpoint's host to an address, e.g. ResolveEndpoint or a lookup in names resolved beforehand.
using EndpointResolver = std::function<Result<UdpEndpoint>(const WgQuickEndpoint&)>;

struct WgQuickConfig {
  WgQuickInterface interface;
  std::vector<WgQuickPeer> peers;  // in file order; public keys are distinct

  bool has_hooks() const;
  // What `wg setconf` sends for this file: replace_peers, the private key / listen port / fwmark that are set, and
  // per peer replace_allowed_ips, its allowed_ips, then the endpoint, preshared key and keepalive that are set.
  // The wg-quick-only keys (Address, DNS, MTU, Table, hooks, SaveConfig) are not part of it. Endpoints are resolved
  // through `resolve`; the first failure is returned, naming the peer.
  Result<DeviceConfigChange> ToDeviceConfigChange(const EndpointResolver& resolve) const;
};

// Parses a config file's text; `file_name` only prefixes messages. On error, one Error with one problem per line
// (at most kWgQuickMaxReportedErrors, then "... and N more error(s)").
Result<WgQuickConfig> ParseWgQuick(std::string_view text, std::string_view file_name);
// Reads `path` (at most kWgQuickMaxFileBytes) and parses it; messages name the path as given.
Result<WgQuickConfig> ReadWgQuickFile(const std::string& path);

// The config as a wg-quick file: [Interface] then one [Peer] block per peer, keys in wg-quick's usual order and
// spelling, lists comma-separated ("AllowedIPs = 10.0.0.0/24, fd00::/64", continued on another line of the same key
// past ~500 characters), FwMark in hex as `wg showconf` writes it. ParseWgQuick(FormatWgQuick(c)) == c for every
// parsed c. Fails (rather than writing a file that means something else) if a string field holds a newline, '#', a
// comma where a list item is written, or is empty, or if the text would exceed the parser's bounds (possible only
// for a config near them: addresses are written in full, "::" as "::/128").
Result<std::string> FormatWgQuick(const WgQuickConfig& config);

// Resolves the host with getaddrinfo (UDP, any family; the first answer, as wg does). Blocks on DNS. One attempt:
// the caller decides about retries (wg retries EAI_AGAIN for up to ~15 s).
Result<UdpEndpoint> ResolveEndpoint(const WgQuickEndpoint& endpoint);

// The interface name wg-quick derives from a config path: "/etc/wireguard/wg0.conf" -> "wg0". The basename must
// end in ".conf" and the name match [a-zA-Z0-9_=+.-]{1,15}.
Result<std::string> InterfaceNameFromPath(std::string_view path);

}  // namespace cloudlet::vpn
