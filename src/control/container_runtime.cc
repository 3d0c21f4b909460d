// The container supervisor: images to rootfs to bundles, the runtime as a subprocess, pidfd supervision with restart
// policies and backoff (see container_runtime.h).
#include "control/container_runtime.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "base/fd.h"
#include "container/runtime.h"
#include "container/seccomp.h"
#include "container/state.h"
#include "image/rootfs.h"
#include "image/store.h"
#include "image/unpack.h"

extern char** environ;

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

namespace cloudlet {

namespace {

constexpr Nanos kBackoffMin = 100 * kMillisecond;
constexpr Nanos kBackoffMax = 10 * kSecond;
constexpr Nanos kStableRun = 10 * kSecond;  // a start that ran this long resets the backoff
constexpr Nanos kCreateTimeout = 30 * kSecond;
constexpr Nanos kKillWait = 5 * kSecond;
constexpr int kSweepIntervalMs = 2000;
constexpr const char* kStoppedMarker = "stopped-by-user";  // in <dir>: `container stop` survives a daemon restart  //
                                                           // zombie sweep and log cap, at most this far apart

Nanos MonoNow() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int PidfdOpen(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

// True if the process behind `pidfd` has exited, waiting at most `timeout`.
bool WaitExit(int pidfd, Nanos timeout) {
  const Nanos deadline = MonoNow() + timeout;
  for (;;) {
    pollfd p{pidfd, POLLIN, 0};
    Nanos left = deadline - MonoNow();
    int r = ::poll(&p, 1, static_cast<int>(std::max<Nanos>(0, left / kMillisecond)));
    if (r > 0) return true;
    if (r < 0 && errno == EINTR) continue;
    if (MonoNow() >= deadline) return false;
  }
}

std::string ReadText(const std::string& path, size_t max = 1 << 20) {
  std::ifstream in(path, std::ios::binary);
  std::string out(max, '\0');
  in.read(out.data(), static_cast<std::streamsize>(max));
  out.resize(static_cast<size_t>(in.gcount()));
  return out;
}

// A file inside a container's rootfs, never following a symlink out of it (the image is untrusted).
std::string ReadInRoot(const std::string& root, const char* rel) {
  UniqueFd dir(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!dir.valid()) return "";
  open_how how{};
  how.flags = O_RDONLY | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  UniqueFd fd(static_cast<int>(::syscall(SYS_openat2, dir.get(), rel, &how, sizeof how)));
  if (!fd.valid()) return "";
  std::string out;
  char buf[4096];
  ssize_t n;
  while (out.size() < (1 << 20) && (n = ::read(fd.get(), buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

std::string LastLines(const std::string& text, size_t n) {
  size_t end = text.size();
  while (end > 0 && text[end - 1] == '\n') --end;
  size_t pos = end;
  for (size_t i = 0; i < n && pos > 0; ++i) {
    pos = text.rfind('\n', pos - 1);
    if (pos == std::string::npos) {
      pos = 0;
      break;
    }
  }
  std::string out = text.substr(pos, end - pos);
  if (!out.empty() && out[0] == '\n') out.erase(0, 1);
  return out;
}

bool IsMountPoint(const std::string& path) {
  struct stat a {
  }, b{};
  if (::stat(path.c_str(), &a) != 0) return false;
  if (::stat((path + "/..").c_str(), &b) != 0) return false;
  return a.st_dev != b.st_dev;
}

// The runtime's command line prefix: the runtime-only executable beside ours if there is one, else ourselves.
std::vector<std::string> RuntimeCommand() {
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    auto beside = self.parent_path() / "cloudlet-runtime";
    if (::access(beside.c_str(), X_OK) == 0) return {beside.string()};
    return {self.string(), "runtime"};
  }
  return {"/proc/self/exe", "runtime"};
}

enum class State { kRunning, kStopped, kRestarting, kFailed };

const char* StateName(State s) {
  switch (s) {
    case State::kRunning:
      return "running";
    case State::kStopped:
      return "stopped";
    case State::kRestarting:
      return "restarting";
    case State::kFailed:
      return "failed";
  }
  return "?";
}

struct Entry {
  ContainerPlan plan;
  State state = State::kStopped;
  pid_t pid = 0;
  UniqueFd pidfd;
  bool child = false;  // the init is our child (its exit code is ours to collect)
  int restarts = 0;
  int exit_code = -1;
  std::string started;  // RFC 3339
  Nanos started_mono = 0;
  Nanos backoff = kBackoffMin;
  Nanos restart_at = 0;
  bool user_stopped = false;
  std::string image_digest;
  std::string error;
};

class Supervisor final : public ContainerRuntime {
 public:
  explicit Supervisor(const ContainerSupervisorOptions& o)
      : options_(o), runtime_({o.runtime_root, nullptr}), runtime_cmd_(RuntimeCommand()) {}

  ~Supervisor() override {
    stop_ = true;
    Wake();
    if (thread_.joinable()) thread_.join();
  }

  Status Init() {
    if (::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) return ErrnoError("prctl(PR_SET_CHILD_SUBREAPER)");
    wake_ = UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!wake_.valid()) return ErrnoError("eventfd");
    std::error_code ec;
    std::filesystem::create_directories(options_.dir, ec);
    if (ec) return Error("cannot create " + options_.dir + ": " + ec.message());
    std::filesystem::create_directories(options_.runtime_root, ec);  // the runtime makes it too; only a warning here
    if (ec) spdlog::warn("cannot create the container runtime root {}: {}", options_.runtime_root, ec.message());
    thread_ = std::thread([this] { Loop(); });
    return Status::Ok();
  }

  Result<std::vector<std::string>> Apply(const std::vector<ContainerPlan>& plans, const std::string& project) override {
    std::lock_guard lock(mu_);
    std::vector<std::string> changes;
    std::vector<std::string> errors;
    std::set<std::string> wanted;
    for (const auto& p : plans) wanted.insert(p.id);
    // Removals first, all stopped at once.
    std::vector<Entry*> leaving;
    for (auto& [id, e] : entries_) {
      if (!wanted.count(id)) leaving.push_back(&e);
    }
    StopMany(leaving, options_.stop_timeout);
    for (Entry* e : leaving) {
      auto st = Teardown(*e, /*remove_dir=*/true);
      if (!st.ok()) errors.push_back(st.message());
      changes.push_back("removed container " + e->plan.name);
      entries_.erase(e->plan.id);
    }
    for (const auto& p : plans) {
      auto it = entries_.find(p.id);
      if (it == entries_.end()) {
        Entry& e = entries_[p.id];
        e.plan = p;
        auto line = Adopt(e);
        if (!line.empty()) {
          changes.push_back(line);
          continue;
        }
        if (::access((Dir(p) + "/" + kStoppedMarker).c_str(), F_OK) == 0) {
          e.user_stopped = true;  // `container stop` before a daemon restart still holds
          e.state = State::kStopped;
          continue;
        }
        if (auto st = Launch(e); !st.ok()) {
          errors.push_back(st.message());
          continue;
        }
        changes.push_back("started container " + p.name + " (" + p.decl.image + ")");
        continue;
      }
      Entry& e = it->second;
      const bool retry = e.state == State::kFailed && (project.empty() || p.project == project);
      if (e.plan == p && !retry) continue;
      const bool changed = !(e.plan == p);
      if (changed) {
        std::vector<Entry*> one{&e};
        StopMany(one, options_.stop_timeout);
        if (auto st = Teardown(e, /*remove_dir=*/false); !st.ok()) errors.push_back(st.message());
        e.plan = p;
        e.restarts = 0;
        ::unlink((Dir(p) + "/restarts").c_str());
        ::unlink((Dir(p) + "/" + kStoppedMarker).c_str());
        e.backoff = kBackoffMin;
        e.user_stopped = false;
      }
      if (auto st = Launch(e); !st.ok()) {
        errors.push_back(st.message());
        continue;
      }
      changes.push_back((changed ? "restarted container " : "started container ") + p.name +
                        (changed ? " (settings changed)" : ""));
    }
    Wake();
    if (!errors.empty()) {
      std::string msg = errors[0];
      for (size_t i = 1; i < errors.size(); ++i) msg += "; " + errors[i];
      return Error(msg);
    }
    return changes;
  }

  bool Matches(const std::vector<ContainerPlan>& plans, const std::string& project) override {
    std::lock_guard lock(mu_);
    if (plans.size() != entries_.size()) return false;
    for (const auto& p : plans) {
      auto it = entries_.find(p.id);
      if (it == entries_.end() || !(it->second.plan == p)) return false;
      if (it->second.state == State::kFailed && (project.empty() || p.project == project)) return false;
    }
    return true;
  }

  nlohmann::json Snapshot() override {
    std::lock_guard lock(mu_);
    nlohmann::json out = nlohmann::json::array();
    for (const auto& [id, e] : entries_) {
      out.push_back({{"name", e.plan.name},
                     {"project", e.plan.project},
                     {"endpoint", e.plan.name},
                     {"id", id},
                     {"image", e.plan.decl.image},
                     {"image_digest", e.image_digest},
                     {"state", StateName(e.state)},
                     {"pid", e.state == State::kRunning ? e.pid : 0},
                     {"restarts", e.restarts},
                     {"exit_code", e.exit_code},
                     {"started", e.started},
                     {"restart", RestartPolicyName(e.plan.decl.restart)},
                     {"netns", e.plan.netns},
                     {"addresses", e.plan.addresses},
                     {"log", Dir(e.plan) + "/log"},
                     {"runtime_root", options_.runtime_root},
                     {"error", e.error}});
    }
    return out;
  }

  Result<std::string> Start(const std::string& id) override {
    std::lock_guard lock(mu_);
    auto it = entries_.find(id);
    if (it == entries_.end()) return Error("no container " + id);
    Entry& e = it->second;
    if (e.state == State::kRunning) return Error("container " + e.plan.name + " is already running");
    e.user_stopped = false;
    ::unlink((Dir(e.plan) + "/" + kStoppedMarker).c_str());
    e.backoff = kBackoffMin;
    CL_RETURN_IF_ERROR(Launch(e));
    Wake();
    return "started container " + e.plan.name;
  }

  Result<std::string> Stop(const std::string& id, Nanos timeout) override {
    std::lock_guard lock(mu_);
    auto it = entries_.find(id);
    if (it == entries_.end()) return Error("no container " + id);
    Entry& e = it->second;
    e.user_stopped = true;
    (void)container::WriteFileAtomic(Dir(e.plan) + "/" + kStoppedMarker, "", 0600);
    if (e.state != State::kRunning) {
      e.state = State::kStopped;
      return "container " + e.plan.name + " was not running";
    }
    std::vector<Entry*> one{&e};
    StopMany(one, timeout);
    Wake();
    return "stopped container " + e.plan.name +
           (e.exit_code >= 0 ? " (exit code " + std::to_string(e.exit_code) + ")" : "");
  }

 private:
  std::string Dir(const ContainerPlan& p) const { return options_.dir + "/" + p.project_key + "/" + p.name; }

  void Wake() {
    uint64_t one = 1;
    if (wake_.valid()) (void)!::write(wake_.get(), &one, sizeof one);
  }

  // A running container under the plan's id with the same fingerprint: take it over. Returns the change line, or ""
  // when there was nothing to adopt (anything stale under the id is deleted).
  std::string Adopt(Entry& e) {
    auto info = runtime_.State(e.plan.id);
    if (!info.ok()) return "";
    const std::string dir = Dir(e.plan);
    const bool same = ReadText(dir + "/plan.json") == ContainerPlanJson(e.plan).dump() + "\n";
    if (info->status == container::ContainerStatus::kRunning && same && IsMountPoint(dir + "/rootfs")) {
      UniqueFd fd(PidfdOpen(info->record.pid));
      if (fd.valid() && container::ProcessAlive(info->record.pid, info->record.start_time)) {
        any_started_ = true;
        e.pid = info->record.pid;
        e.pidfd = std::move(fd);
        auto stat = container::ReadProcStat(e.pid);
        e.child = false;
        if (stat) {
          // Field 4 (ppid) follows the ")" that ends the command name.
          auto close = stat->rfind(')');
          int ppid = 0;
          if (close != std::string::npos) std::sscanf(stat->c_str() + close + 1, " %*c %d", &ppid);
          e.child = ppid == ::getpid();
        }
        e.state = State::kRunning;
        e.started = info->record.created;
        e.started_mono = MonoNow();
        e.image_digest = LastLines(ReadText(dir + "/image-digest"), 1);
        e.restarts = std::atoi(ReadText(dir + "/restarts", 32).c_str());
        return "adopted running container " + e.plan.name + " (pid " + std::to_string(e.pid) + ")";
      }
    }
    spdlog::info("container {}: replacing what the runtime has under {} ({})", e.plan.name, e.plan.id,
                 container::StatusName(info->status));
    if (info->status == container::ContainerStatus::kRunning || info->status == container::ContainerStatus::kCreated) {
      (void)runtime_.Kill(e.plan.id, SIGKILL, true);
    }
    (void)runtime_.Delete(e.plan.id, true);
    return "";
  }

  // Image -> rootfs -> bundle -> runtime create (subprocess) -> start. The entry is running on success, failed
  // (with the reason in `error`) otherwise.
  Status Launch(Entry& e) {
    auto st = LaunchSteps(e);
    if (!st.ok()) {
      e.state = State::kFailed;
      e.error = st.message();
      spdlog::error("{}", e.error);
      return st;
    }
    e.error.clear();
    return st;
  }

  Status LaunchSteps(Entry& e) {
    const ContainerPlan& p = e.plan;
    const std::string dir = Dir(p);
    const std::string where = "container " + p.name;
    std::error_code ec;
    std::string failed;
    for (const char* sub : {"/upper", "/work", "/rootfs"}) {
      std::filesystem::create_directories(dir + sub, ec);
      if (ec) {
        failed = sub;
        break;
      }
    }
    if (ec) return Error(where + ": cannot create " + dir + failed + ": " + ec.message());
    auto store = image::ImageStore::Open(options_.image_store);
    if (!store.ok()) return store.error().wrap(where + ": image store " + options_.image_store);
    auto desc = store->Resolve(p.decl.image);
    if (!desc.ok()) {
      const std::string& why = desc.error().message();
      std::string msg = where + ": image " + p.decl.image + " is not in the image store " + options_.image_store;
      if (why.find("not in the store") == std::string::npos) msg += " (" + why + ")";
      msg += "; put it there with `cloudlet image pull " + p.decl.image + "`";
      if (p.decl.image.find("busybox") != std::string::npos) {
        msg += " or, without a registry, `cloudlet image import --busybox " + p.decl.image + "`";
      } else {
        msg += " or `cloudlet image build -t " + p.decl.image + " DIR`";
      }
      return Error(msg + " (with --store " + options_.image_store + " unless that is the default store)");
    }
    auto unpacked = image::UnpackDescriptor(*store, *desc);
    if (!unpacked.ok()) return unpacked.error().wrap(where + ": unpacking " + p.decl.image);
    e.image_digest = unpacked->manifest.digest.str();
    const std::string rootfs = dir + "/rootfs";
    if (!IsMountPoint(rootfs)) {
      CL_RETURN_IF_ERROR(image::MountRootfs(unpacked->Lowers(), dir + "/upper", dir + "/work", rootfs));
    }
    ContainerSpecInputs in;
    in.base = oci::DefaultSpec();
    in.image = unpacked->config.config;
    in.rootfs = rootfs;
    in.netns_path = "/run/netns/" + p.netns;
    in.passwd = ReadInRoot(rootfs, "etc/passwd");
    in.group = ReadInRoot(rootfs, "etc/group");
    struct stat nst {};
    if (::stat(in.netns_path.c_str(), &nst) != 0) {
      return Error(where + ": its network namespace " + in.netns_path + " does not exist");
    }
    CL_ASSIGN_OR_RETURN(oci::Spec spec, BuildContainerSpec(p, in));
    // runc's template has no seccomp profile; cloudlet's default (a Docker-like denylist) guards the host's kernel.
    if (!spec.linux.seccomp) spec.linux.seccomp = container::DefaultSeccomp();
    CL_RETURN_IF_ERROR(container::WriteFileAtomic(dir + "/config.json", oci::SpecToJson(spec), 0600));
    CL_RETURN_IF_ERROR(container::WriteFileAtomic(dir + "/plan.json", ContainerPlanJson(p).dump() + "\n", 0600));
    CL_RETURN_IF_ERROR(container::WriteFileAtomic(dir + "/image-digest", e.image_digest + "\n", 0600));

    if (runtime_.State(p.id).ok()) {
      (void)runtime_.Kill(p.id, SIGKILL, true);
      (void)runtime_.Delete(p.id, true);
    }
    CL_RETURN_IF_ERROR(RunCreate(p, dir));
    CL_ASSIGN_OR_RETURN(container::ContainerInfo info, runtime_.State(p.id));
    UniqueFd fd(PidfdOpen(info.record.pid));
    if (!fd.valid()) return ErrnoError(where + ": pidfd_open of its init " + std::to_string(info.record.pid));
    if (auto st = runtime_.Start(p.id); !st.ok()) {
      (void)runtime_.Delete(p.id, true);
      return st.error().wrap(where + ": start");
    }
    any_started_ = true;
    e.pid = info.record.pid;
    e.pidfd = std::move(fd);
    e.child = true;
    e.state = State::kRunning;
    e.started = container::NowRfc3339();
    e.started_mono = MonoNow();
    spdlog::info("container {} running (pid {}, id {})", p.name, e.pid, p.id);
    return Status::Ok();
  }

  // `<runtime> --root R --log DIR/runtime.log create --bundle DIR ID`, output into the container's log.
  Status RunCreate(const ContainerPlan& p, const std::string& dir) {
    const std::string where = "container " + p.name;
    const std::string log_path = dir + "/log";
    const std::string runtime_log = dir + "/runtime.log";
    ::unlink(runtime_log.c_str());
    std::vector<std::string> args = runtime_cmd_;
    for (const std::string& a : {std::string("--root"), options_.runtime_root, std::string("--log"), runtime_log,
                                 std::string("create"), std::string("--bundle"), dir, p.id}) {
      args.push_back(a);
    }
    std::vector<char*> argv;
    argv.reserve(args.size() + 1);
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    for (int s : {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGCHLD}) sigaddset(&defaults, s);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSID);
    pid_t pid = 0;
    int rc = ::posix_spawn(&pid, argv[0], &fa, &attr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) return ErrnoError(where + ": cannot run the runtime " + args[0], rc);

    UniqueFd fd(PidfdOpen(pid));
    bool exited = fd.valid() ? WaitExit(fd.get(), kCreateTimeout) : true;
    if (!exited) {
      ::kill(pid, SIGKILL);
      WaitExit(fd.get(), kKillWait);
    }
    int wstatus = 0;
    ::waitpid(pid, &wstatus, 0);
    if (exited && WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) return Status::Ok();
    std::string why = LastLines(ReadText(runtime_log), 3);
    if (why.empty()) why = LastLines(ReadText(log_path), 3);
    if (!exited) why = "no answer within " + std::to_string(kCreateTimeout / kSecond) + " s";
    return Error(where + ": the runtime could not create it: " + why);
  }

  // SIGTERM to each, SIGKILL (the whole cgroup) to those still running after `timeout`; reaps them and deletes
  // them from the runtime. Entries end stopped, with the exit code when it is ours to know.
  void StopMany(const std::vector<Entry*>& entries, Nanos timeout) {
    std::vector<Entry*> running;
    for (Entry* e : entries) {
      e->user_stopped = true;  // their exits must not restart them
      if (e->state == State::kRunning && e->pidfd.valid()) {
        (void)runtime_.Kill(e->plan.id, SIGTERM, false);
        running.push_back(e);
      } else {
        e->state = State::kStopped;
      }
    }
    const Nanos deadline = MonoNow() + timeout;
    for (Entry* e : running) {
      if (!WaitExit(e->pidfd.get(), std::max<Nanos>(0, deadline - MonoNow()))) {
        (void)runtime_.Kill(e->plan.id, SIGKILL, true);
        if (!WaitExit(e->pidfd.get(), kKillWait)) spdlog::warn("container {}: still alive after SIGKILL", e->plan.name);
      }
      Reap(*e);
      e->state = State::kStopped;
    }
  }

  // Collects the exit of `e`'s init (if it is our child), drops its pidfd, deletes it from the runtime.
  void Reap(Entry& e) {
    if (e.pidfd.valid()) {
      siginfo_t info{};
      if (e.child &&
          ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(e.pidfd.get()), &info, WEXITED | WNOHANG) == 0 &&
          info.si_pid != 0) {
        e.exit_code = info.si_code == CLD_EXITED ? info.si_status : 128 + info.si_status;
      } else {
        e.exit_code = -1;
      }
      e.pidfd.reset();
    }
    (void)runtime_.Delete(e.plan.id, true);
  }

  // Stopped and deleted already; unmounts the rootfs and, for a removal, the whole directory.
  Status Teardown(Entry& e, bool remove_dir) {
    const std::string dir = Dir(e.plan);
    if (runtime_.State(e.plan.id).ok()) {
      (void)runtime_.Kill(e.plan.id, SIGKILL, true);
      (void)runtime_.Delete(e.plan.id, true);
    }
    if (IsMountPoint(dir + "/rootfs")) {
      if (auto st = image::UnmountRootfs(dir + "/rootfs"); !st.ok()) return st.error().wrap("container " + e.plan.name);
    }
    std::error_code ec;
    if (remove_dir) {
      std::filesystem::remove_all(dir, ec);
      ::rmdir((options_.dir + "/" + e.plan.project_key).c_str());  // the project's directory, once empty
    } else {
      // A changed container starts from a fresh upper layer (as a re-created Docker container does).
      std::filesystem::remove_all(dir + "/upper", ec);
      std::filesystem::remove_all(dir + "/work", ec);
    }
    if (ec) return Error("container " + e.plan.name + ": cannot remove " + dir + ": " + ec.message());
    return Status::Ok();
  }

  // ---- the supervision thread ----

  void Loop() {
    Nanos last_sweep = 0;
    while (!stop_) {
      std::vector<pollfd> fds;
      int timeout_ms = kSweepIntervalMs;
      {
        std::lock_guard lock(mu_);
        fds.push_back({wake_.get(), POLLIN, 0});
        const Nanos now = MonoNow();
        for (auto& [id, e] : entries_) {
          if (e.state == State::kRunning && e.pidfd.valid()) fds.push_back({e.pidfd.get(), POLLIN, 0});
          if (e.state == State::kRestarting) {
            timeout_ms =
                std::min<int>(timeout_ms, static_cast<int>(std::max<Nanos>(0, e.restart_at - now) / kMillisecond) + 1);
          }
        }
      }
      int r = ::poll(fds.data(), fds.size(), timeout_ms);
      if (r < 0 && errno != EINTR) {
        spdlog::error("container supervision: poll: {}", std::strerror(errno));
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      uint64_t drained;
      while (::read(wake_.get(), &drained, sizeof drained) > 0) {
      }
      if (stop_) break;
      std::lock_guard lock(mu_);
      // The poll results are only hints (Apply may have replaced descriptors meanwhile): look again under the lock.
      for (auto& [id, e] : entries_) {
        if (e.state != State::kRunning || !e.pidfd.valid()) continue;
        pollfd p{e.pidfd.get(), POLLIN, 0};
        if (::poll(&p, 1, 0) > 0) OnExit(e);
      }
      const Nanos now = MonoNow();
      for (auto& [id, e] : entries_) {
        if (e.state != State::kRestarting || e.restart_at > now) continue;
        ++e.restarts;
        (void)container::WriteFileAtomic(Dir(e.plan) + "/restarts", std::to_string(e.restarts) + "\n", 0600);
        if (Launch(e).ok()) {
          spdlog::info("container {} restarted ({} restart(s))", e.plan.name, e.restarts);
        } else {
          ScheduleRestart(e);  // keeps trying, at most every kBackoffMax
        }
      }
      if (any_started_ && now - last_sweep >= kSweepIntervalMs * kMillisecond) {
        last_sweep = now;
        ReapStrays();
        CapLogs();
      }
    }
  }

  void ScheduleRestart(Entry& e) {
    e.state = State::kRestarting;
    e.restart_at = MonoNow() + e.backoff;
    e.backoff = std::min(e.backoff * 2, kBackoffMax);
  }

  void OnExit(Entry& e) {
    Reap(e);
    spdlog::info("container {} exited (code {})", e.plan.name, e.exit_code);
    const auto policy = e.plan.decl.restart;
    const bool restart = !e.user_stopped && (policy == RestartPolicyDecl::kAlways ||
                                             (policy == RestartPolicyDecl::kOnFailure && e.exit_code != 0));
    if (!restart) {
      e.state = State::kStopped;
      return;
    }
    if (MonoNow() - e.started_mono >= kStableRun) e.backoff = kBackoffMin;
    ScheduleRestart(e);
  }

  // Zombie children that are no container init we watch: orphans of a dead container's PID namespace.
  void ReapStrays() {
    std::set<pid_t> ours;
    for (auto& [id, e] : entries_) {
      if (e.pidfd.valid() && e.child) ours.insert(e.pid);
    }
    const pid_t self = ::getpid();
    DIR* d = ::opendir("/proc");
    if (!d) return;
    while (dirent* ent = ::readdir(d)) {
      pid_t pid = static_cast<pid_t>(std::atoi(ent->d_name));
      if (pid <= 0 || ours.count(pid)) continue;
      auto stat = container::ReadProcStat(pid);
      if (!stat) continue;
      auto close = stat->rfind(')');
      char state = 0;
      int ppid = 0;
      if (close == std::string::npos || std::sscanf(stat->c_str() + close + 1, " %c %d", &state, &ppid) != 2) continue;
      if (ppid == self && state == 'Z') ::waitpid(pid, nullptr, WNOHANG);
    }
    ::closedir(d);
  }

  void CapLogs() {
    for (auto& [id, e] : entries_) {
      const std::string log = Dir(e.plan) + "/log";
      struct stat st {};
      if (::stat(log.c_str(), &st) != 0 || static_cast<uint64_t>(st.st_size) <= kLogCapBytes) continue;
      std::error_code ec;
      std::filesystem::copy_file(log, log + ".1", std::filesystem::copy_options::overwrite_existing, ec);
      if (::truncate(log.c_str(), 0) != 0) spdlog::warn("cannot truncate {}: {}", log, std::strerror(errno));
    }
  }

  ContainerSupervisorOptions options_;
  container::Runtime runtime_;
  std::vector<std::string> runtime_cmd_;
  std::mutex mu_;
  std::map<std::string, Entry> entries_;  // by runtime id
  UniqueFd wake_;
  std::atomic<bool> stop_{false};
  bool any_started_ = false;  // no container yet: no strays to reap, no logs to cap
  std::thread thread_;
};

}  // namespace

Result<std::unique_ptr<ContainerRuntime>> MakeContainerSupervisor(const ContainerSupervisorOptions& options) {
  auto s = std::make_unique<Supervisor>(options);
  CL_RETURN_IF_ERROR(s->Init());
  return std::unique_ptr<ContainerRuntime>(std::move(s));
}

}  // namespace cloudlet
