// Test helpers for the kernel-port and data-plane tests: uniquely named namespaces and links that are removed even
// when an assertion fails, running code inside a namespace, bounded waits. Shared by tests/unit/port and
// tests/unit/dataplane.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "base/fd.h"

// GCC 12 reports a false -Wfree-nonheap-object when a moved-from Result<unique_ptr<...>> temporary from InNetns is
// destroyed inlined into the thread body.
#pragma GCC diagnostic ignored "-Wfree-nonheap-object"

namespace cloudlet::testing {

inline bool IsRoot() { return ::geteuid() == 0; }

// Runs a shell command; returns true on exit status 0. Output goes to the test log.
inline bool Sh(const std::string& cmd) {
  int rc = std::system(cmd.c_str());
  return rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) == 0;
}

// Short unique names: interface names must stay within 15 characters.
inline std::string UniqueName(const std::string& prefix, int index) {
  return prefix + std::to_string(::getpid() % 100000) + "x" + std::to_string(index);
}

class NetnsGuard {
 public:
  explicit NetnsGuard(std::string name) : name_(std::move(name)) {
    ok_ = Sh("ip netns add " + name_) && Sh("ip -n " + name_ + " link set lo up");
  }
  ~NetnsGuard() { Sh("ip netns del " + name_ + " 2>/dev/null"); }
  NetnsGuard(const NetnsGuard&) = delete;
  NetnsGuard& operator=(const NetnsGuard&) = delete;
  const std::string& name() const { return name_; }
  bool ok() const { return ok_; }
  // Runs a command inside the namespace.
  bool Exec(const std::string& cmd) const { return Sh("ip netns exec " + name_ + " " + cmd); }

 private:
  std::string name_;
  bool ok_ = false;
};

// A veth pair in the root namespace; deleting one end deletes both (also if an end was moved into a namespace that
// is gone by then).
class VethGuard {
 public:
  VethGuard(std::string a, std::string b) : a_(std::move(a)), b_(std::move(b)) {
    ok_ = Sh("ip link add " + a_ + " type veth peer name " + b_);
    if (ok_) {
      Sh("sysctl -qw net.ipv6.conf." + a_ + ".disable_ipv6=1 >/dev/null 2>&1");
      Sh("sysctl -qw net.ipv6.conf." + b_ + ".disable_ipv6=1 >/dev/null 2>&1");
    }
  }
  ~VethGuard() { Sh("ip link del " + a_ + " 2>/dev/null"); }
  VethGuard(const VethGuard&) = delete;
  VethGuard& operator=(const VethGuard&) = delete;
  const std::string& a() const { return a_; }
  const std::string& b() const { return b_; }
  bool ok() const { return ok_; }

 private:
  std::string a_, b_;
  bool ok_ = false;
};

// Runs fn() on a thread that has joined network namespace `ns`; sockets and ports created there stay in that
// namespace when used from other threads. Returns fn's result, or nullopt if the namespace could not be joined.
template <typename F>
auto InNetns(const std::string& ns, F fn) -> std::optional<decltype(fn())> {
  std::optional<decltype(fn())> result;
  std::thread t([&] {
    int fd = ::open(("/var/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    bool joined = ::setns(fd, CLONE_NEWNET) == 0;
    ::close(fd);
    if (joined) result.emplace(fn());
  });
  t.join();
  return result;
}

// Waits (bounded) until fd is readable.
inline bool WaitReadable(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, timeout_ms) > 0;
}

// A TCP transfer of `bytes` from a client socket in namespace `client_ns` to a server in `server_ns` listening on
// server_ip:port. Runs on two threads from construction; join() returns the bytes the server received. Every
// socket operation times out after 10 s, so a broken path fails the test instead of hanging it.
class TcpTransfer {
 public:
  TcpTransfer(const std::string& server_ns, const std::string& server_ip, uint16_t port, const std::string& client_ns,
              size_t bytes) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    ::inet_pton(AF_INET, server_ip.c_str(), &addr.sin_addr);
    timeval timeout{10, 0};
    listen_.reset(InNetns(server_ns, [&] {
                    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                    int one = 1;
                    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
                    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
                    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0 || ::listen(fd, 1) < 0) {
                      ::close(fd);
                      return -1;
                    }
                    return fd;
                  }).value_or(-1));
    client_.reset(InNetns(client_ns, [] { return ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0); }).value_or(-1));
    if (!listen_.valid() || !client_.valid()) return;
    ::setsockopt(client_.get(), SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
    server_ = std::thread([this, timeout] {
      UniqueFd conn(::accept(listen_.get(), nullptr, nullptr));
      if (!conn.valid()) return;
      ::setsockopt(conn.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
      std::vector<char> buf(1 << 16);
      for (int i = 0; i < 1000000; ++i) {
        ssize_t n = ::read(conn.get(), buf.data(), buf.size());
        if (n <= 0) break;
        received_ += static_cast<size_t>(n);
      }
    });
    writer_ = std::thread([this, addr, bytes] {
      if (::connect(client_.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) < 0) return;
      std::vector<char> data(1 << 16, 'x');
      size_t sent = 0;
      for (int i = 0; i < 1000000 && sent < bytes; ++i) {
        ssize_t n = ::write(client_.get(), data.data(), std::min(data.size(), bytes - sent));
        if (n <= 0) break;
        sent += static_cast<size_t>(n);
      }
      ::shutdown(client_.get(), SHUT_WR);
    });
  }
  ~TcpTransfer() { join(); }
  TcpTransfer(const TcpTransfer&) = delete;
  TcpTransfer& operator=(const TcpTransfer&) = delete;

  size_t join() {
    if (writer_.joinable()) writer_.join();
    if (server_.joinable()) server_.join();
    return received_;
  }

 private:
  UniqueFd listen_, client_;
  std::thread server_, writer_;
  size_t received_ = 0;
};

// A child process (e.g. "ip netns exec ns iperf3 -s"), ended by its PID when the guard goes away.
class ChildProcess {
 public:
  explicit ChildProcess(const std::vector<std::string>& argv) {
    pid_ = ::fork();
    if (pid_ == 0) {
      std::vector<char*> args;
      for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execvp(args[0], args.data());
      ::_exit(127);
    }
  }
  ~ChildProcess() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
  }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

// Runs a command and returns its standard output.
inline std::string Capture(const std::string& cmd) {
  std::string out;
  FILE* f = ::popen(cmd.c_str(), "r");
  if (f == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) out.append(buf, n);
  ::pclose(f);
  return out;
}

}  // namespace cloudlet::testing
