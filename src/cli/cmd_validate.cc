// `cloudlet validate FILE`: the same checks as `up`, without a daemon and without changing anything.
#include "cli/cli.h"
#include "config/config.h"

namespace cloudlet::cli {

int RunValidateCommand(const std::string& file, bool check_host, std::ostream& out, std::ostream& err) {
  auto cfg = LoadConfig(file);
  if (!cfg.ok()) {
    err << cfg.error().message() << "\n";
    return kExitBadInput;
  }
  if (check_host) {
    SystemHostProbe probe;
    if (auto st = ValidateHost(*cfg, probe); !st.ok()) {
      err << st.message() << "\n";
      return kExitBadInput;
    }
  }
  out << file << ": valid (" << cfg->vlans.size() << " VLANs, " << cfg->switches.size() << " switches, "
      << cfg->links.size() << " links, " << cfg->endpoints.size() << " endpoints";
  if (!cfg->vpns.empty()) out << ", " << cfg->vpns.size() << " VPNs";
  out << ")\n";
  return kExitOk;
}

}  // namespace cloudlet::cli
