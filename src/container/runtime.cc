#include "container/runtime.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>

#include "base/fd.h"
#include "container/cgroup.h"
#include "container/mounts.h"
#include "container/process_setup.h"
#include "container/seccomp.h"
#include "container/terminal.h"

namespace cloudlet::container {

namespace {

// Messages on the parent <-> init socket (SOCK_SEQPACKET: one message per send): a type byte and a payload.
constexpr char kMsgGo = 'G';         // parent -> child: maps and cgroup done; payload: the container's pid
constexpr char kMsgHooks = 'H';      // child -> parent: run prestart/createRuntime hooks now
constexpr char kMsgHooksDone = 'h';  // parent -> child
constexpr char kMsgReady = 'R';      // child -> parent: set up, about to wait for start
constexpr char kMsgStart = 'S';      // parent -> child (run): go ahead without exec.fifo
constexpr char kMsgError = 'E';      // child -> parent: payload is the error

bool SendMsg(int fd, char type, const std::string& payload = "") {
  std::string m(1, type);
  m += payload;
  ssize_t n;
  do {
    n = send(fd, m.data(), m.size(), MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  return n == static_cast<ssize_t>(m.size());
}

// Returns the type, or 0 on EOF / error.
char RecvMsg(int fd, std::string* payload) {
  char buf[8192];
  ssize_t n;
  do {
    n = recv(fd, buf, sizeof(buf), 0);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) return 0;
  if (payload) payload->assign(buf + 1, static_cast<size_t>(n - 1));
  return buf[0];
}

// The init is gone during setup: the error it sent, if it sent one.
Error InitGone(int sync_fd) {
  std::string payload;
  if (RecvMsg(sync_fd, &payload) == kMsgError) return Error(payload);
  return Error("container init exited early");
}

struct NsInfo {
  oci::NamespaceType type;
  int clone_flag;
  const char* proc_name;
};
constexpr NsInfo kNamespaces[] = {
    {oci::NamespaceType::kUser, CLONE_NEWUSER, "user"},       {oci::NamespaceType::kMount, CLONE_NEWNS, "mnt"},
    {oci::NamespaceType::kPid, CLONE_NEWPID, "pid"},          {oci::NamespaceType::kNetwork, CLONE_NEWNET, "net"},
    {oci::NamespaceType::kIpc, CLONE_NEWIPC, "ipc"},          {oci::NamespaceType::kUts, CLONE_NEWUTS, "uts"},
    {oci::NamespaceType::kCgroup, CLONE_NEWCGROUP, "cgroup"}, {oci::NamespaceType::kTime, CLONE_NEWTIME, "time"},
};
const NsInfo& Info(oci::NamespaceType t) {
  for (const auto& i : kNamespaces)
    if (i.type == t) return i;
  return kNamespaces[0];
}

// clone3 with a pidfd; the child returns 0 and continues on a copy of our stack, like fork. cgroup_fd >= 0: the child
// starts in that cgroup v2 group (CLONE_INTO_CGROUP), and there is no fallback: the caller decides what to do instead.
pid_t Clone(uint64_t flags, int* pidfd, int cgroup_fd = -1) {
  clone_args args{};
  args.flags = flags | CLONE_PIDFD;
  args.pidfd = reinterpret_cast<uint64_t>(pidfd);
  args.exit_signal = SIGCHLD;
  if (cgroup_fd >= 0) {
    args.flags |= CLONE_INTO_CGROUP;
    args.cgroup = static_cast<uint64_t>(cgroup_fd);
  }
  long rc = syscall(SYS_clone3, &args, sizeof(args));
  if (rc < 0 && errno == ENOSYS && cgroup_fd < 0) {
    rc = syscall(SYS_clone, (flags & ~static_cast<uint64_t>(CLONE_NEWTIME)) | CLONE_PIDFD | SIGCHLD, nullptr, pidfd,
                 nullptr, nullptr);
  }
  return static_cast<pid_t>(rc);
}

int PidfdOpen(pid_t pid) { return static_cast<int>(syscall(SYS_pidfd_open, pid, 0)); }
int PidfdSignal(int pidfd, int sig) { return static_cast<int>(syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0)); }

// Waits (bounded) until the process behind pidfd has exited.
bool WaitPidfd(int pidfd, int timeout_ms) {
  pollfd p{pidfd, POLLIN, 0};
  int rc;
  do {
    rc = poll(&p, 1, timeout_ms);
  } while (rc < 0 && errno == EINTR);
  return rc > 0;
}

Status WriteText(const std::string& path, const std::string& text) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError("open " + path);
  if (::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()))
    return ErrnoError("write " + path);
  return Status::Ok();
}

// Everything the init needs, prepared by the parent before clone: the child works on its own copy of this memory,
// so nothing is serialised.
struct InitConfig {
  const oci::Spec* spec = nullptr;
  const oci::Process* process = nullptr;
  ContainerRecord record;
  std::string rootfs, bundle;
  bool no_pivot = false;
  bool exec = false;      // an exec'd process: join namespaces instead of building a container
  bool wait_fifo = true;  // create: block on exec.fifo; run: wait for kMsgStart
  bool new_userns = false;
  bool new_cgroupns = false;
  // The init waits for "go" before it sets anything up: the parent writes its uid/gid maps or moves it into its
  // cgroup. Otherwise it sets up in parallel with the parent and takes "go" (its pid) only when it needs it.
  bool go_first = true;
  CgroupSelfJoin* cgroup_join = nullptr;                           // v1: the init joins its cgroup itself, first thing
  const std::function<void(const std::string&)>* debug = nullptr;  // --debug: the init's milestones too
  int sync_fd = -1;
  int state_dir_fd = -1;
  int console_fd = -1;
  std::vector<std::pair<int, int>> join;  // exec: (fd, clone flag) in order
  std::vector<CgroupMountSource> cgroup_v1;
  std::string cgroup_v2_dir;
  SeccompFilter* seccomp = nullptr;
  std::optional<ResolvedCapabilities> caps;
};

[[noreturn]] void InitFail(const InitConfig& c, const Error& e) {
  if (!SendMsg(c.sync_fd, kMsgError, e.message())) {
    std::string line = "cloudlet-runtime: " + e.message() + "\n";
    (void)!::write(2, line.data(), line.size());
  }
  _exit(1);
}

#define INIT_CHECK(expr)                     \
  do {                                       \
    ::cloudlet::Status _st = (expr);         \
    if (!_st.ok()) InitFail(c, _st.error()); \
  } while (0)

Status SetupMounts(const InitConfig& c) {
  const auto& spec = *c.spec;
  // Nothing we mount may leak back to the host.
  unsigned long prop = MS_PRIVATE | MS_REC;
  if (!spec.linux.rootfs_propagation.empty()) {
    CL_ASSIGN_OR_RETURN(prop, ParsePropagation(spec.linux.rootfs_propagation));
    if (prop & MS_SHARED) prop = MS_PRIVATE | MS_REC;  // make / shared: not before the rootfs is its own mount
  }
  if (::mount(nullptr, "/", nullptr, prop, nullptr) != 0) return ErrnoError("make / private");
  if (::mount(c.rootfs.c_str(), c.rootfs.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0)
    return ErrnoError("bind rootfs " + c.rootfs);
  for (const auto& m : spec.mounts) {
    CL_RETURN_IF_ERROR(
        MountInRootfs(c.rootfs, c.bundle, m, c.new_userns, c.new_cgroupns, c.cgroup_v1, c.cgroup_v2_dir));
  }
  auto dev = CreateInRoot(c.rootfs, "/dev", false);
  if (!dev.ok()) return dev.error();
  for (const auto& d : DefaultDevices()) {
    bool listed = false;
    for (const auto& s : spec.linux.devices) listed |= s.path == d.path;
    if (!listed) CL_RETURN_IF_ERROR(CreateDevice(c.rootfs, d, c.new_userns));
  }
  for (const auto& d : spec.linux.devices) CL_RETURN_IF_ERROR(CreateDevice(c.rootfs, d, c.new_userns));
  return CreateDevSymlinks(c.rootfs);
}

// The rest of the process's setup, shared by the init and exec'd processes; returns the executable.
std::string FinishProcess(InitConfig& c) {
  const oci::Process& p = *c.process;
  if (p.terminal) {
    if (c.console_fd < 0) InitFail(c, Error("process.terminal is true but there is no console socket"));
    unsigned rows = p.console_size ? p.console_size->height : 0, cols = p.console_size ? p.console_size->width : 0;
    auto pty = OpenPty(rows, cols);
    if (!pty.ok()) InitFail(c, pty.error());
    INIT_CHECK(SendFd(c.console_fd, "/dev/ptmx", pty->master.get()));
    pty->master.reset();
    ::close(c.console_fd);
    c.console_fd = -1;
    INIT_CHECK(AttachTerminal(pty->slave.get()));
  }
  INIT_CHECK(ApplyRlimits(p.rlimits));
  auto exe = FindExecutable(p.args[0], p.env);
  if (!exe.ok()) InitFail(c, exe.error());
  if (p.no_new_privileges && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    InitFail(c, ErrnoError("prctl(PR_SET_NO_NEW_PRIVS)"));
  // Without no_new_privileges, loading a filter needs CAP_SYS_ADMIN: load it while we still have it (as runc).
  if (c.seccomp && !p.no_new_privileges) INIT_CHECK(c.seccomp->Load());
  INIT_CHECK(ApplyUserAndCapabilities(p.user, c.caps ? &*c.caps : nullptr));
  umask(p.user.umask.value_or(022));
  if (::chdir(p.cwd.c_str()) != 0) InitFail(c, ErrnoError("chdir to process.cwd " + p.cwd));
  return *exe;
}

[[noreturn]] void Exec(InitConfig& c, const std::string& exe) {
  const oci::Process& p = *c.process;
  if (c.seccomp && p.no_new_privileges) INIT_CHECK(c.seccomp->Load());
  std::vector<char*> argv, envp;
  for (const auto& a : p.args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const auto& e : p.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  execve(exe.c_str(), argv.data(), envp.data());
  InitFail(c, ErrnoError("exec " + exe));
}

void ResetSignals() {
  sigset_t all;
  sigemptyset(&all);
  sigprocmask(SIG_SETMASK, &all, nullptr);
  for (int s = 1; s < NSIG; ++s) {
    if (s == SIGKILL || s == SIGSTOP) continue;
    signal(s, SIG_DFL);
  }
}

// The parent's "go": its payload is the container's pid as the host sees it (hooks report it).
void WaitGo(InitConfig& c, bool* have_go) {
  if (*have_go) return;
  std::string payload;
  if (RecvMsg(c.sync_fd, &payload) != kMsgGo) _exit(1);
  c.record.pid = static_cast<pid_t>(std::atoi(payload.c_str()));
  *have_go = true;
}

[[noreturn]] void InitMain(InitConfig& c) {
  // Into the cgroup before anything else: what the init allocates from here on is charged to the container, and the
  // cgroup namespace unshared below is rooted at the group.
  if (c.cgroup_join) INIT_CHECK(c.cgroup_join->Join());
  if (c.debug) (*c.debug)("init: in its cgroup");
  ResetSignals();
  bool have_go = false;
  if (c.go_first) WaitGo(c, &have_go);
  const oci::Spec& spec = *c.spec;
  if (c.new_userns) {
    if (syscall(SYS_setresgid, 0, 0, 0) != 0 || syscall(SYS_setresuid, 0, 0, 0) != 0)
      InitFail(c, ErrnoError("become root in the user namespace (is container uid/gid 0 mapped?)"));
  }
  for (const auto& ns : spec.linux.namespaces) {
    if (ns.path.empty() || (ns.type != oci::NamespaceType::kUser && ns.type != oci::NamespaceType::kMount)) continue;
    UniqueFd fd(::open(ns.path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid() || setns(fd.get(), Info(ns.type).clone_flag) != 0)
      InitFail(c, ErrnoError("join " + std::string(oci::NamespaceName(ns.type)) + " namespace " + ns.path));
  }
  if (c.new_cgroupns && unshare(CLONE_NEWCGROUP) != 0) InitFail(c, ErrnoError("unshare cgroup namespace"));
  INIT_CHECK(SetupMounts(c));
  if (c.debug) (*c.debug)("init: mounts and devices done");
  const auto& hooks = spec.hooks;
  if (!hooks.prestart.empty() || !hooks.create_runtime.empty() || !hooks.create_container.empty()) {
    WaitGo(c, &have_go);
    SendMsg(c.sync_fd, kMsgHooks);
    if (RecvMsg(c.sync_fd, nullptr) != kMsgHooksDone) _exit(1);
    INIT_CHECK(RunHooks(hooks.create_container, HookStateJson(c.record, ContainerStatus::kCreated), "createContainer"));
  }
  INIT_CHECK(PivotRoot(c.rootfs, c.no_pivot));
  if (c.debug) (*c.debug)("init: pivot_root done");
  if (!spec.linux.rootfs_propagation.empty()) {
    auto prop = ParsePropagation(spec.linux.rootfs_propagation);
    if (::mount(nullptr, "/", nullptr, *prop, nullptr) != 0) InitFail(c, ErrnoError("set rootfs propagation"));
  }
  for (const auto& [key, value] : spec.linux.sysctl) {
    std::string path = "/proc/sys/" + key;
    for (size_t i = 10; i < path.size(); ++i)
      if (path[i] == '.') path[i] = '/';
    Status s = WriteText(path, value);
    if (!s.ok()) InitFail(c, s.error().wrap("linux.sysctl " + key));
  }
  // After sysctl: /proc/sys is usually among the read-only paths.
  for (const auto& p : spec.linux.masked_paths) INIT_CHECK(MaskPath(p));
  for (const auto& p : spec.linux.readonly_paths) INIT_CHECK(ReadonlyPath(p));
  if (!spec.hostname.empty() && sethostname(spec.hostname.data(), spec.hostname.size()) != 0)
    InitFail(c, ErrnoError("sethostname"));
  if (!spec.domainname.empty() && setdomainname(spec.domainname.data(), spec.domainname.size()) != 0)
    InitFail(c, ErrnoError("setdomainname"));
  if (spec.root.readonly && ::mount(nullptr, "/", nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY, nullptr) != 0)
    InitFail(c, ErrnoError("remount / read-only"));
  std::string exe = FinishProcess(c);
  if (c.debug) (*c.debug)("init: process set up");
  WaitGo(c, &have_go);
  SendMsg(c.sync_fd, kMsgReady);
  if (c.wait_fifo) {
    // Blocks until `start` opens the FIFO for reading. The directory fd was opened before pivot_root.
    int fd = openat(c.state_dir_fd, "exec.fifo", O_WRONLY | O_CLOEXEC);
    if (fd < 0) InitFail(c, ErrnoError("open exec.fifo"));
    if (::write(fd, "0", 1) != 1) InitFail(c, ErrnoError("write exec.fifo"));
    ::close(fd);
  } else if (RecvMsg(c.sync_fd, nullptr) != kMsgStart) {
    _exit(1);
  }
  ::close(c.state_dir_fd);
  INIT_CHECK(RunHooks(hooks.start_container, HookStateJson(c.record, ContainerStatus::kRunning), "startContainer"));
  Exec(c, exe);
}

[[noreturn]] void ExecMain(InitConfig& c) {
  if (c.cgroup_join) INIT_CHECK(c.cgroup_join->Join());
  ResetSignals();
  if (RecvMsg(c.sync_fd, nullptr) != kMsgGo) _exit(1);
  for (const auto& [fd, flag] : c.join) {
    if (setns(fd, flag) != 0) InitFail(c, ErrnoError("join the container's namespaces"));
    ::close(fd);
  }
  std::string exe = FinishProcess(c);
  SendMsg(c.sync_fd, kMsgReady);
  Exec(c, exe);
}

std::string ReadLink(const std::string& path) {
  char buf[256];
  ssize_t n = readlink(path.c_str(), buf, sizeof(buf));
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
}

// Joins namespaces given by path in this (parent) process just for the clone, and returns to ours afterwards.
// Only kinds that do not change what our own file operations see (not mount, not user).
class ParentNamespaceJoin {
 public:
  Status Join(const oci::Linux& linux) {
    for (const auto& ns : linux.namespaces) {
      if (ns.path.empty() || ns.type == oci::NamespaceType::kMount || ns.type == oci::NamespaceType::kUser) continue;
      const NsInfo& info = Info(ns.type);
      std::string own_path =
          std::string(ns.type == oci::NamespaceType::kPid    ? "/proc/self/ns/pid_for_children"
                      : ns.type == oci::NamespaceType::kTime ? "/proc/self/ns/time_for_children"
                                                             : "/proc/self/ns/") +
          (ns.type == oci::NamespaceType::kPid || ns.type == oci::NamespaceType::kTime ? "" : info.proc_name);
      UniqueFd own(::open(own_path.c_str(), O_RDONLY | O_CLOEXEC));
      if (!own.valid()) return ErrnoError("open " + own_path);
      UniqueFd target(::open(ns.path.c_str(), O_RDONLY | O_CLOEXEC));
      if (!target.valid())
        return ErrnoError("open " + std::string(oci::NamespaceName(ns.type)) + " namespace " + ns.path);
      if (setns(target.get(), info.clone_flag) != 0)
        return ErrnoError("join " + std::string(oci::NamespaceName(ns.type)) + " namespace " + ns.path);
      saved_.emplace_back(std::move(own), info.clone_flag);
    }
    return Status::Ok();
  }
  ~ParentNamespaceJoin() {
    for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) (void)setns(it->first.get(), it->second);
  }

 private:
  std::vector<std::pair<UniqueFd, int>> saved_;
};

// Emptied state directories are parked for the next create rather than removed: on a filesystem mounted with online
// discard (ext4 -o discard, like this VM's root and /run), rmdir waits for the device to discard the directory's
// block, 3-5 ms, more than the rest of `delete`. At most kSpareDirs wait; their names hold '~', which no container id
// can, so List and Load never take them for containers.
constexpr int kSpareDirs = 8;
std::string SpareDir(const std::string& root, int i) { return root + "/~spare" + std::to_string(i); }

bool DirIsEmpty(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (!d) return false;
  bool empty = true;
  while (dirent* e = readdir(d)) {
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) {
      empty = false;
      break;
    }
  }
  closedir(d);
  return empty;
}

void RemoveStateDir(const std::string& dir) {
  for (const char* f : {"state.json", "state.json.tmp", "config.json", "exec.fifo"}) ::unlink((dir + "/" + f).c_str());
  if (DirIsEmpty(dir)) {
    const std::string root = dir.substr(0, dir.rfind('/'));
    for (int i = 0; i < kSpareDirs; ++i) {
      if (renameat2(AT_FDCWD, dir.c_str(), AT_FDCWD, SpareDir(root, i).c_str(), RENAME_NOREPLACE) == 0) return;
      if (errno != EEXIST) break;  // no RENAME_NOREPLACE here, or the root is gone
    }
  }
  ::rmdir(dir.c_str());
}

// Creates <root>/<id>, empty, mode 0711: a parked spare if there is one (a rename), else mkdir.
Status MakeStateDir(const std::string& root, const std::string& id) {
  const std::string dir = root + "/" + id;
  for (int i = 0; i < kSpareDirs; ++i) {
    if (renameat2(AT_FDCWD, SpareDir(root, i).c_str(), AT_FDCWD, dir.c_str(), RENAME_NOREPLACE) == 0) {
      return Status::Ok();
    }
    if (errno == EEXIST || errno == ENOTEMPTY) return Error("container with id \"" + id + "\" already exists");
    if (errno != ENOENT) break;
  }
  if (::mkdir(dir.c_str(), 0711) != 0) {
    if (errno == EEXIST) return Error("container with id \"" + id + "\" already exists");
    return ErrnoError("create " + dir);
  }
  return Status::Ok();
}

Status WritePidFile(const std::string& path, pid_t pid) {
  if (path.empty()) return Status::Ok();
  return WriteFileAtomic(path, std::to_string(pid), 0644);
}

std::vector<CgroupMountSource> V1Sources(const CgroupLayout& layout, const Cgroup& cg) {
  std::vector<CgroupMountSource> out;
  for (const auto& [ctrl, mountpoint] : layout.v1) {
    std::string name = mountpoint.substr(mountpoint.rfind('/') + 1);
    bool dup = false;
    for (const auto& s : out) dup |= s.name == name;
    std::string dir = cg.Dir(ctrl);
    if (!dup && !dir.empty()) out.push_back({name, dir});  // hierarchies the group does not use stay hidden
  }
  return out;
}

// systemd's "slice:prefix:name" form of linux.cgroupsPath (what engines pass with --systemd-cgroup) as the cgroupfs
// directory systemd would use: "/slice/prefix-name.scope". cloudlet always manages the directories itself.
std::string CgroupfsPath(const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  size_t a = path.find(':');
  size_t b = a == std::string::npos ? a : path.find(':', a + 1);
  if (b == std::string::npos || path.find(':', b + 1) != std::string::npos) return path;
  std::string slice = path.substr(0, a), prefix = path.substr(a + 1, b - a - 1), name = path.substr(b + 1);
  if (slice.empty()) slice = "system.slice";
  return "/" + slice + "/" + (prefix.empty() ? name : prefix + "-" + name) + ".scope";
}

// The device rules runc adds after the spec's: mknod of anything (the node is useless without access), the default
// devices, /dev/pts, /dev/ptmx, /dev/net/tun, and the devices the spec lists.
oci::Resources WithDefaultDevices(oci::Resources r, const std::vector<oci::Device>& devices) {
  if (r.devices.empty()) return r;  // no device rules at all: nothing to open up
  auto rule = [](char type, std::optional<int64_t> major, std::optional<int64_t> minor, const char* access) {
    oci::DeviceRule d;
    d.allow = true;
    d.type = type;
    d.major = major;
    d.minor = minor;
    d.access = access;
    return d;
  };
  r.devices.push_back(rule('c', std::nullopt, std::nullopt, "m"));
  r.devices.push_back(rule('b', std::nullopt, std::nullopt, "m"));
  for (auto [major, minor] : {std::pair{1, 3}, {1, 5}, {1, 7}, {1, 8}, {1, 9}, {5, 0}, {5, 1}, {5, 2}, {10, 200}})
    r.devices.push_back(rule('c', major, minor, "rwm"));
  r.devices.push_back(rule('c', 136, std::nullopt, "rwm"));
  for (const auto& d : devices) {
    if (d.type == 'c' || d.type == 'b') r.devices.push_back(rule(d.type, d.major, d.minor, "rwm"));
  }
  return r;
}

// The container being created, owned by the runtime process until it is handed over (create returns, run waits).
struct Launched {
  pid_t pid = 0;
  UniqueFd pidfd;
  UniqueFd sync;
  UniqueFd master;  // the terminal's master when we proxy it ourselves
  std::unique_ptr<Cgroup> cgroup;
  ContainerRecord record;
  oci::Spec spec;
};

}  // namespace

Runtime::Runtime(RuntimeOptions options) : options_(std::move(options)) {}

void Runtime::Debug(const std::string& msg) const {
  if (options_.debug) options_.debug(msg);
}

Result<oci::Process> Runtime::ParseProcess(const std::string& json) {
  nlohmann::json process = nlohmann::json::parse(json, nullptr, false);
  if (process.is_discarded() || !process.is_object()) return Error("process.json: not a JSON object");
  nlohmann::json spec = {{"ociVersion", "1.0.2"}, {"root", {{"path", "rootfs"}}}, {"process", process}};
  auto parsed = oci::ParseSpec(spec.dump());
  if (!parsed.ok()) return parsed.error().wrap("process.json");
  return *parsed->process;
}

Result<ContainerRecord> Runtime::Load(const std::string& id) const {
  CL_RETURN_IF_ERROR(ValidateId(id));
  auto text = ReadSmallFile(Dir(id) + "/state.json");
  if (!text.ok()) {
    if (errno == ENOENT || ::access(Dir(id).c_str(), F_OK) != 0)
      return Error("container \"" + id + "\" does not exist");
    return text.error();
  }
  return RecordFromJson(*text);
}

ContainerStatus Runtime::Derive(const ContainerRecord& r) const {
  if (!ProcessAlive(r.pid, r.start_time)) return ContainerStatus::kStopped;
  if (::access((Dir(r.id) + "/exec.fifo").c_str(), F_OK) == 0) return ContainerStatus::kCreated;
  return ContainerStatus::kRunning;
}

namespace {

Result<Launched> Launch(const RuntimeOptions& ro, const std::string& id, const CreateOptions& opts, bool run_mode,
                        const std::function<void(const std::string&)>& debug) {
  CL_RETURN_IF_ERROR(ValidateId(id));
  Launched l;
  char real[PATH_MAX];
  if (!realpath(opts.bundle.c_str(), real)) return ErrnoError("bundle " + opts.bundle);
  std::string bundle = real;
  CL_ASSIGN_OR_RETURN(std::string config_text, ReadSmallFile(bundle + "/config.json"));
  auto spec = oci::ParseSpec(config_text);
  if (!spec.ok()) return spec.error().wrap(bundle + "/config.json");
  l.spec = std::move(*spec);
  const oci::Spec& s = l.spec;
  if (!s.process) return Error(bundle + "/config.json: process is required to create a container");
  if (!s.linux.has(oci::NamespaceType::kMount)) return Error("linux.namespaces: a mount namespace is required");
  std::string rootfs = s.root.path[0] == '/' ? s.root.path : bundle + "/" + s.root.path;
  if (!realpath(rootfs.c_str(), real)) return ErrnoError("root.path " + rootfs);
  rootfs = real;

  if (::mkdir(ro.root.c_str(), 0711) != 0 && errno != EEXIST) return ErrnoError("create runtime root " + ro.root);
  std::string dir = ro.root + "/" + id;
  CL_RETURN_IF_ERROR(MakeStateDir(ro.root, id));
  bool ok = false;
  struct Cleanup {
    Launched& l;
    std::string dir;
    bool& ok;
    ~Cleanup() {
      if (ok) return;
      if (l.pidfd.valid()) {
        PidfdSignal(l.pidfd.get(), SIGKILL);
        waitpid(l.pid, nullptr, 0);
      }
      if (l.cgroup) (void)l.cgroup->Destroy();
      RemoveStateDir(dir);
    }
  } cleanup{l, dir, ok};

  ContainerRecord& r = l.record;
  r.oci_version = s.oci_version;
  r.id = id;
  r.bundle = bundle;
  r.rootfs = rootfs;
  r.created = NowRfc3339();
  r.annotations = s.annotations;
  r.cgroups_path = CgroupfsPath(s.linux.cgroups_path);
  CL_RETURN_IF_ERROR(WriteFileAtomic(dir + "/config.json", config_text));
  if (!run_mode && mkfifo((dir + "/exec.fifo").c_str(), 0622) != 0) return ErrnoError("mkfifo exec.fifo");
  if (!run_mode) ::chmod((dir + "/exec.fifo").c_str(), 0622);

  InitConfig c;
  c.spec = &s;
  c.process = &*s.process;
  c.rootfs = rootfs;
  c.bundle = bundle;
  c.no_pivot = opts.no_pivot;
  if (ro.debug) c.debug = &debug;
  c.wait_fifo = !run_mode;
  const oci::Namespace* userns = s.linux.find(oci::NamespaceType::kUser);
  c.new_userns = userns && userns->path.empty();
  const oci::Namespace* cgns = s.linux.find(oci::NamespaceType::kCgroup);
  c.new_cgroupns = cgns && cgns->path.empty();
  if (c.new_userns && (s.linux.uid_mappings.empty() || s.linux.gid_mappings.empty()))
    return Error("linux.uidMappings and linux.gidMappings are required with a new user namespace");

  std::unique_ptr<SeccompFilter> seccomp;
  if (s.linux.seccomp) {
    CL_ASSIGN_OR_RETURN(seccomp, SeccompFilter::Build(*s.linux.seccomp));
    c.seccomp = seccomp.get();
  }
  if (s.process->capabilities) {
    CL_ASSIGN_OR_RETURN(auto caps, ResolveCapabilities(*s.process->capabilities));
    c.caps = std::move(caps);
  }

  debug("spec parsed");
  CL_ASSIGN_OR_RETURN(CgroupLayout layout, CgroupLayout::Detect());
  {
    auto cg = Cgroup::Create(layout, r.cgroups_path, id);
    if (!cg.ok()) return cg.error().wrap("cgroup");
    l.cgroup = std::move(*cg);
  }
  r.has_cgroup = true;
  if (s.linux.resources) {
    Status st = l.cgroup->Apply(WithDefaultDevices(*s.linux.resources, s.linux.devices));
    if (!st.ok()) return st.error().wrap("linux.resources");
  }
  debug("cgroup layout: " + std::string(layout.version == CgroupVersion::kV1 ? "v1" : "v2") + ", " +
        std::to_string(layout.v1.size()) + " v1 hierarchies, unified " + layout.unified);
  debug("cgroup created");
  if (layout.version == CgroupVersion::kV1) {
    c.cgroup_v1 = V1Sources(layout, *l.cgroup);
  } else {
    c.cgroup_v2_dir = l.cgroup->Dir("");
  }

  int sp[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) != 0) return ErrnoError("socketpair");
  l.sync.reset(sp[0]);
  UniqueFd child_sync(sp[1]);
  c.sync_fd = child_sync.get();
  UniqueFd console, console_peer;
  if (s.process->terminal) {
    if (!opts.console_socket.empty()) {
      CL_ASSIGN_OR_RETURN(console, ConnectUnix(opts.console_socket));
    } else if (run_mode) {
      if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) != 0) return ErrnoError("socketpair");
      console_peer.reset(sp[0]);
      console.reset(sp[1]);
    } else {
      return Error("process.terminal is true: --console-socket is required for create");
    }
    c.console_fd = console.get();
  }
  UniqueFd state_dir(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!state_dir.valid()) return ErrnoError("open " + dir);
  c.state_dir_fd = state_dir.get();
  c.record = r;

