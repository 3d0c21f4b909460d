// `cloudlet firewall ...` (cmd_firewall.cc): rules with hit counters, tracked connections, and traces, read from the
// daemon's routers.
#pragma once

#include <optional>
#include <ostream>
#include <string>

namespace CLI {
class App;
}

namespace cloudlet::cli {

struct FirewallArgs {
  std::string socket_path;
  std::string format = "table";
  std::string project;  // a YAML file: only that project's router ("" = all)
  size_t limit = 1000;
  std::string from, to, proto = "tcp", src, dst;
  std::optional<int> sport, dport, icmp_type, icmp_code;
  CLI::App *firewall = nullptr, *rules = nullptr, *connections = nullptr, *trace = nullptr;
};

CLI::App* AddFirewallCommands(CLI::App& app, FirewallArgs& args);
int RunFirewallCommand(const FirewallArgs& args, std::ostream& out, std::ostream& err);

}  // namespace cloudlet::cli
