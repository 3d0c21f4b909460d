#include "container/seccomp.h"

#include <sched.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>

namespace cloudlet::container {

namespace {

uint32_t Action(oci::SeccompAction a, std::optional<uint32_t> errno_ret) {
  switch (a) {
    case oci::SeccompAction::kKill:  // SCMP_ACT_KILL: the thread, as the spec's old name meant
    case oci::SeccompAction::kKillThread:
      return SCMP_ACT_KILL_THREAD;
    case oci::SeccompAction::kKillProcess:
      return SCMP_ACT_KILL_PROCESS;
    case oci::SeccompAction::kTrap:
      return SCMP_ACT_TRAP;
    case oci::SeccompAction::kErrno:
      return SCMP_ACT_ERRNO(errno_ret.value_or(EPERM));
    case oci::SeccompAction::kTrace:
      return SCMP_ACT_TRACE(errno_ret.value_or(EPERM));
    case oci::SeccompAction::kAllow:
      return SCMP_ACT_ALLOW;
    case oci::SeccompAction::kLog:
      return SCMP_ACT_LOG;
    case oci::SeccompAction::kNotify:
      return SCMP_ACT_NOTIFY;
  }
  return SCMP_ACT_KILL_THREAD;
}

scmp_compare Op(oci::SeccompOp op) {
  switch (op) {
    case oci::SeccompOp::kNotEqual:
      return SCMP_CMP_NE;
    case oci::SeccompOp::kLessThan:
      return SCMP_CMP_LT;
    case oci::SeccompOp::kLessEqual:
      return SCMP_CMP_LE;
    case oci::SeccompOp::kEqualTo:
      return SCMP_CMP_EQ;
    case oci::SeccompOp::kGreaterEqual:
      return SCMP_CMP_GE;
    case oci::SeccompOp::kGreaterThan:
      return SCMP_CMP_GT;
    case oci::SeccompOp::kMaskedEqual:
      return SCMP_CMP_MASKED_EQ;
  }
  return SCMP_CMP_EQ;
}

std::string ArchName(const std::string& spec_name) {
  // "SCMP_ARCH_X86_64" -> "x86_64", as seccomp_arch_resolve_name expects.
  std::string s = spec_name;
  if (s.rfind("SCMP_ARCH_", 0) == 0) s = s.substr(10);
  for (auto& c : s) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

Result<std::unique_ptr<SeccompFilter>> SeccompFilter::Build(const oci::Seccomp& spec) {
  std::unique_ptr<SeccompFilter> f(new SeccompFilter());
  uint32_t def = Action(spec.default_action, spec.default_errno_ret);
  scmp_filter_ctx ctx = seccomp_init(def);
  if (!ctx) return Error("linux.seccomp: seccomp_init failed");
  f->ctx_ = ctx;
  // no_new_privileges is the spec's own setting; libseccomp must not turn it on behind our back.
  seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
  for (const auto& a : spec.architectures) {
    uint32_t arch = seccomp_arch_resolve_name(ArchName(a).c_str());
    if (arch == 0) return Error("linux.seccomp.architectures: unknown architecture \"" + a + "\"");
    int rc = seccomp_arch_add(ctx, arch);
    if (rc != 0 && rc != -EEXIST) return Error("linux.seccomp.architectures: cannot add \"" + a + "\"");
  }
  for (const auto& flag : spec.flags) {
    int rc = 0;
    if (flag == "SECCOMP_FILTER_FLAG_LOG") {
      rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_LOG, 1);
    } else if (flag == "SECCOMP_FILTER_FLAG_SPEC_ALLOW") {
      rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_SSB, 1);
    } else if (flag == "SECCOMP_FILTER_FLAG_TSYNC") {
      rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
    } else {
      return Error("linux.seccomp.flags: unsupported flag \"" + flag + "\"");
    }
    if (rc != 0) return Error("linux.seccomp.flags: " + flag + ": " + strerror(-rc));
  }
  for (size_t i = 0; i < spec.syscalls.size(); ++i) {
    const auto& rule = spec.syscalls[i];
    uint32_t act = Action(rule.action, rule.errno_ret);
    if (act == def) continue;  // libseccomp refuses rules that repeat the default action
    std::vector<scmp_arg_cmp> cmps;
    std::set<uint32_t> seen;
    bool repeated = false;
    for (const auto& a : rule.args) {
      if (a.index > 5) return Error("linux.seccomp.syscalls[" + std::to_string(i) + "]: argument index > 5");
      if (!seen.insert(a.index).second) repeated = true;
      scmp_arg_cmp c{};
      c.arg = a.index;
      c.op = Op(a.op);
      c.datum_a = a.value;
      c.datum_b = a.value_two;
      cmps.push_back(c);
    }
    for (const auto& name : rule.names) {
      int nr = seccomp_syscall_resolve_name(name.c_str());
      if (nr == __NR_SCMP_ERROR) continue;  // not a syscall on this architecture
      int rc = 0;
      if (repeated) {
        // libseccomp cannot compare one argument twice in one rule; runc adds one rule per comparison.
        for (const auto& c : cmps) {
          rc = seccomp_rule_add_array(ctx, act, nr, 1, &c);
          if (rc != 0) break;
        }
      } else {
        rc = seccomp_rule_add_array(ctx, act, nr, static_cast<unsigned>(cmps.size()), cmps.data());
      }
      if (rc != 0) {
        return Error("linux.seccomp.syscalls[" + std::to_string(i) + "]: rule for " + name + ": " + strerror(-rc));
      }
      ++f->rules_;
    }
  }
  return f;
}

SeccompFilter::~SeccompFilter() {
  if (ctx_) seccomp_release(static_cast<scmp_filter_ctx>(ctx_));
}

Status SeccompFilter::Load() {
  int rc = seccomp_load(static_cast<scmp_filter_ctx>(ctx_));
  if (rc != 0) return Error(std::string("load seccomp filter: ") + strerror(-rc));
  return Status::Ok();
}

std::string SeccompFilter::Pfc() const {
  int fd = memfd_create("seccomp-pfc", MFD_CLOEXEC);
  if (fd < 0) return "";
  seccomp_export_pfc(static_cast<scmp_filter_ctx>(ctx_), fd);
  std::string out;
  char buf[4096];
  lseek(fd, 0, SEEK_SET);
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  close(fd);
  return out;
}

oci::Seccomp DefaultSeccomp() {
  oci::Seccomp s;
  s.default_action = oci::SeccompAction::kAllow;
  auto deny = [&](std::vector<std::string> names, uint32_t err) {
    oci::SeccompRule r;
    r.names = std::move(names);
    r.action = oci::SeccompAction::kErrno;
    r.errno_ret = err;
    s.syscalls.push_back(std::move(r));
  };
  deny({"kexec_load",
        "kexec_file_load",
        "init_module",
        "finit_module",
        "delete_module",
        "create_module",
        "reboot",
        "swapon",
        "swapoff",
        "keyctl",
        "add_key",
        "request_key",
        "bpf",
        "perf_event_open",
        "userfaultfd",
        "open_by_handle_at",
        "name_to_handle_at",
        "acct",
        "quotactl",
        "quotactl_fd",
        "settimeofday",
        "stime",
        "clock_settime",
        "clock_settime64",
        "clock_adjtime",
        "clock_adjtime64",
        "adjtimex",
        "syslog",
        "lookup_dcookie",
        "nfsservctl",
        "vm86",
        "vm86old",
        "uselib",
        "ustat",
        "sysfs",
        "_sysctl",
        "iopl",
        "ioperm",
        "kcmp",
        "process_vm_readv",
        "process_vm_writev",
        "get_kernel_syms",
        "query_module",
        "fanotify_init",
        "move_pages",
        "mbind",
        "set_mempolicy",
        "pivot_root",
        "fsopen",
        "fsconfig",
        "fsmount",
        "fspick",
        "open_tree",
        "move_mount",
        "mount_setattr"},
       EPERM);
  deny({"clone3"}, ENOSYS);
  // New user namespaces: unshare(CLONE_NEWUSER) and clone(CLONE_NEWUSER) (flags are argument 0 on x86_64/arm64).
  for (const char* name : {"unshare", "clone"}) {
    oci::SeccompRule r;
    r.names = {name};
    r.action = oci::SeccompAction::kErrno;
    r.errno_ret = EPERM;
    oci::SeccompArg a;
    a.index = 0;
    a.value = CLONE_NEWUSER;
    a.value_two = CLONE_NEWUSER;
    a.op = oci::SeccompOp::kMaskedEqual;
    r.args.push_back(a);
    s.syscalls.push_back(std::move(r));
  }
  return s;
}

}  // namespace cloudlet::container
