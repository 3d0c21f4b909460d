// `cloudlet status [--format table|json]`.
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
  }
  return kExitOk;
}

}  // namespace cloudlet::cli
