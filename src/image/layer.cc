// Layer extraction and creation. Reading is two libarchive readers stacked: the first only decompresses (gzip, zstd
// or none, chosen by the stream's magic; "raw" format) and the second parses the tar from the first's output, so the
// bytes of both levels pass through our callbacks and are hashed on the way (digest and diff_id) with no second
// pass. Writing mirrors it: a tar writer whose output is hashed and fed to a raw writer with the compression filter.
// Files are never written through libarchive's disk writer: it works on paths, and we want every creation to be an
// *at() call relative to a directory fd that was opened without following symlinks.
#include "image/layer.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <unordered_set>
#include <utility>
#include <vector>

#include "base/fd.h"
#include "base/path.h"

namespace cloudlet::image {
namespace {

constexpr size_t kBufSize = 256 * 1024;
constexpr size_t kMaxPathLen = 4096;
constexpr char kWhiteoutPrefix[] = ".wh.";
constexpr char kOpaqueMarker[] = ".wh..wh..opq";
constexpr char kOverlayOpaqueXattr[] = "trusted.overlay.opaque";

struct ReadArchiveFree {
  void operator()(archive* a) const { archive_read_free(a); }
};
struct WriteArchiveFree {
  void operator()(archive* a) const { archive_write_free(a); }
};
struct EntryFree {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};
using ReadArchive = std::unique_ptr<archive, ReadArchiveFree>;
using WriteArchive = std::unique_ptr<archive, WriteArchiveFree>;
using Entry = std::unique_ptr<archive_entry, EntryFree>;

std::string ArchiveError(archive* a) {
  const char* s = archive_error_string(a);
  return s != nullptr ? s : "unknown libarchive error";
}

std::string Join(std::string_view dir, std::string_view name) {
  if (dir.empty()) return std::string(name);
  std::string out(dir);
  out += '/';
  out += name;
  return out;
}

std::pair<std::string_view, std::string_view> SplitLast(std::string_view path) {
  size_t slash = path.rfind('/');
  if (slash == std::string_view::npos) return {std::string_view(), path};
  return {path.substr(0, slash), path.substr(slash + 1)};
}

// Lexically cleans a tar entry path: leading "/" and "." components are dropped (an absolute path is confined to the
// target, as tar does), ".." removes the previous component and may never climb above the target.
Result<std::string> NormalizeEntryPath(std::string_view raw) {
  bool climbed = false;
  std::string out = JoinComponents(CleanComponents(raw, &climbed), false);
  if (climbed) return Error("path \"" + std::string(raw) + "\" escapes the target directory");
  if (out.size() > kMaxPathLen) return Error("path \"" + out.substr(0, 64) + "...\" is longer than 4096 bytes");
  return out;
}

// ---- reading: the stored (compressed) level and the tar level --------------------------------------------------

struct StoredSource {
  int fd = -1;
  oci::Sha256 sha;
  uint64_t size = 0;
  std::vector<char> buf = std::vector<char>(kBufSize);
  int err = 0;
};

la_ssize_t StoredRead(archive*, void* client, const void** out) {
  auto* s = static_cast<StoredSource*>(client);
  for (;;) {
    ssize_t n = ::read(s->fd, s->buf.data(), s->buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      s->err = errno;
      return -1;
    }
    s->sha.Update(s->buf.data(), static_cast<size_t>(n));
    s->size += static_cast<uint64_t>(n);
    *out = s->buf.data();
    return n;
  }
}

struct TarSource {
  archive* raw = nullptr;
  oci::Sha256 sha;
  std::vector<char> buf = std::vector<char>(kBufSize);
  std::string err;
};

la_ssize_t TarRead(archive*, void* client, const void** out) {
  auto* t = static_cast<TarSource*>(client);
  la_ssize_t n = archive_read_data(t->raw, t->buf.data(), t->buf.size());
  if (n < 0) {
    t->err = ArchiveError(t->raw);
    return -1;
  }
  t->sha.Update(t->buf.data(), static_cast<size_t>(n));
  *out = t->buf.data();
  return n;
}

// ---- extraction ---------------------------------------------------------------------------------------------------

class Extractor {
 public:
  Extractor(UniqueFd root, const ApplyOptions& options, ApplyStats& stats)
      : root_(std::move(root)), options_(options), stats_(stats) {}

  Status Apply(archive* tar, archive_entry* e);
  Status Finish();

 private:
  Result<int> ParentDir(std::string_view dir_path);
  Result<UniqueFd> OpenDir(std::string_view dir_path, bool create);
  Status RemoveAll(int dirfd, const std::string& name);
  Status ClearOpaque(int dirfd, const std::string& dir_path);
  Status ApplyWhiteout(std::string_view dir_path, std::string_view name);
  Status WriteFile(archive* tar, archive_entry* e, int fd, const std::string& path);
  Status Own(int dirfd, const std::string& name, archive_entry* e, const std::string& path);
  void SetXattrs(int fd, archive_entry* e);
  void MarkCreated(const std::string& path);

