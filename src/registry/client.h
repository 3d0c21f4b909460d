// Pull and push images with the OCI distribution API v2 (the protocol of docker-registry, Docker Hub, ghcr.io, ...).
//
//   Pull: GET /v2/ (probe) -> GET manifests/<tag|digest> (an index picks the platform's manifest) -> GET each missing
//         config/layer blob, streamed into the store and verified (digest and size) before it becomes visible ->
//         the manifest stored as the exact bytes received -> tagged.
//   Push: for each blob HEAD (present: skip) -> cross-repository mount POST ?mount=&from= (201: done) or
//         POST uploads/ -> a monolithic PUT ?digest= (small blobs) or PATCH chunks (Content-Range, following the
//         Location and Range the server returns) + the final PUT -> PUT manifests/<tag> with its media type.
//
// Auth: a 401 challenge is answered once per scope: Bearer -> a token from the realm (with the credentials as Basic
// auth, if any) cached for the session; Basic -> the credentials. Credentials come from RegistryOptions or the auth
// files (auth.h). Transient failures (connection errors, interrupted transfers, 429, 5xx) are retried with
// exponential backoff, honouring Retry-After up to a cap; an interrupted chunked upload resumes from the Range the
// server reports, else restarts. Plain http only for loopback registries or those listed in `insecure`.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "image/store.h"
#include "oci/image_spec.h"
#include "registry/auth.h"

namespace cloudlet::registry {

inline constexpr uint64_t kDefaultChunkSize = 8 << 20;

struct RegistryOptions {
  // Explicit credentials (--creds); otherwise the auth files are consulted.
  std::optional<Credentials> credentials;
  // Registries ("host:port") that may be reached over plain http, or https without certificate checks.
  std::vector<std::string> insecure;
  // Attempts per request for transient failures (the first try included).
  int max_attempts = 4;
  std::chrono::milliseconds retry_base{200};          // backoff: base, 2x base, 4x base, ...
  std::chrono::milliseconds retry_after_cap{30'000};  // a Retry-After longer than this is cut to this
  // Blobs larger than this are uploaded in PATCH chunks of this size; smaller ones with one PUT.
  uint64_t chunk_size = kDefaultChunkSize;
  // Push: a repository on the same registry that holds the blobs already (cross-repository mount). Empty: the local
  // reference's repository when it names the same registry.
  std::string mount_from;
  // One progress line per blob on stderr (the CLI sets this when stderr is a terminal).
  bool progress = false;
  long connect_timeout_seconds = 30;
  long stall_timeout_seconds = 60;
};

// A reference to an image on a registry, optionally with a scheme ("http://127.0.0.1:5000/app:1") forcing
// http or https.
struct RemoteReference {
  image::Reference reference;
  std::string scheme;  // "", "http" or "https"
  static Result<RemoteReference> Parse(std::string_view text);
};

struct PullResult {
  std::string reference;  // as tagged in the store
  oci::Descriptor manifest;
  uint64_t blobs_fetched = 0;
  uint64_t blobs_present = 0;  // already in the store
  uint64_t bytes_fetched = 0;
};

struct PushResult {
  std::string reference;  // remote, normalized
  oci::Descriptor manifest;
  uint64_t blobs_uploaded = 0;
  uint64_t blobs_present = 0;  // HEAD found them
  uint64_t blobs_mounted = 0;
  uint64_t bytes_uploaded = 0;
};

// Pulls `reference` for `platform` (an index's matching manifest) into `store` and tags it (a reference by digest
// only is tagged "sha256-<hex>").
Result<PullResult> Pull(image::ImageStore& store, std::string_view reference, const oci::Platform& platform,
                        const RegistryOptions& options = {});

// Pushes the image `local` names in `store` to `remote` (empty: the same reference). An index is pushed with all its
// manifests.
Result<PushResult> Push(image::ImageStore& store, std::string_view local, std::string_view remote,
                        const RegistryOptions& options = {});

}  // namespace cloudlet::registry
