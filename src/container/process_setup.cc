#include "container/process_setup.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "base/fd.h"

namespace cloudlet::container {

namespace {
struct RlimitName {
  const char* name;
  int resource;
};
constexpr RlimitName kRlimits[] = {
    {"RLIMIT_AS", RLIMIT_AS},           {"RLIMIT_CORE", RLIMIT_CORE},         {"RLIMIT_CPU", RLIMIT_CPU},
    {"RLIMIT_DATA", RLIMIT_DATA},       {"RLIMIT_FSIZE", RLIMIT_FSIZE},       {"RLIMIT_LOCKS", RLIMIT_LOCKS},
    {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK}, {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE}, {"RLIMIT_NICE", RLIMIT_NICE},
    {"RLIMIT_NOFILE", RLIMIT_NOFILE},   {"RLIMIT_NPROC", RLIMIT_NPROC},       {"RLIMIT_RSS", RLIMIT_RSS},
    {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},   {"RLIMIT_RTTIME", RLIMIT_RTTIME},     {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
    {"RLIMIT_STACK", RLIMIT_STACK},
};

bool Contains(const std::vector<int>& v, int x) {
  for (int y : v)
    if (y == x) return true;
  return false;
}
}  // namespace

Result<std::vector<int>> CapabilityNumbers(const std::vector<std::string>& names) {
  std::vector<int> out;
  for (const auto& n : names) {
    cap_value_t v;
    if (cap_from_name(n.c_str(), &v) != 0) return Error("unknown capability \"" + n + "\"");
    // cap_from_name also accepts numbers and lower case; the kernel may not know caps newer than itself.
    if (v > static_cast<cap_value_t>(cap_max_bits()) - 1) continue;
    out.push_back(v);
  }
  return out;
}

Result<ResolvedCapabilities> ResolveCapabilities(const oci::Capabilities& caps) {
  ResolvedCapabilities r;
  CL_ASSIGN_OR_RETURN(r.bounding, CapabilityNumbers(caps.bounding));
  CL_ASSIGN_OR_RETURN(r.effective, CapabilityNumbers(caps.effective));
  CL_ASSIGN_OR_RETURN(r.permitted, CapabilityNumbers(caps.permitted));
  CL_ASSIGN_OR_RETURN(r.inheritable, CapabilityNumbers(caps.inheritable));
  CL_ASSIGN_OR_RETURN(r.ambient, CapabilityNumbers(caps.ambient));
  return r;
}

Status ApplyRlimits(const std::vector<oci::Rlimit>& rlimits) {
  for (const auto& l : rlimits) {
    int res = -1;
    for (const auto& k : kRlimits)
      if (l.type == k.name) res = k.resource;
    if (res < 0) return Error("process.rlimits: unknown type \"" + l.type + "\"");
    rlimit r{static_cast<rlim_t>(l.soft), static_cast<rlim_t>(l.hard)};
    if (setrlimit(res, &r) == 0) continue;
    // Raising a hard limit needs CAP_SYS_RESOURCE in the initial user namespace, which a runtime inside a sandbox
    // (itself a user namespace) lacks even as root: engines ask for more than the host allows (podman: nofile
    // 1048576). Give the most we may rather than fail; below the current hard limit nothing changes.
    rlimit cur{};
    if (errno != EPERM || getrlimit(res, &cur) != 0 || r.rlim_max <= cur.rlim_max)
      return ErrnoError("setrlimit " + l.type);
    r.rlim_max = cur.rlim_max;
    r.rlim_cur = std::min(r.rlim_cur, cur.rlim_max);
    if (setrlimit(res, &r) != 0) return ErrnoError("setrlimit " + l.type);
  }
  return Status::Ok();
}

Status ApplyUserAndCapabilities(const oci::User& user, const ResolvedCapabilities* caps) {
  if (caps) {
    int last = static_cast<int>(cap_max_bits()) - 1;
    for (int c = 0; c <= last; ++c) {
      if (Contains(caps->bounding, c)) continue;
      if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0 && errno != EINVAL) return ErrnoError("drop bounding capability");
    }
  }
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) return ErrnoError("prctl(PR_SET_KEEPCAPS)");
  std::vector<gid_t> groups(user.additional_gids.begin(), user.additional_gids.end());
  // setgroups is denied in a user namespace whose setgroups file says "deny"; only fail if groups were asked for.
  if (::setgroups(groups.size(), groups.data()) != 0 && !(errno == EPERM && groups.empty()))
    return ErrnoError("setgroups");
  // Raw syscalls: glibc's wrappers would try to sync other threads, and there are none.
  if (syscall(SYS_setresgid, user.gid, user.gid, user.gid) != 0)
    return ErrnoError("setgid " + std::to_string(user.gid));
  if (syscall(SYS_setresuid, user.uid, user.uid, user.uid) != 0)
    return ErrnoError("setuid " + std::to_string(user.uid));
  if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0) return ErrnoError("prctl(PR_SET_KEEPCAPS)");
  if (!caps) return Status::Ok();
  cap_t c = cap_init();
  if (!c) return ErrnoError("cap_init");
  auto set = [&](const std::vector<int>& v, cap_flag_t flag) {
    if (v.empty()) return;
    std::vector<cap_value_t> vals(v.begin(), v.end());
    cap_set_flag(c, flag, static_cast<int>(vals.size()), vals.data(), CAP_SET);
  };
  set(caps->effective, CAP_EFFECTIVE);
  set(caps->permitted, CAP_PERMITTED);
  set(caps->inheritable, CAP_INHERITABLE);
  int rc = cap_set_proc(c);
  int err = errno;
  cap_free(c);
  if (rc != 0) return ErrnoError("set capabilities", err);
  for (int a : caps->ambient) {
    // Raising fails unless the capability is permitted and inheritable; runc ignores that too.
    (void)prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, a, 0, 0);
  }
  return Status::Ok();
}

