// The OCI-layout image store: atomic blob ingest, verified reads, index.json under flock, mark-and-sweep GC.
#include "image/store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>
#include <vector>

namespace cloudlet::image {
namespace {

constexpr char kLayoutFile[] = "oci-layout";
constexpr char kLayoutContent[] = R"({"imageLayoutVersion":"1.0.0"})";
constexpr char kIndexFile[] = "index.json";
constexpr size_t kCopyChunk = 1 << 20;

// ---- small file helpers ----

Status WriteAll(int fd, const void* data, size_t len, const std::string& what) {
  const auto* p = static_cast<const char*>(data);
  while (len > 0) {
    const ssize_t n = ::write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("write " + what);
    }
    p += n;
    len -= static_cast<size_t>(n);
  }
  return Status::Ok();
}

Status FsyncPath(const std::string& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError("open " + dir);
  if (::fsync(fd.get()) != 0) return ErrnoError("fsync " + dir);
  return Status::Ok();
}

Status MkdirAll(const std::string& path) {
  std::string cur;
  size_t pos = 0;
  while (pos <= path.size()) {
    const size_t slash = path.find('/', pos);
    const size_t end = slash == std::string::npos ? path.size() : slash;
    cur = path.substr(0, end);
    pos = end + 1;
    if (cur.empty()) continue;  // leading '/'
    if (::mkdir(cur.c_str(), 0755) != 0 && errno != EEXIST) return ErrnoError("mkdir " + cur);
    if (slash == std::string::npos) break;
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return ErrnoError("stat " + path);
  if (!S_ISDIR(st.st_mode)) return Error(path + ": not a directory");
  return Status::Ok();
}

Result<std::string> ReadFileBounded(const std::string& path, uint64_t max) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid()) return ErrnoError("open " + path);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return ErrnoError("stat " + path);
  if (!S_ISREG(st.st_mode)) return Error(path + ": not a regular file");
  if (static_cast<uint64_t>(st.st_size) > max) {
    return Error(path + ": " + std::to_string(st.st_size) + " bytes is over the limit of " + std::to_string(max));
  }
  std::string out;
  out.resize(static_cast<size_t>(st.st_size));
  size_t got = 0;
  while (got < out.size()) {
    const ssize_t n = ::read(fd.get(), out.data() + got, out.size() - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("read " + path);
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  out.resize(got);
  return out;
}

// Entries of a directory (no "." and ".."). A missing directory is empty.
Result<std::vector<std::string>> ListDir(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    if (errno == ENOENT) return out;
    return ErrnoError("open " + dir);
  }
  errno = 0;
  while (struct dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") out.push_back(name);
  }
  const int err = errno;
  ::closedir(d);
  if (err != 0) return ErrnoError("read " + dir, err);
  std::sort(out.begin(), out.end());
  return out;
}

Result<UniqueFd> LockFile(const std::string& path, int operation) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644));
  if (!fd.valid()) return ErrnoError("open " + path);
  while (::flock(fd.get(), operation) != 0) {
    if (errno == EINTR) continue;
    return ErrnoError("lock " + path);
  }
  return fd;
}

// A temp file in ingest/, created and flock'ed by its writer: a file whose lock can be taken belongs to nobody.
struct IngestFile {
  std::string path;
  UniqueFd fd;
};

