// Seccomp filters from the spec's linux.seccomp, built with libseccomp in the runtime (so a bad profile fails
// `create`) and loaded by the container's init as the last step before execve. Syscall names this architecture does
// not know are skipped, as runc does. DefaultSeccomp() is cloudlet's own profile for containers whose spec has none.
#pragma once

#include <memory>
#include <string>

#include "base/status.h"
#include "oci/runtime_spec.h"

namespace cloudlet::container {

class SeccompFilter {
 public:
  static Result<std::unique_ptr<SeccompFilter>> Build(const oci::Seccomp& spec);
  ~SeccompFilter();
  // Installs the filter in the calling process (and its future children).
  Status Load();
  // The filter as BPF text (libseccomp's PFC export), for tests and debugging.
  std::string Pfc() const;
  // Rules actually added (syscall names unknown here are skipped).
  int rules() const { return rules_; }

 private:
  SeccompFilter() = default;
  void* ctx_ = nullptr;
  int rules_ = 0;
};

// A denylist in the spirit of Docker's and podman's default profiles: everything is allowed except what lets a
// container reach the host's kernel or other tenants — module loading, kexec, reboot, swap, keyrings, bpf,
// perf_event_open, userfaultfd, open_by_handle_at, clock/time setting, quotas, acct, new user namespaces
// (clone/unshare with CLONE_NEWUSER; clone3 reports ENOSYS so libc falls back to clone, whose flags can be checked).
oci::Seccomp DefaultSeccomp();

}  // namespace cloudlet::container
