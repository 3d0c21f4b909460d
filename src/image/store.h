// The local image store: content-addressed blobs in the OCI image layout 1.0.0, so that skopeo (oci:<root>:<ref>),
// umoci and other tools read what cloudlet stores, and the other way round.
//
//   <root>/oci-layout            {"imageLayoutVersion":"1.0.0"}
//   <root>/index.json            an image index; each tagged image is one entry annotated
//                                "org.opencontainers.image.ref.name" = the normalized reference
//                                ("localhost:5000/app:1.0", "docker.io/library/busybox:latest")
//   <root>/blobs/sha256/<hex>    manifests, indexes, configs, layers, named by the sha256 of their bytes
//   <root>/ingest/               blobs being written (temp files, each flock'ed by its writer)
//   <root>/index.lock, gc.lock   lock files (flock)
//
// Integrity: a blob becomes visible only after its bytes were hashed and matched the digest it is stored under
// (write to ingest/, verify, fsync, rename); every read hashes again and fails on a mismatch, so a corrupted disk or a
// hand-edited file is reported, never used. Verify() checks the whole store.
//
// Concurrency: several processes may use one store (the daemon, `cloudlet image pull`, a build). index.json changes
// are read-modify-write under an exclusive flock of index.lock and land by rename, so readers never see a partial file
// and two writers never lose each other's tags. A crash leaves at most temp files in ingest/; Open() and GC remove
// those whose writer is gone (their flock is free). Garbage collection removes blobs no index.json entry reaches, so a
// pull or build, whose blobs are unreachable until it tags the result, holds a Lease() from its first blob to its
// Tag(); GC refuses to run while a lease is held.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/fd.h"
#include "base/status.h"
#include "oci/digest.h"
#include "oci/image_spec.h"

namespace cloudlet::image {

inline constexpr char kDefaultStoreRoot[] = "/var/lib/cloudlet/images";
// ReadBlob's default bound: blobs read whole into memory are JSON documents (manifests, indexes, configs).
inline constexpr uint64_t kMaxJsonBlobSize = 16 << 20;

// An image reference as docker writes it, normalized with docker's defaults:
//   "busybox"                       -> docker.io / library/busybox : latest
//   "busybox:1.36"                  -> docker.io / library/busybox : 1.36
//   "localhost:5000/app:1.0"        -> localhost:5000 / app : 1.0
//   "registry/ns/app@sha256:<hex>"  -> docker.io / registry/ns/app, digest (no tag: "registry" has no '.' or ':' and
//                                      is not "localhost", so docker reads it as a Docker Hub namespace)
// The registry is the first component when it contains '.' or ':' or is "localhost". Repository components are
// [a-z0-9]+ joined by '.', '_', '__' or '-'+; tags are [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}; a name is at most 255
// characters.
struct Reference {
  std::string registry;    // "docker.io", "localhost:5000"
  std::string repository;  // "library/busybox", "ns/app"
  std::string tag;         // "latest" when neither a tag nor a digest was given; empty with only a digest
  oci::Digest digest;      // empty unless "@<digest>" was given

  static Result<Reference> Parse(std::string_view text);
  std::string Name() const;  // "docker.io/library/busybox"
  // The full normalized form: Name() + ":" + tag (if any) + "@" + digest (if any). Tag() stores this.
  std::string str() const;
  bool operator==(const Reference&) const = default;
};

struct BlobInfo {
  oci::Digest digest;
  int64_t size = 0;
};

// Streams a blob into the store. Nothing is visible until Commit() has checked the bytes; destroying an uncommitted
// writer aborts it.
class BlobWriter {
 public:
  BlobWriter(BlobWriter&&) noexcept;
  BlobWriter& operator=(BlobWriter&&) noexcept;
  ~BlobWriter();

  // Appends bytes. Fails (and aborts the writer) past the size limit given to ImageStore::NewBlob or on I/O errors.
  Status Write(const void* data, size_t len);
  Status Write(std::string_view data) { return Write(data.data(), data.size()); }
  uint64_t bytes() const { return bytes_; }

  // Hashes what was written, checks it against `expected` and `expected_size` when given (a pull knows both from the
  // descriptor), then fsyncs and renames it into blobs/sha256/<hex>. On a mismatch the temp file is removed and the
  // error says what was expected and what arrived. The writer is spent afterwards, whatever the outcome.
  Result<BlobInfo> Commit(const std::optional<oci::Digest>& expected = std::nullopt,
                          std::optional<int64_t> expected_size = std::nullopt);
  // Removes the temp file. Idempotent.
  void Abort();

 private:
  friend class ImageStore;
  BlobWriter() = default;

  std::string root_;
  std::string temp_path_;
  UniqueFd fd_;
  std::unique_ptr<oci::Sha256> hash_;
  uint64_t bytes_ = 0;
  uint64_t max_bytes_ = UINT64_MAX;
};

// Reads a blob and checks it: Read() returns 0 at the end only if the bytes hashed to the blob's digest, an error
// otherwise. fd() is there for consumers that need a descriptor (ApplyLayerFd); they must compare the digest they
// compute themselves (ApplyStats::digest) with digest().
class BlobReader {
 public:
  BlobReader(BlobReader&&) noexcept = default;
  BlobReader& operator=(BlobReader&&) noexcept = default;

  Result<size_t> Read(void* buf, size_t len);
  int fd() const { return fd_.get(); }
  int64_t size() const { return size_; }
  const oci::Digest& digest() const { return digest_; }

 private:
  friend class ImageStore;
  BlobReader() = default;

