// `cloudlet image build`: a Containerfile (containerfile.h) and a context directory in, a tagged OCI image out.
//
//   FROM      the base's manifest, config and layers (an image in the store; `scratch`: none)
//   RUN       overlay(unpacked layers so far) + fresh upper at <bundle>/rootfs -> config.json -> StepRunner (the
//             container runtime) -> exit 0 or the build fails naming the line -> DiffLayer(upper) -> a layer blob
//   COPY/ADD  sources from the context (never outside it; symlinks resolved inside it; minus what the context's
//             .containerignore or .dockerignore excludes) copied into the overlay (or, with no layers below, into an
//             empty directory) -> a layer blob; ADD unpacks a local tar
//   WORKDIR   sets the working directory and creates it when the image lacks it (a layer then, as Docker does)
//   others    config only: a history entry with empty_layer
//
// Cache: every step has an id, sha256 of (the parent step's id, the instruction as written, the build args in effect,
// compression and epoch, and for COPY/ADD a hash of the sources' names, types, modes, owners and contents). A layer
// step's result is remembered in <store>/build-cache/<id hex>.json (the layer descriptor and diff_id); a later build
// reaching the same id reuses the layer unless the blob is gone (`cloudlet image gc` removes untagged blobs) or
// --no-cache. Changing a copied file changes that step's id and so every id after it.
//
// Reproducible: every layer entry's mtime and every `created` is the epoch (SOURCE_DATE_EPOCH, default 0), entries
// are sorted, JSON is canonical — the same Containerfile and context give the same manifest digest, cached or not.
//
// Needs root for RUN and for COPY/ADD onto existing layers (overlay mounts, unpacking layers). A build that only
// copies onto `scratch` runs unprivileged (files then belong to the caller when chown is refused).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "image/layer.h"
#include "image/store.h"
#include "oci/image_spec.h"

namespace cloudlet::image {

// Runs a RUN step's container to completion: `bundle_dir` holds config.json and rootfs/ (mounted already). Returns
// the process's exit code. The CLI passes container::Runtime::Run; tests may pass a chroot.
using StepRunner = std::function<Result<int>(const std::string& container_id, const std::string& bundle_dir)>;

struct BuildOptions {
  // The Containerfile; empty: <context>/Containerfile, else <context>/Dockerfile.
  std::string containerfile;
  std::vector<std::string> tags;                  // references to tag the result with (none: untagged)
  std::map<std::string, std::string> build_args;  // --build-arg K=V
  bool no_cache = false;                          // run every step (results are still recorded)
  int64_t epoch = 0;                              // timestamps (SOURCE_DATE_EPOCH)
  Compression compression = Compression::kGzip;
  StepRunner run;  // required when the Containerfile has RUN
  // Progress lines ("STEP 2/5: COPY app /app (cached)", warnings); null: silent.
  std::function<void(const std::string&)> progress;
};

struct BuildResult {
  oci::Descriptor manifest;
  oci::Descriptor config;
  std::vector<std::string> references;  // normalized tags
  int steps = 0;
  int layers_built = 0;
  int layers_cached = 0;
};

// Builds from the Containerfile named by options (see BuildOptions::containerfile) in `context_dir`.
Result<BuildResult> Build(ImageStore& store, const std::string& context_dir, const BuildOptions& options);
// Same with the Containerfile's text given; `name` is what errors call it ("Containerfile:3: ...").
Result<BuildResult> BuildFromText(ImageStore& store, std::string_view containerfile, std::string_view name,
                                  const std::string& context_dir, const BuildOptions& options);

// <store>/build-cache
std::string BuildCacheDir(const ImageStore& store);
// Removes cache entries whose layer blob is gone; returns how many were removed.
Result<uint64_t> PruneBuildCache(const ImageStore& store);

}  // namespace cloudlet::image
