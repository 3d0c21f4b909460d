// Test helpers for the kernel-port and data-plane tests: uniquely named namespaces and links that are removed even
// when an assertion fails, running code inside a namespace, bounded waits. Shared by tests/unit/port and
// tests/unit/dataplane.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <thread>
#include <utility>

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

}  // namespace cloudlet::testing
