#include "container/mounts.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>

#include "base/fd.h"

namespace cloudlet::container {

namespace {

struct FlagWord {
  const char* name;
  bool clear;
  unsigned long flag;
};
constexpr FlagWord kFlagWords[] = {
    {"defaults", false, 0},
    {"ro", false, MS_RDONLY},
    {"rw", true, MS_RDONLY},
    {"nosuid", false, MS_NOSUID},
    {"suid", true, MS_NOSUID},
    {"nodev", false, MS_NODEV},
    {"dev", true, MS_NODEV},
    {"noexec", false, MS_NOEXEC},
    {"exec", true, MS_NOEXEC},
    {"sync", false, MS_SYNCHRONOUS},
    {"async", true, MS_SYNCHRONOUS},
    {"dirsync", false, MS_DIRSYNC},
    {"remount", false, MS_REMOUNT},
    {"mand", false, MS_MANDLOCK},
    {"nomand", true, MS_MANDLOCK},
    {"noatime", false, MS_NOATIME},
    {"atime", true, MS_NOATIME},
    {"nodiratime", false, MS_NODIRATIME},
    {"diratime", true, MS_NODIRATIME},
    {"relatime", false, MS_RELATIME},
    {"norelatime", true, MS_RELATIME},
    {"strictatime", false, MS_STRICTATIME},
    {"nostrictatime", true, MS_STRICTATIME},
    {"lazytime", false, MS_LAZYTIME},
    {"nolazytime", true, MS_LAZYTIME},
    {"silent", false, MS_SILENT},
    {"loud", true, MS_SILENT},
};

struct PropagationWord {
  const char* name;
  unsigned long flags;
};
constexpr PropagationWord kPropagation[] = {
    {"private", MS_PRIVATE},       {"rprivate", MS_PRIVATE | MS_REC},
    {"shared", MS_SHARED},         {"rshared", MS_SHARED | MS_REC},
    {"slave", MS_SLAVE},           {"rslave", MS_SLAVE | MS_REC},
    {"unbindable", MS_UNBINDABLE}, {"runbindable", MS_UNBINDABLE | MS_REC},
};

// Splits "/a/b/../c" into components, dropping empty and "." ones.
std::vector<std::string> Components(std::string_view path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    std::string_view c = path.substr(i, j - i);
    if (!c.empty() && c != ".") out.emplace_back(c);
    i = j + 1;
  }
  return out;
}

Status Mount(const std::string& source, const std::string& target, const char* type, unsigned long flags,
             const std::string& data) {
  if (::mount(source.empty() ? nullptr : source.c_str(), target.c_str(), type, flags,
              data.empty() ? nullptr : data.c_str()) != 0) {
    return ErrnoError("mount " + (source.empty() ? std::string(type ? type : "") : source) + " on " + target);
  }
  return Status::Ok();
}

// Flags the kernel locks on a mount made in an older user namespace: a remount must repeat them.
unsigned long LockedFlags(const std::string& path) {
  struct statvfs s {};
  if (statvfs(path.c_str(), &s) != 0) return 0;
  unsigned long f = 0;
  if (s.f_flag & ST_NOSUID) f |= MS_NOSUID;
  if (s.f_flag & ST_NODEV) f |= MS_NODEV;
  if (s.f_flag & ST_NOEXEC) f |= MS_NOEXEC;
  if (s.f_flag & ST_NOATIME) f |= MS_NOATIME;
  if (s.f_flag & ST_NODIRATIME) f |= MS_NODIRATIME;
  if (s.f_flag & ST_RELATIME) f |= MS_RELATIME;
  if (s.f_flag & ST_RDONLY) f |= MS_RDONLY;
  return f;
}

// Opens `path` (a host path below `root` from ResolveInRoot) again with the kernel's RESOLVE_IN_ROOT, so a symlink
// raced into the rootfs cannot move the target outside; returns "/proc/self/fd/N" to mount on.
struct SafeTarget {
  UniqueFd fd;
  std::string path;
};
Result<SafeTarget> OpenSafeTarget(const std::string& root, const std::string& host_path) {
  SafeTarget t;
  std::string rel = host_path.substr(root.size());
  if (rel.empty()) rel = "/";
  UniqueFd rootfd(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!rootfd.valid()) return ErrnoError("open rootfs " + root);
  open_how how{};
  how.flags = O_PATH | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  int fd = static_cast<int>(syscall(SYS_openat2, rootfd.get(), rel.c_str(), &how, sizeof(how)));
  if (fd < 0) {
    if (errno == ENOSYS) {
      t.path = host_path;  // old kernel: the careful walk in ResolveInRoot is all we have
      return t;
    }
    return ErrnoError("open " + rel + " in rootfs");
  }
  t.fd.reset(fd);
  t.path = "/proc/self/fd/" + std::to_string(fd);
  return t;
}

}  // namespace