  UniqueFd root_;
  const ApplyOptions& options_;
  ApplyStats& stats_;
  // The directory of the previous entry: tars list a directory's files together, so most entries reuse it.
  std::string cached_dir_path_;
  UniqueFd cached_dir_;
  // Flatten mode: paths this layer wrote (with their ancestors), which its own opaque markers and whiteouts spare.
  std::unordered_set<std::string> created_;
  struct DirMeta {
    std::string path;
    mode_t mode;
    timespec mtime;
  };
  // A directory's mode and mtime are set after its contents are written (writing into it changes its mtime, and a
  // read-only mode could stop us writing into it).
  std::vector<DirMeta> dirs_;
};

Result<UniqueFd> Extractor::OpenDir(std::string_view dir_path, bool create) {
  UniqueFd cur(::openat(root_.get(), ".", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!cur.valid()) return ErrnoError("open target directory");
  size_t pos = 0;
  while (pos < dir_path.size()) {
    size_t next = dir_path.find('/', pos);
    if (next == std::string_view::npos) next = dir_path.size();
    std::string comp(dir_path.substr(pos, next - pos));
    pos = next + 1;
    // O_NOFOLLOW with O_PATH opens a symlink itself, and O_DIRECTORY then fails with ENOTDIR: a symlink already in
    // the target is never traversed.
    int fd = ::openat(cur.get(), comp.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && create) {
      if (::mkdirat(cur.get(), comp.c_str(), 0755) != 0 && errno != EEXIST) {
        return ErrnoError("create directory " + std::string(dir_path.substr(0, next)));
      }
      fd = ::openat(cur.get(), comp.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (fd < 0) {
      std::string at(dir_path.substr(0, next));
      if (errno == ENOTDIR || errno == ELOOP) {
        return Error(at + " is not a directory (maybe a symlink, which extraction never follows)");
      }
      return ErrnoError("open " + at);
    }
    cur.reset(fd);
  }
  return cur;
}

Result<int> Extractor::ParentDir(std::string_view dir_path) {
  if (!cached_dir_.valid() || cached_dir_path_ != dir_path) {
    cached_dir_.reset();
    CL_ASSIGN_OR_RETURN(cached_dir_, OpenDir(dir_path, /*create=*/true));
    cached_dir_path_ = std::string(dir_path);
  }
  return cached_dir_.get();
}

Status Extractor::RemoveAll(int dirfd, const std::string& name) {
  struct stat st;
  if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return Status::Ok();
    return ErrnoError("stat " + name);
  }
  if (S_ISDIR(st.st_mode)) {
    // Any cached directory fd may now point into what is being removed.
    cached_dir_.reset();
    UniqueFd sub(::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!sub.valid()) return ErrnoError("open " + name);
    std::vector<std::string> names;
    {
      DIR* d = ::fdopendir(::dup(sub.get()));
      if (d == nullptr) return ErrnoError("read directory " + name);
      while (dirent* de = ::readdir(d)) {
        if (std::strcmp(de->d_name, ".") != 0 && std::strcmp(de->d_name, "..") != 0) names.emplace_back(de->d_name);
      }
      ::closedir(d);
    }
    for (const std::string& n : names) CL_RETURN_IF_ERROR(RemoveAll(sub.get(), n));
    if (::unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) != 0) return ErrnoError("remove directory " + name);
    return Status::Ok();
  }
  if (::unlinkat(dirfd, name.c_str(), 0) != 0 && errno != ENOENT) return ErrnoError("remove " + name);
  return Status::Ok();
}

Status Extractor::ClearOpaque(int dirfd, const std::string& dir_path) {
  UniqueFd dir(::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir.valid()) return ErrnoError("open " + dir_path);
  std::vector<std::string> names;
  DIR* d = ::fdopendir(::dup(dir.get()));
  if (d == nullptr) return ErrnoError("read directory " + dir_path);
  while (dirent* de = ::readdir(d)) {
    if (std::strcmp(de->d_name, ".") != 0 && std::strcmp(de->d_name, "..") != 0) names.emplace_back(de->d_name);
  }
  ::closedir(d);
  for (const std::string& n : names) {
    std::string path = Join(dir_path, n);
    if (!created_.contains(path)) {
      CL_RETURN_IF_ERROR(RemoveAll(dir.get(), n));
      continue;
    }
    struct stat st;
    if (::fstatat(dir.get(), n.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
      // A directory this layer wrote may still hold lower content, which the opaque marker hides too.
      UniqueFd sub(::openat(dir.get(), n.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!sub.valid()) return ErrnoError("open " + path);
      CL_RETURN_IF_ERROR(ClearOpaque(sub.get(), path));
    }
  }
  return Status::Ok();
}

void Extractor::MarkCreated(const std::string& path) {
  if (options_.whiteouts != WhiteoutMode::kFlatten) return;
  std::string_view p = path;
  while (!p.empty() && created_.emplace(p).second) p = SplitLast(p).first;
}

Status Extractor::ApplyWhiteout(std::string_view dir_path, std::string_view name) {
  ++stats_.whiteouts;
  std::string dir(dir_path);
  if (name == kOpaqueMarker) {
    if (options_.whiteouts == WhiteoutMode::kFlatten) {
      auto fd = OpenDir(dir_path, /*create=*/false);
      if (!fd.ok()) return Status::Ok();  // nothing below to hide
      return ClearOpaque(fd->get(), dir);
    }
    CL_ASSIGN_OR_RETURN(int parent, ParentDir(dir_path));
    UniqueFd d(::openat(parent, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!d.valid() || ::fsetxattr(d.get(), kOverlayOpaqueXattr, "y", 1, 0) != 0) {
      return ErrnoError("mark " + (dir.empty() ? std::string("/") : dir) + " opaque (" + kOverlayOpaqueXattr + ")");
    }
    return Status::Ok();
  }
  if (name.starts_with(".wh..wh.")) {
    --stats_.whiteouts;  // aufs bookkeeping (.wh..wh.plnk and the like), meaningless here
    return Status::Ok();
  }
  std::string victim(name.substr(std::strlen(kWhiteoutPrefix)));
  if (victim.empty() || victim == "." || victim == "..") return Error("invalid whiteout " + Join(dir, name));
  std::string victim_path = Join(dir, victim);
  if (options_.whiteouts == WhiteoutMode::kFlatten) {
    // A whiteout hides only what the layers below have: a file of this same layer stays.
    if (created_.contains(victim_path)) return Status::Ok();
    auto fd = OpenDir(dir_path, /*create=*/false);
    if (!fd.ok()) return Status::Ok();
    return RemoveAll(fd->get(), victim);
  }
  CL_ASSIGN_OR_RETURN(int parent, ParentDir(dir_path));
  struct stat st;
  if (::fstatat(parent, victim.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) return Status::Ok();  // this layer's own
  if (::mknodat(parent, victim.c_str(), S_IFCHR | 0, makedev(0, 0)) != 0) {
    return ErrnoError("create overlay whiteout for " + victim_path);
  }
  return Status::Ok();
}

Status Extractor::WriteFile(archive* tar, archive_entry* e, int fd, const std::string& path) {
  const la_int64_t size = archive_entry_size(e);
  for (;;) {
    const void* buf;
    size_t len;
    la_int64_t offset;
    int r = archive_read_data_block(tar, &buf, &len, &offset);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) return Error("read " + path + " from layer: " + ArchiveError(tar));
    if (offset < 0 || offset + static_cast<la_int64_t>(len) > size) return Error(path + ": data beyond its size");
    const char* p = static_cast<const char*>(buf);
    while (len > 0) {
      ssize_t n = ::pwrite(fd, p, len, offset);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return ErrnoError("write " + path);
      p += n;
      len -= static_cast<size_t>(n);
      offset += n;
      stats_.file_bytes += static_cast<uint64_t>(n);
    }
  }
  // Sparse entries may end in a hole.
  if (::ftruncate(fd, size) != 0) return ErrnoError("truncate " + path);
  return Status::Ok();
}

Status Extractor::Own(int dirfd, const std::string& name, archive_entry* e, const std::string& path) {
  if (!options_.preserve_ownership) return Status::Ok();
  const uint64_t uid = static_cast<uint64_t>(archive_entry_uid(e)) + options_.uid_offset;
  const uint64_t gid = static_cast<uint64_t>(archive_entry_gid(e)) + options_.gid_offset;
  if (archive_entry_uid(e) < 0 || archive_entry_gid(e) < 0 || uid >= UINT32_MAX || gid >= UINT32_MAX) {
    return Error(path + ": uid/gid out of range");
  }
  // An empty name means `dirfd` is the file itself (an open regular file).
  const int rc = name.empty() ? ::fchown(dirfd, static_cast<uid_t>(uid), static_cast<gid_t>(gid))
                              : ::fchownat(dirfd, name.c_str(), static_cast<uid_t>(uid), static_cast<gid_t>(gid),
                                           AT_SYMLINK_NOFOLLOW);
  if (rc != 0) {
    return ErrnoError("chown " + path + " to " + std::to_string(uid) + ":" + std::to_string(gid));
  }
  return Status::Ok();
}

bool XattrWanted(std::string_view name) {
  // trusted.* (overlayfs's own markers among them) must never come from a layer: a crafted trusted.overlay.redirect
  // would let a lower dir point elsewhere.
  if (name == "security.capability") return true;
  return name.starts_with("user.") && !name.starts_with("user.overlay.");
}

void Extractor::SetXattrs(int fd, archive_entry* e) {
  archive_entry_xattr_reset(e);
  const char* name;
  const void* value;
  size_t size;
  while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
    if (!XattrWanted(name)) continue;
    if (::fsetxattr(fd, name, value, size, 0) != 0) ++stats_.xattr_failures;
  }
}

Status Extractor::Apply(archive* tar, archive_entry* e) {
  if (++stats_.entries > options_.max_entries) {
    return Error("layer has more than " + std::to_string(options_.max_entries) + " entries");
  }
  const char* raw_path = archive_entry_pathname(e);
  if (raw_path == nullptr) return Error("entry without a path");
  CL_ASSIGN_OR_RETURN(std::string path, NormalizeEntryPath(raw_path));
  const mode_t type = archive_entry_filetype(e);
  const char* hardlink = archive_entry_hardlink(e);
  const mode_t perm = archive_entry_perm(e) & 07777;
  const timespec mtime{archive_entry_mtime(e), archive_entry_mtime_nsec(e)};

  if (path.empty()) {  // the layer's root directory: only its metadata applies
    if (type != AE_IFDIR || hardlink != nullptr) return Error("entry \"" + std::string(raw_path) + "\" names the root");
    if (options_.preserve_ownership) CL_RETURN_IF_ERROR(Own(root_.get(), ".", e, "/"));
    dirs_.push_back({"", perm, mtime});
    return Status::Ok();
  }
  auto [dir_path, name_view] = SplitLast(path);
  const std::string name(name_view);
  if (name.starts_with(kWhiteoutPrefix)) return ApplyWhiteout(dir_path, name);

  if (type == AE_IFREG && hardlink == nullptr) {
    const la_int64_t size = archive_entry_size(e);
    if (size < 0 || stats_.file_bytes + static_cast<uint64_t>(size) > options_.max_total_bytes) {
      return Error("layer holds more than " + std::to_string(options_.max_total_bytes) + " bytes of files");
    }
  }

  CL_ASSIGN_OR_RETURN(int parent, ParentDir(dir_path));
  struct stat existing;
  if (::fstatat(parent, name.c_str(), &existing, AT_SYMLINK_NOFOLLOW) == 0) {
    const bool keep_dir = S_ISDIR(existing.st_mode) && type == AE_IFDIR && hardlink == nullptr;
    if (!keep_dir) {
      CL_RETURN_IF_ERROR(RemoveAll(parent, name));
      CL_ASSIGN_OR_RETURN(parent, ParentDir(dir_path));  // the cache may have been dropped
    }
  }

  if (hardlink != nullptr) {
    CL_ASSIGN_OR_RETURN(std::string target, NormalizeEntryPath(hardlink));
    if (target.empty()) return Error(path + ": hardlink to the root directory");
    auto [target_dir, target_name] = SplitLast(target);
    CL_ASSIGN_OR_RETURN(UniqueFd tdir, OpenDir(target_dir, /*create=*/false));
    // Flags 0: the link is made to the target entry itself, never to what a symlink there points at.
    if (::linkat(tdir.get(), std::string(target_name).c_str(), parent, name.c_str(), 0) != 0) {
      return ErrnoError("hardlink " + path + " to " + target);
    }
    MarkCreated(path);
    return Status::Ok();
  }

  switch (type) {
    case AE_IFREG: {
      UniqueFd fd(::openat(parent, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
      if (!fd.valid()) return ErrnoError("create " + path);
      CL_RETURN_IF_ERROR(WriteFile(tar, e, fd.get(), path));
      if (options_.preserve_ownership) CL_RETURN_IF_ERROR(Own(fd.get(), "", e, path));
      // After chown, which clears setuid/setgid; xattrs after chown too, which clears security.capability.
      if (::fchmod(fd.get(), perm) != 0) return ErrnoError("chmod " + path);
      SetXattrs(fd.get(), e);
      const timespec times[2] = {mtime, mtime};
      if (::futimens(fd.get(), times) != 0) return ErrnoError("set mtime of " + path);
      break;
    }
    case AE_IFDIR: {
      if (::mkdirat(parent, name.c_str(), 0700) != 0 && errno != EEXIST) return ErrnoError("create directory " + path);
      CL_RETURN_IF_ERROR(Own(parent, name, e, path));
      UniqueFd fd(::openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!fd.valid()) return ErrnoError("open " + path);
      SetXattrs(fd.get(), e);
      dirs_.push_back({path, perm, mtime});
      break;
    }
    case AE_IFLNK: {
      const char* target = archive_entry_symlink(e);
      if (target == nullptr) return Error(path + ": symlink without a target");
      if (::symlinkat(target, parent, name.c_str()) != 0) return ErrnoError("create symlink " + path);
      CL_RETURN_IF_ERROR(Own(parent, name, e, path));
      const timespec times[2] = {mtime, mtime};
      if (::utimensat(parent, name.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) {
        return ErrnoError("set mtime of " + path);
      }
      break;
    }
    case AE_IFCHR:
    case AE_IFBLK:
    case AE_IFIFO: {
      const dev_t dev = type == AE_IFIFO ? 0 : makedev(archive_entry_rdevmajor(e), archive_entry_rdevminor(e));
      if (::mknodat(parent, name.c_str(), type | perm, dev) != 0) {
        if ((errno == EPERM || errno == EACCES) && type != AE_IFIFO) {
          ++stats_.skipped_devices;  // a user namespace may not create devices; the runtime bind-mounts /dev
          return Status::Ok();
        }
        return ErrnoError("create device node " + path);
      }
      CL_RETURN_IF_ERROR(Own(parent, name, e, path));
      if (::fchmodat(parent, name.c_str(), perm, AT_SYMLINK_NOFOLLOW) != 0) return ErrnoError("chmod " + path);
      const timespec times[2] = {mtime, mtime};
      if (::utimensat(parent, name.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) {
        return ErrnoError("set mtime of " + path);
      }
      break;
    }
    case AE_IFSOCK:
      return Status::Ok();  // a socket has no content; the owning program recreates it
    default:
      return Error(path + ": unsupported entry type " + std::to_string(type));
  }
  MarkCreated(path);
  return Status::Ok();
}

Status Extractor::Finish() {
  for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) {
    auto fd = OpenDir(it->path, /*create=*/false);
    if (!fd.ok()) continue;  // replaced or whited out later in the layer
    UniqueFd dir(::openat(fd->get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir.valid()) return ErrnoError("open " + it->path);
    if (::fchmod(dir.get(), it->mode) != 0) return ErrnoError("chmod " + it->path);
    const timespec times[2] = {it->mtime, it->mtime};
    if (::futimens(dir.get(), times) != 0) return ErrnoError("set mtime of " + it->path);
  }
  return Status::Ok();
}

Result<ApplyStats> ApplyStream(int fd, const std::string& target_dir, const ApplyOptions& options) {
  ApplyStats stats;
  UniqueFd root(::open(target_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root.valid()) return ErrnoError("open target directory " + target_dir);

  StoredSource stored;
  stored.fd = fd;
  ReadArchive raw(archive_read_new());
  if (!raw) return Error("libarchive: out of memory");
  archive_read_support_filter_gzip(raw.get());
  archive_read_support_filter_zstd(raw.get());
  archive_read_support_format_raw(raw.get());
  if (archive_read_open(raw.get(), &stored, nullptr, StoredRead, nullptr) != ARCHIVE_OK) {
    if (stored.err != 0) return ErrnoError("read layer", stored.err);
    return Error("read layer: " + ArchiveError(raw.get()));
  }
  archive_entry* raw_entry;
  int r = archive_read_next_header(raw.get(), &raw_entry);
  if (r == ARCHIVE_EOF) return Error("layer is empty");
  if (r < ARCHIVE_WARN) return Error("read layer: " + ArchiveError(raw.get()));
  switch (archive_filter_code(raw.get(), 0)) {
    case ARCHIVE_FILTER_GZIP:
      stats.compression = Compression::kGzip;
      break;
    case ARCHIVE_FILTER_ZSTD:
      stats.compression = Compression::kZstd;
      break;
    default:
      stats.compression = Compression::kNone;
      break;
  }

  TarSource source;
  source.raw = raw.get();
  ReadArchive tar(archive_read_new());
  if (!tar) return Error("libarchive: out of memory");
  archive_read_support_format_tar(tar.get());
  Extractor extractor(std::move(root), options, stats);
  if (archive_read_open(tar.get(), &source, nullptr, TarRead, nullptr) != ARCHIVE_OK) {
    return Error("read layer: " + (source.err.empty() ? ArchiveError(tar.get()) : source.err));
  }
  for (;;) {
    archive_entry* e;
    r = archive_read_next_header(tar.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) {
      if (stored.err != 0) return ErrnoError("read layer", stored.err);
      return Error("read layer (not a tar" +
                   std::string(stats.compression == Compression::kNone ? ", gzip or zstd" : "") +
                   " stream?): " + (source.err.empty() ? ArchiveError(tar.get()) : source.err));
    }
    Status st = extractor.Apply(tar.get(), e);
    if (!st.ok()) {
      const char* p = archive_entry_pathname(e);
      return st.error().wrap("apply layer entry \"" + std::string(p ? p : "") + "\"");
    }
  }
  CL_RETURN_IF_ERROR(extractor.Finish());

  // The digests cover the whole stream: what the tar reader left (the zero records after the end marker, for one),
  // then whatever follows the compressed stream in the file.
  for (;;) {
    const void* buf;
    la_ssize_t n = TarRead(nullptr, &source, &buf);
    if (n < 0) return Error("read layer: " + source.err);
    if (n == 0) break;
  }
  for (;;) {
    const void* buf;
    la_ssize_t n = StoredRead(nullptr, &stored, &buf);
    if (n < 0) return ErrnoError("read layer", stored.err);
    if (n == 0) break;
  }
  stats.diff_id = source.sha.Finish();
  stats.digest = stored.sha.Finish();
  stats.size = stored.size;
  return stats;
}

// ---- writing ------------------------------------------------------------------------------------------------------

struct Sink {
  int out_fd = -1;
  archive* compressor = nullptr;  // null: the tar goes to the file as is
  oci::Sha256 tar_sha;
  oci::Sha256 out_sha;
  uint64_t out_size = 0;
  int err = 0;
  std::string compressor_err;
};

la_ssize_t WriteOut(archive*, void* client, const void* buf, size_t len) {
  auto* s = static_cast<Sink*>(client);
  s->out_sha.Update(buf, len);
  s->out_size += len;
  const char* p = static_cast<const char*>(buf);
  size_t left = len;
  while (left > 0) {
    ssize_t n = ::write(s->out_fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      s->err = errno;
      return -1;
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  return static_cast<la_ssize_t>(len);
}

la_ssize_t WriteTar(archive* a, void* client, const void* buf, size_t len) {
  auto* s = static_cast<Sink*>(client);
  s->tar_sha.Update(buf, len);
  if (s->compressor == nullptr) return WriteOut(a, client, buf, len);
  la_ssize_t n = archive_write_data(s->compressor, buf, len);
  if (n != static_cast<la_ssize_t>(len)) {
    s->compressor_err = ArchiveError(s->compressor);
    return -1;
  }
  return n;
}

struct FileId {
  dev_t dev;
  ino_t ino;
  bool operator<(const FileId& o) const { return dev != o.dev ? dev < o.dev : ino < o.ino; }
};

class TreeWriter {
 public:
  TreeWriter(archive* tar, const CreateOptions& options, bool diff) : tar_(tar), options_(options), diff_(diff) {}
  Status WriteDir(int dirfd, const std::string& rel);

 private:
  Status WriteEntry(int dirfd, const std::string& name, const std::string& path, const struct stat& st);
  Status WriteHeader(archive_entry* e, const std::string& path);
  Status AddXattrs(int fd, archive_entry* e, const std::string& path, bool* opaque);

  archive* tar_;
  const CreateOptions& options_;
  bool diff_;
  std::map<FileId, std::string> links_;
  std::vector<char> buf_ = std::vector<char>(kBufSize);
};

Status TreeWriter::WriteHeader(archive_entry* e, const std::string& path) {
  if (archive_write_header(tar_, e) < ARCHIVE_WARN)
    return Error("write tar header for " + path + ": " + ArchiveError(tar_));
  return Status::Ok();
}

// Reads the xattrs worth carrying (sorted, for reproducible bytes). In diff mode reports an opaque directory and
// refuses overlayfs features whose upper files do not hold the whole content.
Status TreeWriter::AddXattrs(int fd, archive_entry* e, const std::string& path, bool* opaque) {
  ssize_t len = ::flistxattr(fd, nullptr, 0);
  if (len <= 0) return Status::Ok();  // none, or the filesystem has no xattrs
  std::vector<char> names(static_cast<size_t>(len));
  len = ::flistxattr(fd, names.data(), names.size());
  if (len < 0) return ErrnoError("list xattrs of " + path);
  std::vector<std::string> sorted;
  for (size_t i = 0; i < static_cast<size_t>(len);) {
    std::string n(names.data() + i);
    i += n.size() + 1;
    if (!n.empty()) sorted.push_back(std::move(n));
  }
  std::sort(sorted.begin(), sorted.end());
  for (const std::string& n : sorted) {
    if (diff_ && (n == "trusted.overlay.opaque" || n == "user.overlay.opaque")) {
      char v[4];
      ssize_t vl = ::fgetxattr(fd, n.c_str(), v, sizeof(v));
      if (vl == 1 && v[0] == 'y' && opaque != nullptr) *opaque = true;
      continue;
    }
    if (diff_ && (n == "trusted.overlay.metacopy" || n == "trusted.overlay.redirect" || n == "user.overlay.metacopy" ||
                  n == "user.overlay.redirect")) {
      return Error(path + " uses overlayfs " + n.substr(n.rfind('.') + 1) +
                   ", which a layer cannot express (mount the overlay with metacopy=off,redirect_dir=off)");
    }
    if (!XattrWanted(n)) continue;
    ssize_t vl = ::fgetxattr(fd, n.c_str(), nullptr, 0);
    if (vl < 0) continue;
    std::vector<char> value(static_cast<size_t>(vl));
    vl = ::fgetxattr(fd, n.c_str(), value.data(), value.size());
    if (vl < 0) continue;
    archive_entry_xattr_add_entry(e, n.c_str(), value.data(), static_cast<size_t>(vl));
  }
  return Status::Ok();
}

Status TreeWriter::WriteEntry(int dirfd, const std::string& name, const std::string& path, const struct stat& st) {
  Entry e(archive_entry_new());
  if (!e) return Error("libarchive: out of memory");
  archive_entry_set_uid(e.get(), st.st_uid);
  archive_entry_set_gid(e.get(), st.st_gid);
  archive_entry_set_mtime(e.get(), options_.mtime, 0);
  archive_entry_set_perm(e.get(), st.st_mode & 07777);

  if (S_ISDIR(st.st_mode)) {
    UniqueFd fd(::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd.valid()) return ErrnoError("open " + path);
    bool opaque = false;
    CL_RETURN_IF_ERROR(AddXattrs(fd.get(), e.get(), path, &opaque));
    archive_entry_set_pathname(e.get(), (path + "/").c_str());
    archive_entry_set_filetype(e.get(), AE_IFDIR);
    CL_RETURN_IF_ERROR(WriteHeader(e.get(), path));
    if (opaque) {
      Entry marker(archive_entry_new());
      archive_entry_set_pathname(marker.get(), (path + "/" + kOpaqueMarker).c_str());
      archive_entry_set_filetype(marker.get(), AE_IFREG);
      archive_entry_set_perm(marker.get(), 0);
      archive_entry_set_size(marker.get(), 0);
      archive_entry_set_mtime(marker.get(), options_.mtime, 0);
      CL_RETURN_IF_ERROR(WriteHeader(marker.get(), path + "/" + kOpaqueMarker));
    }
    return WriteDir(fd.get(), path);
  }
  if (diff_ && S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)) {
    auto [dir, base] = SplitLast(path);
    std::string wh = Join(dir, std::string(kWhiteoutPrefix) + std::string(base));
    Entry marker(archive_entry_new());
    archive_entry_set_pathname(marker.get(), wh.c_str());
    archive_entry_set_filetype(marker.get(), AE_IFREG);
    archive_entry_set_perm(marker.get(), 0);
    archive_entry_set_size(marker.get(), 0);
    archive_entry_set_mtime(marker.get(), options_.mtime, 0);
    return WriteHeader(marker.get(), wh);
  }
  archive_entry_set_pathname(e.get(), path.c_str());
  if (S_ISLNK(st.st_mode)) {
    std::vector<char> target(static_cast<size_t>(st.st_size) + 2);
    ssize_t n = ::readlinkat(dirfd, name.c_str(), target.data(), target.size());
    if (n < 0 || static_cast<size_t>(n) >= target.size()) return ErrnoError("read symlink " + path);
    archive_entry_set_filetype(e.get(), AE_IFLNK);
    archive_entry_set_symlink(e.get(), std::string(target.data(), static_cast<size_t>(n)).c_str());
    archive_entry_set_perm(e.get(), 0777);
    return WriteHeader(e.get(), path);
  }
  if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) || S_ISFIFO(st.st_mode)) {
    archive_entry_set_filetype(e.get(), st.st_mode & S_IFMT);
    if (!S_ISFIFO(st.st_mode)) {
      archive_entry_set_rdevmajor(e.get(), major(st.st_rdev));
      archive_entry_set_rdevminor(e.get(), minor(st.st_rdev));
    }
    return WriteHeader(e.get(), path);
  }
  if (!S_ISREG(st.st_mode)) return Status::Ok();  // sockets

  if (st.st_nlink > 1) {
    auto [it, inserted] = links_.emplace(FileId{st.st_dev, st.st_ino}, path);
    if (!inserted) {
      archive_entry_set_filetype(e.get(), AE_IFREG);
      archive_entry_set_hardlink(e.get(), it->second.c_str());
      archive_entry_set_size(e.get(), 0);
      return WriteHeader(e.get(), path);
    }
  }
  UniqueFd fd(::openat(dirfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError("open " + path);
  CL_RETURN_IF_ERROR(AddXattrs(fd.get(), e.get(), path, nullptr));
  archive_entry_set_filetype(e.get(), AE_IFREG);
  archive_entry_set_size(e.get(), st.st_size);
  CL_RETURN_IF_ERROR(WriteHeader(e.get(), path));
  off_t left = st.st_size;
  while (left > 0) {
    ssize_t n = ::read(fd.get(), buf_.data(), std::min<off_t>(left, static_cast<off_t>(buf_.size())));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("read " + path);
    if (n == 0) return Error(path + " shrank while being archived");
    if (archive_write_data(tar_, buf_.data(), static_cast<size_t>(n)) != n) {
      return Error("write " + path + " to the layer: " + ArchiveError(tar_));
    }
    left -= n;
  }
  return Status::Ok();
}

Status TreeWriter::WriteDir(int dirfd, const std::string& rel) {
  std::vector<std::string> names;
  DIR* d = ::fdopendir(::dup(dirfd));
  if (d == nullptr) return ErrnoError("read directory " + (rel.empty() ? std::string("/") : rel));
  while (dirent* de = ::readdir(d)) {
    if (std::strcmp(de->d_name, ".") != 0 && std::strcmp(de->d_name, "..") != 0) names.emplace_back(de->d_name);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    std::string path = Join(rel, name);
    struct stat st;
    if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return ErrnoError("stat " + path);
    CL_RETURN_IF_ERROR(WriteEntry(dirfd, name, path, st));
  }
  return Status::Ok();
}

Result<LayerInfo> WriteLayer(const std::string& dir, const std::string& out_path, const CreateOptions& options,
                             bool diff) {
  UniqueFd root(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root.valid()) return ErrnoError("open " + dir);
  UniqueFd out(::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!out.valid()) return ErrnoError("create " + out_path);

  Sink sink;
  sink.out_fd = out.get();
  WriteArchive compressor;
  if (options.compression != Compression::kNone) {
    compressor.reset(archive_write_new());
    if (!compressor) return Error("libarchive: out of memory");
    archive_write_set_format_raw(compressor.get());
    int r = options.compression == Compression::kGzip ? archive_write_add_filter_gzip(compressor.get())
                                                      : archive_write_add_filter_zstd(compressor.get());
    if (r != ARCHIVE_OK) return Error("libarchive: " + ArchiveError(compressor.get()));
    // No timestamp in the gzip header (libarchive writes no file name), and no padding after the compressed stream.
    if (options.compression == Compression::kGzip &&
        archive_write_set_filter_option(compressor.get(), "gzip", "timestamp", nullptr) != ARCHIVE_OK) {
      return Error("libarchive: cannot disable the gzip timestamp: " + ArchiveError(compressor.get()));
    }
    archive_write_set_bytes_per_block(compressor.get(), 0);
    if (archive_write_open(compressor.get(), &sink, nullptr, WriteOut, nullptr) != ARCHIVE_OK) {
      return Error("open compressor: " + ArchiveError(compressor.get()));
    }
    Entry e(archive_entry_new());
    archive_entry_set_pathname(e.get(), "layer.tar");
    archive_entry_set_filetype(e.get(), AE_IFREG);
    archive_entry_set_perm(e.get(), 0644);
    if (archive_write_header(compressor.get(), e.get()) != ARCHIVE_OK) {
      return Error("open compressor: " + ArchiveError(compressor.get()));
    }
    sink.compressor = compressor.get();
  }

  WriteArchive tar(archive_write_new());
  if (!tar) return Error("libarchive: out of memory");
  // pax only for what ustar cannot hold; xattrs as SCHILY.xattr, which GNU tar reads without warnings.
  archive_write_set_format_pax_restricted(tar.get());
  archive_write_set_format_option(tar.get(), "pax", "xattrheader", "SCHILY");
  if (archive_write_open(tar.get(), &sink, nullptr, WriteTar, nullptr) != ARCHIVE_OK) {
    return Error("open tar writer: " + ArchiveError(tar.get()));
  }
  TreeWriter writer(tar.get(), options, diff);
  Status st = writer.WriteDir(root.get(), "");
  if (!st.ok()) {
    if (sink.err != 0) return ErrnoError("write " + out_path, sink.err);
    return st.error().wrap("create layer from " + dir);
  }
  if (archive_write_close(tar.get()) != ARCHIVE_OK) {
    if (sink.err != 0) return ErrnoError("write " + out_path, sink.err);
    return Error("finish tar: " + (sink.compressor_err.empty() ? ArchiveError(tar.get()) : sink.compressor_err));
  }
  if (compressor && archive_write_close(compressor.get()) != ARCHIVE_OK) {
    if (sink.err != 0) return ErrnoError("write " + out_path, sink.err);
    return Error("finish compression: " + ArchiveError(compressor.get()));
  }
  if (::fsync(out.get()) != 0) return ErrnoError("sync " + out_path);
  LayerInfo info;
  info.diff_id = sink.tar_sha.Finish();
  info.digest = compressor ? sink.out_sha.Finish() : info.diff_id;
  info.size = sink.out_size;
  info.media_type = LayerMediaType(options.compression);
  return info;
}

}  // namespace

const char* CompressionName(Compression c) {
  switch (c) {
    case Compression::kGzip:
      return "gzip";
    case Compression::kZstd:
      return "zstd";
    case Compression::kNone:
      break;
  }
  return "none";
}

const char* LayerMediaType(Compression c) {
  switch (c) {
    case Compression::kGzip:
      return kMediaTypeLayerGzip;
    case Compression::kZstd:
      return kMediaTypeLayerZstd;
    case Compression::kNone:
      break;
  }
  return kMediaTypeLayerTar;
}

Result<ApplyStats> ApplyLayerFd(int fd, const std::string& target_dir, const ApplyOptions& options) {
  return ApplyStream(fd, target_dir, options);
}

Result<ApplyStats> ApplyLayer(const std::string& layer_path, const std::string& target_dir,
                              const ApplyOptions& options) {
  UniqueFd fd(::open(layer_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError("open layer " + layer_path);
  auto stats = ApplyStream(fd.get(), target_dir, options);
  if (!stats.ok()) return stats.error().wrap(layer_path);
  return stats;
}

Result<LayerInfo> CreateLayer(const std::string& dir, const std::string& out_path, const CreateOptions& options) {
  return WriteLayer(dir, out_path, options, /*diff=*/false);
}

Result<LayerInfo> DiffLayer(const std::string& upper_dir, const std::string& out_path, const CreateOptions& options) {
  return WriteLayer(upper_dir, out_path, options, /*diff=*/true);
}

}  // namespace cloudlet::image
