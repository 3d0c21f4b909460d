// The OCI image specification's JSON documents (image-spec 1.1): descriptors, image manifests, image indexes and
// image configs, plus Docker's schema2 equivalents, which registries still serve and which are accepted on read.
//
// Parsing validates what cloudlet relies on (schemaVersion 2, well-formed digests and media types, sizes >= 0,
// required fields) and names the JSON path in every error ("manifest: layers[1].digest: invalid digest ..."). Unknown
// fields are ignored, as the spec requires, so a parsed object does not keep them: a document that came from outside
// is stored and hashed as the bytes it came as, never re-serialized.
//
// Serialize() is canonical: keys in bytewise order, no whitespace, empty optional fields omitted, so the same object
// always gives the same bytes and the same digest (image build relies on this for reproducible output). Parsing the
// output gives back an equal object.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "oci/digest.h"

namespace cloudlet::oci {

// OCI media types.
inline constexpr char kMediaTypeImageManifest[] = "application/vnd.oci.image.manifest.v1+json";
inline constexpr char kMediaTypeImageIndex[] = "application/vnd.oci.image.index.v1+json";
inline constexpr char kMediaTypeImageConfig[] = "application/vnd.oci.image.config.v1+json";
inline constexpr char kMediaTypeImageLayer[] = "application/vnd.oci.image.layer.v1.tar";
inline constexpr char kMediaTypeImageLayerGzip[] = "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr char kMediaTypeImageLayerZstd[] = "application/vnd.oci.image.layer.v1.tar+zstd";
inline constexpr char kMediaTypeEmptyJson[] = "application/vnd.oci.empty.v1+json";  // artifacts' config: "{}"
// Docker image manifest v2 schema 2 (read only: cloudlet writes OCI types).
inline constexpr char kMediaTypeDockerManifest[] = "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr char kMediaTypeDockerManifestList[] = "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr char kMediaTypeDockerConfig[] = "application/vnd.docker.container.image.v1+json";
inline constexpr char kMediaTypeDockerLayerGzip[] = "application/vnd.docker.image.rootfs.diff.tar.gzip";

// Annotation keys cloudlet reads or writes.
inline constexpr char kAnnotationRefName[] = "org.opencontainers.image.ref.name";
inline constexpr char kAnnotationCreated[] = "org.opencontainers.image.created";

// Manifests and indexes larger than this are refused (registries cap manifests at 4 MiB; configs are smaller).
inline constexpr size_t kMaxJsonDocumentSize = 16 << 20;

bool IsManifestMediaType(std::string_view media_type);  // OCI image manifest or Docker schema2 manifest
bool IsIndexMediaType(std::string_view media_type);     // OCI image index or Docker manifest list
bool IsConfigMediaType(std::string_view media_type);    // OCI or Docker image config
bool IsLayerMediaType(std::string_view media_type);  // tar, tar+gzip, tar+zstd (OCI, incl. non-distributable), Docker
// RFC 6838 "type/subtype" as the image spec requires of every mediaType field.
bool IsValidMediaType(std::string_view media_type);

struct Platform {
  std::string architecture;              // GOARCH: "amd64", "arm64", ...
  std::string os;                        // GOOS: "linux"
  std::string os_version;                // "os.version"
  std::vector<std::string> os_features;  // "os.features"
  std::string variant;                   // "v8" (arm64), "v7" (arm), "v3" (amd64 microarchitecture level)
  bool operator==(const Platform&) const = default;
};

struct Descriptor {
  std::string media_type;
  Digest digest;
  int64_t size = 0;
  std::vector<std::string> urls;
  std::map<std::string, std::string> annotations;
  std::optional<Platform> platform;
  std::string artifact_type;  // "artifactType" (image-spec 1.1), empty when absent
  bool operator==(const Descriptor&) const = default;
};

struct Manifest {
  // Absent in many OCI manifests (empty after parsing such a one); required and Docker's type in Docker's.
  std::string media_type = kMediaTypeImageManifest;
  std::string artifact_type;
  Descriptor config;
  std::vector<Descriptor> layers;  // base layer first
  std::optional<Descriptor> subject;
  std::map<std::string, std::string> annotations;
  bool operator==(const Manifest&) const = default;
};

struct Index {
  std::string media_type = kMediaTypeImageIndex;  // as for Manifest::media_type
  std::string artifact_type;
  std::vector<Descriptor> manifests;
  std::optional<Descriptor> subject;
  std::map<std::string, std::string> annotations;
  bool operator==(const Index&) const = default;
};

// The "config" member of an image config: how to run a container from the image. Field names in the JSON are
// Docker's (User, Env, Entrypoint, ...).
struct ContainerConfig {
  std::string user;
  std::set<std::string> exposed_ports;  // "80/tcp", "53/udp", "8080" (tcp)
  std::vector<std::string> env;         // "KEY=value"
  // Absent and empty differ: an image may reset its base's Cmd to [].
  std::optional<std::vector<std::string>> entrypoint;
  std::optional<std::vector<std::string>> cmd;
  std::set<std::string> volumes;
  std::string working_dir;
  std::map<std::string, std::string> labels;
  std::string stop_signal;
  bool operator==(const ContainerConfig&) const = default;
};

struct History {
  std::string created;  // RFC 3339, empty when absent
  std::string author;
  std::string created_by;
  std::string comment;
  bool empty_layer = false;
  bool operator==(const History&) const = default;
};

struct ImageConfig {
  std::string created;  // RFC 3339, empty when absent
  std::string author;
  std::string architecture;  // required
  std::string os;            // required
  std::string os_version;
  std::vector<std::string> os_features;
  std::string variant;
  ContainerConfig config;
  std::vector<Digest> diff_ids;  // rootfs.diff_ids (rootfs.type is always "layers"), base layer first
  std::vector<History> history;
  bool operator==(const ImageConfig&) const = default;
};

// Parse and validate. Errors start with the document kind and name the JSON path.
Result<Manifest> ParseManifest(std::string_view json);
Result<Index> ParseIndex(std::string_view json);
Result<ImageConfig> ParseImageConfig(std::string_view json);
Result<Descriptor> ParseDescriptor(std::string_view json);

// Canonical JSON (see the file comment). Strings that are not valid UTF-8 (only possible in objects built by hand)
// have the bad bytes replaced with U+FFFD rather than failing.
std::string Serialize(const Manifest& manifest);
std::string Serialize(const Index& index);
std::string Serialize(const ImageConfig& config);
std::string Serialize(const Descriptor& descriptor);

// The descriptor of `bytes` as a blob of `media_type`.
Descriptor DescribeBlob(std::string_view media_type, std::string_view bytes);

// The media type of a manifest or index document whose descriptor is not known (a blob named only by digest):
// its mediaType field, else guessed from its members ("manifests" -> index, "config" -> manifest). Empty if it is
// neither.
std::string SniffMediaType(std::string_view json);

// Checks that the manifest describes a runnable image, beyond what parsing requires of any manifest (artifacts such
// as signatures are manifests too): its config is an image config and every layer a layer type cloudlet unpacks.
// With the image's config, also that rootfs.diff_ids has one entry per layer.
Status CheckImageManifest(const Manifest& manifest);
Status CheckConfigMatchesManifest(const ImageConfig& config, const Manifest& manifest);

// Platforms. Normalization follows containerd: "x86_64" -> "amd64", "aarch64" -> "arm64", "armhf" -> "arm"/"v7",
// the default variant of arm64 is "v8", of arm "v7", of amd64 "v1".
Platform NormalizePlatform(Platform platform);
// The platform this binary runs on (linux/<compile-time architecture>), without a variant.
Platform HostPlatform();
// "linux/amd64", "linux/arm64/v8".
std::string PlatformString(const Platform& platform);
Result<Platform> ParsePlatform(std::string_view text);
// Whether an image built for `have` runs on `want`: same os and architecture, and a variant `want` can run (an
// arm/v7 host runs v6 and v5 images, an amd64/v3 host runs v1..v3 images; an empty wanted variant means the
// architecture's baseline).
bool PlatformRuns(const Platform& want, const Platform& have);
// The index entry for `want`: among the entries whose platform PlatformRuns accepts, the one with the highest variant,
// the first in index order on ties. Entries without a platform are skipped. The error lists the platforms the index
// has.
Result<Descriptor> SelectManifest(const Index& index, const Platform& want);

}  // namespace cloudlet::oci
