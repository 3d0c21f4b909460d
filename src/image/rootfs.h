// A container's root filesystem: the image's layer directories stacked read-only with overlayfs under a per-container
// writable upper dir. Layers are shared by every container of the image and never copied.
#pragma once

#include <string>
#include <vector>

#include "base/status.h"

namespace cloudlet::image {

// Mounts at `target` (an existing directory):
//  - lowers + upper: overlayfs with `lowers` (top-most first, as overlayfs orders lowerdir) under `upper`, with `work`
//    as its work dir (an empty directory on the same filesystem as `upper`);
//  - lowers only (upper empty): a read-only view — a read-only bind mount for a single layer, overlayfs otherwise;
//  - upper only (an image with no layers): `upper` bind-mounted read-write.
// redirect_dir and metacopy are off so that the upper dir always holds whole files a layer can be made of (DiffLayer).
// When the options do not fit in the one page the kernel takes, the directories are passed as /proc/self/fd/N of
// descriptors held across the mount call. Needs CAP_SYS_ADMIN in the mount namespace's owning user namespace.
Status MountRootfs(const std::vector<std::string>& lowers, const std::string& upper, const std::string& work,
                   const std::string& target);

// Unmounts what MountRootfs mounted at `target`; if it is busy (a process still has it open), detaches it so it
// goes away with its last user.
Status UnmountRootfs(const std::string& target);

// The overlayfs mount options for these directories (exposed for tests). Paths must not contain ',', ':' or '\\'
// (MountRootfs passes such directories as /proc/self/fd/N instead).
std::string OverlayOptions(const std::vector<std::string>& lowers, const std::string& upper, const std::string& work);

}  // namespace cloudlet::image