Result<IngestFile> CreateIngestFile(const std::string& root) {
  // Bounded: each retry means a concurrent cleaner removed our fresh file before we locked it.
  for (int attempt = 0; attempt < 8; ++attempt) {
    std::string path = root + "/ingest/blob-XXXXXX";
    UniqueFd fd(::mkostemp(path.data(), O_CLOEXEC));
    if (!fd.valid()) return ErrnoError("create a temp file in " + root + "/ingest");
    while (::flock(fd.get(), LOCK_EX) != 0) {
      if (errno != EINTR) return ErrnoError("lock " + path);
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return ErrnoError("stat " + path);
    if (st.st_nlink > 0) return IngestFile{std::move(path), std::move(fd)};
  }
  return Error("create a temp file in " + root + "/ingest: removed by concurrent cleanups 8 times");
}

Status ReplaceFile(const std::string& root, const std::string& target, std::string_view content) {
  CL_ASSIGN_OR_RETURN(IngestFile tmp, CreateIngestFile(root));
  Status st = WriteAll(tmp.fd.get(), content.data(), content.size(), tmp.path);
  if (st.ok() && ::fchmod(tmp.fd.get(), 0644) != 0) st = ErrnoError("chmod " + tmp.path);
  if (st.ok() && ::fsync(tmp.fd.get()) != 0) st = ErrnoError("fsync " + tmp.path);
  if (st.ok() && ::rename(tmp.path.c_str(), target.c_str()) != 0) st = ErrnoError("rename to " + target);
  if (!st.ok()) {
    ::unlink(tmp.path.c_str());
    return st;
  }
  const size_t slash = target.rfind('/');
  return FsyncPath(slash == std::string::npos ? "." : target.substr(0, slash));
}

bool IsSha256Hex(std::string_view name) {
  return name.size() == 64 &&
         std::all_of(name.begin(), name.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::string RefName(const oci::Descriptor& d) {
  const auto it = d.annotations.find(oci::kAnnotationRefName);
  return it == d.annotations.end() ? std::string() : it->second;
}

// Whether an index.json entry's ref.name names `ref`: the same text, or (for entries other tools wrote, like
// skopeo's "busybox") the same normalized reference.
bool RefMatches(const std::string& ref_name, const Reference& ref) {
  if (ref_name.empty()) return false;
  if (ref_name == ref.str()) return true;
  Result<Reference> parsed = Reference::Parse(ref_name);
  return parsed.ok() && *parsed == ref;
}

// ---- reference grammar (docker/distribution's reference package) ----

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool IsAlnum(char c) { return IsLowerAlnum(c) || (c >= 'A' && c <= 'Z'); }

// [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*
bool IsPathComponent(std::string_view s) {
  size_t i = 0;
  auto alnums = [&]() {
    const size_t start = i;
    while (i < s.size() && IsLowerAlnum(s[i])) ++i;
    return i > start;
  };
  if (!alnums()) return false;
  while (i < s.size()) {
    if (s[i] == '.') {
      ++i;
    } else if (s[i] == '_') {
      ++i;
      if (i < s.size() && s[i] == '_') ++i;
    } else if (s[i] == '-') {
      while (i < s.size() && s[i] == '-') ++i;
    } else {
      return false;
    }
    if (!alnums()) return false;
  }
  return true;
}

// host[:port], host a DNS name ([a-zA-Z0-9] with inner '-', dot-separated) or a bracketed IPv6 address.
bool IsDomain(std::string_view s) {
  std::string_view host = s;
  if (!s.empty() && s[0] == '[') {
    const size_t close = s.find(']');
    if (close == std::string_view::npos || close < 3) return false;
    for (char c : s.substr(1, close - 1)) {
      if (!(IsAlnum(c) && (c <= '9' || (c | 0x20) <= 'f')) && c != ':') return false;
    }
    host = {};
    s = s.substr(close + 1);
    if (s.empty()) return true;
    if (s[0] != ':') return false;
  } else {
    const size_t colon = s.find(':');
    host = s.substr(0, colon);
    s = colon == std::string_view::npos ? std::string_view() : s.substr(colon);
    if (host.empty()) return false;
    size_t start = 0;
    for (;;) {
      const size_t dot = host.find('.', start);
      const std::string_view label = host.substr(start, dot == std::string_view::npos ? dot : dot - start);
      if (label.empty() || !IsAlnum(label.front()) || !IsAlnum(label.back())) return false;
      for (char c : label) {
        if (!IsAlnum(c) && c != '-') return false;
      }
      if (dot == std::string_view::npos) break;
      start = dot + 1;
    }
  }
  if (s.empty()) return true;
  const std::string_view port = s.substr(1);  // after ':'
  return !port.empty() && port.size() <= 5 &&
         std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// [\w][\w.-]{0,127}
bool IsTag(std::string_view s) {
  if (s.empty() || s.size() > 128) return false;
  auto word = [](char c) { return IsAlnum(c) || c == '_'; };
  if (!word(s[0])) return false;
  return std::all_of(s.begin(), s.end(), [&](char c) { return word(c) || c == '.' || c == '-'; });
}

std::string Quote(std::string_view s) {
  std::string out = "\"";
  out.append(s.substr(0, 300));
  if (s.size() > 300) out += "...";
  return out + "\"";
}

}  // namespace

// ---------------------------------------------------------------- Reference

Result<Reference> Reference::Parse(std::string_view text) {
  const std::string what = "invalid image reference " + Quote(text);
  if (text.empty()) return Error("invalid image reference: empty");
  if (oci::Digest::Parse(text).ok())
    return Error(what + ": a bare digest names no repository; use <name>@" + std::string(text));
  Reference ref;
  std::string_view name = text;
  if (const size_t at = text.find('@'); at != std::string_view::npos) {
    Result<oci::Digest> d = oci::Digest::Parse(text.substr(at + 1));
    if (!d.ok()) return d.error().wrap(what);
    ref.digest = *d;
    name = text.substr(0, at);
  }
  if (const size_t colon = name.rfind(':');
      colon != std::string_view::npos && name.find('/', colon) == std::string_view::npos) {
    const std::string_view tag = name.substr(colon + 1);
    if (!IsTag(tag)) {
      return Error(what + ": invalid tag " + Quote(tag) + " ([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})");
    }
    ref.tag = std::string(tag);
    name = name.substr(0, colon);
  }
  if (name.empty()) return Error(what + ": no repository name");
  if (name.size() > 255) return Error(what + ": the name is longer than 255 characters");

  std::string_view remainder = name;
  if (const size_t slash = name.find('/'); slash != std::string_view::npos) {
    const std::string_view first = name.substr(0, slash);
    const bool has_upper = std::any_of(first.begin(), first.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
    if (first.find_first_of(".:") != std::string_view::npos || first == "localhost" || has_upper) {
      if (!IsDomain(first)) return Error(what + ": invalid registry " + Quote(first));
      ref.registry = std::string(first);
      remainder = name.substr(slash + 1);
    }
  }
  if (ref.registry.empty() || ref.registry == "index.docker.io") ref.registry = "docker.io";

  size_t start = 0;
  for (;;) {
    const size_t slash = remainder.find('/', start);
    const std::string_view component = remainder.substr(start, slash == std::string_view::npos ? slash : slash - start);
    if (!IsPathComponent(component)) {
      const bool upper = std::any_of(component.begin(), component.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
      return Error(what + ": " +
                   (upper ? "repository names must be lowercase"
                          : "invalid repository component " + Quote(component) +
                                " ([a-z0-9] separated by '.', '_', '__' or '-')"));
    }
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  ref.repository = std::string(remainder);
  if (ref.registry == "docker.io" && ref.repository.find('/') == std::string::npos) {
    ref.repository = "library/" + ref.repository;
  }
  if (ref.tag.empty() && ref.digest.empty()) ref.tag = "latest";
  return ref;
}

std::string Reference::Name() const { return registry + "/" + repository; }

std::string Reference::str() const {
  std::string s = Name();
  if (!tag.empty()) s += ":" + tag;
  if (!digest.empty()) s += "@" + digest.str();
  return s;
}

// ---------------------------------------------------------------- BlobWriter

BlobWriter::BlobWriter(BlobWriter&& o) noexcept
    : root_(std::move(o.root_)),
      temp_path_(std::exchange(o.temp_path_, std::string())),
      fd_(std::move(o.fd_)),
      hash_(std::move(o.hash_)),
      bytes_(o.bytes_),
      max_bytes_(o.max_bytes_) {}

BlobWriter& BlobWriter::operator=(BlobWriter&& o) noexcept {
  if (this != &o) {
    Abort();
    root_ = std::move(o.root_);
    temp_path_ = std::exchange(o.temp_path_, std::string());
    fd_ = std::move(o.fd_);
    hash_ = std::move(o.hash_);
    bytes_ = o.bytes_;
    max_bytes_ = o.max_bytes_;
  }
  return *this;
}

BlobWriter::~BlobWriter() { Abort(); }

void BlobWriter::Abort() {
  if (!temp_path_.empty()) ::unlink(temp_path_.c_str());
  temp_path_.clear();
  fd_.reset();
  hash_.reset();
}

Status BlobWriter::Write(const void* data, size_t len) {
  if (!fd_.valid()) return Error("blob writer: already committed or aborted");
  if (len > max_bytes_ - bytes_) {
    const uint64_t limit = max_bytes_;
    Abort();
    return Error("blob is larger than its limit of " + std::to_string(limit) + " bytes");
  }
  Status st = WriteAll(fd_.get(), data, len, temp_path_);
  if (!st.ok()) {
    Abort();
    return st;
  }
  hash_->Update(data, len);
  bytes_ += len;
  return Status::Ok();
}

Result<BlobInfo> BlobWriter::Commit(const std::optional<oci::Digest>& expected, std::optional<int64_t> expected_size) {
  if (!fd_.valid()) return Error("blob writer: already committed or aborted");
  if (expected && expected->algorithm() != "sha256") {
    Abort();
    return Error("blob " + expected->str() + ": only sha256 blobs can be stored");
  }
  BlobInfo info;
  info.digest = hash_->Finish();
  info.size = static_cast<int64_t>(bytes_);
  if (expected && info.digest != *expected) {
    Abort();
    return Error("blob digest mismatch: expected " + expected->str() + ", got " + info.digest.str() + " (" +
                 std::to_string(info.size) + " bytes)");
  }
  if (expected_size && info.size != *expected_size) {
    Abort();
    return Error("blob " + info.digest.str() + ": size mismatch: expected " + std::to_string(*expected_size) +
                 " bytes, got " + std::to_string(info.size));
  }
  const std::string dir = root_ + "/blobs/sha256";
  const std::string target = dir + "/" + info.digest.hex();
  Status st;
  if (::fchmod(fd_.get(), 0644) != 0) st = ErrnoError("chmod " + temp_path_);
  if (st.ok() && ::fsync(fd_.get()) != 0) st = ErrnoError("fsync " + temp_path_);
  if (st.ok() && ::rename(temp_path_.c_str(), target.c_str()) != 0) st = ErrnoError("rename to " + target);
  if (!st.ok()) {
    Abort();
    return st;
  }
  temp_path_.clear();  // now the blob: Abort must not remove it
  Abort();
  CL_RETURN_IF_ERROR(FsyncPath(dir));
  return info;
}

// ---------------------------------------------------------------- BlobReader

Result<size_t> BlobReader::Read(void* buf, size_t len) {
  if (!hash_) return Error("blob " + digest_.str() + ": read past the end");
  // A zero-length read would return 0 like the end does, without the check that makes 0 trustworthy.
  if (len == 0) return Error("blob " + digest_.str() + ": zero-length read");
  for (;;) {
    const ssize_t n = ::read(fd_.get(), buf, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("read " + path_);
    }
    if (n > 0) {
      hash_->Update(buf, static_cast<size_t>(n));
      return static_cast<size_t>(n);
    }
    break;
  }
  const oci::Digest got = hash_->Finish();
  hash_.reset();
  if (got != digest_) {
    return Error("blob " + path_ + " is corrupt: its content hashes to " + got.str() + "; remove the image and pull " +
                 "or build it again");
  }
  return size_t{0};
}

// ---------------------------------------------------------------- ImageStore

Result<ImageStore> ImageStore::Open(const std::string& root_in) {
  if (root_in.empty()) return Error("image store: empty root path");
  std::string root = root_in;
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  CL_RETURN_IF_ERROR(MkdirAll(root));
  const std::string layout = root + "/" + kLayoutFile;
  struct stat st {};
  if (::lstat(layout.c_str(), &st) == 0) {
    CL_ASSIGN_OR_RETURN(std::string text, ReadFileBounded(layout, 4096));
    const nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object() || !j.contains("imageLayoutVersion") || !j["imageLayoutVersion"].is_string()) {
      return Error(layout + ": no imageLayoutVersion; not an OCI image layout");
    }
    const std::string version = j["imageLayoutVersion"].get<std::string>();
    if (version != "1.0.0") {
      return Error(layout + ": imageLayoutVersion " + Quote(version) + " is not supported (1.0.0)");
    }
  } else {
    if (errno != ENOENT) return ErrnoError("stat " + layout);
    CL_ASSIGN_OR_RETURN(std::vector<std::string> entries, ListDir(root));
    // What Open itself creates before oci-layout: an interrupted creation is simply redone.
    std::erase_if(entries, [](const std::string& e) {
      return e == "blobs" || e == "ingest" || e == kIndexFile || e == "index.lock" || e == "gc.lock";
    });
    if (!entries.empty()) {
      return Error(root + ": not an OCI image layout (no oci-layout file) and not empty; refusing to use it as the " +
                   "image store");
    }
  }
  for (const char* sub : {"/blobs/sha256", "/ingest"}) CL_RETURN_IF_ERROR(MkdirAll(root + sub));
  ImageStore store(root);
  if (::access(layout.c_str(), F_OK) != 0) {
    // oci-layout last: until it exists, the directory is a layout being created (see above).
    CL_ASSIGN_OR_RETURN(UniqueFd lock, store.LockIndex());
    if (::access((root + "/" + kIndexFile).c_str(), F_OK) != 0) CL_RETURN_IF_ERROR(store.SaveIndex(oci::Index{}));
    CL_RETURN_IF_ERROR(ReplaceFile(root, layout, kLayoutContent));
  } else if (::access((root + "/" + kIndexFile).c_str(), F_OK) != 0) {
    CL_ASSIGN_OR_RETURN(UniqueFd lock, store.LockIndex());
    if (::access((root + "/" + kIndexFile).c_str(), F_OK) != 0) CL_RETURN_IF_ERROR(store.SaveIndex(oci::Index{}));
  }
  CL_RETURN_IF_ERROR(store.LoadIndex().status());
  CL_RETURN_IF_ERROR(store.CleanIngest().status());
  return store;
}

Result<uint64_t> ImageStore::CleanIngest() {
  const std::string dir = root_ + "/ingest";
  CL_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(dir));
  uint64_t removed = 0;
  for (const std::string& name : names) {
    std::string path = dir;
    path += "/";
    path += name;
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
    if (!fd.valid()) continue;  // gone meanwhile, or not ours to judge (a symlink)
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) continue;  // a live writer
    if (::unlink(path.c_str()) == 0) ++removed;
  }
  return removed;
}

Result<UniqueFd> ImageStore::LockIndex() { return LockFile(root_ + "/index.lock", LOCK_EX); }

Result<oci::Index> ImageStore::LoadIndex() const {
  const std::string path = root_ + "/" + kIndexFile;
  Result<std::string> text = ReadFileBounded(path, kMaxJsonBlobSize);
  if (!text.ok()) {
    if (::access(path.c_str(), F_OK) != 0 && errno == ENOENT) return oci::Index{};
    return text.error();
  }
  Result<oci::Index> index = oci::ParseIndex(*text);
  if (!index.ok()) return index.error().wrap(path);
  return index;
}

Status ImageStore::SaveIndex(const oci::Index& index) {
  oci::Index out = index;
  out.media_type = oci::kMediaTypeImageIndex;
  return ReplaceFile(root_, root_ + "/" + kIndexFile, oci::Serialize(out));
}

Result<BlobWriter> ImageStore::NewBlob(uint64_t max_bytes) {
  CL_ASSIGN_OR_RETURN(IngestFile file, CreateIngestFile(root_));
  BlobWriter w;
  w.root_ = root_;
  w.temp_path_ = std::move(file.path);
  w.fd_ = std::move(file.fd);
  w.hash_ = std::make_unique<oci::Sha256>();
  w.max_bytes_ = max_bytes;
  return w;
}

Result<BlobInfo> ImageStore::PutBlob(std::string_view bytes, const std::optional<oci::Digest>& expected) {
  CL_ASSIGN_OR_RETURN(BlobWriter w, NewBlob());
  CL_RETURN_IF_ERROR(w.Write(bytes));
  return w.Commit(expected);
}

Result<oci::Descriptor> ImageStore::PutDocument(std::string_view media_type, std::string_view bytes) {
  CL_ASSIGN_OR_RETURN(BlobInfo info, PutBlob(bytes));
  oci::Descriptor d;
  d.media_type = std::string(media_type);
  d.digest = info.digest;
  d.size = info.size;
  return d;
}

Result<BlobInfo> ImageStore::PutBlobFile(const std::string& path, const std::optional<oci::Digest>& expected) {
  UniqueFd in(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!in.valid()) return ErrnoError("open " + path);
  CL_ASSIGN_OR_RETURN(BlobWriter w, NewBlob());
  std::vector<char> buf(kCopyChunk);
  for (;;) {
    const ssize_t n = ::read(in.get(), buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("read " + path);
    }
    if (n == 0) break;
    CL_RETURN_IF_ERROR(w.Write(buf.data(), static_cast<size_t>(n)));
  }
  Result<BlobInfo> info = w.Commit(expected);
  if (!info.ok()) return info.error().wrap(path);
  return info;
}

Result<BlobInfo> ImageStore::AdoptBlobFile(const std::string& path, const std::optional<oci::Digest>& expected) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid()) return ErrnoError("open " + path);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return ErrnoError("stat " + path);
  if (!S_ISREG(st.st_mode)) return Error(path + ": not a regular file");
  if (st.st_nlink != 1) {
    CL_ASSIGN_OR_RETURN(BlobInfo info, PutBlobFile(path, expected));
    ::unlink(path.c_str());
    return info;
  }
  oci::Sha256 hash;
  CL_RETURN_IF_ERROR(oci::Sha256UpdateFromFd(fd.get(), path, &hash));
  BlobInfo info;
  info.size = static_cast<int64_t>(hash.bytes());
  info.digest = hash.Finish();
  if (expected && info.digest != *expected) {
    return Error(path + ": blob digest mismatch: expected " + expected->str() + ", got " + info.digest.str());
  }
  if (::fchmod(fd.get(), 0644) != 0) return ErrnoError("chmod " + path);
  if (::fsync(fd.get()) != 0) return ErrnoError("fsync " + path);
  const std::string dir = root_ + "/blobs/sha256";
  const std::string target = dir + "/" + info.digest.hex();
  if (::rename(path.c_str(), target.c_str()) != 0) {
    if (errno != EXDEV) return ErrnoError("rename " + path + " to " + target);
    CL_ASSIGN_OR_RETURN(BlobInfo copied, PutBlobFile(path, info.digest));
    ::unlink(path.c_str());
    return copied;
  }
  CL_RETURN_IF_ERROR(FsyncPath(dir));
  return info;
}

std::string ImageStore::BlobPath(const oci::Digest& digest) const {
  return root_ + "/blobs/" + digest.algorithm() + "/" + digest.hex();
}

bool ImageStore::HasBlob(const oci::Digest& digest) const {
  if (digest.empty()) return false;
  struct stat st {};
  return ::lstat(BlobPath(digest).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

Result<BlobReader> ImageStore::OpenBlob(const oci::Digest& digest) const {
  if (digest.empty()) return Error("open blob: empty digest");
  if (digest.algorithm() != "sha256") return Error("blob " + digest.str() + ": only sha256 blobs are stored");
  BlobReader r;
  r.path_ = BlobPath(digest);
  r.fd_ = UniqueFd(::open(r.path_.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!r.fd_.valid()) {
    if (errno == ENOENT) return Error("blob " + digest.str() + " is not in the store at " + root_);
    return ErrnoError("open " + r.path_);
  }
  struct stat st {};
  if (::fstat(r.fd_.get(), &st) != 0) return ErrnoError("stat " + r.path_);
  if (!S_ISREG(st.st_mode)) return Error(r.path_ + ": not a regular file");
  r.size_ = st.st_size;
  r.digest_ = digest;
  r.hash_ = std::make_unique<oci::Sha256>();
  return r;
}

Result<std::string> ImageStore::ReadBlob(const oci::Digest& digest, uint64_t max_size) const {
  CL_ASSIGN_OR_RETURN(BlobReader r, OpenBlob(digest));
  if (static_cast<uint64_t>(r.size()) > max_size) {
    return Error("blob " + digest.str() + ": " + std::to_string(r.size()) + " bytes is over the limit of " +
                 std::to_string(max_size) + " for a document read into memory");
  }
  std::string out(static_cast<size_t>(r.size()), '\0');
  size_t got = 0;
  for (;;) {
    // One byte of slack beyond the size seen at open detects a file that grew; the bound still holds.
    if (got == out.size()) out.resize(std::min<uint64_t>(out.size() + 4096, max_size + 1));
    CL_ASSIGN_OR_RETURN(size_t n, r.Read(out.data() + got, out.size() - got));
    if (n == 0) break;
    got += n;
    if (got > max_size) return Error("blob " + digest.str() + ": grew over the limit while being read");
  }
  out.resize(got);
  return out;
}

Result<std::string> ImageStore::ReadBlob(const oci::Descriptor& d, uint64_t max_size) const {
  if (d.size < 0 || static_cast<uint64_t>(d.size) > max_size) {
    return Error("blob " + d.digest.str() + ": descriptor size " + std::to_string(d.size) + " is over the limit of " +
                 std::to_string(max_size));
  }
  CL_ASSIGN_OR_RETURN(std::string bytes, ReadBlob(d.digest, max_size));
  if (bytes.size() != static_cast<uint64_t>(d.size)) {
    return Error("blob " + d.digest.str() + ": " + std::to_string(bytes.size()) + " bytes, but its descriptor says " +
                 std::to_string(d.size));
  }
  return bytes;
}

Result<oci::Manifest> ImageStore::ReadManifest(const oci::Descriptor& d) const {
  CL_ASSIGN_OR_RETURN(std::string bytes, ReadBlob(d));
  Result<oci::Manifest> m = oci::ParseManifest(bytes);
  if (!m.ok()) return m.error().wrap(d.digest.str());
  return m;
}

Result<oci::Index> ImageStore::ReadIndex(const oci::Descriptor& d) const {
  CL_ASSIGN_OR_RETURN(std::string bytes, ReadBlob(d));
  Result<oci::Index> idx = oci::ParseIndex(bytes);
  if (!idx.ok()) return idx.error().wrap(d.digest.str());
  return idx;
}

Result<oci::ImageConfig> ImageStore::ReadConfig(const oci::Descriptor& d) const {
  CL_ASSIGN_OR_RETURN(std::string bytes, ReadBlob(d));
  Result<oci::ImageConfig> c = oci::ParseImageConfig(bytes);
  if (!c.ok()) return c.error().wrap(d.digest.str());
  return c;
}

Status ImageStore::Tag(std::string_view reference, const oci::Descriptor& manifest) {
  CL_ASSIGN_OR_RETURN(Reference ref, Reference::Parse(reference));
  if (ref.tag.empty()) return Error("tag " + ref.str() + ": the reference needs a tag (name:tag)");
  if (!ref.digest.empty() && ref.digest != manifest.digest) {
    return Error("tag " + ref.str() + ": the reference's digest is not the manifest's (" + manifest.digest.str() + ")");
  }
  if (!oci::IsManifestMediaType(manifest.media_type) && !oci::IsIndexMediaType(manifest.media_type)) {
    return Error("tag " + ref.str() + ": " + Quote(manifest.media_type) + " is not a manifest or index media type");
  }
  if (!HasBlob(manifest.digest)) {
    return Error("tag " + ref.str() + ": manifest " + manifest.digest.str() + " is not in the store");
  }
  if (oci::IsIndexMediaType(manifest.media_type)) {
    Result<oci::Index> idx = ReadIndex(manifest);
    if (!idx.ok()) return idx.error().wrap("tag " + ref.str());
  } else {
    Result<oci::Manifest> m = ReadManifest(manifest);
    if (!m.ok()) return m.error().wrap("tag " + ref.str());
    std::vector<const oci::Descriptor*> needed = {&m->config};
    for (const oci::Descriptor& l : m->layers) needed.push_back(&l);
    for (const oci::Descriptor* d : needed) {
      if (!HasBlob(d->digest)) {
        return Error("tag " + ref.str() + ": blob " + d->digest.str() + " (" + d->media_type +
                     ") of the manifest is not in the store");
      }
    }
  }
  oci::Descriptor entry = manifest;
  const std::string name = Reference{ref.registry, ref.repository, ref.tag, {}}.str();
  entry.annotations[oci::kAnnotationRefName] = name;
  const Reference tag_ref = *Reference::Parse(name);

  CL_ASSIGN_OR_RETURN(UniqueFd lock, LockIndex());
  CL_ASSIGN_OR_RETURN(oci::Index index, LoadIndex());
  std::erase_if(index.manifests, [&](const oci::Descriptor& d) { return RefMatches(RefName(d), tag_ref); });
  index.manifests.push_back(std::move(entry));
  return SaveIndex(index);
}

Status ImageStore::Untag(std::string_view reference) {
  CL_ASSIGN_OR_RETURN(Reference ref, Reference::Parse(reference));
  if (ref.tag.empty()) return Error("untag " + ref.str() + ": the reference needs a tag (name:tag)");
  ref.digest = {};
  CL_ASSIGN_OR_RETURN(UniqueFd lock, LockIndex());
  CL_ASSIGN_OR_RETURN(oci::Index index, LoadIndex());
  const size_t removed =
      std::erase_if(index.manifests, [&](const oci::Descriptor& d) { return RefMatches(RefName(d), ref); });
  if (removed == 0) return Error("untag: " + ref.str() + " is not tagged in the store at " + root_);
  return SaveIndex(index);
}

Result<oci::Descriptor> ImageStore::Resolve(std::string_view reference) const {
  CL_ASSIGN_OR_RETURN(Reference ref, Reference::Parse(reference));
  CL_ASSIGN_OR_RETURN(oci::Index index, LoadIndex());
  if (!ref.digest.empty()) {
    for (const oci::Descriptor& d : index.manifests) {
      if (d.digest == ref.digest) return d;
    }
    if (!HasBlob(ref.digest)) return Error("image " + ref.str() + " is not in the store at " + root_);
    CL_ASSIGN_OR_RETURN(std::string bytes, ReadBlob(ref.digest));
    oci::Descriptor d;
    d.media_type = oci::SniffMediaType(bytes);
    if (!oci::IsManifestMediaType(d.media_type) && !oci::IsIndexMediaType(d.media_type)) {
      return Error("image " + ref.str() + ": blob " + ref.digest.str() + " is not a manifest or index");
    }
    d.digest = ref.digest;
    d.size = static_cast<int64_t>(bytes.size());
    return d;
  }
  for (const oci::Descriptor& d : index.manifests) {
    if (RefMatches(RefName(d), ref)) return d;
  }
  return Error("image " + ref.str() + " is not in the store at " + root_);
}

Result<std::vector<TaggedImage>> ImageStore::List() const {
  CL_ASSIGN_OR_RETURN(oci::Index index, LoadIndex());
  std::vector<TaggedImage> out;
  for (const oci::Descriptor& d : index.manifests) {
    std::string name = RefName(d);
    if (!name.empty()) out.push_back(TaggedImage{std::move(name), d});
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const TaggedImage& a, const TaggedImage& b) { return a.reference < b.reference; });
  return out;
}

Result<GcStats> ImageStore::RemoveImage(std::string_view reference) {
  CL_ASSIGN_OR_RETURN(Reference ref, Reference::Parse(reference));
  if (ref.digest.empty()) {
    CL_RETURN_IF_ERROR(Untag(reference));
  } else {
    CL_ASSIGN_OR_RETURN(UniqueFd lock, LockIndex());
    CL_ASSIGN_OR_RETURN(oci::Index index, LoadIndex());
    const size_t removed =
        std::erase_if(index.manifests, [&](const oci::Descriptor& d) { return d.digest == ref.digest; });
    if (removed == 0 && !HasBlob(ref.digest)) return Error("image " + ref.str() + " is not in the store at " + root_);
    if (removed > 0) CL_RETURN_IF_ERROR(SaveIndex(index));
  }
  return CollectGarbage();
}

Result<StoreLease> ImageStore::Lease() {
  CL_ASSIGN_OR_RETURN(UniqueFd fd, LockFile(root_ + "/gc.lock", LOCK_SH));
  return StoreLease(std::move(fd));
}

Result<std::vector<oci::Digest>> ImageStore::Reachable(const oci::Index& index,
                                                       std::vector<BlobProblem>* missing) const {
  struct Pending {
    oci::Descriptor descriptor;
    std::string from;  // who refers to it, for the report
    // Children of an index (a multi-arch image pulled for one platform) and subjects may legitimately be absent.
    bool required;
    std::string image;  // the ref.name of the index.json entry it was reached from
  };
  std::set<oci::Digest> seen;
  std::vector<oci::Digest> out;
  std::vector<Pending> pending;
  for (const oci::Descriptor& d : index.manifests) {
    const std::string name = RefName(d);
    pending.push_back({d, "index.json", true, name});
  }
  while (!pending.empty()) {
    Pending p = std::move(pending.back());
    pending.pop_back();
    const oci::Descriptor& d = p.descriptor;
    if (!seen.insert(d.digest).second) continue;
    out.push_back(d.digest);
    if (!HasBlob(d.digest)) {
      if (missing != nullptr && p.required) {
        missing->push_back({BlobPath(d.digest), "missing (" + d.media_type + ", referenced by " + p.from +
                                                    (p.image.empty() ? "" : " of " + p.image) + ")"});
      }
      continue;
    }
    const std::string here = d.digest.str();
    if (oci::IsManifestMediaType(d.media_type)) {
      Result<oci::Manifest> m = ReadManifest(d);
      if (!m.ok()) return m.error().wrap("reading a reachable manifest");
      pending.push_back({m->config, "manifest " + here, true, p.image});
      for (const oci::Descriptor& l : m->layers) pending.push_back({l, "manifest " + here, true, p.image});
      if (m->subject) pending.push_back({*m->subject, "manifest " + here, false, p.image});
    } else if (oci::IsIndexMediaType(d.media_type)) {
      Result<oci::Index> idx = ReadIndex(d);
      if (!idx.ok()) return idx.error().wrap("reading a reachable index");
      for (const oci::Descriptor& c : idx->manifests) pending.push_back({c, "index " + here, false, p.image});
      if (idx->subject) pending.push_back({*idx->subject, "index " + here, false, p.image});
    }
  }
  return out;
}

Result<GcStats> ImageStore::CollectGarbage() {
  Result<UniqueFd> gc_lock = LockFile(root_ + "/gc.lock", LOCK_EX | LOCK_NB);
  if (!gc_lock.ok()) {
    return Error("garbage collection in " + root_ + ": the store is in use by a pull or build (a lease is held); " +
                 "try again when it has finished");
  }
  CL_ASSIGN_OR_RETURN(UniqueFd lock, LockIndex());
  CL_ASSIGN_OR_RETURN(oci::Index index, LoadIndex());
  CL_ASSIGN_OR_RETURN(std::vector<oci::Digest> reachable, Reachable(index, nullptr));
  std::set<std::string> keep;
  for (const oci::Digest& d : reachable) {
    if (d.algorithm() == "sha256") keep.insert(d.hex());
  }
  GcStats stats;
  const std::string dir = root_ + "/blobs/sha256";
  CL_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(dir));
  for (const std::string& name : names) {
    if (keep.contains(name)) {
      ++stats.blobs_kept;
      continue;
    }
    std::string path = dir;
    path += "/";
    path += name;
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0 || S_ISDIR(st.st_mode)) continue;
    if (::unlink(path.c_str()) != 0) return ErrnoError("remove " + path);
    ++stats.blobs_removed;
    stats.bytes_removed += static_cast<uint64_t>(st.st_size);
  }
  if (stats.blobs_removed > 0) CL_RETURN_IF_ERROR(FsyncPath(dir));
  CL_ASSIGN_OR_RETURN(stats.ingest_removed, CleanIngest());
  return stats;
}

Result<VerifyReport> ImageStore::Verify() const {
  VerifyReport report;
  CL_ASSIGN_OR_RETURN(std::vector<std::string> algorithms, ListDir(root_ + "/blobs"));
  for (const std::string& algorithm : algorithms) {
    const std::string dir = root_ + "/blobs/" + algorithm;
    struct stat st {};
    if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      report.problems.push_back({dir, "not a directory of blobs"});
      continue;
    }
    CL_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(dir));
    for (const std::string& name : names) {
      std::string path = dir;
      path += "/";
      path += name;
      if (algorithm != "sha256") {
        report.problems.push_back({path, "not verified: only sha256 blobs are supported"});
        continue;
      }
      if (!IsSha256Hex(name)) {
        report.problems.push_back({path, "not a blob name (64 lowercase hex digits)"});
        continue;
      }
      ++report.blobs_checked;
      const oci::Digest digest = *oci::Digest::Parse("sha256:" + name);
      Result<BlobReader> r = OpenBlob(digest);
      if (!r.ok()) {
        report.problems.push_back({path, r.error().message()});
        continue;
      }
      std::vector<char> buf(kCopyChunk);
      for (;;) {
        Result<size_t> n = r->Read(buf.data(), buf.size());
        if (!n.ok()) {
          report.problems.push_back({path, n.error().message()});
          break;
        }
        if (*n == 0) break;
      }
    }
  }
  CL_ASSIGN_OR_RETURN(oci::Index index, LoadIndex());
  Result<std::vector<oci::Digest>> reachable = Reachable(index, &report.problems);
  if (!reachable.ok()) report.problems.push_back({root_ + "/" + kIndexFile, reachable.error().message()});
  return report;
}

}  // namespace cloudlet::image
