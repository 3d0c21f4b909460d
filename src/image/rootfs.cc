// Overlay rootfs mounting. The kernel copies mount options into one page, so a deep image (overlayfs allows 500
// lowers) with long store paths does not fit; descriptors of the directories, named /proc/self/fd/N, always do,
// and overlayfs resolves them when it parses the options, so they can be closed right after mount(2).
#include "image/rootfs.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include "base/fd.h"

namespace cloudlet::image {
namespace {

bool NeedsFdName(const std::string& path) { return path.find_first_of(",:\\") != std::string::npos; }

Status BindMount(const std::string& source, const std::string& target, bool readonly) {
  if (::mount(source.c_str(), target.c_str(), nullptr, MS_BIND, nullptr) != 0) {
    return ErrnoError("bind mount " + source + " on " + target);
  }
  if (readonly && ::mount(nullptr, target.c_str(), nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY, nullptr) != 0) {
    Error err = ErrnoError("make " + target + " read-only");
    ::umount2(target.c_str(), MNT_DETACH);
    return err;
  }
  return Status::Ok();
}

}  // namespace

std::string OverlayOptions(const std::vector<std::string>& lowers, const std::string& upper, const std::string& work) {
  std::string opts = "lowerdir=";
  for (size_t i = 0; i < lowers.size(); ++i) {
    if (i > 0) opts += ':';
    opts += lowers[i];
  }
  if (!upper.empty()) opts += ",upperdir=" + upper + ",workdir=" + work;
  opts += ",redirect_dir=off,metacopy=off";
  return opts;
}

Status MountRootfs(const std::vector<std::string>& lowers, const std::string& upper, const std::string& work,
                   const std::string& target) {
  if (lowers.empty() && upper.empty()) return Error("mount rootfs on " + target + ": no layers and no upper dir");
  if (lowers.empty()) return BindMount(upper, target, /*readonly=*/false);
  if (upper.empty() && lowers.size() == 1) return BindMount(lowers[0], target, /*readonly=*/true);
  if (!upper.empty() && work.empty()) return Error("mount rootfs on " + target + ": an upper dir needs a work dir");

  std::string opts = OverlayOptions(lowers, upper, work);
  bool by_fd = opts.size() >= static_cast<size_t>(::sysconf(_SC_PAGESIZE)) || NeedsFdName(upper) || NeedsFdName(work);
  for (const std::string& l : lowers) by_fd = by_fd || NeedsFdName(l);
  std::vector<UniqueFd> fds;  // held until mount(2) returns
  if (by_fd) {
    auto name = [&fds](const std::string& path) -> Result<std::string> {
      UniqueFd fd(::open(path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
      if (!fd.valid()) return ErrnoError("open layer directory " + path);
      std::string n = "/proc/self/fd/" + std::to_string(fd.get());
      fds.push_back(std::move(fd));
      return n;
    };
    std::vector<std::string> fd_lowers;
    for (const std::string& l : lowers) {
      CL_ASSIGN_OR_RETURN(std::string n, name(l));
      fd_lowers.push_back(std::move(n));
    }
    std::string fd_upper, fd_work;
    if (!upper.empty()) {
      CL_ASSIGN_OR_RETURN(fd_upper, name(upper));
      CL_ASSIGN_OR_RETURN(fd_work, name(work));
    }
    opts = OverlayOptions(fd_lowers, fd_upper, fd_work);
    if (opts.size() >= static_cast<size_t>(::sysconf(_SC_PAGESIZE))) {
      return Error("mount rootfs on " + target + ": " + std::to_string(lowers.size()) +
                   " layers do not fit in overlayfs's mount options");
    }
  }
  const unsigned long flags = upper.empty() ? MS_RDONLY : 0;
  if (::mount("overlay", target.c_str(), "overlay", flags, opts.c_str()) != 0) {
    return ErrnoError("mount overlay (" + std::to_string(lowers.size()) + " layers) on " + target);
  }
  return Status::Ok();
}

Status UnmountRootfs(const std::string& target) {
  if (::umount2(target.c_str(), UMOUNT_NOFOLLOW) == 0) return Status::Ok();
  if (errno == EBUSY && ::umount2(target.c_str(), UMOUNT_NOFOLLOW | MNT_DETACH) == 0) return Status::Ok();
  return ErrnoError("unmount rootfs " + target);
}

}  // namespace cloudlet::image
