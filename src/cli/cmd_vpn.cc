// `cloudlet vpn ...`: standalone WireGuard interfaces. `up` runs one (TUN + UDP + the UAPI socket `wg` talks to);
// the other commands are clients of that socket, so they work the same against wireguard-go.
#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "cli/cli.h"
#include "cli/qr.h"
#include "cli/vpn.h"
#include "hostnet/host_net.h"
#include "vpn/keys.h"
#include "vpn/tunnel.h"
#include "vpn/uapi.h"
#include "vpn/uapi_client.h"
#include "vpn/wgquick.h"

namespace cloudlet::cli {
namespace {

constexpr const char* kPidDir = "/var/run/cloudlet/vpn";

std::string PidPath(const std::string& name) { return std::string(kPidDir) + "/" + name + ".pid"; }
std::string SocketPath(const std::string& name) { return std::string(vpn::kDefaultUapiDir) + "/" + name + ".sock"; }

Status ValidateName(const std::string& name) {
  if (name.empty() || name.size() > 15) return Error("interface name must be 1-15 characters");
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && std::string_view("_=+.-").find(c) == std::string_view::npos) {
      return Error("interface name '" + name + "' may hold only letters, digits and _=+.-");
    }
  }
  return Status::Ok();
}

// --- UAPI client -------------------------------------------------------------------------------------------------

// One request to interface `name`'s socket; a missing socket says how to start the interface.
Result<std::string> UapiRequest(const std::string& name, const std::string& request) {
  const std::string path = SocketPath(name);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return Error("interface " + name + " is not running (no " + path + "); start it with `cloudlet vpn up " + name +
                 "`");
  }
  return vpn::UapiTransact(path, request);
}

struct ShownDevice {
  std::string name;
  vpn::UapiDeviceStatus status;
};

Result<ShownDevice> GetDevice(const std::string& name) {
  CL_ASSIGN_OR_RETURN(std::string reply, UapiRequest(name, "get=1\n\n"));
  auto status = vpn::ParseGetReply(reply);
  vpn::SecureZero(reply.data(), reply.size());  // it held the private key
  if (!status.ok()) return status.error();
  return ShownDevice{name, std::move(*status)};
}

std::string HumanBytes(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) v /= 1024, ++u;
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.2f %s", v, units[u]);
  return buf;
}

std::string Ago(int64_t unix_sec) {
  if (unix_sec == 0) return "never";
  const int64_t d = std::max<int64_t>(0, std::time(nullptr) - unix_sec);
  if (d < 120) return std::to_string(d) + " seconds ago";
  if (d < 7200) return std::to_string(d / 60) + " minutes, " + std::to_string(d % 60) + " seconds ago";
  return std::to_string(d / 3600) + " hours, " + std::to_string(d / 60 % 60) + " minutes ago";
}

std::string PublicKeyText(const std::optional<vpn::PublicKey>& key) { return key ? vpn::KeyToBase64(*key) : ""; }

std::vector<std::string> PrefixTexts(const std::vector<vpn::IpPrefix>& prefixes) {
  std::vector<std::string> out;
  out.reserve(prefixes.size());
  for (const auto& p : prefixes) out.push_back(vpn::FormatIpPrefix(p));
  return out;
}

nlohmann::json ToJson(const ShownDevice& dev) {
  nlohmann::json peers = nlohmann::json::array();
  for (const vpn::UapiPeerStatus& p : dev.status.peers) {
    peers.push_back({{"public_key", vpn::KeyToBase64(p.public_key)},
                     {"endpoint", p.endpoint ? vpn::FormatEndpoint(*p.endpoint) : ""},
                     {"allowed_ips", PrefixTexts(p.allowed_ips)},
                     {"latest_handshake_unix", p.last_handshake_unix_sec},
                     {"rx_bytes", p.rx_bytes},
                     {"tx_bytes", p.tx_bytes},
                     {"persistent_keepalive", p.persistent_keepalive},
                     {"preshared_key", p.has_preshared_key ? "(hidden)" : ""}});
  }
  return {{"interface", dev.name},
          {"public_key", PublicKeyText(dev.status.public_key)},
          {"listen_port", dev.status.listen_port},
          {"fwmark", dev.status.fwmark},
          {"peers", peers}};
}