  uint64_t flags = 0;
  for (const auto& ns : s.linux.namespaces) {
    if (ns.path.empty() && ns.type != oci::NamespaceType::kCgroup) flags |= Info(ns.type).clone_flag;
  }
  // Never a migration of the init by pid: writing a pid to a v1 cgroup.procs waits for an RCU grace period (10-20 ms
  // on PREEMPT_RT). v2: the init is cloned inside its group. v1: it joins through files we open (CgroupSelfJoin).
  CL_ASSIGN_OR_RETURN(CgroupSelfJoin cgroup_join, l.cgroup->PrepareSelfJoin());
  UniqueFd cgroup_dir;
  if (layout.version == CgroupVersion::kV2) {
    auto dir_fd = l.cgroup->OpenDir();
    if (dir_fd.ok()) cgroup_dir = std::move(*dir_fd);
  }
  c.cgroup_join = cgroup_join.empty() ? nullptr : &cgroup_join;
  bool parent_attaches = !c.cgroup_join && !cgroup_dir.valid();
  c.go_first = c.new_userns || parent_attaches;
  int pidfd = -1;
  pid_t pid = -1;
  {
    ParentNamespaceJoin join;
    CL_RETURN_IF_ERROR(join.Join(s.linux));
    if (cgroup_dir.valid()) {
      pid = Clone(flags, &pidfd, cgroup_dir.get());
      if (pid == 0) InitMain(c);
      if (pid < 0)
        debug(std::string("clone into the cgroup failed (") + strerror(errno) + "); moving the init instead");
    }
    if (pid < 0 && (cgroup_dir.valid() || parent_attaches)) {
      parent_attaches = true;
      c.go_first = true;
    }
    if (pid < 0) {
      pid = Clone(flags, &pidfd);
      if (pid == 0) InitMain(c);
    }
  }
  if (pid < 0) return ErrnoError("clone the container's init");
  l.pid = pid;
  l.pidfd.reset(pidfd);
  child_sync.reset();
  console.reset();
  cgroup_join.Close();
  cgroup_dir.reset();
  debug("init is pid " + std::to_string(pid));

