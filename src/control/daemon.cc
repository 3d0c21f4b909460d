// The daemon: state-dir lock, restore from state.json, API backend over the reconciler, signal-driven shutdown.
#include "control/daemon.h"

#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "base/clock.h"
#include "base/fd.h"
#include "config/config.h"
#include "control/api.h"
#include "control/container_runtime.h"
#include "control/daemon_backend.h"
#include "control/host_ops.h"
#include "control/reconciler.h"
#include "control/state_store.h"
#include "control/switch_runtime.h"
#include "control/vpn_runtime.h"
#include "image/store.h"

namespace cloudlet {

namespace {

Result<UniqueFd> LockStateDir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Error("cannot create state directory " + dir + ": " + ec.message());
  ::chmod(dir.c_str(), 0700);
  const std::string lock_path = dir + "/lock";
  UniqueFd fd(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd.valid()) return ErrnoError("cannot open " + lock_path);
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK) return ErrnoError("cannot lock " + lock_path);
    std::string pid;
    std::ifstream(dir + "/daemon.pid") >> pid;
    return Error("another cloudlet daemon" + (pid.empty() ? std::string() : " (pid " + pid + ")") +
                 " is already using state directory " + dir + "; stop it first, or give this one its own --state-dir");
  }
  return fd;
}

}  // namespace

Status RunDaemon(const DaemonOptions& options) {
  // Every thread started from here on inherits this mask; only sigwait below sees the signals.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  CL_ASSIGN_OR_RETURN(UniqueFd lock, LockStateDir(options.state_dir));
  const std::string pid_path = options.state_dir + "/daemon.pid";
  { std::ofstream(pid_path, std::ios::trunc) << ::getpid() << "\n"; }
  // The pid file names the lock holder; it goes when this function returns, on every path.
  std::unique_ptr<const std::string, void (*)(const std::string*)> pid_file(
      &pid_path, [](const std::string* p) { ::unlink(p->c_str()); });

  StateStore store(options.state_dir);
  CL_ASSIGN_OR_RETURN(DaemonState state, store.Load());
  spdlog::info("cloudlet daemon (pid {}) starting: state {}, {} project(s) recorded", ::getpid(), store.path(),
               state.projects.size());

  MonotonicClock clock;
  auto runtime = MakeDataplaneRuntime(clock);
  auto host = MakeSystemHostOps();
  auto vpns = MakeTunnelRuntime();
  ContainerSupervisorOptions container_options;
  container_options.dir = options.state_dir + "/containers";
  if (!options.container_runtime.empty()) container_options.runtime_root = options.container_runtime;
  container_options.image_store = options.image_store;
  if (container_options.image_store.empty()) {
    const char* env = std::getenv("CLOUDLET_IMAGE_STORE");
    container_options.image_store = env && *env ? env : image::kDefaultStoreRoot;
  }
  CL_ASSIGN_OR_RETURN(std::unique_ptr<ContainerRuntime> containers, MakeContainerSupervisor(container_options));
  spdlog::info("containers: images from {}, runtime root {}, state under {}", container_options.image_store,
               container_options.runtime_root, container_options.dir);
  Reconciler reconciler(*host, *runtime, &store, vpns.get(), containers.get());
  // Routers' DHCP leases survive restarts here.
  const std::string lease_dir = options.state_dir + "/dhcp";
  if (::mkdir(lease_dir.c_str(), 0755) < 0 && errno != EEXIST) return ErrnoError("mkdir " + lease_dir);
  reconciler.set_lease_dir(lease_dir);
  auto problems = reconciler.Restore(state, [](const nlohmann::json& j) { return FromJson(j); });
  for (const auto& p : problems) spdlog::error("could not restore {}", p);

  DaemonBackend backend(reconciler);
  auto server = ApiServer::Start(options.socket_path, backend);
  if (!server.ok()) return server.error();
  spdlog::info("listening on {}", options.socket_path);

  int sig = 0;
  while (sigwait(&stop_signals, &sig) != 0) {
  }
  spdlog::info("stopping on {} (kernel objects stay; `cloudlet down FILE` removes them)",
               sig == SIGTERM ? "SIGTERM" : "SIGINT");
  server->reset();  // no more requests; removes the socket
  return Status::Ok();
}

}  // namespace cloudlet
