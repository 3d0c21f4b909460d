// The daemon's API backend: decode and re-validate every config (FromJson), then hand it to the reconciler.
#include "control/daemon_backend.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include "config/config.h"

namespace cloudlet {

namespace {

nlohmann::json ChangesJson(const std::vector<std::string>& changes) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& c : changes) out.push_back(c);
  return out;
}

HttpReply ReportReply(const ChangeReport& r) {
  if (r.status.ok()) return {200, {{"changes", ChangesJson(r.changes)}}};
  HttpReply reply = ErrorReply(r.http_code, r.status.message());
  reply.body["changes"] = ChangesJson(r.changes);
  return reply;
}

}  // namespace

HttpReply DaemonBackend::Health() { return {200, {{"ok", true}, {"pid", ::getpid()}}}; }

HttpReply DaemonBackend::StatusReply() { return {200, reconciler_.StatusJson()}; }

HttpReply DaemonBackend::Up(const std::string& project, const nlohmann::json& config) {
  // Re-validated here: the socket is trusted with nothing.
  auto cfg = FromJson(config);
  if (!cfg.ok()) return ErrorReply(400, cfg.error().message());
  spdlog::info("up {}", project);
  return ReportReply(reconciler_.Up(project, *cfg, ToJson(*cfg)));
}

HttpReply DaemonBackend::Down(const std::string& project) {
  spdlog::info("down {}", project);
  return ReportReply(reconciler_.Down(project));
}

HttpReply DaemonBackend::Firewall(const nlohmann::json& request) {
  Result<nlohmann::json> reply = Error("");
  try {
    reply = reconciler_.RouterQuery(request.value("query", ""), request);
  } catch (const nlohmann::json::exception& e) {  // a field of the wrong type
    return ErrorReply(400, std::string("bad firewall request: ") + e.what());
  }
  if (!reply.ok()) return ErrorReply(400, reply.error().message());
  return {200, *reply};
}

HttpReply DaemonBackend::Containers() { return {200, {{"containers", reconciler_.ContainersJson()}}}; }

HttpReply DaemonBackend::ContainerAction(const std::string& action, const nlohmann::json& request) {
  const std::string name = request.value("name", "");
  const std::string project = request.value("project", "");
  const Nanos timeout = request.value("timeout", kDefaultStopTimeout / kSecond) * kSecond;
  spdlog::info("container {} {}", action, name);
  return ReportReply(reconciler_.ContainerCommand(action, name, project, timeout));
}

}  // namespace cloudlet
