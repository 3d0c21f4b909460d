#include "container/terminal.h"

#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace cloudlet::container {

Status SendFd(int sock, const std::string& name, int fd) {
  std::string payload = name.empty() ? std::string("pty") : name;
  iovec iov{payload.data(), payload.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof(int));
  ssize_t n;
  do {
    n = sendmsg(sock, &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return ErrnoError("send terminal over console socket");
  return Status::Ok();
}

Result<UniqueFd> RecvFd(int sock, std::string* name) {
  char buf[4096];
  iovec iov{buf, sizeof(buf)};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ssize_t n;
  do {
    n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return ErrnoError("receive terminal");
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  if (!c || c->cmsg_type != SCM_RIGHTS) return Error("receive terminal: no descriptor in the message");
  int fd;
  memcpy(&fd, CMSG_DATA(c), sizeof(int));
  if (name) name->assign(buf, static_cast<size_t>(n));
  return UniqueFd(fd);
}

Result<UniqueFd> ConnectUnix(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) return Error("console socket path too long: " + path);
  memcpy(addr.sun_path, path.data(), path.size());
  UniqueFd s(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!s.valid()) return ErrnoError("socket");
  if (connect(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0)
    return ErrnoError("connect to console socket " + path);
  return s;
}

Result<Pty> OpenPty(unsigned rows, unsigned cols) {
  Pty p;
  p.master.reset(::open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!p.master.valid()) return ErrnoError("open /dev/ptmx in the container");
  if (unlockpt(p.master.get()) != 0) return ErrnoError("unlockpt");
  // TIOCGPTPEER opens the slave through the master: no path lookup an attacker could redirect.
  int slave = ioctl(p.master.get(), TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave < 0) {
    char name[128];
    if (ptsname_r(p.master.get(), name, sizeof(name)) != 0) return ErrnoError("ptsname");
    slave = ::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (slave < 0) return ErrnoError(std::string("open ") + name);
  }
  p.slave.reset(slave);
  if (rows && cols) {
    winsize ws{};
    ws.ws_row = static_cast<unsigned short>(rows);
    ws.ws_col = static_cast<unsigned short>(cols);
    ioctl(p.master.get(), TIOCSWINSZ, &ws);
  }
  return p;
}

Status AttachTerminal(int slave) {
  if (setsid() < 0 && errno != EPERM) return ErrnoError("setsid");
  if (ioctl(slave, TIOCSCTTY, 0) != 0) return ErrnoError("make the terminal the controlling terminal");
  for (int fd = 0; fd < 3; ++fd) {
    if (dup2(slave, fd) < 0) return ErrnoError("dup2 terminal");
  }
  return Status::Ok();
}

void ProxyTerminal(int master, int pidfd) {
  termios saved{};
  bool raw = isatty(0) && tcgetattr(0, &saved) == 0;
  if (raw) {
    termios t = saved;
    cfmakeraw(&t);
    tcsetattr(0, TCSANOW, &t);
    winsize ws{};
    if (ioctl(0, TIOCGWINSZ, &ws) == 0) ioctl(master, TIOCSWINSZ, &ws);
  }
  bool stdin_open = true, exited = false;
  char buf[16384];
  while (true) {
    pollfd p[3] = {{master, POLLIN, 0}, {stdin_open ? 0 : -1, POLLIN, 0}, {exited ? -1 : pidfd, POLLIN, 0}};
    // Once the process is gone, drain what the master still holds, then stop.
    int rc = poll(p, 3, exited ? 100 : -1);
    if (rc < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (rc == 0) break;
    if (p[0].revents & POLLIN) {
      ssize_t n = read(master, buf, sizeof(buf));
      if (n <= 0) break;
      for (ssize_t off = 0; off < n;) {
        ssize_t w = write(1, buf + off, static_cast<size_t>(n - off));
        if (w <= 0) break;
        off += w;
      }
      continue;
    }
    if (p[0].revents & (POLLHUP | POLLERR)) break;
    if (p[1].revents & (POLLIN | POLLHUP)) {
      ssize_t n = read(0, buf, sizeof(buf));
      if (n <= 0) {
        stdin_open = false;
        // End of our input: send EOF to the terminal.
        char eof = 4;
        (void)!write(master, &eof, 1);
      } else {
        (void)!write(master, buf, static_cast<size_t>(n));
      }
    }
    if (p[2].revents & POLLIN) exited = true;
  }
  if (raw) tcsetattr(0, TCSANOW, &saved);
}

}  // namespace cloudlet::container
