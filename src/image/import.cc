#include "image/import.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <filesystem>

#include "base/fd.h"
#include "image/base.h"

namespace cloudlet::image {

std::string Rfc3339(int64_t epoch) {
  std::time_t t = static_cast<std::time_t>(epoch);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Result<CommittedImage> CommitImage(ImageStore& store, const std::string& rootfs_dir, const ImageSettings& settings,
                                   std::string_view reference, const CommitOptions& options) {
  return CommitImageLayers(store, {rootfs_dir}, settings, reference, options);
}

namespace {

// Writes `dir` as a layer into the store. The layer file is made in the store's ingest/ (so adopting it is a rename)
// under a flock, which tells the store's cleanup of crashed writers that this file is live.
Result<std::pair<LayerInfo, BlobInfo>> StoreLayer(ImageStore& store, const std::string& dir,
                                                  const CommitOptions& options) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return Error(dir + ": not a directory");
  std::string temp = store.root() + "/ingest/import-XXXXXX";
  UniqueFd temp_fd(::mkstemp(temp.data()));
  if (!temp_fd.valid()) return ErrnoError("create a temporary layer file in " + store.root() + "/ingest");
  ::flock(temp_fd.get(), LOCK_EX);
  struct Cleanup {
    std::string path;
    ~Cleanup() { ::unlink(path.c_str()); }  // gone already after a successful adopt
  } cleanup{temp};
  CreateOptions create;
  create.compression = options.compression;
  create.mtime = options.epoch;
  CL_ASSIGN_OR_RETURN(LayerInfo layer, CreateLayer(dir, temp, create));
  CL_ASSIGN_OR_RETURN(BlobInfo blob, store.AdoptBlobFile(temp, layer.digest));
  return std::make_pair(layer, blob);
}

}  // namespace

Result<CommittedImage> CommitImageLayers(ImageStore& store, const std::vector<std::string>& layer_dirs,
                                         const ImageSettings& settings, std::string_view reference,
                                         const CommitOptions& options) {
  CL_ASSIGN_OR_RETURN(Reference ref, Reference::Parse(reference));
  if (ref.tag.empty()) return Error("image reference " + std::string(reference) + ": needs a tag to be stored under");
  if (layer_dirs.empty()) return Error("an image needs at least one layer directory");

  // Blobs are unreachable until Tag(): keep GC away meanwhile.
  CL_ASSIGN_OR_RETURN(StoreLease lease, store.Lease());
  CommittedImage out;
  std::vector<oci::Digest> diff_ids;
  for (const auto& dir : layer_dirs) {
    CL_ASSIGN_OR_RETURN(auto stored, StoreLayer(store, dir, options));
    oci::Descriptor d;
    d.media_type = stored.first.media_type;
    d.digest = stored.second.digest;
    d.size = stored.second.size;
    out.layers.push_back(d);
    diff_ids.push_back(stored.first.diff_id);
  }
  out.layer = out.layers.back();

  oci::ImageConfig config;
  const oci::Platform host = oci::HostPlatform();
  config.created = Rfc3339(options.epoch);
  config.architecture = host.architecture;
  config.os = host.os;
  config.variant = host.variant;
  config.config.entrypoint = settings.entrypoint;
  config.config.cmd = settings.cmd;
  config.config.env = settings.env;
  config.config.working_dir = settings.working_dir;
  config.config.user = settings.user;
  config.config.labels = settings.labels;
  config.diff_ids = diff_ids;
  for (size_t i = 0; i < diff_ids.size(); ++i) {
    oci::History history;
    history.created = config.created;
    history.created_by = options.created_by;
    config.history.push_back(history);
  }

  CL_ASSIGN_OR_RETURN(out.config, store.PutDocument(oci::kMediaTypeImageConfig, oci::Serialize(config)));

  oci::Manifest manifest;
  manifest.media_type = oci::kMediaTypeImageManifest;
  manifest.config = out.config;
  manifest.layers = out.layers;
  CL_ASSIGN_OR_RETURN(out.manifest, store.PutDocument(oci::kMediaTypeImageManifest, oci::Serialize(manifest)));
  out.reference = ref.str();
  CL_RETURN_IF_ERROR(store.Tag(out.reference, out.manifest));
  return out;
}

Result<CommittedImage> ImportBusybox(ImageStore& store, std::string_view reference, const CommitOptions& options) {
  const char* tmpdir = std::getenv("TMPDIR");
  std::string dir = std::string(tmpdir && *tmpdir ? tmpdir : "/tmp") + "/cloudlet-busybox-XXXXXX";
  if (::mkdtemp(dir.data()) == nullptr) return ErrnoError("create a temporary directory for the busybox rootfs");
  struct Cleanup {
    std::string path;
    ~Cleanup() {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  } cleanup{dir};
  // mkdtemp makes it 0700; the image's root directory should be the usual 0755.
  ::chmod(dir.c_str(), 0755);
  CL_RETURN_IF_ERROR(BuildBusyboxRootfs(dir));
  ImageSettings settings;
  settings.cmd = std::vector<std::string>{"sh"};
  CommitOptions commit = options;
  if (commit.created_by == CommitOptions{}.created_by) commit.created_by = "cloudlet image import --busybox";
  return CommitImage(store, dir, settings, reference, commit);
}

}  // namespace cloudlet::image
