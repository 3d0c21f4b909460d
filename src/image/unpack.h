// Layers unpacked once per store and shared by every container rootfs and build step that uses them:
//
//   <store>/unpacked/<diff_id hex>/   one layer applied on its own in overlay mode (its files, its whiteouts as
//                                     overlayfs markers), so an image's rootfs is the overlay of its layers' dirs
//   <store>/unpacked/.tmp-*           extractions in progress
//
// A layer is extracted into a temporary directory and renamed to its final name only when the whole tar applied and
// its uncompressed digest matched the image config's diff_id, so a crash or a tampered blob never leaves a half or
// wrong layer under a name that will be trusted later. Two processes unpacking the same layer race harmlessly: the
// loser finds the name taken and discards its copy.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "image/store.h"
#include "oci/image_spec.h"

namespace cloudlet::image {

struct UnpackedImage {
  oci::Descriptor manifest;  // the platform's manifest (an index is resolved for the host)
  oci::ImageConfig config;
  std::vector<std::string> layer_dirs;  // base layer first
  // The layer dirs top-most first, the order MountRootfs (and overlayfs's lowerdir) wants.
  std::vector<std::string> Lowers() const { return {layer_dirs.rbegin(), layer_dirs.rend()}; }
};

// <store>/unpacked
std::string UnpackedRoot(const ImageStore& store);

// Resolves `reference` (a tag or name@digest; an index picks the host's platform) and unpacks whatever layers are not
// unpacked yet. Needs root (device nodes, ownership, overlay xattrs).
Result<UnpackedImage> UnpackImage(const ImageStore& store, std::string_view reference);
// The same for a descriptor already resolved (a manifest or an index).
Result<UnpackedImage> UnpackDescriptor(const ImageStore& store, const oci::Descriptor& descriptor);
// One layer (a manifest's layer descriptor and the config's diff_id for it) into <store>/unpacked/<diff_id hex>, unless
// it is there already; returns that directory. What image build uses for the layers its RUN steps stack.
Result<std::string> UnpackLayerDescriptor(const ImageStore& store, const oci::Descriptor& layer,
                                          const oci::Digest& diff_id);

struct PruneStats {
  uint64_t layers_kept = 0;
  uint64_t layers_removed = 0;
};
// Removes unpacked layers no tagged image uses any more, and leftover temporary extractions. `in_use` lists layer
// dirs to keep regardless (those of running containers whose image was removed).
Result<PruneStats> PruneUnpacked(const ImageStore& store, const std::vector<std::string>& in_use = {});

}  // namespace cloudlet::image