  UniqueFd fd_;
  std::string path_;
  oci::Digest digest_;
  int64_t size_ = 0;
  std::unique_ptr<oci::Sha256> hash_;
};

// Held by a pull or build while it writes blobs that nothing references yet: GC refuses to run meanwhile.
class StoreLease {
 public:
  StoreLease(StoreLease&&) noexcept = default;
  StoreLease& operator=(StoreLease&&) noexcept = default;

 private:
  friend class ImageStore;
  explicit StoreLease(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

struct TaggedImage {
  std::string reference;  // the ref.name annotation as stored
  oci::Descriptor descriptor;
};

struct GcStats {
  uint64_t blobs_kept = 0;
  uint64_t blobs_removed = 0;
  uint64_t bytes_removed = 0;
  uint64_t ingest_removed = 0;  // temp files of writers that are gone
};

struct BlobProblem {
  std::string path;     // the blob's file, or its would-be path for a missing blob
  std::string problem;  // "content hashes to sha256:...", "missing (referenced by ...)", ...
};

struct VerifyReport {
  uint64_t blobs_checked = 0;
  std::vector<BlobProblem> problems;
  bool ok() const { return problems.empty(); }
};

class ImageStore {
 public:
  // Opens the store at `root`, creating the layout if the directory is missing or empty. Refuses a non-empty
  // directory without an oci-layout file, and a layout version other than 1.0.0. Removes ingest leftovers of crashed
  // writers.
  static Result<ImageStore> Open(const std::string& root = kDefaultStoreRoot);

  const std::string& root() const { return root_; }

  // ---- blobs ----
  // A writer whose Write fails beyond `max_bytes` (a hostile registry cannot fill the disk past the descriptor's size).
  Result<BlobWriter> NewBlob(uint64_t max_bytes = UINT64_MAX);
  Result<BlobInfo> PutBlob(std::string_view bytes, const std::optional<oci::Digest>& expected = std::nullopt);
  // Writes `bytes` and returns its descriptor (for JSON documents cloudlet builds: configs, manifests, indexes).
  Result<oci::Descriptor> PutDocument(std::string_view media_type, std::string_view bytes);
  // Copies the file at `path` into the store.
  Result<BlobInfo> PutBlobFile(const std::string& path, const std::optional<oci::Digest>& expected = std::nullopt);
  // Moves the file at `path` into the store after hashing it (a layer just written by CreateLayer): a rename when it
  // is on the store's filesystem and has one link, a copy and unlink otherwise. The caller gives the file up.
  Result<BlobInfo> AdoptBlobFile(const std::string& path, const std::optional<oci::Digest>& expected = std::nullopt);

  bool HasBlob(const oci::Digest& digest) const;
  // blobs/<algorithm>/<hex>, whether or not it exists.
  std::string BlobPath(const oci::Digest& digest) const;
  // The whole blob, verified; refused if larger than `max_size`.
  Result<std::string> ReadBlob(const oci::Digest& digest, uint64_t max_size = kMaxJsonBlobSize) const;
  // Same, and the blob's size must be the descriptor's.
  Result<std::string> ReadBlob(const oci::Descriptor& descriptor, uint64_t max_size = kMaxJsonBlobSize) const;
  Result<BlobReader> OpenBlob(const oci::Digest& digest) const;
  // ReadBlob + parse.
  Result<oci::Manifest> ReadManifest(const oci::Descriptor& descriptor) const;
  Result<oci::Index> ReadIndex(const oci::Descriptor& descriptor) const;
  Result<oci::ImageConfig> ReadConfig(const oci::Descriptor& descriptor) const;

  // ---- references (index.json) ----
  // Points `reference` (must carry a tag; a digest, if present too, must be the descriptor's) at a manifest or index
  // already in the store; an image manifest's config and layers must be there too. Replaces an existing tag.
  Status Tag(std::string_view reference, const oci::Descriptor& manifest);
  // Removes a tag. Errors if the reference is not tagged.
  Status Untag(std::string_view reference);
  // The descriptor a reference names: a tag from index.json (entries written by other tools match when their ref.name
  // normalizes to the same reference), or a digest ("name@sha256:...") of a manifest or index in the store.
  Result<oci::Descriptor> Resolve(std::string_view reference) const;
  // Every tagged entry of index.json, sorted by reference.
  Result<std::vector<TaggedImage>> List() const;
  // Removes the tag (or, for "name@digest", every entry of that digest) and collects garbage.
  Result<GcStats> RemoveImage(std::string_view reference);

  // ---- maintenance ----
  Result<StoreLease> Lease();
  // Removes every blob index.json does not reach (through indexes, manifests, configs, layers and subjects) and
  // ingest leftovers. Fails without removing anything if a reachable manifest cannot be read, or a lease is held.
  Result<GcStats> CollectGarbage();
  // Re-hashes every blob and checks that everything index.json reaches is present.
  Result<VerifyReport> Verify() const;

 private:
  explicit ImageStore(std::string root) : root_(std::move(root)) {}

  Result<oci::Index> LoadIndex() const;
  Status SaveIndex(const oci::Index& index);  // caller holds index.lock
  Result<UniqueFd> LockIndex();
  // Reachable blobs (sha256 hex) from index.json; errors if a reachable manifest or index cannot be read.
  Result<std::vector<oci::Digest>> Reachable(const oci::Index& index, std::vector<BlobProblem>* missing) const;
  Result<uint64_t> CleanIngest();

  std::string root_;
};

}  // namespace cloudlet::image