Result<MountOptions> ParseMountOptions(const std::vector<std::string>& options) {
  MountOptions out;
  for (const auto& o : options) {
    if (o == "bind" || o == "rbind") {
      out.bind = true;
      out.flags |= MS_BIND;
      if (o == "rbind") {
        out.recursive = true;
        out.flags |= MS_REC;
      }
      continue;
    }
    if (o == "idmap" || o == "ridmap") return Error("mount option \"" + o + "\": idmapped mounts are not supported");
    if (o == "tmpcopyup") continue;  // runc extension; nothing to copy on a fresh tmpfs here
    bool known = false;
    for (const auto& w : kFlagWords) {
      if (o == w.name) {
        if (w.clear) {
          out.flags &= ~w.flag;
        } else {
          out.flags |= w.flag;
        }
        known = true;
        break;
      }
    }
    if (known) continue;
    for (const auto& p : kPropagation) {
      if (o == p.name) {
        out.propagation.push_back(p.flags);
        known = true;
        break;
      }
    }
    if (known) continue;
    if (!out.data.empty()) out.data += ',';
    out.data += o;
  }
  return out;
}

Result<unsigned long> ParsePropagation(const std::string& name) {
  if (name.empty()) return static_cast<unsigned long>(MS_PRIVATE | MS_REC);
  for (const auto& p : kPropagation) {
    if (name == p.name) return p.flags;
  }
  return Error("linux.rootfsPropagation: unknown propagation \"" + name + "\"");
}

Result<std::string> ResolveInRoot(const std::string& root, const std::string& path) {
  std::string base = root;
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  std::vector<std::string> done;  // resolved components below root
  std::vector<std::string> pending = Components(path);
  std::reverse(pending.begin(), pending.end());  // a stack: back() is the next component
  int links = 0;
  bool missing = false;
  while (!pending.empty()) {
    std::string c = std::move(pending.back());
    pending.pop_back();
    if (c == "..") {
      if (!done.empty()) done.pop_back();
      continue;
    }
    done.push_back(c);
    if (missing) continue;  // below a missing component nothing can be a symlink
    std::string host = base;
    for (const auto& d : done) host += "/" + d;
    struct stat st {};
    if (::lstat(host.c_str(), &st) != 0) {
      if (errno == ENOENT) {
        missing = true;
        continue;
      }
      return ErrnoError("lstat " + host);
    }
    if (!S_ISLNK(st.st_mode)) continue;
    if (++links > 255) return Error(path + ": too many levels of symbolic links in the rootfs");
    char buf[4096];
    ssize_t n = ::readlink(host.c_str(), buf, sizeof(buf));
    if (n < 0) return ErrnoError("readlink " + host);
    std::string target(buf, static_cast<size_t>(n));
    done.pop_back();
    if (!target.empty() && target[0] == '/') done.clear();
    auto parts = Components(target);
    for (auto it = parts.rbegin(); it != parts.rend(); ++it) pending.push_back(*it);
  }
  std::string out = base;
  for (const auto& d : done) out += "/" + d;
  return out;
}

