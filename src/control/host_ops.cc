// HostOps over hostnet/HostNet: what the reconciler's executor does to the kernel.
#include "control/host_ops.h"

#include "hostnet/host_net.h"

namespace cloudlet {

namespace {

class SystemHostOps final : public HostOps {
 public:
  HostView Observe(const ObservationTargets& targets) override {
    HostView view;
    for (const auto& ns : targets.netns) {
      if (HostNet::NetnsExists(ns)) view.netns.insert(ns);
    }
    auto reachable = [&](const std::string& ns) { return ns.empty() || HostNet::NetnsExists(ns); };
    for (const auto& key : targets.links) {
      if (!reachable(key.first)) continue;
      if (auto info = HostNet::GetLink(key.second, key.first)) view.links.emplace(key, *info);
    }
    for (const auto& key : targets.addresses) {
      if (!view.links.count(key)) continue;
      auto addrs = HostNet::ListAddresses(key.second, key.first);
      if (addrs.ok()) view.addresses.emplace(key, std::move(addrs).value());
    }
    return view;
  }

  Status Execute(const Action& a) override {
    switch (a.kind) {
      case ActionKind::kCreateNetns:
        return HostNet::CreateNetns(a.netns);
      case ActionKind::kDeleteNetns:
        return HostNet::DeleteNetns(a.netns);
      case ActionKind::kCreateVeth:
        return HostNet::CreateVeth(a.veth);
      case ActionKind::kDeleteLink:
        return HostNet::DeleteLink(a.ifname, a.netns);
      case ActionKind::kSetMtu:
        return HostNet::SetMtu(a.ifname, a.mtu, a.netns);
      case ActionKind::kSetLinkUp:
        return HostNet::SetLinkUp(a.ifname, a.netns);
      case ActionKind::kDisableIpv6:
        return HostNet::DisableIpv6(a.ifname, a.netns);
      case ActionKind::kReplaceAddresses:
        return HostNet::ReplaceAddresses(a.ifname, a.addresses, a.netns);
      case ActionKind::kSetDefaultRoute:
        return HostNet::SetDefaultRoute(a.gateway, a.netns);
    }
    return Error("unknown action");
  }
};

}  // namespace

std::unique_ptr<HostOps> MakeSystemHostOps() { return std::make_unique<SystemHostOps>(); }

}  // namespace cloudlet