void PrintTable(const ShownDevice& dev, std::ostream& out) {
  const std::string public_key = PublicKeyText(dev.status.public_key);
  out << "interface: " << dev.name << "\n";
  out << "  public key: " << (public_key.empty() ? "(none)" : public_key) << "\n";
  out << "  private key: " << (public_key.empty() ? "(none)" : "(hidden)") << "\n";
  out << "  listening port: " << dev.status.listen_port << "\n";
  if (dev.status.fwmark) out << "  fwmark: 0x" << std::hex << dev.status.fwmark << std::dec << "\n";
  for (const vpn::UapiPeerStatus& p : dev.status.peers) {
    out << "\npeer: " << vpn::KeyToBase64(p.public_key) << "\n";
    if (p.has_preshared_key) out << "  preshared key: (hidden)\n";
    if (p.endpoint) out << "  endpoint: " << vpn::FormatEndpoint(*p.endpoint) << "\n";
    std::string ips;
    for (const auto& ip : PrefixTexts(p.allowed_ips)) ips += (ips.empty() ? "" : ", ") + ip;
    out << "  allowed ips: " << (ips.empty() ? "(none)" : ips) << "\n";
    out << "  latest handshake: " << Ago(p.last_handshake_unix_sec) << "\n";
    out << "  transfer: " << HumanBytes(p.rx_bytes) << " received, " << HumanBytes(p.tx_bytes) << " sent\n";
    if (p.persistent_keepalive) out << "  persistent keepalive: every " << p.persistent_keepalive << " seconds\n";
  }
}

// --- endpoints and key files ---------------------------------------------------------------------------------------

// "host:port" or "[v6]:port".
Result<vpn::WgQuickEndpoint> ParseEndpointText(const std::string& text) {
  vpn::WgQuickEndpoint ep;
  std::string port;
  if (!text.empty() && text[0] == '[') {
    const size_t close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return Error("endpoint '" + text + "': expected [IPv6]:PORT");
    }
    ep.host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0) return Error("endpoint '" + text + "': expected HOST:PORT");
    ep.host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  char* end = nullptr;
  const unsigned long p = std::strtoul(port.c_str(), &end, 10);
  if (port.empty() || *end != '\0' || p == 0 || p > 65535) return Error("endpoint '" + text + "': bad port");
  ep.port = static_cast<uint16_t>(p);
  return ep;
}

std::string ToHex(std::span<const uint8_t> bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (uint8_t b : bytes) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 0xf]);
  }
  return out;
}

std::vector<std::string> SplitList(const std::vector<std::string>& items) {
  std::vector<std::string> out;
  for (const auto& item : items) {
    std::stringstream ss(item);
    std::string part;
    while (std::getline(ss, part, ',')) {
      part.erase(0, part.find_first_not_of(" \t"));
      part.erase(part.find_last_not_of(" \t") + 1);
      if (!part.empty()) out.push_back(part);
    }
  }
  return out;
}

// A `set` body for one peer; checked with the same parser the server uses, so mistakes get a precise message here.
Result<std::string> PeerSetRequest(const VpnArgs& a, const vpn::PublicKey& key, const std::vector<std::string>& ips) {
  std::string body = "public_key=" + ToHex(key) + "\n";
  if (!a.psk_file.empty()) {
    CL_ASSIGN_OR_RETURN(vpn::KeyFile psk, vpn::ReadKeyFile(a.psk_file));
    if (psk.warning) std::cerr << "cloudlet: warning: " << *psk.warning << "\n";
    body += "preshared_key=" + ToHex(psk.key.span()) + "\n";
  }
  if (!a.endpoint.empty()) {
    CL_ASSIGN_OR_RETURN(vpn::WgQuickEndpoint ep, ParseEndpointText(a.endpoint));
    CL_ASSIGN_OR_RETURN(vpn::UdpEndpoint resolved, vpn::ResolveEndpoint(ep));
    body += "endpoint=" + vpn::FormatEndpoint(resolved) + "\n";
  }
  if (a.keepalive >= 0) body += "persistent_keepalive_interval=" + std::to_string(a.keepalive) + "\n";
  body += "replace_allowed_ips=true\n";
  for (const auto& ip : ips) {
    // Checked one by one so the message names the option and the value, not a line of the wire protocol.
    if (!vpn::ParseSet("public_key=" + ToHex(key) + "\nallowed_ip=" + ip + "\n").ok()) {
      return Error("--allowed-ips: '" + ip + "' is not an IPv4 or IPv6 prefix (e.g. 10.77.0.2/32, fd00::/64)");
    }
    body += "allowed_ip=" + ip + "\n";
  }
  auto parsed = vpn::ParseSet(body);
  if (!parsed.ok()) return parsed.error();
  return "set=1\n" + body + "\n";
}