Result<std::string> CreateInRoot(const std::string& root, const std::string& path, bool file) {
  CL_ASSIGN_OR_RETURN(std::string target, ResolveInRoot(root, path));
  struct stat st {};
  if (::stat(target.c_str(), &st) == 0) return target;
  // Create each missing directory, resolving again from the root so every step stays inside.
  auto parts = Components(path);
  std::string sofar;
  for (size_t i = 0; i < parts.size(); ++i) {
    sofar += "/" + parts[i];
    CL_ASSIGN_OR_RETURN(std::string step, ResolveInRoot(root, sofar));
    if (::lstat(step.c_str(), &st) == 0) continue;
    bool last = i + 1 == parts.size();
    if (last && file) {
      int fd = ::open(step.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
      if (fd < 0) return ErrnoError("create " + step);
      ::close(fd);
    } else if (::mkdir(step.c_str(), 0755) != 0 && errno != EEXIST) {
      return ErrnoError("mkdir " + step);
    }
  }
  return ResolveInRoot(root, path);
}

Status MountInRootfs(const std::string& rootfs, const std::string& bundle, const oci::Mount& m, bool in_userns,
                     bool cgroup_ns, const std::vector<CgroupMountSource>& cgroup_v1,
                     const std::string& cgroup_v2_dir) {
  CL_ASSIGN_OR_RETURN(MountOptions opts, ParseMountOptions(m.options));
  std::string what = "mounts " + m.destination;
  if (m.type == "bind" || opts.bind) {
    std::string source = m.source;
    if (source.empty() || source[0] != '/') source = bundle + "/" + source;
    struct stat st {};
    if (::stat(source.c_str(), &st) != 0) return ErrnoError(what + ": source " + source);
    auto dest = CreateInRoot(rootfs, m.destination, !S_ISDIR(st.st_mode));
    if (!dest.ok()) return dest.error().wrap(what);
    CL_ASSIGN_OR_RETURN(SafeTarget t, OpenSafeTarget(rootfs, *dest));
    unsigned long base = MS_BIND | (opts.recursive ? MS_REC : 0);
    auto s = Mount(source, t.path, nullptr, base, "");
    if (!s.ok()) return s.error().wrap(what);
    // The descriptor names the directory under the new mount: open the mount's root for remount and propagation.
    CL_ASSIGN_OR_RETURN(t, OpenSafeTarget(rootfs, *dest));
    unsigned long extra = opts.flags & ~(MS_BIND | MS_REC | MS_REMOUNT);
    if (extra != 0) {
      unsigned long locked = in_userns ? (LockedFlags(source) & ~MS_RDONLY) : 0;
      s = Mount("", t.path, nullptr, MS_BIND | MS_REMOUNT | extra | locked, "");
      if (!s.ok()) return s.error().wrap(what + ": remount");
    }
    for (unsigned long p : opts.propagation) {
      s = Mount("", t.path, nullptr, p, "");
      if (!s.ok()) return s.error().wrap(what + ": propagation");
    }
    return Status::Ok();
  }

  auto dest = CreateInRoot(rootfs, m.destination, false);
  if (!dest.ok()) return dest.error().wrap(what);
  CL_ASSIGN_OR_RETURN(SafeTarget t, OpenSafeTarget(rootfs, *dest));
  unsigned long flags = opts.flags & ~MS_REMOUNT;
  if (m.type == "cgroup" || m.type == "cgroup2") {
    if (cgroup_v1.empty()) {
      // v2: our own namespace's root, or (without a cgroup namespace) a bind of the container's group.
      Status s = cgroup_ns ? Mount("cgroup2", t.path, "cgroup2", flags, "")
                           : Mount(cgroup_v2_dir, t.path, nullptr, MS_BIND | MS_REC, "");
      if (!s.ok()) return s.error().wrap(what);
      if (!cgroup_ns && (flags & MS_RDONLY)) {
        CL_ASSIGN_OR_RETURN(t, OpenSafeTarget(rootfs, *dest));
        CL_RETURN_IF_ERROR(Mount("", t.path, nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | (flags & ~MS_RDONLY), ""));
      }
      return Status::Ok();
    }
    // v1: a tmpfs with one bind of the container's directory per hierarchy, read-only like the spec asks.
    auto s = Mount("tmpfs", t.path, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=755");
    if (!s.ok()) return s.error().wrap(what);
    for (const auto& src : cgroup_v1) {
      std::string sub = *dest;
      sub += "/";
      sub += src.name;
      if (::mkdir(sub.c_str(), 0755) != 0 && errno != EEXIST) return ErrnoError("mkdir " + sub).wrap(what);
      s = Mount(src.dir, sub, nullptr, MS_BIND | MS_REC, "");
      if (!s.ok()) return s.error().wrap(what);
      s = Mount("", sub, nullptr, MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV | MS_NOEXEC | (flags & MS_RDONLY), "");
      if (!s.ok()) return s.error().wrap(what);
      // "cpu,cpuacct" is also reachable as "cpu" and "cpuacct", as on the host.
      if (src.name.find(',') != std::string::npos) {
        size_t i = 0;
        while (i < src.name.size()) {
          size_t j = src.name.find(',', i);
          if (j == std::string::npos) j = src.name.size();
          std::string alias = *dest + "/" + src.name.substr(i, j - i);
          (void)::symlink(src.name.c_str(), alias.c_str());
          i = j + 1;
        }
      }
    }
    if (flags & MS_RDONLY) {
      CL_ASSIGN_OR_RETURN(t, OpenSafeTarget(rootfs, *dest));
      s = Mount("", t.path, nullptr, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "");
      if (!s.ok()) return s.error().wrap(what);
    }
    return Status::Ok();
  }

  Status s = Mount(m.source.empty() ? m.type : m.source, t.path, m.type.c_str(), flags, opts.data);
  if (!s.ok() && in_userns && m.type == "sysfs") {
    // A new user namespace without its own network namespace may not mount sysfs: bind the host's.
    s = Mount("/sys", t.path, nullptr, MS_BIND | MS_REC, "");
    if (s.ok() && (flags & MS_RDONLY)) {
      CL_ASSIGN_OR_RETURN(t, OpenSafeTarget(rootfs, *dest));
      s = Mount("", t.path, nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | (LockedFlags("/sys") & ~MS_RDONLY), "");
    }
  }
  if (!s.ok() && in_userns && m.type == "mqueue") {
    s = Mount("/dev/mqueue", t.path, nullptr, MS_BIND | MS_REC, "");
  }
  if (!s.ok()) return s.error().wrap(what);
  if (!opts.propagation.empty()) {
    CL_ASSIGN_OR_RETURN(t, OpenSafeTarget(rootfs, *dest));
  }
  for (unsigned long p : opts.propagation) {
    s = Mount("", t.path, nullptr, p, "");
    if (!s.ok()) return s.error().wrap(what + ": propagation");
  }
  return Status::Ok();
}

std::vector<oci::Device> DefaultDevices() {
  auto dev = [](const char* path, int64_t major, int64_t minor) {
    oci::Device d;
    d.path = path;
    d.type = 'c';
    d.major = major;
    d.minor = minor;
    d.file_mode = 0666;
    d.uid = 0;
    d.gid = 0;
    return d;
  };
  return {dev("/dev/null", 1, 3),   dev("/dev/zero", 1, 5),    dev("/dev/full", 1, 7),
          dev("/dev/random", 1, 8), dev("/dev/urandom", 1, 9), dev("/dev/tty", 5, 0)};
}

Status CreateDevice(const std::string& rootfs, const oci::Device& d, bool bind_from_host) {
  if (bind_from_host) {
    auto dest = CreateInRoot(rootfs, d.path, true);
    if (!dest.ok()) return dest.error().wrap("device " + d.path);
    CL_ASSIGN_OR_RETURN(SafeTarget t, OpenSafeTarget(rootfs, *dest));
    return Mount(d.path, t.path, nullptr, MS_BIND, "");
  }
  std::string parent = d.path.substr(0, d.path.rfind('/'));
  if (!parent.empty()) {
    auto p = CreateInRoot(rootfs, parent, false);
    if (!p.ok()) return p.error().wrap("device " + d.path);
  }
  CL_ASSIGN_OR_RETURN(std::string dest, ResolveInRoot(rootfs, d.path));
  mode_t type = d.type == 'b' ? S_IFBLK : d.type == 'p' ? S_IFIFO : S_IFCHR;
  mode_t mode = type | static_cast<mode_t>(d.file_mode.value_or(0666) & 07777);
  ::unlink(dest.c_str());
  if (::mknod(dest.c_str(), mode, makedev(static_cast<unsigned>(d.major), static_cast<unsigned>(d.minor))) != 0) {
    return ErrnoError("mknod " + d.path);
  }
  // mknod is subject to the umask; the spec's mode is meant exactly.
  if (::chmod(dest.c_str(), mode & 07777) != 0) return ErrnoError("chmod " + d.path);
  if (::chown(dest.c_str(), d.uid.value_or(0), d.gid.value_or(0)) != 0) return ErrnoError("chown " + d.path);
  return Status::Ok();
}

Status CreateDevSymlinks(const std::string& rootfs) {
  const std::pair<const char*, const char*> links[] = {{"/proc/self/fd", "/dev/fd"},
                                                       {"/proc/self/fd/0", "/dev/stdin"},
                                                       {"/proc/self/fd/1", "/dev/stdout"},
                                                       {"/proc/self/fd/2", "/dev/stderr"},
                                                       {"pts/ptmx", "/dev/ptmx"}};
  CL_ASSIGN_OR_RETURN(std::string dev, ResolveInRoot(rootfs, "/dev"));
  for (const auto& [target, link] : links) {
    std::string path = dev + (link + 4);
    if (std::string_view(link) == "/dev/ptmx") ::unlink(path.c_str());  // a node from the image would shadow pts
    if (::symlink(target, path.c_str()) != 0 && errno != EEXIST) return ErrnoError(std::string("symlink ") + link);
  }
  return Status::Ok();
}

Status MaskPath(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return Status::Ok();  // nothing there to hide
  if (S_ISDIR(st.st_mode)) return Mount("tmpfs", path, "tmpfs", MS_RDONLY, "");
  if (::mount("/dev/null", path.c_str(), nullptr, MS_BIND, nullptr) != 0 && errno != ENOENT)
    return ErrnoError("mask " + path);
  return Status::Ok();
}

Status ReadonlyPath(const std::string& path) {
  if (::mount(path.c_str(), path.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0) {
    if (errno == ENOENT) return Status::Ok();
    return ErrnoError("readonly path " + path);
  }
  unsigned long locked = LockedFlags(path) & ~MS_RDONLY;
  if (::mount(nullptr, path.c_str(), nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC | locked, nullptr) != 0)
    return ErrnoError("remount read-only " + path);
  return Status::Ok();
}

Status PivotRoot(const std::string& rootfs, bool no_pivot) {
  if (no_pivot) {
    if (::chdir(rootfs.c_str()) != 0) return ErrnoError("chdir " + rootfs);
    if (::mount(rootfs.c_str(), "/", nullptr, MS_MOVE, nullptr) != 0) return ErrnoError("move rootfs to /");
    if (::chroot(".") != 0) return ErrnoError("chroot");
    if (::chdir("/") != 0) return ErrnoError("chdir /");
    return Status::Ok();
  }
  UniqueFd oldroot(::open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC));
  if (!oldroot.valid()) return ErrnoError("open /");
  UniqueFd newroot(::open(rootfs.c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC));
  if (!newroot.valid()) return ErrnoError("open " + rootfs);
  if (::fchdir(newroot.get()) != 0) return ErrnoError("chdir rootfs");
  // pivot_root(".", "."): the old root ends up stacked on top of the new one, then detached (no directory needed).
  if (syscall(SYS_pivot_root, ".", ".") != 0) return ErrnoError("pivot_root " + rootfs);
  if (::fchdir(oldroot.get()) != 0) return ErrnoError("chdir old root");
  if (::mount(nullptr, ".", nullptr, MS_SLAVE | MS_REC, nullptr) != 0) return ErrnoError("make old root rslave");
  if (::umount2(".", MNT_DETACH) != 0) return ErrnoError("unmount old root");
  if (::chdir("/") != 0) return ErrnoError("chdir /");
  return Status::Ok();
}

}  // namespace cloudlet::container
