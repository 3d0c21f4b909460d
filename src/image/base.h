// A base image made without network access: a root filesystem around Debian's statically linked busybox, enough for
// `FROM` in tests and the quickstart (a shell, coreutils-like applets, users root and nobody). CreateLayer turns the
// directory into the image's one layer.
#pragma once

#include <string>

#include "base/status.h"

namespace cloudlet::image {

struct BusyboxRootfsOptions {
  std::string busybox = "/bin/busybox";  // a statically linked busybox (Debian: busybox-static)
  std::string hostname = "cloudlet";
};

// Fills `dir` (created if missing; existing files with the same names are replaced): bin/busybox, a symlink to it for
// every applet it lists (at the applet's usual place: bin/sh, usr/bin/env, sbin/init, ...), etc/passwd and etc/group
// (root, nobody), etc/hostname, tmp (1777), root, and empty proc, sys and dev for the runtime to mount on. Fails
// naming the package to install when busybox is missing or is dynamically linked (it could not run in the image).
Status BuildBusyboxRootfs(const std::string& dir, const BusyboxRootfsOptions& options = {});

}  // namespace cloudlet::image
