// `cloudlet vpn ...` (cmd_vpn.cc): its arguments and the two hooks cli.cc calls.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace cloudlet::cli {

struct VpnArgs {
  std::string name, config, pid_file, log_file, format = "table";
  std::string peer_key, endpoint, psk_file, address, dns, out_file;
  std::vector<std::string> allowed_ips;
  int mtu = 0, rekey_after_time = 0, keepalive = -1;
  bool foreground = false, no_offload = false, qr = false;
  CLI::App *vpn = nullptr, *up = nullptr, *down = nullptr, *show = nullptr, *genkey = nullptr, *pubkey = nullptr,
           *genpsk = nullptr, *peer_add = nullptr, *peer_remove = nullptr, *client = nullptr;
};

// Registers `vpn` and its subcommands on `app`, parsing into `args`; returns the `vpn` command.
CLI::App* AddVpnCommands(CLI::App& app, VpnArgs& args);
// Runs the parsed `vpn` subcommand.
int RunVpnCommand(const VpnArgs& args, std::ostream& out, std::ostream& err);

}  // namespace cloudlet::cli
