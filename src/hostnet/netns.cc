// Named network namespaces, made exactly as iproute2's `ip netns add` makes them: /run/netns is a shared mount
// point, each namespace is a new net namespace bind-mounted onto the empty file /run/netns/NAME. Also the
// thread-per-call mechanism (RunInNetns) that every operation inside a namespace goes through.
#include <dirent.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/magic.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <mutex>
#include <thread>

#include "base/fd.h"
#include "hostnet/host_net.h"
#include "hostnet/netlink.h"

namespace cloudlet {
namespace {

using hostnet::CachePtr;
using hostnet::RouteSocket;

constexpr const char* kNetnsRunDir = "/run/netns";

// Serializes create/delete within this process: making /run/netns a mount point must happen once.
std::mutex& NetnsMutex() {
  static std::mutex mu;
  return mu;
}

std::string NetnsPath(const std::string& name) { return std::string(kNetnsRunDir) + "/" + name; }

bool IsMountedNetns(int fd) {
  struct statfs fs {};
  return fstatfs(fd, &fs) == 0 && static_cast<unsigned long>(fs.f_type) == NSFS_MAGIC;
}

// Opens /run/netns/NAME and checks a namespace is mounted there (not a stale empty file).
Result<UniqueFd> OpenNetns(const std::string& name) {
  CL_RETURN_IF_ERROR(hostnet::ValidateNetnsName(name));
  UniqueFd fd(open(NetnsPath(name).c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return Error("netns " + name + " does not exist");
    return ErrnoError("open netns " + name);
  }
  if (!IsMountedNetns(fd.get())) return Error(NetnsPath(name) + " is not a mounted network namespace");
  return fd;
}

// iproute2's netns_add prologue: make /run/netns a shared mount (binding it onto itself first if it is not a
// mount point yet) so namespace mounts propagate and an unmount in one mount namespace frees them everywhere.
Status MakeRunDirShared() {
  if (mkdir(kNetnsRunDir, 0755) != 0 && errno != EEXIST) return ErrnoError(std::string("mkdir ") + kNetnsRunDir);
  bool made_mount_point = false;
  while (mount("", kNetnsRunDir, "none", MS_SHARED | MS_REC, nullptr) != 0) {
    if (errno != EINVAL || made_mount_point) return ErrnoError(std::string("mount --make-shared ") + kNetnsRunDir);
    if (mount(kNetnsRunDir, kNetnsRunDir, "none", MS_BIND | MS_REC, nullptr) != 0) {
      return ErrnoError(std::string("mount --bind ") + kNetnsRunDir + " " + kNetnsRunDir);
    }
    made_mount_point = true;
  }
  return Status::Ok();
}

// Removes the mount and the file; each step is fine if already done.
Status UnmountNetnsFile(const std::string& path) {
  if (umount2(path.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT) {
    return ErrnoError("umount " + path);
  }
  if (unlink(path.c_str()) != 0 && errno != ENOENT) return ErrnoError("unlink " + path);
  return Status::Ok();
}

// On a short-lived thread: a fresh net namespace bind-mounted onto `path` (which must exist).
Status MountNewNetns(const std::string& path) {
  Status result;
  std::thread worker([&] {
    if (unshare(CLONE_NEWNET) != 0) {
      result = ErrnoError("unshare(CLONE_NEWNET)");
      return;
    }
    // /proc/self would name the thread-group leader's namespace; this thread's is under thread-self.
    if (mount("/proc/thread-self/ns/net", path.c_str(), "none", MS_BIND, nullptr) != 0) {
      result = ErrnoError("mount --bind /proc/thread-self/ns/net " + path);
    }
  });
  worker.join();
  return result;
}

// Deletes every non-loopback interface in the calling thread's namespace, so veth peers in the host namespace
// go away now instead of whenever the kernel's namespace cleanup runs. Best effort per interface: devices that
// cannot be deleted (physical ones) return to the initial namespace when it is destroyed.
Status DeleteLinksHere() {
  CL_ASSIGN_OR_RETURN(RouteSocket sock, RouteSocket::Open());
  nl_cache* raw = nullptr;
  sock.ClearError();
  if (int err = rtnl_link_alloc_cache(sock.get(), AF_UNSPEC, &raw); err < 0) {
    return Error("list interfaces: " + sock.Describe(err));
  }
  CachePtr cache(raw);
  for (nl_object* obj = nl_cache_get_first(cache.get()); obj; obj = nl_cache_get_next(obj)) {
    auto* link = reinterpret_cast<rtnl_link*>(obj);
    if (rtnl_link_get_flags(link) & IFF_LOOPBACK) continue;
    (void)rtnl_link_delete(sock.get(), link);  // a veth whose peer was deleted before is already gone
  }
  return Status::Ok();
}

}  // namespace

bool HostNet::NetnsExists(const std::string& name) { return OpenNetns(name).ok(); }

Status HostNet::CreateNetns(const std::string& name) {
  const std::string what = "create netns " + name;
  if (auto st = hostnet::ValidateNetnsName(name); !st.ok()) return st.error().wrap(what);
  std::lock_guard lock(NetnsMutex());
  if (NetnsExists(name)) return Status::Ok();
  if (auto st = MakeRunDirShared(); !st.ok()) return st.error().wrap(what);

  const std::string path = NetnsPath(name);
  UniqueFd file(open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0));
  if (!file.valid() && errno == EEXIST) {
    // Either another process (`ip netns add`) is between creating the file and mounting onto it, or a crash left
    // an empty file behind. Give the former a bounded moment, then treat it as stale.
    for (int i = 0; i < 10; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      if (NetnsExists(name)) return Status::Ok();
    }
    if (auto st = UnmountNetnsFile(path); !st.ok()) return st.error().wrap(what + ": removing stale file");
    file.reset(open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0));
  }
  if (!file.valid()) return ErrnoError(what + ": create " + path);
  file.reset();