  if (c.new_userns) {
    std::string proc = "/proc/" + std::to_string(pid);
    CL_RETURN_IF_ERROR(WriteText(proc + "/uid_map", IdMapText(s.linux.uid_mappings)));
    CL_RETURN_IF_ERROR(WriteText(proc + "/gid_map", IdMapText(s.linux.gid_mappings)));
  }
  if (parent_attaches) {
    Status st = l.cgroup->AddProcess(pid);
    if (!st.ok()) return st.error().wrap("cgroup");
    debug("init moved into its cgroup");
  }
  if (s.process->oom_score_adj) {
    CL_RETURN_IF_ERROR(
        WriteText("/proc/" + std::to_string(pid) + "/oom_score_adj", std::to_string(*s.process->oom_score_adj)));
  }
  auto stat = ReadProcStat(pid);
  if (!stat) return Error("container init exited early");
  CL_ASSIGN_OR_RETURN(r.start_time, ParseStatStartTime(*stat));
  r.pid = pid;
  if (!SendMsg(l.sync.get(), kMsgGo, std::to_string(pid))) return InitGone(l.sync.get());

  while (true) {
    std::string payload;
    char type = RecvMsg(l.sync.get(), &payload);
    if (type == kMsgReady) break;
    if (type == kMsgError) return Error(payload);
    if (type == kMsgHooks) {
      std::string state = HookStateJson(r, ContainerStatus::kCreating);
      CL_RETURN_IF_ERROR(RunHooks(s.hooks.prestart, state, "prestart"));
      CL_RETURN_IF_ERROR(RunHooks(s.hooks.create_runtime, state, "createRuntime"));
      SendMsg(l.sync.get(), kMsgHooksDone);
      continue;
    }
    int status = 0;
    waitpid(pid, &status, 0);
    l.pidfd.reset();
    return Error("container init exited during setup (status " + std::to_string(status) + ")");
  }
  debug("init ready");
  if (console_peer.valid()) {
    CL_ASSIGN_OR_RETURN(l.master, RecvFd(console_peer.get()));
  }
  CL_RETURN_IF_ERROR(WriteFileAtomic(dir + "/state.json", RecordToJson(r)));
  CL_RETURN_IF_ERROR(WritePidFile(opts.pid_file, pid));
  ok = true;
  return l;
}

