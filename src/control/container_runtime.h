// The executor's view of containers: run exactly these (ContainerPlan, container_plan.h), supervise them, report on
// them. Tests use a fake; the daemon uses the supervisor made by MakeContainerSupervisor:
//
// Start of a container (in Apply, or a restart):
//   image from the local store (resolved, layers unpacked once under <store>/unpacked) -> overlay rootfs at
//   <dir>/rootfs (upper, work beside it; layers never copied) -> <dir>/config.json (BuildContainerSpec; the network
//   namespace is the endpoint's /run/netns/<netns>) -> `cloudlet-runtime --root <runtime root> create` as a
//   subprocess (the runtime executable beside the daemon's binary, else `/proc/self/exe runtime`), its stdout and
//   stderr = <dir>/log, stdin /dev/null, signals default, no inherited descriptors -> `start` (opens exec.fifo).
//   The daemon never clones a container init itself: it is multithreaded.
// Supervision: the daemon is a child subreaper (PR_SET_CHILD_SUBREAPER), so once `create` exits its container's init
//   is the daemon's child. One thread polls a pidfd per running container plus an eventfd (Apply and the commands
//   wake it); on an exit it reaps the init (waitid on the pidfd: the exit code, or 128+signal), deletes the runtime's
//   container (cgroup, state) and applies the restart policy: no -> stopped; on-failure -> restarted unless the exit
//   code is 0; always -> restarted. Restarts wait a backoff of 100 ms doubling to 10 s, back to 100 ms once a start
//   ran 10 s. The rootfs (and its upper layer) is kept across restarts. `Stop` marks the container stopped by the
//   user first, so its exit never restarts it. The same thread reaps other zombie children (orphans a dying
//   container's PID namespace hands to the subreaper) and caps the logs.
// Logs: <dir>/log, written by the container directly (O_APPEND). Beyond kLogCapBytes it is copied to <dir>/log.1
//   and truncated in place (logrotate's copytruncate: a line written between copy and truncate may be lost).
// Convergence (Apply): a container with an unchanged plan is left alone (running, or stopped by the user); a changed
//   plan stops, deletes and starts it again with a fresh rootfs; containers no longer planned are stopped (SIGTERM,
//   SIGKILL after the stop timeout, all at once), deleted, their rootfs unmounted and <dir> removed (logs included).
//   A container that failed to start is retried by the next Apply.
// Daemon restart: a planned container found running in the runtime root with the same plan (<dir>/plan.json holds
//   its fingerprint) is adopted, not started twice; it is not the new daemon's child, so its exit is seen through
//   its pidfd without an exit code (reported as -1; on-failure restarts it). Anything else under that id is deleted
//   and started afresh, unless `Stop` left <dir>/stopped-by-user (the container stays stopped until `Start`).
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "control/container_plan.h"

namespace cloudlet {

constexpr const char* kDefaultContainerRuntimeRoot = "/run/cloudlet/containers";
constexpr Nanos kDefaultStopTimeout = 10 * kSecond;
constexpr uint64_t kLogCapBytes = 8u << 20;

class ContainerRuntime {
 public:
  virtual ~ContainerRuntime() = default;
  // Converges on `plans` (every project's), see the file comment. Returns one line per change ("started container
  // web1 (busybox:latest)", "restarted container web2 (settings changed)", "removed container probe"); a container
  // that could not start is an error (the others are still converged; it stays listed as failed).
  // `project` ("" = all) is the project being changed: only its failed containers are tried again, so one project's
  // missing image does not fail another project's `up`.
  virtual Result<std::vector<std::string>> Apply(const std::vector<ContainerPlan>& plans,
                                                 const std::string& project = "") = 0;
  // True if Apply(plans, project) would change nothing (same plans, none of `project`'s failed).
  virtual bool Matches(const std::vector<ContainerPlan>& plans, const std::string& project = "") = 0;
  // [{"name","project","endpoint","id","image","image_digest","state","pid","restarts","exit_code","started",
  //   "restart","netns","addresses","log","runtime_root","error"}]; state: running, stopped, restarting, failed.
  virtual nlohmann::json Snapshot() = 0;
  // `cloudlet container start|stop` on a planned container (by runtime id). Start of a running one is an error;
  // Stop of a stopped one is not.
  virtual Result<std::string> Start(const std::string& id) = 0;
  virtual Result<std::string> Stop(const std::string& id, Nanos timeout) = 0;
};

struct ContainerSupervisorOptions {
  std::string dir;                                          // <state_dir>/containers
  std::string runtime_root = kDefaultContainerRuntimeRoot;  // the runtime's --root
  std::string image_store;                                  // the image store's root
  Nanos stop_timeout = kDefaultStopTimeout;                 // SIGTERM -> SIGKILL on removal
};

// Makes the calling process a child subreaper and starts the supervision thread.
Result<std::unique_ptr<ContainerRuntime>> MakeContainerSupervisor(const ContainerSupervisorOptions& options);

}  // namespace cloudlet
