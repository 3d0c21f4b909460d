// What the container supervisor (container_runtime.h) should run, computed from configs alone, and the OCI bundle
// config.json for one container, computed from its plan, its image's config and where its rootfs is. No I/O here, and
// only oci's header types (cloudlet_control does not link cloudlet_oci; the daemon's binary does).
//
// Names. A container is the `container:` of an endpoint; endpoint names are unique across projects (CheckCollisions),
// so the runtime id "<project key>-<endpoint>" is too, and it only uses runc's id charset:
//   project key  "<file stem, lowercased, [a-z0-9_.-], at most 24 characters>-<8 hex of hash(project path)>"
//   runtime id   "<project key>-<endpoint name>"            e.g. "containers-1a2b3c4d-web1"
//   directory    <state_dir>/containers/<project key>/<endpoint name>/
//   cgroup       /cloudlet/<runtime id> (linux.cgroupsPath)
//
// Image semantics are Docker's: `entrypoint` given replaces the image's Entrypoint AND drops the image's Cmd;
// `command` replaces the image's Cmd; the process runs Entrypoint + Cmd. Env is the image's, then the declared
// variables (same name: the declared one wins), PATH added if neither sets it. The user is the declared uid[:gid], else
// the image's User ("uid", "uid:gid", "name", "name:group", resolved in the image's /etc/passwd and /etc/group).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/status.h"
#include "config/config.h"
#include "config/model.h"
#include "oci/image_spec.h"
#include "oci/runtime_spec.h"

namespace cloudlet {

struct ContainerPlan {
  std::string id;           // runtime id, see above
  std::string name;         // the endpoint's name
  std::string project;      // the project (absolute YAML path)
  std::string project_key;  // directory name of the project under <state_dir>/containers
  std::string netns;        // the endpoint's namespace, created by the host actions before the container starts
  std::vector<std::string> addresses;  // the endpoint's addresses (for status)
  ContainerDecl decl;                  // source locations cleared: moving lines in the YAML is no change
  bool operator==(const ContainerPlan&) const = default;
};

// One plan per endpoint with a container, in declaration order.
std::vector<ContainerPlan> BuildContainerPlans(const std::string& project, const CloudConfig& cfg);

std::string ContainerProjectKey(const std::string& project);
std::string ContainerId(const std::string& project, const std::string& endpoint);

// The plan as JSON (stable: its text is the fingerprint that tells a re-adopted container's settings from new ones).
nlohmann::json ContainerPlanJson(const ContainerPlan& plan);

// What BuildContainerSpec needs besides the plan.
struct ContainerSpecInputs {
  oci::Spec base;  // the template the container settings are applied to: oci::DefaultSpec() (runc's)

  oci::ContainerConfig image;  // the image config's "config"
  std::string rootfs;          // absolute path of the mounted rootfs
  std::string netns_path;      // "/run/netns/<netns>"
  std::string passwd;          // the image's /etc/passwd ("" if none): resolves user names
  std::string group;           // the image's /etc/group
};

// The bundle's config.json: `base`, made non-interactive, with Docker's default capabilities (runc's three are too
// few for images written for Docker), and the process, hostname, limits, mounts and namespaces of the plan. Errors say
// what to change in the YAML ("no command: the image has neither Entrypoint nor Cmd; set container.command").
Result<oci::Spec> BuildContainerSpec(const ContainerPlan& plan, const ContainerSpecInputs& in);

}  // namespace cloudlet