// Destroys what a stopped container leaves: its cgroup, its state directory; runs poststop hooks.
Status Teardown(const std::string& dir, const ContainerRecord& r, Cgroup* cgroup) {
  Status result = Status::Ok();
  if (cgroup) {
    result = cgroup->Destroy();
  } else if (r.has_cgroup) {
    auto layout = CgroupLayout::Detect();
    if (layout.ok()) {
      auto cg = Cgroup::Open(*layout, r.cgroups_path, r.id);
      if (cg.ok()) result = (*cg)->Destroy();
    }
  }
  auto config = ReadSmallFile(dir + "/config.json");
  if (config.ok() && config->find("poststop") != std::string::npos) {
    auto spec = oci::ParseSpec(*config);
    if (spec.ok()) {
      // Failures of poststop hooks are only warnings in the spec; the container is gone either way.
      (void)RunHooks(spec->hooks.poststop, HookStateJson(r, ContainerStatus::kStopped), "poststop");
    }
  }
  RemoveStateDir(dir);
  return result;
}

}  // namespace

Status Runtime::Create(const std::string& id, const CreateOptions& options) {
  auto l = Launch(
      options_, id, options, false, options_.debug ? options_.debug : [](const std::string&) {});
  if (!l.ok()) return l.error();
  return Status::Ok();
}

