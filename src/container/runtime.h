// cloudlet's OCI runtime (runtime-spec 1.x, Linux), with runc's commands and its on-disk layout: one directory per
// container under the root (<root>/<id>/state.json, exec.fifo, config.json; emptied ones wait as <root>/~spareN to be
// reused, as rmdir can take milliseconds, see RemoveStateDir). No daemon: each command is one short
// process. `Create` clones the container's init straight from the calling process (no re-exec), which sets up
// namespaces, mounts, devices, pivot_root, the process's limits and identity, then blocks opening exec.fifo until
// `Start` opens it for reading; seccomp is loaded last, just before execve.
//
//   parent (runtime)                          child (container init, clone3 with the new namespaces; on cgroup v2
//                                              CLONE_INTO_CGROUP puts it in its group from the start)
//   join path namespaces, clone3 ──────────►  v1: join its cgroups (writes "0" to `tasks` files the parent opened)
//   uid/gid maps, oom_score_adj, start time    with a new user namespace: wait for "go" first
//   "go" (pid) ─────────────────────────────► cgroup ns, mounts, devices (in parallel with the parent otherwise)
//   prestart + createRuntime hooks ◄──"hooks"  (only when the spec has hooks; "go" is awaited first)
//   "hooks done" ───────────────────────────► createContainer hooks, pivot_root, masked/readonly paths, sysctl,
//                                              hostname, terminal, rlimits, nnp, caps, user, cwd, "go" awaited
//   write state.json, exit  ◄──────"ready"     open exec.fifo (blocks until `start`), startContainer hooks,
//                                              seccomp, execve
#pragma once

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "container/state.h"
#include "oci/runtime_spec.h"

namespace cloudlet::container {

constexpr const char* kDefaultRuntimeRoot = "/run/cloudlet-runtime";

struct RuntimeOptions {
  std::string root = kDefaultRuntimeRoot;
  // Called with debug messages (--debug); null: none.
  std::function<void(const std::string&)> debug;
};

struct CreateOptions {
  std::string bundle = ".";
  std::string pid_file;
  std::string console_socket;
  bool no_pivot = false;
  bool no_new_keyring = false;  // accepted; cloudlet never creates a session keyring
};

struct ExecOptions {
  std::vector<std::string> args;
  std::string process_json;  // path of a process.json (replaces args/env/cwd/user/tty)
  std::vector<std::string> env;
  std::string cwd;
  std::optional<oci::User> user;
  bool tty = false;
  bool detach = false;
  std::string pid_file;
  std::string console_socket;
};

struct ContainerInfo {
  ContainerRecord record;
  ContainerStatus status = ContainerStatus::kStopped;
};

class Runtime {
 public:
  explicit Runtime(RuntimeOptions options);

  Status Create(const std::string& id, const CreateOptions& options);
  Status Start(const std::string& id);
  Result<ContainerInfo> State(const std::string& id) const;
  // `all`: every process of the container's cgroup.
  Status Kill(const std::string& id, int signal, bool all);
  // A running container is refused unless `force` (then killed with SIGKILL first).
  Status Delete(const std::string& id, bool force);
  // create + start; without `detach` waits for the process, deletes the container and returns its exit code
  // (128+signal when killed), forwarding the signals we receive and proxying a terminal when there is no socket.
  Result<int> Run(const std::string& id, const CreateOptions& options, bool detach);
  // A new process in a running container (its namespaces via setns, its cgroup); returns its exit code, or 0 when
  // detached.
  Result<int> Exec(const std::string& id, const ExecOptions& options);
  Result<std::vector<ContainerInfo>> List() const;

  // The process.json parser `exec --process` uses: a spec's "process" object on its own.
  static Result<oci::Process> ParseProcess(const std::string& json);

 private:
  std::string Dir(const std::string& id) const { return options_.root + "/" + id; }
  Result<ContainerRecord> Load(const std::string& id) const;
  ContainerStatus Derive(const ContainerRecord& record) const;
  void Debug(const std::string& msg) const;

  RuntimeOptions options_;
};

}  // namespace cloudlet::container