// --- up / down -------------------------------------------------------------------------------------------------

vpn::Tunnel* g_tunnel = nullptr;
void OnSignal(int /*sig*/) {
  if (g_tunnel) g_tunnel->Stop();
}

// True if `inner` lies inside the subnet of interface address `outer` (its connected route already covers it).
bool Covered(const vpn::IpPrefix& inner, const vpn::IpPrefix& outer) {
  if (inner.address.family != outer.address.family || inner.length < outer.length) return false;
  return vpn::MaskedPrefix({inner.address, outer.length}) == vpn::MaskedPrefix(outer);
}

// What wg-quick does around `wg setconf`: addresses, link up, and a route through the interface for each peer's
// allowed IP that no address's subnet covers already. Default routes (/0) need policy routing to not capture the
// tunnel's own UDP traffic; cloudlet does not set that up and says so. Table = off means no routes, as in wg-quick.
Status ApplyWgQuickInterface(const std::string& name, const vpn::WgQuickConfig& conf, std::ostream& err) {
  const std::vector<std::string> cidrs = PrefixTexts(conf.interface.addresses);
  if (!cidrs.empty()) CL_RETURN_IF_ERROR(HostNet::ReplaceAddresses(name, cidrs));
  CL_RETURN_IF_ERROR(HostNet::SetLinkUp(name));
  const std::string table = conf.interface.table.value_or("auto");
  if (table == "off") return Status::Ok();
  if (table != "auto") {
    err << "cloudlet: note: Table = " << table << " is not supported; no routes added for the peers\n";
    return Status::Ok();
  }
  for (const vpn::WgQuickPeer& peer : conf.peers) {
    for (const vpn::IpPrefix& prefix : peer.allowed_ips) {
      if (prefix.length == 0) {
        err << "cloudlet: note: AllowedIPs " << vpn::FormatIpPrefix(prefix)
            << " is not routed (a full tunnel needs policy routing); add the routes you want through " << name << "\n";
        continue;
      }
      const bool covered = std::any_of(conf.interface.addresses.begin(), conf.interface.addresses.end(),
                                       [&](const vpn::IpPrefix& a) { return Covered(prefix, a); });
      if (!covered) CL_RETURN_IF_ERROR(HostNet::ReplaceDeviceRoute(vpn::FormatIpPrefix(prefix), name, ""));
    }
  }
  return Status::Ok();
}

// ":LINE: Key" of the file's first hook, so the refusal points at it like the parser's own messages do (the parsed
// config keeps no line numbers). Empty if the file cannot be read again.
std::string FirstHookLocation(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  for (size_t n = 1; n <= vpn::kWgQuickMaxLines && std::getline(in, line); ++n) {
    const size_t eq = line.find('=');
    if (eq == std::string::npos || eq > line.find('#')) continue;
    std::string key = line.substr(0, eq);
    key.erase(0, key.find_first_not_of(" \t"));
    key.erase(key.find_last_not_of(" \t") + 1);
    for (const char* hook : {"PreUp", "PostUp", "PreDown", "PostDown"}) {
      if (::strcasecmp(key.c_str(), hook) == 0) {
        return ":" + std::to_string(n) + ": " + hook;
      }
    }
  }
  return "";
}

