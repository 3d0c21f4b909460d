// `cloudlet up FILE` and `cloudlet down FILE`: validate locally, then ask the daemon, print one line per change.
#include "cli/cli.h"
#include "config/config.h"
#include "control/api.h"

namespace cloudlet::cli {

namespace {

// Prints the daemon's change lines; returns the exit code for the reply.
int PrintReply(const HttpReply& reply, const std::string& verb, std::ostream& out, std::ostream& err) {
  if (reply.body.contains("changes") && reply.body["changes"].is_array()) {
    for (const auto& c : reply.body["changes"]) {
      if (c.is_string()) out << c.get<std::string>() << "\n";
    }
  }
  if (reply.code >= 200 && reply.code < 300) return kExitOk;
  std::string msg = reply.body.value("error", "the daemon answered HTTP " + std::to_string(reply.code));
  err << "cloudlet: " << verb << " failed: " << msg << "\n";
  return reply.code >= 400 && reply.code < 500 ? kExitBadInput : kExitFailure;
}

}  // namespace

int RunUpCommand(const std::string& socket_path, const std::string& file, std::ostream& out, std::ostream& err) {
  // Everything is checked here first: a file with any error changes nothing, and the daemon is not even asked.
  auto cfg = LoadConfig(file);
  if (!cfg.ok()) {
    err << cfg.error().message() << "\n";
    err << "cloudlet: " << file << " has errors; nothing was changed\n";
    return kExitBadInput;
  }
  SystemHostProbe probe;
  if (auto st = ValidateHost(*cfg, probe); !st.ok()) {
    err << st.message() << "\n";
    err << "cloudlet: " << file << " does not fit this host; nothing was changed\n";
    return kExitBadInput;
  }
  ApiClient client(socket_path);
  auto reply = client.Post("/v1/up", {{"project", ProjectPath(file)}, {"config", ToJson(*cfg)}});
  if (!reply.ok()) {
    err << "cloudlet: " << reply.error().message() << "\n";
    return kExitFailure;
  }
  int rc = PrintReply(*reply, "up", out, err);
  if (rc == kExitOk && reply->body.value("changes", nlohmann::json::array()).empty()) {
    out << "up to date: nothing changed\n";
  }
  return rc;
}

int RunDownCommand(const std::string& socket_path, const std::string& file, std::ostream& out, std::ostream& err) {
  // The file itself is not read: it may already be gone or edited; the daemon knows what its `up` created.
  const std::string project = ProjectPath(file);
  ApiClient client(socket_path);
  auto reply = client.Post("/v1/down", {{"project", project}});
  if (!reply.ok()) {
    err << "cloudlet: " << reply.error().message() << "\n";
    return kExitFailure;
  }
  if (reply->code == 404) {
    out << "nothing to remove: " << project << " is not up\n";
    return kExitOk;
  }
  int rc = PrintReply(*reply, "down", out, err);
  if (rc == kExitOk && reply->body.value("changes", nlohmann::json::array()).empty()) {
    out << "removed " << project << " (nothing was left on the host)\n";
  }
  return rc;
}

}  // namespace cloudlet::cli
