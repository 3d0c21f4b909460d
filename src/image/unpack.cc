#include "image/unpack.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <string>

#include "image/layer.h"

namespace cloudlet::image {
namespace {

constexpr char kTempPrefix[] = ".tmp-";

Status MakeDir(const std::string& path) {
  if (::mkdir(path.c_str(), 0700) == 0 || errno == EEXIST) return Status::Ok();
  return ErrnoError("create " + path);
}

void RemoveTree(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

// One layer into <root>/<diff_id hex>, unless it is there already.
Result<std::string> UnpackLayer(const ImageStore& store, const std::string& root, const oci::Descriptor& layer,
                                const oci::Digest& diff_id) {
  std::string final_dir = root + "/" + diff_id.hex();
  struct stat st {};
  if (::lstat(final_dir.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return final_dir;
    return Error(final_dir + " exists and is not a directory; remove it and retry");
  }
  std::string temp = root + "/" + kTempPrefix + std::to_string(::getpid()) + "-XXXXXX";
  if (::mkdtemp(temp.data()) == nullptr) return ErrnoError("create a temporary directory in " + root);
  struct Cleanup {
    std::string path;
    ~Cleanup() {
      if (!path.empty()) RemoveTree(path);
    }
  } cleanup{temp};
  // The layer's root is the image's "/": the usual 0755, not mkdtemp's 0700 (a tar entry for "./" may change it).
  ::chmod(temp.c_str(), 0755);

  CL_ASSIGN_OR_RETURN(BlobReader reader, store.OpenBlob(layer.digest));
  if (reader.size() != layer.size) {
    return Error("layer " + layer.digest.str() + " is " + std::to_string(reader.size()) + " bytes in the store, " +
                 std::to_string(layer.size) + " in the manifest");
  }
  ApplyOptions options;
  options.whiteouts = WhiteoutMode::kOverlay;
  Result<ApplyStats> stats = ApplyLayerFd(reader.fd(), temp, options);
  if (!stats.ok()) return Error("unpack layer " + layer.digest.str() + ": " + stats.error().message());
  // ApplyLayerFd hashed what it read: the blob must be what its name says, and its contents the config's diff_id.
  if (stats->digest != layer.digest) {
    return Error("layer " + layer.digest.str() + " in the store hashes to " + stats->digest.str() +
                 " (the store is damaged; run `cloudlet image verify`)");
  }
  if (stats->diff_id != diff_id) {
    return Error("layer " + layer.digest.str() + " unpacks to " + stats->diff_id.str() +
                 ", but the image config says " + diff_id.str());
  }
  if (::rename(temp.c_str(), final_dir.c_str()) != 0) {
    // Another unpacker got there first: theirs is as good as ours.
    if (errno == EEXIST || errno == ENOTEMPTY) return final_dir;
    return ErrnoError("rename " + temp + " to " + final_dir);
  }
  cleanup.path.clear();
  return final_dir;
}

// The manifest to run from `descriptor`: itself, or the host platform's entry of an index.
Result<oci::Descriptor> PlatformManifest(const ImageStore& store, const oci::Descriptor& descriptor) {
  if (oci::IsManifestMediaType(descriptor.media_type)) return descriptor;
  if (!oci::IsIndexMediaType(descriptor.media_type)) {
    return Error(descriptor.digest.str() + " is a " + descriptor.media_type + ", not an image manifest or index");
  }
  CL_ASSIGN_OR_RETURN(oci::Index index, store.ReadIndex(descriptor));
  CL_ASSIGN_OR_RETURN(oci::Descriptor chosen, oci::SelectManifest(index, oci::HostPlatform()));
  if (!oci::IsManifestMediaType(chosen.media_type)) {
    return Error("the index's entry for this platform is a " + chosen.media_type + ", not an image manifest");
  }
  return chosen;
}

// diff_id hexes of every layer of every image the store's index.json tags (manifests that are not in the store,
// such as other platforms of a pulled index, are skipped).
Result<std::set<std::string>> TaggedDiffIds(const ImageStore& store) {
  std::set<std::string> keep;
  CL_ASSIGN_OR_RETURN(std::vector<TaggedImage> tagged, store.List());
  std::vector<oci::Descriptor> manifests;
  for (const TaggedImage& img : tagged) {
    if (oci::IsIndexMediaType(img.descriptor.media_type)) {
      CL_ASSIGN_OR_RETURN(oci::Index index, store.ReadIndex(img.descriptor));
      for (const oci::Descriptor& d : index.manifests) {
        if (oci::IsManifestMediaType(d.media_type) && store.HasBlob(d.digest)) manifests.push_back(d);
      }
    } else if (oci::IsManifestMediaType(img.descriptor.media_type)) {
      manifests.push_back(img.descriptor);
    }
  }
  for (const oci::Descriptor& d : manifests) {
    CL_ASSIGN_OR_RETURN(oci::Manifest manifest, store.ReadManifest(d));
    if (!oci::IsConfigMediaType(manifest.config.media_type) || !store.HasBlob(manifest.config.digest)) continue;
    CL_ASSIGN_OR_RETURN(oci::ImageConfig config, store.ReadConfig(manifest.config));
    for (const oci::Digest& id : config.diff_ids) keep.insert(id.hex());
  }
  return keep;
}

}  // namespace

std::string UnpackedRoot(const ImageStore& store) { return store.root() + "/unpacked"; }

Result<UnpackedImage> UnpackDescriptor(const ImageStore& store, const oci::Descriptor& descriptor) {
  UnpackedImage out;
  CL_ASSIGN_OR_RETURN(out.manifest, PlatformManifest(store, descriptor));
  CL_ASSIGN_OR_RETURN(oci::Manifest manifest, store.ReadManifest(out.manifest));
  CL_RETURN_IF_ERROR(oci::CheckImageManifest(manifest));
  CL_ASSIGN_OR_RETURN(out.config, store.ReadConfig(manifest.config));
  CL_RETURN_IF_ERROR(oci::CheckConfigMatchesManifest(out.config, manifest));
  const std::string root = UnpackedRoot(store);
  CL_RETURN_IF_ERROR(MakeDir(root));
  for (size_t i = 0; i < manifest.layers.size(); ++i) {
    CL_ASSIGN_OR_RETURN(std::string dir, UnpackLayer(store, root, manifest.layers[i], out.config.diff_ids[i]));
    out.layer_dirs.push_back(std::move(dir));
  }
  return out;
}

Result<std::string> UnpackLayerDescriptor(const ImageStore& store, const oci::Descriptor& layer,
                                          const oci::Digest& diff_id) {
  const std::string root = UnpackedRoot(store);
  CL_RETURN_IF_ERROR(MakeDir(root));
  return UnpackLayer(store, root, layer, diff_id);
}

Result<UnpackedImage> UnpackImage(const ImageStore& store, std::string_view reference) {
  CL_ASSIGN_OR_RETURN(oci::Descriptor descriptor, store.Resolve(reference));
  return UnpackDescriptor(store, descriptor);
}

Result<PruneStats> PruneUnpacked(const ImageStore& store, const std::vector<std::string>& in_use) {
  PruneStats stats;
  const std::string root = UnpackedRoot(store);
  CL_ASSIGN_OR_RETURN(std::set<std::string> keep, TaggedDiffIds(store));
  for (const std::string& dir : in_use) keep.insert(std::filesystem::path(dir).filename().string());
  DIR* d = ::opendir(root.c_str());
  if (d == nullptr) {
    if (errno == ENOENT) return stats;
    return ErrnoError("open " + root);
  }
  std::vector<std::string> remove;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    if (name.rfind(kTempPrefix, 0) == 0) {
      // .tmp-<pid>-XXXXXX: only its unpacker's death makes it garbage.
      int pid = std::atoi(name.c_str() + sizeof(kTempPrefix) - 1);
      if (pid > 0 && (::kill(pid, 0) == 0 || errno != ESRCH)) continue;
      remove.push_back(name);
    } else if (keep.count(name) != 0) {
      ++stats.layers_kept;
    } else {
      remove.push_back(name);
      ++stats.layers_removed;
    }
  }
  ::closedir(d);
  for (const std::string& name : remove) {
    std::string path = root;
    path += '/';
    path += name;
    RemoveTree(path);
  }
  return stats;
}

}  // namespace cloudlet::image