int RunUp(const VpnArgs& a, std::ostream& out, std::ostream& err) {
  vpn::TunnelOptions options;
  options.name = a.name;
  options.offload = !a.no_offload;
  if (a.rekey_after_time > 0) options.timers.rekey_after_time = Nanos{a.rekey_after_time} * kSecond;
  std::optional<vpn::WgQuickConfig> conf;
  std::optional<vpn::DeviceConfigChange> change;
  if (!a.config.empty()) {
    // Everything about the file is checked before anything is created.
    auto parsed = vpn::ReadWgQuickFile(a.config);
    if (!parsed.ok()) {
      err << "cloudlet: " << parsed.error().message() << "\n";
      return kExitBadInput;
    }
    if (parsed->has_hooks()) {
      err << "cloudlet: " << a.config << FirstHookLocation(a.config)
          << ": PreUp/PostUp/PreDown/PostDown hooks are not run by cloudlet (they are shell commands run as root); "
             "remove them and put their effect elsewhere\n";
      return kExitBadInput;
    }
    auto c = parsed->ToDeviceConfigChange(vpn::ResolveEndpoint);
    if (!c.ok()) {
      err << "cloudlet: " << a.config << ": " << c.error().message() << "\n";
      return kExitBadInput;
    }
    if (parsed->interface.mtu) options.mtu = static_cast<int>(*parsed->interface.mtu);
    if (!parsed->interface.dns_servers.empty()) {
      err << "cloudlet: note: DNS in " << a.config << " is not applied (cloudlet does not manage resolv.conf)\n";
    }
    conf = std::move(*parsed);
    change = std::move(*c);
  }
  if (a.mtu > 0) options.mtu = a.mtu;

  auto tunnel = vpn::Tunnel::Open(options);
  if (!tunnel.ok()) {
    err << "cloudlet: " << tunnel.error().message() << "\n";
    return kExitFailure;
  }
  if (change) {
    Status s = (*tunnel)->Configure(*change);
    if (s.ok()) s = ApplyWgQuickInterface(a.name, *conf, err);
    if (!s.ok()) {
      err << "cloudlet: " << a.config << ": " << s.error().message() << "\n";
      return kExitFailure;  // the TUN closes with the process: nothing is left behind
    }
  }

  // Detach: the parent returns once the child has written its pid file, so `vpn down` right after works.
  int ready[2] = {-1, -1};
  if (!a.foreground) {
    if (::pipe2(ready, O_CLOEXEC) < 0) {
      err << "cloudlet: pipe: " << std::strerror(errno) << "\n";
      return kExitFailure;
    }
    const pid_t pid = ::fork();
    if (pid < 0) {
      err << "cloudlet: fork: " << std::strerror(errno) << "\n";
      return kExitFailure;
    }
    if (pid > 0) {
      ::close(ready[1]);
      char c = 0;
      const bool ok = ::read(ready[0], &c, 1) == 1;
      out << (ok ? "vpn " + a.name + ": up (pid " + std::to_string(pid) + ", UDP port " +
                       std::to_string((*tunnel)->listen_port()) + ", " + (*tunnel)->uapi_path() + ")\n"
                 : "");
      if (!ok) err << "cloudlet: vpn " << a.name << " failed to start\n";
      std::_Exit(ok ? kExitOk : kExitFailure);  // no destructors: the child owns the socket file now
    }
    ::close(ready[0]);
    ::setsid();
    const int devnull = ::open("/dev/null", O_RDWR);
    if (devnull >= 0) {
      ::dup2(devnull, 0);
      ::dup2(devnull, 1);
      if (a.log_file.empty()) ::dup2(devnull, 2);
      ::close(devnull);
    }
  }
  if (!a.log_file.empty()) {
    const int fd = ::open(a.log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd >= 0) {
      ::dup2(fd, 2);
      ::close(fd);
    }
  }
  std::error_code ec;
  std::filesystem::create_directories(kPidDir, ec);
  const std::string pid_text = std::to_string(::getpid()) + "\n";
  for (const std::string& path : {PidPath(a.name), a.pid_file}) {
    if (path.empty()) continue;
    std::ofstream(path) << pid_text;
  }
  g_tunnel = tunnel->get();
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  if (ready[1] >= 0) {
    (void)!::write(ready[1], "1", 1);
    ::close(ready[1]);
  } else {
    out << "vpn " << a.name << ": up (UDP port " << (*tunnel)->listen_port() << ", " << (*tunnel)->uapi_path()
        << "); Ctrl-C stops it\n"
        << std::flush;
  }
  Status run = (*tunnel)->Run();
  g_tunnel = nullptr;
  ::unlink(PidPath(a.name).c_str());
  if (!a.pid_file.empty()) ::unlink(a.pid_file.c_str());
  if (!run.ok()) {
    spdlog::error("vpn {}: {}", a.name, run.error().message());
    return kExitFailure;
  }
  return kExitOk;
}

