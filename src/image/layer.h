// OCI image layers: applying a layer tar (plain, gzip or zstd) onto a directory, and writing reproducible layers from
// a directory or from an overlayfs upper dir. Layers come from registries no one here controls, so extraction treats
// every entry as hostile: paths are normalized and confined to the target, nothing already in the target is followed
// through a symlink (every file is created with *at() calls relative to directory fds opened with O_NOFOLLOW),
// hardlinks must point inside the target, and entry count and total size are bounded against tar bombs.
//
// Whiteouts (image-spec layer.md): ".wh.<name>" deletes <name> from the layers below, ".wh..wh..opq" hides everything
// the layers below have in its directory. Applied flattened (kFlatten: every layer onto one directory) they delete;
// extracted as an overlayfs lower (kOverlay: each layer in its own directory) they become overlayfs's own markers, a
// 0:0 character device and the trusted.overlay.opaque=y xattr. DiffLayer does the reverse for an overlay upper dir.
#pragma once

#include <cstdint>
#include <string>

#include "base/status.h"
#include "oci/digest.h"

namespace cloudlet::image {

inline constexpr char kMediaTypeLayerTar[] = "application/vnd.oci.image.layer.v1.tar";
inline constexpr char kMediaTypeLayerGzip[] = "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr char kMediaTypeLayerZstd[] = "application/vnd.oci.image.layer.v1.tar+zstd";

enum class Compression { kNone, kGzip, kZstd };
const char* CompressionName(Compression c);  // "none", "gzip", "zstd"
const char* LayerMediaType(Compression c);

enum class WhiteoutMode {
  kFlatten,  // whiteouts delete from what is already in the target
  kOverlay,  // whiteouts become overlayfs whiteouts (char 0:0) and opaque xattrs; the target holds only this layer
};

struct ApplyOptions {
  WhiteoutMode whiteouts = WhiteoutMode::kFlatten;
  // Ownership from the tar, shifted by these offsets (a user namespace's host id range); off: files belong to the
  // caller (for unprivileged extraction).
  bool preserve_ownership = true;
  uint32_t uid_offset = 0;
  uint32_t gid_offset = 0;
  // Against tar bombs: more entries or more file bytes than this fails the apply.
  uint64_t max_entries = 1'000'000;
  uint64_t max_total_bytes = 64ULL << 30;
};

struct ApplyStats {
  oci::Digest diff_id;  // sha256 of the uncompressed tar stream
  oci::Digest digest;   // sha256 of the layer as stored (== diff_id when not compressed)
  uint64_t size = 0;    // bytes of the layer as stored
  Compression compression = Compression::kNone;
  uint64_t entries = 0;          // tar entries processed, whiteouts included
  uint64_t file_bytes = 0;       // regular file content written
  uint64_t whiteouts = 0;        // .wh.<name> and opaque markers applied
  uint64_t skipped_devices = 0;  // device nodes not created because mknod was not permitted (user namespace)
  uint64_t xattr_failures = 0;   // xattrs the target filesystem or our privileges refused (best effort)
};

// Applies the layer at `layer_path` (compression detected from its magic) onto `target_dir`, which must exist.
// On error the target may hold part of the layer; callers extract into a fresh directory and discard it on failure.
Result<ApplyStats> ApplyLayer(const std::string& layer_path, const std::string& target_dir,
                              const ApplyOptions& options = {});
// Same, reading the layer from `fd` (from its current offset to EOF; the fd is not closed).
Result<ApplyStats> ApplyLayerFd(int fd, const std::string& target_dir, const ApplyOptions& options = {});

struct LayerInfo {
  oci::Digest digest;   // of the file written
  oci::Digest diff_id;  // of the uncompressed tar
  uint64_t size = 0;    // bytes of the file written
  std::string media_type;
};

struct CreateOptions {
  Compression compression = Compression::kGzip;
  // Every entry gets this mtime (seconds since the epoch, like SOURCE_DATE_EPOCH), so the bytes do not depend on when
  // the files were written.
  int64_t mtime = 0;
};

// Writes the contents of `dir` (not `dir` itself) as a reproducible layer to `out_path`: entries in path order
// (a directory before its contents, names sorted bytewise), the fixed mtime, numeric uid/gid as on disk and no
// user/group names, no atime/ctime, ustar headers unless an entry needs pax (long names, large ids, xattrs), a gzip
// header without name or timestamp. The same tree gives the same bytes. Sockets are skipped (tar cannot hold them);
// files with several links become hardlink entries. Xattrs kept: user.* and security.capability.
Result<LayerInfo> CreateLayer(const std::string& dir, const std::string& out_path, const CreateOptions& options = {});

// Like CreateLayer for the upper dir of an overlay mount (what a RUN step changed): overlayfs whiteouts (0:0
// character devices) become ".wh.<name>" entries and opaque directories (trusted.overlay.opaque=y) get a
// ".wh..wh..opq" entry. The overlay must have been mounted without metacopy and redirect_dir (MountRootfs does so);
// an upper dir that uses them is refused, since its files would not hold their whole content.
Result<LayerInfo> DiffLayer(const std::string& upper_dir, const std::string& out_path,
                            const CreateOptions& options = {});

}  // namespace cloudlet::image
