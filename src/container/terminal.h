// Terminals for containers whose process.terminal is true: the pseudo-terminal is opened inside the container's
// devpts (so its slave is the container's /dev/pts/0), its master handed over a unix socket with SCM_RIGHTS as runc
// does (one message, the master's name as payload), or proxied to our own stdio by `run` / `exec` without a socket.
#pragma once

#include <string>

#include "base/fd.h"
#include "base/status.h"

namespace cloudlet::container {

Status SendFd(int sock, const std::string& name, int fd);
// Receives one descriptor (and the payload into *name when given).
Result<UniqueFd> RecvFd(int sock, std::string* name = nullptr);
// Connects to the unix socket at `path` (--console-socket).
Result<UniqueFd> ConnectUnix(const std::string& path);

struct Pty {
  UniqueFd master, slave;
};
// Opens /dev/ptmx of the current mount namespace (the container's after pivot_root), unlocks it, opens the slave.
Result<Pty> OpenPty(unsigned rows, unsigned cols);
// Makes `slave` the calling process's controlling terminal and its stdin/stdout/stderr (the process is a session
// leader afterwards).
Status AttachTerminal(int slave);

// Copies our stdin to `master` and `master` to our stdout until the process behind `pidfd` has exited and the master
// reports hang-up. Puts our terminal (if stdin is one) in raw mode meanwhile and passes its size on.
void ProxyTerminal(int master, int pidfd);

}  // namespace cloudlet::container