  if (auto st = MountNewNetns(path); !st.ok()) {
    (void)UnmountNetnsFile(path);
    return st.error().wrap(what);
  }
  // A namespace without loopback breaks anything that talks to itself; iproute2 users do `ip link set lo up`.
  if (auto st = SetLinkUp("lo", name); !st.ok()) return st.error().wrap(what);
  return Status::Ok();
}

Status HostNet::DeleteNetns(const std::string& name) {
  const std::string what = "delete netns " + name;
  if (auto st = hostnet::ValidateNetnsName(name); !st.ok()) return st.error().wrap(what);
  std::lock_guard lock(NetnsMutex());
  const std::string path = NetnsPath(name);
  struct stat sb {};
  if (lstat(path.c_str(), &sb) != 0) {
    if (errno == ENOENT) return Status::Ok();
    return ErrnoError(what + ": stat " + path);
  }
  if (NetnsExists(name)) {
    if (auto st = RunInNetns(name, DeleteLinksHere); !st.ok()) return st.error().wrap(what);
  }
  if (auto st = UnmountNetnsFile(path); !st.ok()) return st.error().wrap(what);
  return Status::Ok();
}

std::vector<std::string> HostNet::ListNetns() {
  std::vector<std::string> names;
  DIR* dir = opendir(kNetnsRunDir);
  if (!dir) return names;
  constexpr size_t kMaxNamespaces = 65536;  // bound the listing of a directory others can write to
  while (dirent* entry = readdir(dir)) {
    std::string name = entry->d_name;
    if (!hostnet::ValidateNetnsName(name).ok()) continue;  // also skips "." and ".."
    names.push_back(std::move(name));
    if (names.size() >= kMaxNamespaces) break;
  }
  closedir(dir);
  std::sort(names.begin(), names.end());
  return names;
}

Status HostNet::RunInNetns(const std::string& netns, const std::function<Status()>& fn) {
  if (netns.empty()) return fn();
  CL_ASSIGN_OR_RETURN(UniqueFd ns_fd, OpenNetns(netns));
  Status result;
  std::thread worker([&] {
    // setns() on this thread only; the thread ends right after, so nothing else ever runs in the wrong namespace.
    if (setns(ns_fd.get(), CLONE_NEWNET) != 0) {
      result = ErrnoError("enter netns " + netns);
      return;
    }
    result = fn();
  });
  worker.join();
  return result;
}

}  // namespace cloudlet
