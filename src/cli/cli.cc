// Argument parsing for every command; `cloudlet --help` lists each command with what it does and an example.
#include "cli/cli.h"

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <filesystem>

#include "cli/container.h"
#include "cli/firewall.h"
#include "cli/image.h"
#include "cli/runtime.h"
#include "cli/vpn.h"
#include "control/daemon.h"

namespace cloudlet::cli {

namespace {

std::string EnvOr(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

constexpr const char* kFooter = R"(Examples:
  cloudlet daemon --detach                 start the daemon in the background (as root)
  cloudlet validate examples/quickstart.yaml
  cloudlet up examples/quickstart.yaml     create what the file declares; run again: "nothing changed"
  ip netns exec a1 ping -c1 10.10.0.2      endpoints are network namespaces
  cloudlet status                          switches, ports, VLANs, learned MACs, counters
  cloudlet status --format json            the same, for scripts
  cloudlet firewall rules                  firewall rules with hit counters (routers: see docs/CONFIG.md)
  cloudlet firewall trace --from web --to db --proto tcp --dport 80    which rule decides
  cloudlet image import --busybox busybox:latest   a base image without internet
  cloudlet container ls                    containers `up` runs (endpoints[].container); also logs, exec, stop
  cloudlet image push busybox:latest localhost:5000/busybox:1    to a registry (pull brings it back)
  cloudlet runtime run --bundle DIR ID     run an OCI bundle (runc's command line)
  cloudlet down examples/quickstart.yaml   remove what that file's `up` created, and nothing else

Exit status: 0 ok, 1 runtime failure (e.g. daemon not running), 2 bad input or usage.
Environment: CLOUDLET_SOCKET (default for --socket), CLOUDLET_STATE_DIR (default for daemon --state-dir).)";

}  // namespace

std::string ProjectPath(const std::string& file) {
  std::error_code ec;
  auto abs = std::filesystem::absolute(file, ec);
  if (ec) return file;
  return abs.lexically_normal().string();
}

int RunCli(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  // `cloudlet runtime ...` takes runc's arguments verbatim; CLI11 would reinterpret them.
  if (argc >= 2 && std::string_view(argv[1]) == "runtime") return RunRuntimeCli(argc - 1, argv + 1, out, err);
  CLI::App app{
      "cloudlet: a private cloud in one binary. One YAML file declares switches, VLANs, links and "
      "endpoints;\n`cloudlet up FILE` makes them real, `cloudlet down FILE` takes them away.",
      "cloudlet"};
  app.footer(kFooter);
  app.require_subcommand(1);
  app.fallthrough();  // global options may follow the command: `cloudlet daemon --socket X`
  app.set_version_flag("--version", "cloudlet 0.1.0");

  std::string socket_path = EnvOr("CLOUDLET_SOCKET", kDefaultSocketPath);
  app.add_option("--socket", socket_path, "Unix socket of the daemon's API (env CLOUDLET_SOCKET)")
      ->capture_default_str()
      ->type_name("PATH");

  DaemonArgs daemon_args;
  daemon_args.state_dir = EnvOr("CLOUDLET_STATE_DIR", kDefaultStateDir);
  auto* daemon =
      app.add_subcommand("daemon", "Run the data plane and the API (as root).  Example: cloudlet daemon --detach");
  daemon
      ->add_option("--state-dir", daemon_args.state_dir,
                   "Where state.json, the lock, daemon.pid and daemon.log live (env CLOUDLET_STATE_DIR)")
      ->capture_default_str()
      ->type_name("DIR");
  daemon->add_option("--log-level", daemon_args.log_level, "trace, debug, info, warn or error")
      ->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  daemon
      ->add_option("--image-store", daemon_args.image_store,
                   "The image store containers' images come from (env CLOUDLET_IMAGE_STORE, default "
                   "/var/lib/cloudlet/images)")
      ->type_name("DIR");
  daemon->add_flag("--detach", daemon_args.detach,
                   "Run in the background: log to STATE_DIR/daemon.log, return once the API answers");

  std::string file;
  auto* up = app.add_subcommand(
      "up", "Validate FILE and make the host match it; prints one line per change.  Example: cloudlet up cloud.yaml");
  up->add_option("FILE", file, "The YAML file (its absolute path names the project)")->required();

  auto* down =
      app.add_subcommand("down", "Remove what `up FILE` created, and nothing else.  Example: cloudlet down cloud.yaml");
  down->add_option("FILE", file, "The YAML file given to `up`")->required();

  std::string format = "table";
  auto* status = app.add_subcommand(
      "status", "Show switches, ports, VLANs, learned MACs and counters.  Example: cloudlet status --format json");
  status->add_option("--format", format, "table (for people) or json (for scripts)")
      ->capture_default_str()
      ->check(CLI::IsMember({"table", "json"}));

  bool check_host = false;
  auto* validate = app.add_subcommand(
      "validate", "Check FILE without changing anything; no daemon needed.  Example: cloudlet validate cloud.yaml");
  validate->add_option("FILE", file, "The YAML file to check")->required();
  validate->add_flag(
      "--host", check_host,
      "Also check the host: the interfaces FILE names exist, VPN key files are readable keys of mode 0600");

  VpnArgs vpn_args;
  CLI::App* vpn = AddVpnCommands(app, vpn_args);
  FirewallArgs firewall_args;
  CLI::App* firewall = AddFirewallCommands(app, firewall_args);
  ContainerArgs container_args;
  CLI::App* container = AddContainerCommands(app, container_args);
  ImageArgs image_args;
  CLI::App* image = AddImageCommands(app, image_args);
  app.add_subcommand("runtime",
                     "The OCI runtime, runc's command line (also as a `cloudlet-runtime` symlink).  Example: "
                     "cloudlet runtime run --bundle DIR ID")
      ->allow_extras();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e, out, err);
    if (code == 0) return kExitOk;  // --help, --version
    err << "Run `cloudlet --help` for the commands and examples.\n";
    return kExitBadInput;
  }

  if (daemon->parsed()) {
    daemon_args.socket_path = socket_path;
    if (!daemon_args.image_store.empty()) daemon_args.image_store = ProjectPath(daemon_args.image_store);
    return RunDaemonCommand(daemon_args, out, err);
  }
  if (up->parsed()) return RunUpCommand(socket_path, file, out, err);
  if (down->parsed()) return RunDownCommand(socket_path, file, out, err);
  if (status->parsed()) return RunStatusCommand(socket_path, format, out, err);
  if (validate->parsed()) return RunValidateCommand(file, check_host, out, err);
  if (vpn->parsed()) return RunVpnCommand(vpn_args, out, err);
  if (firewall->parsed()) {
    firewall_args.socket_path = socket_path;
    return RunFirewallCommand(firewall_args, out, err);
  }
  if (container->parsed()) {
    container_args.socket_path = socket_path;
    return RunContainerCommand(container_args, out, err);
  }
  if (image->parsed()) return RunImageCommand(image_args, out, err);
  err << "cloudlet: no command given; run `cloudlet --help`\n";
  return kExitBadInput;
}

}  // namespace cloudlet::cli
