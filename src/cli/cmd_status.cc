// `cloudlet status [--format table|json]`: the daemon's status table, then its containers.
#include "cli/cli.h"
#include "cli/table.h"
#include "control/api.h"

namespace cloudlet::cli {

int RunStatusCommand(const std::string& socket_path, const std::string& format, std::ostream& out, std::ostream& err) {
  ApiClient client(socket_path, 30);
  auto reply = client.Get("/v1/status");
  if (!reply.ok()) {
    err << "cloudlet: " << reply.error().message() << "\n";
    return kExitFailure;
  }
  if (reply->code != 200) {
    err << "cloudlet: status failed: " << reply->body.value("error", "HTTP " + std::to_string(reply->code)) << "\n";
    return kExitFailure;
  }
  if (format == "json") {
    out << reply->body.dump(2) << "\n";
  } else {
    out << RenderStatusTable(reply->body);
    const auto containers = reply->body.value("containers", nlohmann::json::array());
    if (!containers.empty()) {
      TextTable t({"NAME", "STATE", "PID", "RESTARTS", "IMAGE", "NETNS"}, {false, false, true, true, false, false});
      for (const auto& c : containers) {
        t.AddRow({c.value("name", ""), c.value("state", ""),
                  c.value("pid", 0) ? std::to_string(c.value("pid", 0)) : "-", std::to_string(c.value("restarts", 0)),
                  c.value("image", ""), c.value("netns", "")});
      }
      out << "\nContainers (cloudlet container ls for more)\n" << t.Render("  ");
    }
  }
  return kExitOk;
}

}  // namespace cloudlet::cli