Status Runtime::Start(const std::string& id) {
  CL_ASSIGN_OR_RETURN(ContainerRecord r, Load(id));
  std::string dir = Dir(id);
  UniqueFd pidfd(PidfdOpen(r.pid));
  ContainerStatus status = pidfd.valid() ? Derive(r) : ContainerStatus::kStopped;
  if (status == ContainerStatus::kStopped) return Error("cannot start a container that has stopped");
  if (status == ContainerStatus::kRunning) return Error("cannot start an already running container");
  UniqueFd fifo(::open((dir + "/exec.fifo").c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (!fifo.valid()) return ErrnoError("open exec.fifo");
  pollfd p[2] = {{fifo.get(), POLLIN, 0}, {pidfd.get(), POLLIN, 0}};
  int rc;
  do {
    rc = poll(p, 2, 60000);
  } while (rc < 0 && errno == EINTR);
  char byte;
  if (rc <= 0 || !(p[0].revents & POLLIN) || ::read(fifo.get(), &byte, 1) != 1) {
    return Error("container init exited before it was started");
  }
  ::unlink((dir + "/exec.fifo").c_str());
  auto config = ReadSmallFile(dir + "/config.json");
  if (config.ok() && config->find("poststart") != std::string::npos) {
    auto spec = oci::ParseSpec(*config);
    if (spec.ok()) {
      Status st = RunHooks(spec->hooks.poststart, HookStateJson(r, ContainerStatus::kRunning), "poststart");
      if (!st.ok()) Debug("warning: " + st.message());
    }
  }
  return Status::Ok();
}

Result<ContainerInfo> Runtime::State(const std::string& id) const {
  CL_ASSIGN_OR_RETURN(ContainerRecord r, Load(id));
  ContainerInfo info;
  info.status = Derive(r);
  info.record = std::move(r);
  return info;
}

Status Runtime::Kill(const std::string& id, int signal, bool all) {
  CL_ASSIGN_OR_RETURN(ContainerRecord r, Load(id));
  if (all && r.has_cgroup) {
    CL_ASSIGN_OR_RETURN(CgroupLayout layout, CgroupLayout::Detect());
    auto cg = Cgroup::Open(layout, r.cgroups_path, r.id);
    if (cg.ok()) {
      if (signal == SIGKILL) (void)(*cg)->Freeze(true);
      for (pid_t p : (*cg)->Processes()) ::kill(p, signal);
      if (signal == SIGKILL) (void)(*cg)->Freeze(false);
      return Status::Ok();
    }
  }
  UniqueFd pidfd(PidfdOpen(r.pid));
  // The pidfd pins the process; checking the start time after opening it makes sure it is ours.
  if (!pidfd.valid() || !ProcessAlive(r.pid, r.start_time)) return Error("container \"" + id + "\" is not running");
  if (PidfdSignal(pidfd.get(), signal) != 0) return ErrnoError("signal container \"" + id + "\"");
  return Status::Ok();
}

Status Runtime::Delete(const std::string& id, bool force) {
  auto loaded = Load(id);
  if (!loaded.ok()) {
    if (force) {
      if (ValidateId(id).ok()) RemoveStateDir(Dir(id));
      return Status::Ok();
    }
    return loaded.error();
  }
  ContainerRecord r = *loaded;
  UniqueFd pidfd(PidfdOpen(r.pid));
  ContainerStatus status = pidfd.valid() ? Derive(r) : ContainerStatus::kStopped;
  if (status == ContainerStatus::kRunning && !force)
    return Error("cannot delete container \"" + id + "\" that is not stopped: running (use --force)");
  if (status != ContainerStatus::kStopped) {
    PidfdSignal(pidfd.get(), SIGKILL);
    if (!WaitPidfd(pidfd.get(), 10000)) return Error("container \"" + id + "\" did not exit after SIGKILL");
  }
  Debug("container stopped");
  Status st = Teardown(Dir(id), r, nullptr);
  Debug("cgroup and state removed");
  return st;
}

namespace {
pid_t g_forward_pid = 0;
void Forward(int sig) {
  if (g_forward_pid > 0) ::kill(g_forward_pid, sig);
}
int ExitCode(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}
int WaitForwarding(pid_t pid, int pidfd, int master) {
  g_forward_pid = pid;
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH}) signal(sig, Forward);
  if (master >= 0) ProxyTerminal(master, pidfd);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  g_forward_pid = 0;
  return ExitCode(status);
}
}  // namespace

