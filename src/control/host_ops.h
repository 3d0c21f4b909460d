// The executor's view of the host kernel: observe namespaces and links, and carry out planner actions. The real
// implementation goes through hostnet/ (rtnetlink); tests use an in-memory fake.
#pragma once

#include <memory>

#include "base/status.h"
#include "control/planner.h"

namespace cloudlet {

class HostOps {
 public:
  virtual ~HostOps() = default;
  virtual HostView Observe(const ObservationTargets& targets) = 0;
  virtual Status Execute(const Action& action) = 0;
};

// HostNet-backed operations in the daemon's network namespace.
std::unique_ptr<HostOps> MakeSystemHostOps();

}  // namespace cloudlet