int RunDown(const VpnArgs& a, std::ostream& out, std::ostream& err) {
  std::ifstream in(PidPath(a.name));
  long pid = 0;
  if (!(in >> pid) || pid <= 1) {
    err << "cloudlet: vpn " << a.name << " is not running under cloudlet (no " << PidPath(a.name) << ")\n";
    return kExitFailure;
  }
  if (::kill(static_cast<pid_t>(pid), SIGTERM) < 0) {
    err << "cloudlet: vpn " << a.name << ": process " << pid << ": " << std::strerror(errno) << "\n";
    ::unlink(PidPath(a.name).c_str());
    return kExitFailure;
  }
  for (int i = 0; i < 100 && ::kill(static_cast<pid_t>(pid), 0) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (::kill(static_cast<pid_t>(pid), 0) == 0) {
    err << "cloudlet: vpn " << a.name << ": process " << pid << " did not stop within 5 s\n";
    return kExitFailure;
  }
  out << "vpn " << a.name << ": down\n";
  return kExitOk;
}

// --- keys, peers, clients --------------------------------------------------------------------------------------

int Fail(std::ostream& err, const Error& e, int code = kExitFailure) {
  err << "cloudlet: " << e.message() << "\n";
  return code;
}

int RunPeerAdd(const VpnArgs& a, std::ostream& out, std::ostream& err) {
  auto key = vpn::PublicKeyFromBase64(a.peer_key);
  if (!key.ok()) return Fail(err, key.error().wrap("peer public key"), kExitBadInput);
  auto request = PeerSetRequest(a, *key, SplitList(a.allowed_ips));
  if (!request.ok()) return Fail(err, request.error(), kExitBadInput);
  auto reply = UapiRequest(a.name, *request);
  if (!reply.ok()) return Fail(err, reply.error());
  out << "vpn " << a.name << ": peer " << a.peer_key << " set\n";
  return kExitOk;
}

int RunPeerRemove(const VpnArgs& a, std::ostream& out, std::ostream& err) {
  auto key = vpn::PublicKeyFromBase64(a.peer_key);
  if (!key.ok()) return Fail(err, key.error().wrap("peer public key"), kExitBadInput);
  auto dev = GetDevice(a.name);
  if (!dev.ok()) return Fail(err, dev.error());
  const bool known = std::any_of(dev->status.peers.begin(), dev->status.peers.end(),
                                 [&](const vpn::UapiPeerStatus& p) { return p.public_key == *key; });
  if (!known) return Fail(err, Error("vpn " + a.name + " has no peer " + a.peer_key));
  auto reply = UapiRequest(a.name, "set=1\npublic_key=" + ToHex(*key) + "\nremove=true\n\n");
  if (!reply.ok()) return Fail(err, reply.error());
  out << "vpn " << a.name << ": peer " << a.peer_key << " removed\n";
  return kExitOk;
}

// A new remote user: a key pair made here, the public half added as a peer of the running interface, and a
// wg-quick file for the user's device (written 0600, or shown as a QR code for the WireGuard phone apps).
int RunClient(const VpnArgs& a, std::ostream& out, std::ostream& err) {
  if (a.out_file.empty() && !a.qr) {
    return Fail(err,
                Error("say where the client config goes: --out FILE (mode 0600), --out - (stdout) or --qr; "
                      "it holds the client's private key"),
                kExitBadInput);
  }
  auto server = GetDevice(a.name);
  if (!server.ok()) return Fail(err, server.error());
  if (!server->status.public_key) return Fail(err, Error("vpn " + a.name + " has no private key yet"));

  vpn::WgQuickConfig client;
  const std::string text = "[Interface]\nAddress = " + a.address + "\n";
  auto addr = vpn::ParseWgQuick(text, "--address");
  if (!addr.ok() || addr->interface.addresses.size() != 1) {
    return Fail(err, Error("--address '" + a.address + "': expected one address with prefix, e.g. 10.77.0.10/32"),
                kExitBadInput);
  }
  client.interface.addresses = addr->interface.addresses;
  vpn::IpPrefix host = client.interface.addresses[0];
  host.length = host.address.family == vpn::IpAddress::Family::kV4 ? 32 : 128;
  auto endpoint = ParseEndpointText(a.endpoint);
  if (!endpoint.ok()) return Fail(err, endpoint.error(), kExitBadInput);
  std::vector<std::string> routed = SplitList(a.allowed_ips);
  if (routed.empty()) routed = {"0.0.0.0/0", "::/0"};
  std::string peer_text = "[Peer]\nPublicKey = " + vpn::KeyToBase64(*server->status.public_key) + "\nAllowedIPs = ";
  for (size_t i = 0; i < routed.size(); ++i) peer_text += (i ? ", " : "") + routed[i];
  if (!a.dns.empty()) peer_text = "[Interface]\nDNS = " + a.dns + "\n" + peer_text;
  auto peer_conf = vpn::ParseWgQuick(peer_text + "\n", "--allowed-ips/--dns");
  if (!peer_conf.ok()) return Fail(err, peer_conf.error(), kExitBadInput);
  client.interface.dns_servers = peer_conf->interface.dns_servers;
  client.interface.dns_search = peer_conf->interface.dns_search;
  vpn::WgQuickPeer peer = peer_conf->peers.at(0);
  peer.endpoint = *endpoint;
  peer.persistent_keepalive = static_cast<uint16_t>(a.keepalive >= 0 ? a.keepalive : 25);

  auto priv_b64 = vpn::GenerateKeyBase64();
  if (!priv_b64.ok()) return Fail(err, priv_b64.error());
  auto pub_b64 = vpn::PublicKeyFromPrivateBase64(*priv_b64);
  auto priv = vpn::SecretKeyFromBase64(*priv_b64);
  std::fill(priv_b64->begin(), priv_b64->end(), '\0');
  if (!pub_b64.ok() || !priv.ok()) return Fail(err, Error("key generation failed"));
  client.interface.private_key = vpn::PrivateKey(*priv);
  client.peers.push_back(peer);
  auto formatted = vpn::FormatWgQuick(client);
  if (!formatted.ok()) return Fail(err, formatted.error(), kExitBadInput);

  // The server learns the client only once its config exists somewhere.
  if (!a.out_file.empty() && a.out_file != "-") {
    if (Status s = vpn::WriteSecretFile(a.out_file, *formatted); !s.ok()) return Fail(err, s.error());
  }
  VpnArgs add = a;
  add.endpoint.clear();
  add.keepalive = -1;
  const std::string host_text = vpn::FormatIpPrefix(host);
  auto key = vpn::PublicKeyFromBase64(*pub_b64);
  auto request = PeerSetRequest(add, *key, {host_text});
  if (!request.ok()) return Fail(err, request.error(), kExitBadInput);
  auto reply = UapiRequest(a.name, *request);
  if (!reply.ok()) return Fail(err, reply.error());

  if (a.out_file == "-") out << *formatted;
  if (a.qr) {
    auto qr = RenderQrTerminal(*formatted, ::isatty(STDOUT_FILENO) == 1);  // colours: scannable on light themes too
    if (!qr.ok()) return Fail(err, qr.error());
    out << *qr;
  }
  err << "vpn " << a.name << ": client " << *pub_b64 << " added with " << host_text
      << (a.out_file.empty() || a.out_file == "-" ? "" : "; config in " + a.out_file + " (mode 0600)") << "\n";
  return kExitOk;
}

}  // namespace