Result<int> Runtime::Run(const std::string& id, const CreateOptions& options, bool detach) {
  auto launched = Launch(
      options_, id, options, true, options_.debug ? options_.debug : [](const std::string&) {});
  if (!launched.ok()) return launched.error();
  Launched& l = *launched;
  SendMsg(l.sync.get(), kMsgStart);
  if (!l.spec.hooks.poststart.empty()) {
    Status st = RunHooks(l.spec.hooks.poststart, HookStateJson(l.record, ContainerStatus::kRunning), "poststart");
    if (!st.ok()) Debug("warning: " + st.message());
  }
  if (detach) return 0;
  int code = WaitForwarding(l.pid, l.pidfd.get(), l.master.valid() ? l.master.get() : -1);
  // An exec error the init reports after "ready" arrives here.
  std::string payload;
  pollfd p{l.sync.get(), POLLIN, 0};
  if (poll(&p, 1, 0) > 0 && RecvMsg(l.sync.get(), &payload) == kMsgError) {
    (void)Teardown(Dir(id), l.record, l.cgroup.get());
    return Error(payload);
  }
  Status st = Teardown(Dir(id), l.record, l.cgroup.get());
  if (!st.ok()) Debug("warning: " + st.message());
  return code;
}

Result<int> Runtime::Exec(const std::string& id, const ExecOptions& o) {
  CL_ASSIGN_OR_RETURN(ContainerRecord r, Load(id));
  std::string dir = Dir(id);
  CL_ASSIGN_OR_RETURN(std::string config_text, ReadSmallFile(dir + "/config.json"));
  auto spec = oci::ParseSpec(config_text);
  if (!spec.ok()) return spec.error().wrap(dir + "/config.json");
  oci::Process proc = spec->process ? *spec->process : oci::Process{};
  if (!o.process_json.empty()) {
    CL_ASSIGN_OR_RETURN(std::string text, ReadSmallFile(o.process_json));
    CL_ASSIGN_OR_RETURN(proc, ParseProcess(text));
  } else {
    if (o.args.empty()) return Error("exec: a command is required");
    proc.args = o.args;
    proc.terminal = o.tty;
    proc.console_size.reset();
    for (const auto& e : o.env) {
      std::string key = e.substr(0, e.find('='));
      std::erase_if(proc.env, [&](const std::string& x) { return x.substr(0, x.find('=')) == key; });
      proc.env.push_back(e);
    }
    if (!o.cwd.empty()) proc.cwd = o.cwd;
    if (o.user) proc.user = *o.user;
  }
  InitConfig c;
  c.spec = &*spec;
  c.process = &proc;
  c.exec = true;
  std::unique_ptr<SeccompFilter> seccomp;
  if (spec->linux.seccomp) {
    CL_ASSIGN_OR_RETURN(seccomp, SeccompFilter::Build(*spec->linux.seccomp));
    c.seccomp = seccomp.get();
  }
  if (proc.capabilities) {
    CL_ASSIGN_OR_RETURN(auto caps, ResolveCapabilities(*proc.capabilities));
    c.caps = std::move(caps);
  }
  UniqueFd pidfd(PidfdOpen(r.pid));
  if (!pidfd.valid() || !ProcessAlive(r.pid, r.start_time)) return Error("cannot exec in a stopped container");
  // The container's namespaces, user first (joining it grants the rights to join the others), mount before the rest.
  std::vector<UniqueFd> ns_fds;
  UniqueFd pid_ns;
  for (const char* name : {"user", "mnt", "ipc", "uts", "net", "cgroup", "pid", "time"}) {
    std::string theirs = "/proc/" + std::to_string(r.pid) + "/ns/" + name;
    std::string target = ReadLink(theirs);
    if (target.empty() || target == ReadLink(std::string("/proc/self/ns/") + name)) continue;
    UniqueFd fd(::open(theirs.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) return ErrnoError("open " + theirs);
    int flag = 0;
    for (const auto& i : kNamespaces)
      if (std::string_view(i.proc_name) == name) flag = i.clone_flag;
    if (flag == CLONE_NEWPID) {
      pid_ns = std::move(fd);
      continue;
    }
    c.join.emplace_back(fd.get(), flag);
    ns_fds.push_back(std::move(fd));
  }
  int sp[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) != 0) return ErrnoError("socketpair");
  UniqueFd sync(sp[0]), child_sync(sp[1]);
  c.sync_fd = child_sync.get();
  UniqueFd console, console_peer, master;
  if (proc.terminal) {
    if (!o.console_socket.empty()) {
      CL_ASSIGN_OR_RETURN(console, ConnectUnix(o.console_socket));
    } else if (!o.detach) {
      if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) != 0) return ErrnoError("socketpair");
      console_peer.reset(sp[0]);
      console.reset(sp[1]);
    } else {
      return Error("exec --tty --detach needs --console-socket");
    }
    c.console_fd = console.get();
  }
  // Into the container's cgroup as the init got there (see Launch): never a move by pid, which waits for an RCU
  // grace period on v1.
  std::unique_ptr<Cgroup> cgroup;
  CgroupSelfJoin cgroup_join;
  UniqueFd cgroup_dir;
  if (r.has_cgroup) {
    CL_ASSIGN_OR_RETURN(CgroupLayout layout, CgroupLayout::Detect());
    auto opened = Cgroup::Open(layout, r.cgroups_path, r.id);
    if (!opened.ok()) return opened.error().wrap("cgroup");
    cgroup = std::move(*opened);
    CL_ASSIGN_OR_RETURN(cgroup_join, cgroup->PrepareSelfJoin());
    if (layout.version == CgroupVersion::kV2) {
      auto dir_fd = cgroup->OpenDir();
      if (dir_fd.ok()) cgroup_dir = std::move(*dir_fd);
    }
    c.cgroup_join = cgroup_join.empty() ? nullptr : &cgroup_join;
  }
  bool parent_attaches = cgroup && !c.cgroup_join;
  int child_pidfd = -1;
  pid_t pid = -1;
  {
    UniqueFd own_pid;
    if (pid_ns.valid()) {
      own_pid.reset(::open("/proc/self/ns/pid_for_children", O_RDONLY | O_CLOEXEC));
      if (setns(pid_ns.get(), CLONE_NEWPID) != 0) return ErrnoError("join the container's pid namespace");
    }
    if (cgroup_dir.valid()) {
      pid = Clone(0, &child_pidfd, cgroup_dir.get());
      if (pid == 0) ExecMain(c);
      if (pid >= 0) parent_attaches = false;
    }
    if (pid < 0) {
      pid = Clone(0, &child_pidfd);
      if (pid == 0) ExecMain(c);
    }
    if (own_pid.valid()) (void)setns(own_pid.get(), CLONE_NEWPID);
  }
  if (pid < 0) return ErrnoError("clone");
  UniqueFd cpidfd(child_pidfd);
  child_sync.reset();
  console.reset();
  ns_fds.clear();
  cgroup_join.Close();
  cgroup_dir.reset();
  if (parent_attaches) {
    Status st = cgroup->AddProcess(pid);
    if (!st.ok()) {
      PidfdSignal(cpidfd.get(), SIGKILL);
      waitpid(pid, nullptr, 0);
      return st.error().wrap("cgroup");
    }
  }
  SendMsg(sync.get(), kMsgGo);
  std::string payload;
  char type = RecvMsg(sync.get(), &payload);
  if (type != kMsgReady) {
    int status = 0;
    waitpid(pid, &status, 0);
    if (type == kMsgError) return Error(payload);
    return Error("exec: the process exited during setup");
  }
  if (console_peer.valid()) {
    CL_ASSIGN_OR_RETURN(master, RecvFd(console_peer.get()));
  }
  CL_RETURN_IF_ERROR(WritePidFile(o.pid_file, pid));
  if (o.detach) return 0;
  int code = WaitForwarding(pid, cpidfd.get(), master.valid() ? master.get() : -1);
  if (poll(std::array<pollfd, 1>{pollfd{sync.get(), POLLIN, 0}}.data(), 1, 0) > 0 &&
      RecvMsg(sync.get(), &payload) == kMsgError)
    return Error(payload);
  return code;
}

Result<std::vector<ContainerInfo>> Runtime::List() const {
  std::vector<ContainerInfo> out;
  DIR* d = opendir(options_.root.c_str());
  if (!d) {
    if (errno == ENOENT) return out;
    return ErrnoError("open " + options_.root);
  }
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    auto info = State(name);
    if (info.ok()) out.push_back(std::move(*info));
  }
  closedir(d);
  std::sort(out.begin(), out.end(),
            [](const ContainerInfo& a, const ContainerInfo& b) { return a.record.id < b.record.id; });
  return out;
}

}  // namespace cloudlet::container
