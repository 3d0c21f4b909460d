// The builder: one Step per instruction, each advancing a State (config, layers, the chain id). File system work on
// an image's tree goes through descriptors opened with openat2(RESOLVE_IN_ROOT), so a symlink in a base image (or in
// the context) resolves inside that tree and never reaches the host's files.
#include "image/build.h"

#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <linux/openat2.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>

#include "base/fd.h"
#include "base/path.h"
#include "image/containerfile.h"
#include "image/import.h"
#include "image/rootfs.h"
#include "image/unpack.h"
#include "oci/image_user.h"
#include "oci/runtime_spec.h"

namespace cloudlet::image {
namespace {

constexpr char kCacheVersion[] = "cloudlet-build-v1";
constexpr char kDefaultPath[] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
constexpr uint64_t kMaxContainerfileSize = 1 << 20;

// ---------------------------------------------------------------- paths and descriptors inside a root

// Lexically cleans an absolute path ("/a/./b/../c/" -> "/a/c"); ".." at the root stays at the root.
std::string CleanAbsolute(std::string_view path) {
  std::string out = JoinComponents(CleanComponents(path), true);
  return out.empty() ? "/" : out;
}

// A context-relative source path, cleaned; "" is the context itself. Refuses paths that climb out of it.
Result<std::string> CleanSource(std::string_view src) {
  bool climbed = false;
  std::vector<std::string_view> parts = CleanComponents(src, &climbed);
  if (climbed) return Error("source " + std::string(src) + " is outside the build context");
  return JoinComponents(parts, false);
}

// openat2 relative to `root_fd` with every path component (symlinks included) resolved inside the root.
int OpenInRoot(int root_fd, const std::string& path, uint64_t flags) {
  open_how how{};
  how.flags = flags | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  std::string rel = path;
  while (!rel.empty() && rel[0] == '/') rel.erase(0, 1);
  if (rel.empty()) rel = ".";
  return static_cast<int>(::syscall(SYS_openat2, root_fd, rel.c_str(), &how, sizeof(how)));
}

// mkdir -p of `path` inside the root; directories created get `uid`:`gid` and 0755. Returns the last one, open.
Result<UniqueFd> MakeDirsInRoot(int root_fd, const std::string& path, uint32_t uid, uint32_t gid) {
  std::string clean = CleanAbsolute(path);
  UniqueFd dir(OpenInRoot(root_fd, "/", O_RDONLY | O_DIRECTORY));
  if (!dir.valid()) return ErrnoError("open the image's root");
  std::string prefix;
  for (std::string_view component : CleanComponents(clean)) {
    const std::string name(component);
    prefix += "/" + name;
    UniqueFd sub(OpenInRoot(root_fd, prefix, O_RDONLY | O_DIRECTORY));
    if (!sub.valid() && errno == ENOENT) {
      if (::mkdirat(dir.get(), name.c_str(), 0755) != 0 && errno != EEXIST) return ErrnoError("mkdir " + prefix);
      if (::fchownat(dir.get(), name.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) != 0 && errno != EPERM) {
        return ErrnoError("chown " + prefix);
      }
      ::fchmodat(dir.get(), name.c_str(), 0755, 0);  // past the umask
      sub = UniqueFd(OpenInRoot(root_fd, prefix, O_RDONLY | O_DIRECTORY));
    }
    if (!sub.valid()) {
      if (errno == ENOTDIR) return Error(prefix + " exists in the image and is not a directory");
      return ErrnoError("open " + prefix);
    }
    dir = std::move(sub);
  }
  return dir;
}

// Makes room for a new entry `name` in `dir`: removes what is there unless it is a directory (kept: merged into).
// Returns true if a directory is there.
Result<bool> ClearEntry(int dir, const std::string& name, const std::string& shown) {
  struct stat st {};
  if (::fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return false;
    return ErrnoError("stat " + shown);
  }
  if (S_ISDIR(st.st_mode)) return true;
  if (::unlinkat(dir, name.c_str(), 0) != 0) return ErrnoError("replace " + shown);
  return false;
}

// Sorted names of a directory's entries (without . and ..).
Result<std::vector<std::string>> ListDir(int dir_fd, const std::string& shown) {
  int dup = ::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dup < 0) return ErrnoError("open " + shown);
  DIR* d = ::fdopendir(dup);
  if (d == nullptr) {
    ::close(dup);
    return ErrnoError("list " + shown);
  }
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(std::move(n));
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

// ---------------------------------------------------------------- .containerignore / .dockerignore

// The context's ignore file: one pattern a line ('#' comments), matched against context-relative paths component by
// component with fnmatch ('*' stays inside a component) and "**" for any number of components; a pattern matching a
// directory excludes everything below it; "!pattern" re-includes; the last matching pattern decides (Docker's rules).
class IgnoreRules {
 public:
  static Result<IgnoreRules> Load(int ctx_fd) {
    IgnoreRules rules;
    for (const char* name : {".containerignore", ".dockerignore"}) {
      UniqueFd fd(::openat(ctx_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
      if (!fd.valid()) {
        if (errno == ENOENT) continue;
        return ErrnoError(std::string("open ") + name + " in the build context");
      }
      std::string text;
      char buf[8192];
      ssize_t n;
      while ((n = ::read(fd.get(), buf, sizeof buf)) > 0 && text.size() < (1 << 20)) text.append(buf, n);
      std::istringstream in(text);
      std::string line;
      while (std::getline(in, line)) rules.Add(line);
      rules.file_ = name;
      break;
    }
    return rules;
  }

  bool empty() const { return patterns_.empty(); }
  bool has_exceptions() const { return has_exceptions_; }
  const std::string& file() const { return file_; }

  // `rel`: a cleaned context-relative path ("a/b").
  bool Excluded(const std::string& rel) const {
    if (patterns_.empty() || rel.empty()) return false;
    std::vector<std::string> parts = Split(rel);
    bool excluded = false;
    for (const Pattern& p : patterns_) {
      bool match = false;
      for (size_t len = 1; len <= parts.size() && !match; ++len) match = Match(p.parts, 0, parts, 0, len);
      if (match) excluded = !p.exception;
    }
    return excluded;
  }

 private:
  struct Pattern {
    std::vector<std::string> parts;
    bool exception = false;
  };

  static std::vector<std::string> Split(const std::string& path) {
    std::vector<std::string> parts;
    std::stringstream ss(path);
    std::string part;
    while (std::getline(ss, part, '/')) {
      if (!part.empty() && part != ".") parts.push_back(part);
    }
    return parts;
  }

  // Whether pattern parts p[i..] match path parts s[j..end).
  static bool Match(const std::vector<std::string>& p, size_t i, const std::vector<std::string>& s, size_t j,
                    size_t end) {
    if (i == p.size()) return j == end;
    if (p[i] == "**") {
      for (size_t k = j; k <= end; ++k) {
        if (Match(p, i + 1, s, k, end)) return true;
      }
      return false;
    }
    if (j == end || ::fnmatch(p[i].c_str(), s[j].c_str(), 0) != 0) return false;
    return Match(p, i + 1, s, j + 1, end);
  }

  void Add(std::string line) {
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r')) line.pop_back();
    size_t start = line.find_first_not_of(" \t");
    if (start == std::string::npos || line[start] == '#') return;
    line = line.substr(start);
    Pattern p;
    if (line[0] == '!') {
      p.exception = true;
      line = line.substr(1);
    }
    std::vector<std::string> parts;
    for (std::string& part : Split(line)) {
      if (part == "..") {
        if (!parts.empty()) parts.pop_back();
      } else {
        parts.push_back(std::move(part));
      }
    }
    if (parts.empty()) return;
    p.parts = std::move(parts);
    has_exceptions_ = has_exceptions_ || p.exception;
    patterns_.push_back(std::move(p));
  }

  std::vector<Pattern> patterns_;
  bool has_exceptions_ = false;
  std::string file_;
};

// `name` below `base` ("" or "/" are the top).
std::string Under(const std::string& base, const std::string& name) {
  if (base.empty()) return name;
  std::string out = base;
  if (!out.ends_with('/')) out += '/';
  out += name;
  return out;
}

// A context-relative path joined with a child name ("." is the context itself).
std::string Child(const std::string& rel, const std::string& name) { return rel == "." ? name : rel + "/" + name; }

// Whether to skip `rel`: excluded and, for a directory, nothing below it can be re-included.
bool Skip(const IgnoreRules* ignore, const std::string& rel, bool is_dir) {
  if (ignore == nullptr || !ignore->Excluded(rel)) return false;
  return !(is_dir && ignore->has_exceptions());
}

// ---------------------------------------------------------------- copying from the context

struct CopyOwner {
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::optional<mode_t> mode;           // --chmod
  const IgnoreRules* ignore = nullptr;  // entries below a source directory that are not copied
};

Status SetMeta(int fd, const struct stat& src, const CopyOwner& owner, const std::string& shown) {
  // chown first: it clears setuid/setgid bits that the chmod then restores.
  if (::fchown(fd, owner.uid, owner.gid) != 0 && errno != EPERM) return ErrnoError("chown " + shown);
  mode_t mode = owner.mode ? *owner.mode : (src.st_mode & 07777);
  if (::fchmod(fd, mode) != 0) return ErrnoError("chmod " + shown);
  return Status::Ok();
}

Status CopyFileData(int from, int to, const std::string& shown) {
  char buf[128 * 1024];
  while (true) {
    ssize_t n = ::read(from, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("read " + shown);
    if (n == 0) return Status::Ok();
    for (ssize_t off = 0; off < n;) {
      ssize_t w = ::write(to, buf + off, static_cast<size_t>(n - off));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return ErrnoError("write " + shown);
      off += w;
    }
  }
}

Status CopyEntry(int src_dir, const std::string& src_name, int dst_dir, const std::string& dst_name,
                 const CopyOwner& owner, const std::string& shown);

// The contents of directory `src` into directory `dst` (merged with what is there).
Status CopyDirContents(int src, int dst, const CopyOwner& owner, const std::string& shown) {
  CL_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(src, shown));
  for (const std::string& n : names) CL_RETURN_IF_ERROR(CopyEntry(src, n, dst, n, owner, Child(shown, n)));
  return Status::Ok();
}

// One entry (not following a symlink) from src_dir/src_name to dst_dir/dst_name.
Status CopyEntry(int src_dir, const std::string& src_name, int dst_dir, const std::string& dst_name,
                 const CopyOwner& owner, const std::string& shown) {
  struct stat st {};
  if (::fstatat(src_dir, src_name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return ErrnoError("stat " + shown);
  if (Skip(owner.ignore, shown, S_ISDIR(st.st_mode))) return Status::Ok();
  CL_ASSIGN_OR_RETURN(bool dst_is_dir, ClearEntry(dst_dir, dst_name, shown));
  if (S_ISDIR(st.st_mode)) {
    if (!dst_is_dir && ::mkdirat(dst_dir, dst_name.c_str(), 0700) != 0) return ErrnoError("mkdir " + shown);
    UniqueFd s(::openat(src_dir, src_name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!s.valid()) return ErrnoError("open " + shown);
    UniqueFd d(::openat(dst_dir, dst_name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!d.valid()) return ErrnoError("open the destination of " + shown);
    CL_RETURN_IF_ERROR(CopyDirContents(s.get(), d.get(), owner, shown));
    return SetMeta(d.get(), st, owner, shown);
  }
  if (dst_is_dir) return Error("cannot copy " + shown + " over a directory of the same name in the image");
  if (S_ISREG(st.st_mode)) {
    UniqueFd s(::openat(src_dir, src_name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!s.valid()) return ErrnoError("open " + shown);
    UniqueFd d(::openat(dst_dir, dst_name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!d.valid()) return ErrnoError("create the destination of " + shown);
    CL_RETURN_IF_ERROR(CopyFileData(s.get(), d.get(), shown));
    return SetMeta(d.get(), st, owner, shown);
  }
  if (S_ISLNK(st.st_mode)) {
    std::string target(PATH_MAX, '\0');
    ssize_t n = ::readlinkat(src_dir, src_name.c_str(), target.data(), target.size());
    if (n < 0) return ErrnoError("readlink " + shown);
    target.resize(static_cast<size_t>(n));
    if (::symlinkat(target.c_str(), dst_dir, dst_name.c_str()) != 0) return ErrnoError("symlink " + shown);
    if (::fchownat(dst_dir, dst_name.c_str(), owner.uid, owner.gid, AT_SYMLINK_NOFOLLOW) != 0 && errno != EPERM) {
      return ErrnoError("chown " + shown);
    }
    return Status::Ok();
  }
  return Error(shown + " is not a regular file, directory or symlink (sockets, fifos and devices are not copied)");
}

// ---------------------------------------------------------------- hashing the sources (cache key)

void HashString(oci::Sha256& h, const std::string& s) {
  h.Update(s.data(), s.size());
  h.Update("\0", 1);
}

Status HashEntry(oci::Sha256& h, int dir, const std::string& name, const std::string& rel, const IgnoreRules* ignore);

// The body of an opened regular file (its content) or directory (its entries, recursively).
Status HashBody(oci::Sha256& h, int fd, const struct stat& st, const std::string& rel, const IgnoreRules* ignore) {
  if (S_ISREG(st.st_mode)) {
    oci::Sha256 content;
    CL_RETURN_IF_ERROR(oci::Sha256UpdateFromFd(fd, rel, &content));
    HashString(h, std::to_string(content.bytes()) + " " + content.Finish().str());
  } else if (S_ISDIR(st.st_mode)) {
    CL_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(fd, rel));
    for (const std::string& n : names) CL_RETURN_IF_ERROR(HashEntry(h, fd, n, Child(rel, n), ignore));
    HashString(h, "end " + rel);
  }
  return Status::Ok();
}

void HashMeta(oci::Sha256& h, const struct stat& st, const std::string& rel) {
  HashString(h, rel);
  HashString(h, std::to_string(st.st_mode) + " " + std::to_string(st.st_uid) + ":" + std::to_string(st.st_gid));
}

// One entry of a source directory, symlinks not followed.
Status HashEntry(oci::Sha256& h, int dir, const std::string& name, const std::string& rel, const IgnoreRules* ignore) {
  struct stat st {};
  if (::fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return ErrnoError("stat " + rel);
  if (Skip(ignore, rel, S_ISDIR(st.st_mode))) return Status::Ok();
  HashMeta(h, st, rel);
  if (S_ISLNK(st.st_mode)) {
    std::string target(PATH_MAX, '\0');
    ssize_t n = ::readlinkat(dir, name.c_str(), target.data(), target.size());
    if (n < 0) return ErrnoError("readlink " + rel);
    target.resize(static_cast<size_t>(n));
    HashString(h, target);
    return Status::Ok();
  }
  if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) return Status::Ok();
  UniqueFd fd(::openat(dir, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError("open " + rel);
  return HashBody(h, fd.get(), st, rel, ignore);
}

bool HasGlob(std::string_view s) { return s.find_first_of("*?[") != std::string_view::npos; }

// The context paths a source names: itself, or the matches of a pattern (each component matched with fnmatch),
// sorted. Errors when nothing matches or the path does not exist.
Result<std::vector<std::string>> MatchSources(int ctx, const std::string& cleaned, const std::string& written,
                                              const IgnoreRules& ignore) {
  if (!HasGlob(cleaned)) {
    UniqueFd fd(OpenInRoot(ctx, cleaned, O_PATH));
    if (!fd.valid()) return ErrnoError("source " + written + " in the build context");
    struct stat st {};
    const bool is_dir = ::fstat(fd.get(), &st) == 0 && S_ISDIR(st.st_mode);
    if (Skip(&ignore, cleaned, is_dir)) return Error("source " + written + " is excluded by " + ignore.file());
    return std::vector<std::string>{cleaned};
  }
  std::vector<std::string> current = {""};
  for (std::string_view component : CleanComponents(cleaned)) {
    const std::string part(component);
    std::vector<std::string> matched;
    for (const std::string& base : current) {
      if (!HasGlob(part)) {
        std::string p = Under(base, part);
        UniqueFd fd(OpenInRoot(ctx, p, O_PATH));
        if (fd.valid()) matched.push_back(p);
        continue;
      }
      UniqueFd dir(OpenInRoot(ctx, base, O_RDONLY | O_DIRECTORY));
      if (!dir.valid()) continue;
      CL_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(dir.get(), base.empty() ? "." : base));
      for (const std::string& n : names) {
        if (::fnmatch(part.c_str(), n.c_str(), FNM_PERIOD) == 0) matched.push_back(Under(base, n));
      }
    }
    current = std::move(matched);
  }
  std::erase_if(current, [&](const std::string& m) { return ignore.Excluded(m); });
  if (current.empty()) return Error("no file in the build context matches " + written);
  std::sort(current.begin(), current.end());
  return current;
}

// ---------------------------------------------------------------- users

// A text file of the image (its /etc/passwd or /etc/group), read inside the rootfs; "" when there is none or
// `root_fd` < 0 (a scratch image with no layer yet). At most 4 MiB.
std::string ReadImageFile(int root_fd, const std::string& path) {
  std::string text;
  if (root_fd < 0) return text;
  UniqueFd fd(OpenInRoot(root_fd, path, O_RDONLY));
  if (!fd.valid()) return text;
  char buf[8192];
  ssize_t n;
  while ((n = ::read(fd.get(), buf, sizeof buf)) > 0 && text.size() < (4 << 20)) text.append(buf, n);
  return text;
}

// "user[:group]" (names or numbers) as ids, names looked up in the image's /etc/passwd and /etc/group.
Result<oci::User> ResolveUser(int root_fd, const std::string& spec) {
  auto user = oci::ResolveImageUser(spec, ReadImageFile(root_fd, "/etc/passwd"), ReadImageFile(root_fd, "/etc/group"));
  if (!user.ok() && root_fd < 0) return Error(user.error().message() + " (a scratch image has none; use numeric ids)");
  return user;
}

// ---------------------------------------------------------------- layers and the cache

struct StoredLayer {
  oci::Descriptor descriptor;
  oci::Digest diff_id;
  bool empty = false;  // the step changed no file (a WORKDIR that existed): no layer, history empty_layer
};

// Writes `dir` as a layer into the store: CreateLayer for a plain tree, DiffLayer for an overlay upper dir.
Result<StoredLayer> StoreLayer(ImageStore& store, const std::string& dir, bool overlay_upper, Compression compression,
                               int64_t epoch) {
  std::string temp = store.root() + "/ingest/build-XXXXXX";
  UniqueFd temp_fd(::mkstemp(temp.data()));
  if (!temp_fd.valid()) return ErrnoError("create a temporary layer file in " + store.root() + "/ingest");
  ::flock(temp_fd.get(), LOCK_EX);  // tells the store's cleanup that this file is live
  struct Cleanup {
    std::string path;
    ~Cleanup() { ::unlink(path.c_str()); }
  } cleanup{temp};
  CreateOptions create;
  create.compression = compression;
  create.mtime = epoch;
  Result<LayerInfo> layer = overlay_upper ? DiffLayer(dir, temp, create) : CreateLayer(dir, temp, create);
  if (!layer.ok()) return layer.error();
  CL_ASSIGN_OR_RETURN(BlobInfo blob, store.AdoptBlobFile(temp, layer->digest));
  StoredLayer out;
  out.descriptor.media_type = layer->media_type;
  out.descriptor.digest = blob.digest;
  out.descriptor.size = blob.size;
  out.diff_id = layer->diff_id;
  return out;
}

std::optional<StoredLayer> CacheLookup(const ImageStore& store, const std::string& key) {
  std::ifstream f(BuildCacheDir(store) + "/" + key + ".json");
  if (!f) return std::nullopt;
  std::stringstream ss;
  ss << f.rdbuf();
  nlohmann::json j = nlohmann::json::parse(ss.str(), nullptr, false);
  if (j.is_object() && j.contains("empty") && j["empty"] == true) return StoredLayer{{}, {}, true};
  if (j.is_discarded() || !j.is_object() || !j.contains("layer") || !j.contains("diff_id")) return std::nullopt;
  if (!j["layer"].is_object() || !j["diff_id"].is_string()) return std::nullopt;
  Result<oci::Descriptor> d = oci::ParseDescriptor(j["layer"].dump());
  Result<oci::Digest> diff = oci::Digest::Parse(j["diff_id"].get<std::string>());
  if (!d.ok() || !diff.ok() || !store.HasBlob(d->digest)) return std::nullopt;
  return StoredLayer{*d, *diff, false};
}

Status CacheStore(const ImageStore& store, const std::string& key, const StoredLayer& layer,
                  const std::string& created_by) {
  const std::string dir = BuildCacheDir(store);
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return ErrnoError("create " + dir);
  nlohmann::json j = {{"created_by", created_by}};
  if (layer.empty) {
    j["empty"] = true;
  } else {
    j["layer"] = nlohmann::json::parse(oci::Serialize(layer.descriptor));
    j["diff_id"] = layer.diff_id.str();
  }
  std::string temp = dir + "/." + key + "." + std::to_string(::getpid());
  {
    std::ofstream f(temp, std::ios::trunc);
    f << j.dump() << "\n";
    if (!f) return Error("write " + temp);
  }
  if (::rename(temp.c_str(), (dir + "/" + key + ".json").c_str()) != 0) return ErrnoError("rename " + temp);
  return Status::Ok();
}

// ---------------------------------------------------------------- the build

void RemoveTree(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

std::string EnvKey(const std::string& kv) { return kv.substr(0, kv.find('=')); }

void SetEnv(std::vector<std::string>& env, const std::string& key, const std::string& value) {
  for (std::string& e : env) {
    if (EnvKey(e) == key) {
      e = key;
      e += '=';
      e += value;
      return;
    }
  }
  env.push_back(key + "=" + value);
}

class Builder {
 public:
  Builder(ImageStore& store, const Containerfile& file, std::string name, std::string context,
          const BuildOptions& options)
      : store_(store), file_(file), name_(std::move(name)), context_(std::move(context)), options_(options) {}

  ~Builder() {
    if (mounted_ && UnmountRootfs(rootfs_).ok()) mounted_ = false;
    if (!work_.empty() && !mounted_) RemoveTree(work_);
  }

  Result<BuildResult> Run();

 private:
  Error Fail(const Instruction& ins, const std::string& msg) const {
    return Error(name_ + ":" + std::to_string(ins.line) + ": " + msg);
  }
  void Progress(const std::string& line) const {
    if (options_.progress) options_.progress(line);
  }
  Variables Vars() const;  // ARGs in effect overlaid by the ENV so far
  std::string StepId(const Instruction& ins, const std::string& extra) const;

  Status From();
  Status Step(const Instruction& ins);
  Status Metadata(const Instruction& ins);
  Result<StoredLayer> RunStep(const Instruction& ins);
  Result<StoredLayer> WorkdirStep();
  Result<StoredLayer> CopyStep(const Instruction& ins, const std::vector<std::string>& sources,
                               const std::string& dest);
  Result<std::string> SourcesHash(const Instruction& ins, std::vector<std::string>* sources, std::string* dest);

  // A fresh upper over the layers so far, mounted at rootfs_ (needs root); or with `staging` and no layers, a plain
  // empty directory. Returns the directory to write into.
  Result<std::string> Prepare(bool allow_staging, bool* overlay);
  Status Unmount();
  Result<StoredLayer> Commit(const std::string& dir, bool overlay);

  ImageStore& store_;
  const Containerfile& file_;
  std::string name_;
  std::string context_;
  const BuildOptions& options_;

  // State
  std::string id_;  // the chain id (hex)
  oci::ImageConfig config_;
  std::vector<oci::Descriptor> layers_;
  std::map<std::string, std::string> args_;  // ARGs in effect (declared and valued)
  Variables global_args_;                    // ARGs before FROM
  IgnoreRules ignore_;                       // the context's .containerignore or .dockerignore
  std::set<std::string> used_build_args_;
  bool cmd_set_ = false;
  int step_no_ = 0;
  int total_steps_ = 0;
  BuildResult result_;

  std::string work_;  // <store>/build-tmp/<pid>-XXXXXX
  std::string rootfs_, upper_;
  bool mounted_ = false;
};

Variables Builder::Vars() const {
  Variables vars(args_.begin(), args_.end());
  for (const std::string& e : config_.config.env) {
    size_t eq = e.find('=');
    if (eq != std::string::npos) vars[e.substr(0, eq)] = e.substr(eq + 1);
  }
  return vars;
}

std::string Builder::StepId(const Instruction& ins, const std::string& extra) const {
  std::string key = std::string(kCacheVersion) + "\nparent " + id_ + "\n" + ins.Display() + "\n";
  for (const auto& [k, v] : args_) {
    key += "arg ";
    key += k;
    key += '=';
    key += v;
    key += '\n';
  }
  key += "compression " + std::string(CompressionName(options_.compression)) + "\nepoch " +
         std::to_string(options_.epoch) + "\n" + extra;
  return oci::Digest::Sha256Of(key).hex();
}

Status Builder::From() {
  const Instruction& from = file_.from;
  // Global ARGs: usable in FROM only.
  Variables globals;
  for (const Instruction& a : file_.global_args) {
    for (const KeyValue& kv : a.pairs) {
      auto given = options_.build_args.find(kv.key);
      if (given != options_.build_args.end()) {
        globals[kv.key] = given->second;
        used_build_args_.insert(kv.key);
      } else if (kv.has_value) {
        auto v = Expand(kv.value, globals);
        if (!v.ok()) return Fail(a, v.error().message());
        globals[kv.key] = *v;
      }
    }
  }
  global_args_ = globals;
  auto words = ExpandWords(from.text, globals);
  if (!words.ok()) return Fail(from, words.error().message());
  const std::string image = (*words)[0];
  if (const std::string* p = from.Flag("platform")) {
    auto text = Expand(*p, globals);
    if (!text.ok()) return Fail(from, text.error().message());
    auto platform = oci::ParsePlatform(*text);
    if (!platform.ok()) return Fail(from, "--platform: " + platform.error().message());
    if (!oci::PlatformRuns(oci::HostPlatform(), *platform)) {
      return Fail(from, "--platform=" + *text + ": this host (" + oci::PlatformString(oci::HostPlatform()) +
                            ") cannot run that platform's RUN steps");
    }
  }
  Progress("STEP " + std::to_string(++step_no_) + "/" + std::to_string(total_steps_) + ": " + from.Display());
  const oci::Platform host = oci::HostPlatform();
  if (image == "scratch") {
    config_.architecture = host.architecture;
    config_.os = host.os;
    config_.variant = host.variant;
    id_ = oci::Digest::Sha256Of(std::string(kCacheVersion) + "\nscratch").hex();
    return Status::Ok();
  }
  Result<oci::Descriptor> d = store_.Resolve(image);
  if (!d.ok()) {
    return Fail(from,
                "FROM " + image + ": " + d.error().message() + " (pull it first: cloudlet image pull " + image + ")");
  }
  oci::Descriptor manifest_desc = *d;
  if (oci::IsIndexMediaType(d->media_type)) {
    auto index = store_.ReadIndex(*d);
    if (!index.ok()) return Fail(from, index.error().message());
    auto chosen = oci::SelectManifest(*index, host);
    if (!chosen.ok()) return Fail(from, "FROM " + image + ": " + chosen.error().message());
    manifest_desc = *chosen;
  }
  auto manifest = store_.ReadManifest(manifest_desc);
  if (!manifest.ok()) return Fail(from, manifest.error().message());
  Status st = oci::CheckImageManifest(*manifest);
  if (!st.ok()) return Fail(from, "FROM " + image + ": " + st.message());
  auto config = store_.ReadConfig(manifest->config);
  if (!config.ok()) return Fail(from, config.error().message());
  st = oci::CheckConfigMatchesManifest(*config, *manifest);
  if (!st.ok()) return Fail(from, "FROM " + image + ": " + st.message());
  config_ = *config;
  config_.created.clear();
  layers_ = manifest->layers;
  for (oci::Descriptor& l : layers_) {
    // Docker's gzip layer type is the same bytes as OCI's: one manifest, one vocabulary.
    if (l.media_type == oci::kMediaTypeDockerLayerGzip) l.media_type = oci::kMediaTypeImageLayerGzip;
    l.annotations.clear();
    l.urls.clear();
  }
  id_ = oci::Digest::Sha256Of(std::string(kCacheVersion) + "\nfrom " + manifest_desc.digest.str()).hex();
  return Status::Ok();
}

// Removes work directories (<pid>-XXXXXX) of builds that died, unless something is still mounted below them (then
// removing could reach into a layer through an overlay).
void CleanStaleWork(const std::string& base) {
  std::error_code ec;
  std::ifstream mountinfo("/proc/self/mountinfo");
  std::stringstream mounts;
  mounts << mountinfo.rdbuf();
  for (const auto& entry : std::filesystem::directory_iterator(base, ec)) {
    const std::string name = entry.path().filename().string();
    const int pid = std::atoi(name.c_str());
    if (pid <= 0 || ::kill(pid, 0) == 0 || errno != ESRCH) continue;  // alive, or not ours to judge
    if (mounts.str().find(entry.path().string() + "/") != std::string::npos) continue;
    RemoveTree(entry.path().string());
  }
}

Result<std::string> Builder::Prepare(bool allow_staging, bool* overlay) {
  if (work_.empty()) {
    std::string base = store_.root() + "/build-tmp";
    if (::mkdir(base.c_str(), 0700) != 0 && errno != EEXIST) return ErrnoError("create " + base);
    CleanStaleWork(base);
    std::string tmpl = base + "/" + std::to_string(::getpid()) + "-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) return ErrnoError("create a work directory in " + base);
    work_ = tmpl;
  }
  const std::string step = work_ + "/" + std::to_string(step_no_);
  RemoveTree(step);
  upper_ = step + "/upper";
  rootfs_ = step + "/bundle/rootfs";
  for (const std::string& d : {step, upper_, step + "/work", step + "/bundle", rootfs_}) {
    if (::mkdir(d.c_str(), 0755) != 0) return ErrnoError("create " + d);
  }
  ::chmod(upper_.c_str(), 0755);
  if (layers_.empty() && allow_staging) {
    *overlay = false;
    return upper_;
  }
  if (::geteuid() != 0) return Error("this step needs root (it mounts the image's layers with overlayfs)");
  std::vector<std::string> lowers;
  for (size_t i = 0; i < layers_.size(); ++i) {
    Result<std::string> dir = UnpackLayerDescriptor(store_, layers_[i], config_.diff_ids[i]);
    if (!dir.ok()) return dir.error();
    lowers.push_back(*dir);
  }
  std::reverse(lowers.begin(), lowers.end());  // top-most first
  CL_RETURN_IF_ERROR(MountRootfs(lowers, upper_, step + "/work", rootfs_));
  mounted_ = true;
  *overlay = true;
  return rootfs_;
}

Status Builder::Unmount() {
  if (!mounted_) return Status::Ok();
  CL_RETURN_IF_ERROR(UnmountRootfs(rootfs_));
  mounted_ = false;
  return Status::Ok();
}

Result<StoredLayer> Builder::Commit(const std::string& dir, bool overlay) {
  auto layer = StoreLayer(store_, dir, overlay, options_.compression, options_.epoch);
  RemoveTree(work_ + "/" + std::to_string(step_no_));
  return layer;
}

Result<StoredLayer> Builder::RunStep(const Instruction& ins) {
  if (!options_.run) return Error("RUN needs a container runtime, and none was given to the builder");
  bool overlay = false;
  CL_ASSIGN_OR_RETURN(std::string root_dir, Prepare(false, &overlay));
  UniqueFd root(::open(root_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root.valid()) return ErrnoError("open " + root_dir);

  oci::Spec spec = oci::DefaultSpec();
  oci::Process& p = *spec.process;
  p.terminal = false;
  p.args = ins.json ? ins.json_args : std::vector<std::string>{"/bin/sh", "-c", ins.text};
  p.env = config_.config.env;
  for (const auto& arg : args_) {
    const std::string& key = arg.first;
    bool shadowed = std::any_of(p.env.begin(), p.env.end(), [&](const std::string& e) { return EnvKey(e) == key; });
    if (!shadowed) p.env.push_back(key + "=" + arg.second);
  }
  if (std::none_of(p.env.begin(), p.env.end(), [](const std::string& e) { return EnvKey(e) == "PATH"; })) {
    p.env.insert(p.env.begin(), kDefaultPath);
  }
  p.cwd = config_.config.working_dir.empty() ? "/" : config_.config.working_dir;
  CL_ASSIGN_OR_RETURN(oci::User user, ResolveUser(root.get(), config_.config.user));
  p.user.uid = user.uid;
  p.user.gid = user.gid;
  // Docker's default capabilities for build steps (package managers chown, setuid, mknod).
  const std::vector<std::string> caps = {
      "CAP_CHOWN",      "CAP_DAC_OVERRIDE", "CAP_FOWNER",      "CAP_FSETID",           "CAP_KILL",
      "CAP_SETGID",     "CAP_SETUID",       "CAP_SETPCAP",     "CAP_NET_BIND_SERVICE", "CAP_NET_RAW",
      "CAP_SYS_CHROOT", "CAP_MKNOD",        "CAP_AUDIT_WRITE", "CAP_SETFCAP"};
  oci::Capabilities& c = p.capabilities.emplace();
  c.bounding = c.effective = c.permitted = caps;
  p.no_new_privileges = false;
  p.rlimits = {{"RLIMIT_NOFILE", 1048576, 1048576}};
  spec.root = {"rootfs", false};
  spec.hostname = "cloudlet-build";

  // The working directory must exist for the process to start there (Docker creates it too).
  CL_ASSIGN_OR_RETURN(UniqueFd cwd, MakeDirsInRoot(root.get(), p.cwd, 0, 0));
  // Mount points the runtime would create in the image: noted so that they stay out of the layer.
  std::vector<std::string> created_mountpoints;
  for (const char* m : {"proc", "sys", "dev"}) {
    struct stat st {};
    if (::fstatat(root.get(), m, &st, AT_SYMLINK_NOFOLLOW) != 0) created_mountpoints.emplace_back(m);
  }
  cwd.reset();
  root.reset();

  const std::string bundle = work_ + "/" + std::to_string(step_no_) + "/bundle";
  {
    std::ofstream f(bundle + "/config.json", std::ios::trunc);
    f << oci::SpecToJson(spec);
    if (!f) return Error("write " + bundle + "/config.json");
  }
  std::cout.flush();
  std::cerr.flush();
  const std::string id = "build-" + std::to_string(::getpid()) + "-" + std::to_string(step_no_);
  Result<int> code = options_.run(id, bundle);
  CL_RETURN_IF_ERROR(Unmount());
  if (!code.ok()) return Error("RUN: " + code.error().message());
  if (*code != 0) return Error(ins.Display() + ": exited with code " + std::to_string(*code));
  for (const std::string& m : created_mountpoints) ::rmdir((upper_ + "/" + m).c_str());
  return Commit(upper_, overlay);
}

Result<StoredLayer> Builder::WorkdirStep() {
  bool overlay = false;
  CL_ASSIGN_OR_RETURN(std::string root_dir, Prepare(true, &overlay));
  {
    UniqueFd root(::open(root_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!root.valid()) return ErrnoError("open " + root_dir);
    CL_ASSIGN_OR_RETURN(UniqueFd dir, MakeDirsInRoot(root.get(), config_.config.working_dir, 0, 0));
  }
  CL_RETURN_IF_ERROR(Unmount());
  std::error_code ec;
  if (std::filesystem::is_empty(upper_, ec) && !ec) {
    RemoveTree(work_ + "/" + std::to_string(step_no_));
    return StoredLayer{{}, {}, true};
  }
  return Commit(upper_, overlay);
}

Result<std::string> Builder::SourcesHash(const Instruction& ins, std::vector<std::string>* sources, std::string* dest) {
  const Variables vars = Vars();
  std::vector<std::string> words;
  if (ins.json) {
    for (const std::string& a : ins.json_args) {
      CL_ASSIGN_OR_RETURN(std::string e, Expand(a, vars));
      words.push_back(std::move(e));
    }
  } else {
    CL_ASSIGN_OR_RETURN(words, ExpandWords(ins.text, vars));
  }
  *dest = words.back();
  words.pop_back();
  UniqueFd ctx(::open(context_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!ctx.valid()) return ErrnoError("open the build context " + context_);
  oci::Sha256 h;
  for (const std::string& src : words) {
    if (src.find("://") != std::string::npos || src.starts_with("git@")) {
      return Error(std::string(InstructionName(ins.kind)) + " " + src +
                   ": URLs are not supported (builds have no network); download it into the context first");
    }
    CL_ASSIGN_OR_RETURN(std::string cleaned, CleanSource(src));
    CL_ASSIGN_OR_RETURN(std::vector<std::string> matches, MatchSources(ctx.get(), cleaned, src, ignore_));
    for (const std::string& m : matches) {
      sources->push_back(m);
      // The top-level source is followed if it is a symlink (inside the context), as Docker does.
      UniqueFd self(OpenInRoot(ctx.get(), m, O_RDONLY));
      struct stat st {};
      if (!self.valid() || ::fstat(self.get(), &st) != 0) return ErrnoError("source " + src + " in the build context");
      const std::string rel = m.empty() ? "." : m;
      HashString(h, "source");
      HashMeta(h, st, rel);
      CL_RETURN_IF_ERROR(HashBody(h, self.get(), st, rel, &ignore_));
    }
  }
  return h.Finish().hex();
}

Result<StoredLayer> Builder::CopyStep(const Instruction& ins, const std::vector<std::string>& sources,
                                      const std::string& dest_written) {
  const bool add = ins.kind == InstructionKind::kAdd;
  bool overlay = false;
  CL_ASSIGN_OR_RETURN(std::string root_dir, Prepare(true, &overlay));
  UniqueFd root(::open(root_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root.valid()) return ErrnoError("open " + root_dir);
  UniqueFd ctx(::open(context_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!ctx.valid()) return ErrnoError("open the build context " + context_);

  CopyOwner owner;
  owner.ignore = &ignore_;
  if (const std::string* chown = ins.Flag("chown")) {
    CL_ASSIGN_OR_RETURN(std::string spec, Expand(*chown, Vars()));
    auto ids = ResolveUser(overlay ? root.get() : -1, spec);
    if (!ids.ok()) return Error("--chown=" + spec + ": " + ids.error().message());
    owner.uid = ids->uid;
    owner.gid = ids->gid;
    // Docker: a user without a group means the same number for both.
    if (spec.find(':') == std::string::npos) owner.gid = ids->uid;
  }
  if (const std::string* mode = ins.Flag("chmod")) owner.mode = static_cast<mode_t>(std::stoul(*mode, nullptr, 8));

  const std::string workdir = config_.config.working_dir.empty() ? "/" : config_.config.working_dir;
  std::string dest = dest_written.starts_with('/') ? dest_written : workdir + "/" + dest_written;
  bool dest_is_dir = dest_written.ends_with('/') || dest_written == "." || dest_written.ends_with("/.");
  if (sources.size() > 1 && !dest_is_dir) {
    return Error("with several sources the destination must be a directory ending in / (" + dest_written + ")");
  }
  dest = CleanAbsolute(dest);
  if (!dest_is_dir) {
    // An existing directory in the image is copied into, as Docker does.
    UniqueFd existing(OpenInRoot(root.get(), dest, O_RDONLY | O_DIRECTORY));
    dest_is_dir = existing.valid();
  }

  for (const std::string& src : sources) {
    const std::string shown = src.empty() ? "." : src;
    struct stat st {};
    UniqueFd sfd(OpenInRoot(ctx.get(), src, O_RDONLY));
    if (!sfd.valid() || ::fstat(sfd.get(), &st) != 0) return ErrnoError("open " + shown + " in the build context");
    if (S_ISDIR(st.st_mode)) {
      // A directory's contents go into the destination directory.
      CL_ASSIGN_OR_RETURN(UniqueFd d, MakeDirsInRoot(root.get(), dest, owner.uid, owner.gid));
      CL_RETURN_IF_ERROR(CopyDirContents(sfd.get(), d.get(), owner, shown));
      continue;
    }
    if (add && S_ISREG(st.st_mode)) {
      unsigned char magic[262] = {};
      ssize_t n = ::pread(sfd.get(), magic, sizeof magic, 0);
      const bool gzip = n >= 2 && magic[0] == 0x1f && magic[1] == 0x8b;
      const bool zstd = n >= 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd;
      const bool tar = n >= 262 && std::memcmp(magic + 257, "ustar", 5) == 0;
      if (gzip || zstd || tar) {
        CL_ASSIGN_OR_RETURN(UniqueFd d, MakeDirsInRoot(root.get(), dest, owner.uid, owner.gid));
        std::string target(PATH_MAX, '\0');
        std::string link = "/proc/self/fd/" + std::to_string(d.get());
        ssize_t len = ::readlink(link.c_str(), target.data(), target.size());
        if (len < 0) return ErrnoError("readlink " + link);
        target.resize(static_cast<size_t>(len));
        ApplyOptions apply;
        apply.whiteouts = WhiteoutMode::kFlatten;
        apply.preserve_ownership = ::geteuid() == 0;  // unprivileged: the files are the caller's
        auto applied = ApplyLayerFd(sfd.get(), target, apply);
        if (!applied.ok()) return Error("ADD " + shown + ": unpack: " + applied.error().message());
        continue;
      }
    }
    std::string dir = dest, name;
    if (dest_is_dir) {
      name = std::filesystem::path(src).filename().string();
    } else {
      std::filesystem::path p(dest);
      dir = p.parent_path().string();
      name = p.filename().string();
    }
    if (name.empty()) return Error("destination " + dest_written + " names no file");
    CL_ASSIGN_OR_RETURN(UniqueFd d, MakeDirsInRoot(root.get(), dir, owner.uid, owner.gid));
    // The source itself, followed if it was a symlink: copy it through its parent directory's real entry.
    CL_ASSIGN_OR_RETURN(bool is_dir, ClearEntry(d.get(), name, shown));
    if (is_dir) return Error("cannot copy " + shown + " over the directory " + Under(dir, name));
    if (!S_ISREG(st.st_mode)) return Error(shown + " is not a regular file or directory");
    UniqueFd out(::openat(d.get(), name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!out.valid()) return ErrnoError("create " + Under(dir, name));
    CL_RETURN_IF_ERROR(CopyFileData(sfd.get(), out.get(), shown));
    CL_RETURN_IF_ERROR(SetMeta(out.get(), st, owner, shown));
  }
  ctx.reset();
  root.reset();
  CL_RETURN_IF_ERROR(Unmount());
  return Commit(upper_, overlay);
}

Status Builder::Metadata(const Instruction& ins) {
  const Variables vars = Vars();
  oci::ContainerConfig& cc = config_.config;
  auto expand = [&](const std::string& s) { return Expand(s, vars); };
  switch (ins.kind) {
    case InstructionKind::kEnv:
    case InstructionKind::kLabel: {
      for (const KeyValue& kv : ins.pairs) {
        auto key = expand(kv.key);
        if (!key.ok()) return key.error();
        auto value = expand(kv.value);
        if (!value.ok()) return value.error();
        if (ins.kind == InstructionKind::kEnv) {
          SetEnv(cc.env, *key, *value);
        } else {
          cc.labels[*key] = *value;
        }
      }
      return Status::Ok();
    }
    case InstructionKind::kExpose: {
      CL_ASSIGN_OR_RETURN(std::vector<std::string> ports, ExpandWords(ins.text, vars));
      for (const std::string& written : ports) {
        std::string port = written, proto = "tcp";
        size_t slash = port.find('/');
        if (slash != std::string::npos) {
          proto = port.substr(slash + 1);
          for (char& ch : proto) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
          port = port.substr(0, slash);
        }
        // "80" or a range "8000-8010" (Docker lists each port of a range).
        uint32_t first = 0, last = 0;
        size_t dash = port.find('-');
        bool ok = oci::ParseUint32(port.substr(0, dash), &first);
        last = first;
        if (ok && dash != std::string::npos) ok = oci::ParseUint32(port.substr(dash + 1), &last);
        ok = ok && first >= 1 && first <= last && last <= 65535;
        if (!ok || (proto != "tcp" && proto != "udp" && proto != "sctp")) {
          return Error("EXPOSE " + written + ": expected PORT[-PORT][/tcp|/udp|/sctp] with ports 1-65535");
        }
        for (uint32_t n = first; n <= last; ++n) {
          std::string entry = std::to_string(n);
          entry += '/';
          entry += proto;
          cc.exposed_ports.insert(std::move(entry));
        }
      }
      return Status::Ok();
    }
    case InstructionKind::kWorkdir: {
      CL_ASSIGN_OR_RETURN(std::string dir, expand(ins.text));
      if (!dir.starts_with('/')) dir = (cc.working_dir.empty() ? "/" : cc.working_dir) + "/" + dir;
      cc.working_dir = CleanAbsolute(dir);
      return Status::Ok();
    }
    case InstructionKind::kUser: {
      CL_ASSIGN_OR_RETURN(cc.user, expand(ins.text));
      return Status::Ok();
    }
    case InstructionKind::kEntrypoint:
    case InstructionKind::kCmd: {
      std::vector<std::string> args = ins.json ? ins.json_args : std::vector<std::string>{"/bin/sh", "-c", ins.text};
      if (!ins.json && ins.text.empty()) args.clear();
      if (ins.kind == InstructionKind::kCmd) {
        cc.cmd = args;
        cmd_set_ = true;
      } else {
        cc.entrypoint = args;
        // Docker: a new ENTRYPOINT drops the base image's CMD (not one set in this Containerfile).
        if (!cmd_set_) cc.cmd.reset();
      }
      return Status::Ok();
    }
    case InstructionKind::kArg: {
      for (const KeyValue& kv : ins.pairs) {
        auto given = options_.build_args.find(kv.key);
        if (given != options_.build_args.end()) {
          args_[kv.key] = given->second;
          used_build_args_.insert(kv.key);
        } else if (kv.has_value) {
          CL_ASSIGN_OR_RETURN(args_[kv.key], expand(kv.value));
        } else if (auto g = global_args_.find(kv.key); g != global_args_.end()) {
          args_[kv.key] = g->second;
        }
      }
      return Status::Ok();
    }
    default:
      return Error("not a metadata instruction");
  }
}

Status Builder::Step(const Instruction& ins) {
  const std::string head = "STEP " + std::to_string(++step_no_) + "/" + std::to_string(total_steps_) + ": ";
  const bool layer_step = ins.kind == InstructionKind::kRun || ins.kind == InstructionKind::kCopy ||
                          ins.kind == InstructionKind::kAdd || ins.kind == InstructionKind::kWorkdir;
  if (!layer_step) {
    Progress(head + ins.Display());
    id_ = StepId(ins, "");
    Status st = Metadata(ins);
    if (!st.ok()) return Fail(ins, st.message());
    if (ins.kind != InstructionKind::kArg) {
      oci::History h;
      h.created = Rfc3339(options_.epoch);
      h.created_by = ins.Display();
      h.empty_layer = true;
      config_.history.push_back(h);
    }
    return Status::Ok();
  }

  std::vector<std::string> sources;
  std::string dest, extra;
  if (ins.kind == InstructionKind::kWorkdir) {
    // The working directory is set, and created (as Docker does) when the image lacks it: a layer then.
    Status st = Metadata(ins);
    if (!st.ok()) return Fail(ins, st.message());
    if (!layers_.empty() && ::geteuid() != 0) {
      // Seeing whether the layers hold it takes an overlay mount; an unprivileged build only records it.
      Progress(head + ins.Display() + " (not created: needs root)");
      oci::History h;
      h.created = Rfc3339(options_.epoch);
      h.created_by = ins.Display();
      h.empty_layer = true;
      config_.history.push_back(h);
      id_ = StepId(ins, "unprivileged\n");
      return Status::Ok();
    }
  } else if (ins.kind != InstructionKind::kRun) {
    auto hash = SourcesHash(ins, &sources, &dest);
    if (!hash.ok()) return Fail(ins, hash.error().message());
    extra = "sources " + *hash + "\n";
  }
  id_ = StepId(ins, extra);
  std::optional<StoredLayer> layer;
  if (!options_.no_cache) layer = CacheLookup(store_, id_);
  if (layer) {
    Progress(head + ins.Display() + " (cached)");
    if (!layer->empty) ++result_.layers_cached;
  } else {
    Progress(head + ins.Display());
    Result<StoredLayer> made = ins.kind == InstructionKind::kRun       ? RunStep(ins)
                               : ins.kind == InstructionKind::kWorkdir ? WorkdirStep()
                                                                       : CopyStep(ins, sources, dest);
    if (!made.ok()) {
      if (mounted_) (void)Unmount();
      return Fail(ins, made.error().message());
    }
    layer = *made;
    if (!layer->empty) ++result_.layers_built;
    Status st = CacheStore(store_, id_, *layer, ins.Display());
    if (!st.ok()) Progress("warning: build cache: " + st.message());
  }
  if (!layer->empty) {
    layers_.push_back(layer->descriptor);
    config_.diff_ids.push_back(layer->diff_id);
  }
  oci::History h;
  h.created = Rfc3339(options_.epoch);
  h.created_by = ins.Display();
  h.empty_layer = layer->empty;
  config_.history.push_back(h);
  return Status::Ok();
}

Result<BuildResult> Builder::Run() {
  std::vector<Reference> refs;
  for (const std::string& t : options_.tags) {
    CL_ASSIGN_OR_RETURN(Reference r, Reference::Parse(t));
    if (r.tag.empty()) return Error("-t " + t + ": needs a tag (name:tag)");
    if (!r.digest.empty()) return Error("-t " + t + ": a build result cannot be tagged with a digest");
    refs.push_back(r);
  }
  total_steps_ = 1 + static_cast<int>(file_.steps.size());
  {
    UniqueFd ctx(::open(context_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!ctx.valid()) return ErrnoError("open the build context " + context_);
    CL_ASSIGN_OR_RETURN(ignore_, IgnoreRules::Load(ctx.get()));
  }
  // Blobs are unreachable until tagged: keep GC away meanwhile.
  CL_ASSIGN_OR_RETURN(StoreLease lease, store_.Lease());
  CL_RETURN_IF_ERROR(From());
  for (const Instruction& ins : file_.steps) CL_RETURN_IF_ERROR(Step(ins));

  for (const auto& [k, v] : options_.build_args) {
    if (used_build_args_.count(k) == 0) Progress("warning: --build-arg " + k + " was not consumed by any ARG");
  }
  config_.created = Rfc3339(options_.epoch);
  CL_ASSIGN_OR_RETURN(result_.config, store_.PutDocument(oci::kMediaTypeImageConfig, oci::Serialize(config_)));
  oci::Manifest manifest;
  manifest.media_type = oci::kMediaTypeImageManifest;
  manifest.config = result_.config;
  manifest.layers = layers_;
  CL_ASSIGN_OR_RETURN(result_.manifest, store_.PutDocument(oci::kMediaTypeImageManifest, oci::Serialize(manifest)));
  for (const Reference& r : refs) {
    CL_RETURN_IF_ERROR(store_.Tag(r.str(), result_.manifest));
    result_.references.push_back(r.str());
  }
  result_.steps = step_no_;
  return result_;
}

}  // namespace

std::string BuildCacheDir(const ImageStore& store) { return store.root() + "/build-cache"; }

Result<BuildResult> BuildFromText(ImageStore& store, std::string_view containerfile, std::string_view name,
                                  const std::string& context_dir, const BuildOptions& options) {
  CL_ASSIGN_OR_RETURN(Containerfile file, ParseContainerfile(containerfile, name));
  std::error_code ec;
  if (!std::filesystem::is_directory(context_dir, ec))
    return Error("build context " + context_dir + ": not a directory");
  Builder builder(store, file, std::string(name), context_dir, options);
  return builder.Run();
}

Result<BuildResult> Build(ImageStore& store, const std::string& context_dir, const BuildOptions& options) {
  std::string path = options.containerfile;
  if (path.empty()) {
    path = context_dir + "/Containerfile";
    if (::access(path.c_str(), F_OK) != 0) path = context_dir + "/Dockerfile";
  }
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError("open " + path);
  std::string text;
  char buf[65536];
  ssize_t n;
  while ((n = ::read(fd.get(), buf, sizeof buf)) > 0) {
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > kMaxContainerfileSize) return Error(path + ": larger than 1 MiB");
  }
  if (n < 0) return ErrnoError("read " + path);
  return BuildFromText(store, text, std::filesystem::path(path).filename().string(), context_dir, options);
}

Result<uint64_t> PruneBuildCache(const ImageStore& store) {
  const std::string dir = BuildCacheDir(store);
  std::error_code ec;
  uint64_t removed = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (!name.ends_with(".json")) continue;
    if (!CacheLookup(store, name.substr(0, name.size() - 5))) {
      std::filesystem::remove(entry.path(), ec);
      ++removed;
    }
  }
  return removed;
}

}  // namespace cloudlet::image