CLI::App* AddVpnCommands(CLI::App& app, VpnArgs& a) {
  auto* vpn = app.add_subcommand("vpn",
                                 "WireGuard-compatible tunnels: `wg` and wg-quick files work with them.  Example: "
                                 "cloudlet vpn up wg0 --config wg0.conf");
  vpn->require_subcommand(1);
  a.vpn = vpn;

  a.up = vpn->add_subcommand("up", "Create interface NAME and serve it (TUN + UDP + /var/run/wireguard/NAME.sock)");
  a.up->add_option("NAME", a.name, "Interface name (1-15 characters)")->required();
  a.up->add_option("--config", a.config,
                   "A wg-quick file: keys, peers, Address, MTU; routes for AllowedIPs (not /0); hooks are refused")
      ->check(CLI::ExistingFile);
  a.up->add_flag("--foreground", a.foreground, "Stay in the foreground (Ctrl-C stops); default: detach once ready");
  a.up->add_option("--pid-file", a.pid_file, "Also write the process id here");
  a.up->add_option("--log-file", a.log_file, "Append logs here (detached runs log nowhere otherwise)");
  a.up->add_option("--mtu", a.mtu, "Tunnel MTU (default 1420, or the file's MTU)")->check(CLI::Range(576, 65455));
  a.up->add_flag("--no-offload", a.no_offload, "One packet per syscall: no TUN TSO, no UDP GSO/GRO");
  a.up->add_option("--rekey-after-time", a.rekey_after_time, "Testing: REKEY_AFTER_TIME in seconds (default 120)")
      ->check(CLI::Range(3, 120))
      ->group("Testing");

  a.down = vpn->add_subcommand("down", "Stop interface NAME started by `cloudlet vpn up` (the interface goes with it)");
  a.down->add_option("NAME", a.name, "Interface name")->required();

  a.show = vpn->add_subcommand("show", "Peers, endpoints, latest handshakes and transfer; never private keys");
  a.show->add_option("NAME", a.name, "Interface name (default: every interface with a socket)");
  a.show->add_option("--format", a.format, "table or json")->check(CLI::IsMember({"table", "json"}));

  a.genkey = vpn->add_subcommand("genkey", "Print a new private key (base64), like `wg genkey`");
  a.pubkey = vpn->add_subcommand("pubkey", "Read a private key on stdin, print its public key, like `wg pubkey`");
  a.genpsk = vpn->add_subcommand("genpsk", "Print a new preshared key, like `wg genpsk`");

  auto* peer = vpn->add_subcommand("peer", "Add or remove peers of a running interface");
  peer->require_subcommand(1);
  a.peer_add = peer->add_subcommand("add",
                                    "Add or update a peer.  Example: cloudlet vpn peer add wg0 KEY "
                                    "--allowed-ips 10.77.0.2/32 --endpoint 192.0.2.2:51820");
  a.peer_add->add_option("NAME", a.name, "Interface name")->required();
  a.peer_add->add_option("PUBLIC_KEY", a.peer_key, "The peer's public key (base64)")->required();
  a.peer_add->add_option("--allowed-ips", a.allowed_ips, "Prefixes routed to and accepted from the peer")->required();
  a.peer_add->add_option("--endpoint", a.endpoint, "HOST:PORT or [IPv6]:PORT where the peer listens");
  a.peer_add->add_option("--keepalive", a.keepalive, "Persistent keepalive in seconds (0 = off)")
      ->check(CLI::Range(0, 65535));
  a.peer_add->add_option("--psk-file", a.psk_file, "File with a preshared key (from `cloudlet vpn genpsk`)");
  a.peer_remove = peer->add_subcommand("remove", "Remove a peer.  Example: cloudlet vpn peer remove wg0 KEY");
  a.peer_remove->add_option("NAME", a.name, "Interface name")->required();
  a.peer_remove->add_option("PUBLIC_KEY", a.peer_key, "The peer's public key (base64)")->required();

  a.client = vpn->add_subcommand(
      "client",
      "Make a key pair for a new remote user, add it as a peer, and export its wg-quick config (file or QR code).  "
      "Example: cloudlet vpn client wg0 --address 10.77.0.10/32 --endpoint vpn.example.com:51820 --qr");
  a.client->add_option("NAME", a.name, "Interface the user connects to")->required();
  a.client->add_option("--address", a.address, "The user's tunnel address, e.g. 10.77.0.10/32")->required();
  a.client->add_option("--endpoint", a.endpoint, "Where the user reaches this host: HOST:PORT")->required();
  a.client->add_option("--allowed-ips", a.allowed_ips, "What the user routes into the tunnel (default everything)");
  a.client->add_option("--dns", a.dns, "DNS server(s) for the user's config");
  a.client->add_option("--keepalive", a.keepalive, "Persistent keepalive for the user (default 25)")
      ->check(CLI::Range(0, 65535));
  a.client->add_option("--out", a.out_file, "Write the config here (mode 0600); '-' prints it");
  a.client->add_flag("--qr", a.qr, "Show the config as a QR code for the WireGuard mobile apps");
  return vpn;
}