std::string IdMapText(const std::vector<oci::IdMapping>& mappings) {
  std::string out;
  for (const auto& m : mappings) {
    out += std::to_string(m.container_id) + " " + std::to_string(m.host_id) + " " + std::to_string(m.size) + "\n";
  }
  return out;
}

Result<std::string> FindExecutable(const std::string& file, const std::vector<std::string>& env) {
  if (file.empty()) return Error("process.args[0] is empty");
  auto executable = [](const std::string& p) {
    struct stat st {};
    return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111);
  };
  if (file.find('/') != std::string::npos) {
    if (!executable(file)) return Error("exec: \"" + file + "\": no such executable file in the container");
    return file;
  }
  std::string path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  for (const auto& e : env)
    if (e.rfind("PATH=", 0) == 0) path = e.substr(5);
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = path.find(':', i);
    if (j == std::string::npos) j = path.size();
    std::string dir = path.substr(i, j - i);
    if (dir.empty()) dir = ".";
    std::string cand = dir;
    cand += "/";
    cand += file;
    if (executable(cand)) return cand;
    i = j + 1;
  }
  return Error("exec: \"" + file + "\": executable file not found in $PATH");
}

Status RunHook(const oci::Hook& hook, const std::string& state_json) {
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) return ErrnoError("pipe");
  UniqueFd rd(pipefd[0]), wr(pipefd[1]);
  std::vector<std::string> args = hook.args.empty() ? std::vector<std::string>{hook.path} : hook.args;
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env = hook.env;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  int pidfd = -1;
  pid_t pid = static_cast<pid_t>(syscall(SYS_clone, CLONE_PIDFD | SIGCHLD, nullptr, &pidfd, nullptr, nullptr));
  if (pid < 0) return ErrnoError("fork hook " + hook.path);
  if (pid == 0) {
    dup2(rd.get(), 0);
    execve(hook.path.c_str(), argv.data(), envp.data());
    _exit(127);
  }
  UniqueFd pfd(pidfd);
  rd.reset();
  // The hook may not read its stdin at all; a full pipe or EPIPE must not block or kill us.
  signal(SIGPIPE, SIG_IGN);
  fcntl(wr.get(), F_SETFL, O_NONBLOCK);
  (void)!::write(wr.get(), state_json.data(), state_json.size());
  wr.reset();
  int timeout_ms = hook.timeout ? *hook.timeout * 1000 : -1;
  pollfd p{pfd.get(), POLLIN, 0};
  int rc;
  do {
    rc = poll(&p, 1, timeout_ms);
  } while (rc < 0 && errno == EINTR);
  if (rc == 0) {
    syscall(SYS_pidfd_send_signal, pfd.get(), SIGKILL, nullptr, 0);
    waitpid(pid, nullptr, 0);
    return Error("hook " + hook.path + " timed out after " + std::to_string(*hook.timeout) + "s");
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return Status::Ok();
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127) return Error("hook " + hook.path + ": cannot execute");
  if (WIFEXITED(status)) return Error("hook " + hook.path + " exited with " + std::to_string(WEXITSTATUS(status)));
  return Error("hook " + hook.path + " killed by signal " + std::to_string(WTERMSIG(status)));
}

Status RunHooks(const std::vector<oci::Hook>& hooks, const std::string& state_json, const char* kind) {
  for (const auto& h : hooks) {
    Status s = RunHook(h, state_json);
    if (!s.ok()) return s.error().wrap(std::string(kind) + " hook");
  }
  return Status::Ok();
}

}  // namespace cloudlet::container
