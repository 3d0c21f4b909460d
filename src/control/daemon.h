// `cloudlet daemon`: one per state directory (flock on STATE_DIR/lock). Loads STATE_DIR/state.json, re-creates every
// recorded project (data plane, missing veths), serves the API on the unix socket, and stops cleanly on SIGTERM or
// SIGINT — kernel objects and containers stay (a restarted daemon adopts the containers); `cloudlet down` removes them.
// The daemon is a child subreaper: container inits become its children (container_runtime.h).
#pragma once

#include <string>

#include "base/status.h"

namespace cloudlet {

constexpr const char* kDefaultSocketPath = "/run/cloudlet/cloudlet.sock";
constexpr const char* kDefaultStateDir = "/var/lib/cloudlet";

struct DaemonOptions {
  std::string socket_path = kDefaultSocketPath;
  std::string state_dir = kDefaultStateDir;
  std::string image_store;        // containers' images; "" = $CLOUDLET_IMAGE_STORE, else image::kDefaultStoreRoot
  std::string container_runtime;  // the container runtime's --root; "" = kDefaultContainerRuntimeRoot
};

// Blocks until SIGTERM/SIGINT. Must be called before any other thread exists (it blocks those signals for every
// thread it starts). Returns an error if the daemon could not start (lock held, corrupt state, socket in use).
Status RunDaemon(const DaemonOptions& options);

}  // namespace cloudlet
