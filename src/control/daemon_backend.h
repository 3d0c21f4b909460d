// The API backend of `cloudlet daemon`: routes' work done by the reconciler, configs decoded and re-validated with
// config/FromJson first (nothing from the socket is trusted), reconciler outcomes turned into HTTP replies.
#pragma once

#include "control/api.h"
#include "control/reconciler.h"

namespace cloudlet {

class DaemonBackend final : public ApiBackend {
 public:
  explicit DaemonBackend(Reconciler& reconciler) : reconciler_(reconciler) {}
  HttpReply Health() override;
  HttpReply StatusReply() override;
  HttpReply Up(const std::string& project, const nlohmann::json& config) override;
  HttpReply Down(const std::string& project) override;
  HttpReply Firewall(const nlohmann::json& request) override;
  HttpReply Containers() override;
  HttpReply ContainerAction(const std::string& action, const nlohmann::json& request) override;

 private:
  Reconciler& reconciler_;
};

}  // namespace cloudlet
