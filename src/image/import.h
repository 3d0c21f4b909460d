// Images made from a directory on this host: the directory becomes the image's one layer (a reproducible tar from
// CreateLayer), with an image config (fixed `created` time, rootfs.diff_ids) and an OCI manifest, tagged in the store.
// The same tree and settings always give the same manifest digest, so importing twice changes nothing.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "image/layer.h"
#include "image/store.h"
#include "oci/image_spec.h"

namespace cloudlet::image {

// The run settings of the image (image config "config" member).
struct ImageSettings {
  std::optional<std::vector<std::string>> entrypoint;
  std::optional<std::vector<std::string>> cmd;
  std::vector<std::string> env = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"};
  std::string working_dir;
  std::string user;
  std::map<std::string, std::string> labels;
};

struct CommitOptions {
  Compression compression = Compression::kGzip;
  // The image config's `created` and every layer entry's mtime (seconds since the epoch, like SOURCE_DATE_EPOCH).
  int64_t epoch = 0;
  // Recorded in the config's history.
  std::string created_by = "cloudlet image import";
};

struct CommittedImage {
  oci::Descriptor manifest;  // what the reference now names
  oci::Descriptor config;
  oci::Descriptor layer;  // the last (top) layer
  std::vector<oci::Descriptor> layers;
  std::string reference;  // normalized
};

// Writes `rootfs_dir` as a one-layer image for the host platform and tags it `reference`.
Result<CommittedImage> CommitImage(ImageStore& store, const std::string& rootfs_dir, const ImageSettings& settings,
                                   std::string_view reference, const CommitOptions& options = {});

// Same with several layers: each directory becomes one layer, the first the base (no whiteouts: a later directory
// adds and replaces files, it cannot delete).
Result<CommittedImage> CommitImageLayers(ImageStore& store, const std::vector<std::string>& layer_dirs,
                                         const ImageSettings& settings, std::string_view reference,
                                         const CommitOptions& options = {});

// A busybox base image (BuildBusyboxRootfs in a temporary directory, Cmd ["sh"]) tagged `reference`.
Result<CommittedImage> ImportBusybox(ImageStore& store, std::string_view reference, const CommitOptions& options = {});

// RFC 3339 UTC ("1970-01-01T00:00:00Z") of seconds since the epoch.
std::string Rfc3339(int64_t epoch);

}  // namespace cloudlet::image