int RunVpnCommand(const VpnArgs& a, std::ostream& out, std::ostream& err) {
  if (a.genkey->parsed() || a.genpsk->parsed()) {
    auto key = a.genkey->parsed() ? vpn::GenerateKeyBase64() : vpn::GeneratePresharedKey();
    if (!key.ok()) return Fail(err, key.error());
    out << *key << "\n";
    return kExitOk;
  }
  if (a.pubkey->parsed()) {
    std::string input;
    char buf[256];
    while (input.size() < vpn::kMaxKeyFileBytes && std::cin.read(buf, sizeof buf).gcount() > 0) {
      input.append(buf, static_cast<size_t>(std::cin.gcount()));
    }
    auto pub = vpn::PublicKeyFromPrivateBase64(input);
    std::fill(input.begin(), input.end(), '\0');
    if (!pub.ok()) return Fail(err, pub.error(), kExitBadInput);
    out << *pub << "\n";
    return kExitOk;
  }
  if (!a.name.empty()) {
    if (Status s = ValidateName(a.name); !s.ok()) return Fail(err, s.error(), kExitBadInput);
  }
  if (a.up->parsed()) return RunUp(a, out, err);
  if (a.down->parsed()) return RunDown(a, out, err);
  if (a.peer_add->parsed()) return RunPeerAdd(a, out, err);
  if (a.peer_remove->parsed()) return RunPeerRemove(a, out, err);
  if (a.client->parsed()) return RunClient(a, out, err);
  if (a.show->parsed()) {
    std::vector<std::string> names;
    if (!a.name.empty()) {
      names.push_back(a.name);
    } else {
      std::error_code ec;
      for (const auto& entry : std::filesystem::directory_iterator(vpn::kDefaultUapiDir, ec)) {
        if (entry.path().extension() == ".sock") names.push_back(entry.path().stem());
      }
      std::sort(names.begin(), names.end());
    }
    nlohmann::json all = nlohmann::json::array();
    int code = kExitOk;
    for (size_t i = 0; i < names.size(); ++i) {
      auto dev = GetDevice(names[i]);
      if (!dev.ok()) {
        code = Fail(err, dev.error());
        continue;
      }
      if (a.format == "json") {
        all.push_back(ToJson(*dev));
      } else {
        if (i) out << "\n";
        PrintTable(*dev, out);
      }
    }
    if (a.format == "json") out << (a.name.empty() ? all : (all.empty() ? nlohmann::json() : all[0])).dump(2) << "\n";
    return code;
  }
  err << "cloudlet: vpn: no command given; run `cloudlet vpn --help`\n";
  return kExitBadInput;
}

}  // namespace cloudlet::cli
