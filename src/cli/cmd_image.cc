// `cloudlet image ls | inspect | rm | import | pull | push | build | gc | verify`: thin wrappers over image/,
// registry/ and (for build's RUN steps) container/.
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli/cli.h"
#include "cli/image.h"
#include "cli/table.h"
#include "container/runtime.h"
#include "image/build.h"
#include "image/import.h"
#include "image/store.h"
#include "image/unpack.h"
#include "registry/client.h"

namespace cloudlet::cli {
namespace {

constexpr const char* kBuildFooter = R"(Building images:
  FROM image|scratch (an image in the store: pull or import it first), ARG, ENV, LABEL, EXPOSE, WORKDIR, USER,
  ENTRYPOINT, CMD (JSON exec form or shell form), RUN (runs in cloudlet's runtime: new namespaces, a network
  namespace with only loopback, no host mounts; a non-zero exit fails the build naming the line), COPY and ADD
  [--chown=U:G] [--chmod=0755] SRC... DEST (sources inside the context only; ADD unpacks a local tar, tar.gz or
  tar.zst; no URLs). Lines continue with a trailing \; # starts a comment. Not supported: multi-stage builds, RUN
  --mount, heredocs, SHELL, VOLUME, HEALTHCHECK, ONBUILD, STOPSIGNAL. CONTEXT/.containerignore (else .dockerignore)
  excludes files from COPY/ADD as Docker's does (*, ?, [..], **, !exceptions).
  Each RUN, COPY and ADD result is cached (<store>/build-cache) under a key of the steps before it, the instruction,
  the build args in effect and (COPY/ADD) a hash of the sources' contents, modes and owners; --no-cache runs every
  step. Timestamps are the --epoch (default $SOURCE_DATE_EPOCH, else 0) and layers are sorted, so the same inputs
  give the same manifest digest. RUN and COPY onto a base image need root.
Example:
  cloudlet image import --busybox localhost/busybox:latest
  printf 'FROM localhost/busybox\nCOPY app.sh /app.sh\nRUN chmod +x /app.sh\nCMD ["/app.sh"]\n' > Containerfile
  cloudlet image build -t localhost/app:1 .)";

constexpr const char* kImageFooter = R"(Examples:
  cloudlet image import --busybox localhost/busybox:latest   a base image from Debian's busybox-static
  cloudlet image import ./rootfs localhost/app:1.0           a directory as a one-layer image
  cloudlet image import ./base ./app localhost/app:1.1       two directories, two layers
  cloudlet image ls
  cloudlet image push localhost/busybox:latest 127.0.0.1:5000/busybox:1
  cloudlet image pull 127.0.0.1:5000/busybox:1
  cloudlet image pull --creds user:pass registry.example.com/team/app:2.1 --platform linux/arm64
  cloudlet image inspect 127.0.0.1:5000/busybox:1
  cloudlet image rm 127.0.0.1:5000/busybox:1 && cloudlet image gc
  cloudlet image build -t localhost/app:1 --build-arg VERSION=2 ./app   ./app/Containerfile (or Dockerfile)
Plain http is used only for loopback registries and those given --insecure. Credentials: --creds, or the auth file of
`podman login` ($REGISTRY_AUTH_FILE, ${XDG_RUNTIME_DIR}/containers/auth.json, ~/.docker/config.json).)";

Result<uint64_t> ParseSize(const std::string& text) {
  if (text.empty()) return Error("empty size");
  size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  if (i == 0 || i > 12) return Error("size " + text + ": expected a number with an optional K, M or G suffix");
  uint64_t n = std::stoull(text.substr(0, i));
  std::string suffix = text.substr(i);
  if (suffix == "K" || suffix == "k" || suffix == "KiB") return n << 10;
  if (suffix == "M" || suffix == "m" || suffix == "MiB") return n << 20;
  if (suffix == "G" || suffix == "g" || suffix == "GiB") return n << 30;
  if (suffix.empty()) return n;
  return Error("size " + text + ": unknown suffix " + suffix + " (K, M or G)");
}

std::string Short(const oci::Digest& d) { return d.hex().substr(0, 12); }

double Seconds(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::string Rate(uint64_t bytes, double secs) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s in %.2fs (%.1f MiB/s)", HumanBytes(bytes).c_str(), secs,
                secs > 0 ? static_cast<double>(bytes) / secs / (1 << 20) : 0.0);
  return buf;
}

int Fail(std::ostream& err, const std::string& what, const Error& e, int code = kExitFailure) {
  err << "cloudlet image " << what << ": " << e.message() << "\n";
  return code;
}

registry::RegistryOptions RegistryOptionsFrom(const ImageArgs& a, const std::string& remote, std::ostream& err,
                                              bool* ok) {
  registry::RegistryOptions o;
  *ok = true;
  if (!a.creds.empty()) {
    Result<registry::Credentials> c = registry::ParseCredentials(a.creds);
    if (!c.ok()) {
      err << "cloudlet image: --creds: " << c.error().message() << "\n";
      *ok = false;
    } else {
      o.credentials = *c;
    }
  }
  if (a.insecure) {
    Result<registry::RemoteReference> r = registry::RemoteReference::Parse(remote);
    if (r.ok()) o.insecure.push_back(r->reference.registry);
  }
  Result<uint64_t> chunk = ParseSize(a.chunk_size);
  if (!chunk.ok() || *chunk < 64 * 1024) {
    err << "cloudlet image: --chunk-size: " << (chunk.ok() ? "at least 64K" : chunk.error().message()) << "\n";
    *ok = false;
  } else {
    o.chunk_size = *chunk;
  }
  o.mount_from = a.from;
  o.progress = ::isatty(STDERR_FILENO) == 1;
  return o;
}

int List(image::ImageStore& store, const ImageArgs& a, std::ostream& out, std::ostream& err) {
  Result<std::vector<image::TaggedImage>> images = store.List();
  if (!images.ok()) return Fail(err, "ls", images.error());
  nlohmann::json rows = nlohmann::json::array();
  TextTable table({"REFERENCE", "DIGEST", "SIZE", "CREATED"}, {false, false, true, false});
  for (const auto& img : *images) {
    uint64_t size = static_cast<uint64_t>(img.descriptor.size);
    std::string created;
    if (oci::IsManifestMediaType(img.descriptor.media_type)) {
      Result<oci::Manifest> m = store.ReadManifest(img.descriptor);
      if (m.ok()) {
        size += static_cast<uint64_t>(m->config.size);
        for (const auto& l : m->layers) size += static_cast<uint64_t>(l.size);
        Result<oci::ImageConfig> c = store.ReadConfig(m->config);
        if (c.ok()) created = c->created;
      }
    }
    table.AddRow({img.reference, Short(img.descriptor.digest), HumanBytes(size), created});
    rows.push_back({{"reference", img.reference},
                    {"digest", img.descriptor.digest.str()},
                    {"media_type", img.descriptor.media_type},
                    {"size", size},
                    {"created", created}});
  }
  if (a.format == "json") {
    out << rows.dump(2) << "\n";
  } else if (table.empty()) {
    out << "no images in " << store.root() << "\n";
  } else {
    out << table.Render("");
  }
  return kExitOk;
}

int Inspect(image::ImageStore& store, const ImageArgs& a, std::ostream& out, std::ostream& err) {
  Result<oci::Descriptor> d = store.Resolve(a.reference);
  if (!d.ok()) return Fail(err, "inspect", d.error());
  Result<std::string> bytes = store.ReadBlob(*d);
  if (!bytes.ok()) return Fail(err, "inspect", bytes.error());
  nlohmann::json doc = {
      {"reference", a.reference}, {"digest", d->digest.str()}, {"media_type", d->media_type}, {"size", d->size}};
  doc["manifest"] = nlohmann::json::parse(*bytes, nullptr, false);
  if (oci::IsManifestMediaType(d->media_type)) {
    Result<oci::Manifest> m = oci::ParseManifest(*bytes);
    if (!m.ok()) return Fail(err, "inspect", m.error());
    Result<std::string> config = store.ReadBlob(m->config);
    if (!config.ok()) return Fail(err, "inspect", config.error());
    doc["config"] = nlohmann::json::parse(*config, nullptr, false);
  }
  out << doc.dump(2) << "\n";
  return kExitOk;
}

int Import(image::ImageStore& store, const ImageArgs& a, std::ostream& out, std::ostream& err) {
  image::CommitOptions options;
  if (a.compression == "zstd") options.compression = image::Compression::kZstd;
  if (a.compression == "none") options.compression = image::Compression::kNone;
  if (const char* epoch = std::getenv("SOURCE_DATE_EPOCH"); epoch && *epoch) options.epoch = std::atoll(epoch);
  Result<image::CommittedImage> img = Error("");
  const std::vector<std::string>& args = a.import_args;
  if (a.busybox) {
    if (args.size() != 1) {
      err << "cloudlet image import: --busybox takes one argument, the reference\n";
      return kExitBadInput;
    }
    img = image::ImportBusybox(store, args[0], options);
  } else {
    if (args.size() < 2) {
      err << "cloudlet image import: give DIR [DIR...] REF, or --busybox REF\n";
      return kExitBadInput;
    }
    std::vector<std::string> dirs(args.begin(), args.end() - 1);
    img = image::CommitImageLayers(store, dirs, image::ImageSettings{}, args.back(), options);
  }
  if (!img.ok()) return Fail(err, "import", img.error());
  out << img->reference << " " << img->manifest.digest.str() << "\n";
  return kExitOk;
}

int PullCommand(image::ImageStore& store, const ImageArgs& a, std::ostream& out, std::ostream& err) {
  oci::Platform platform = oci::HostPlatform();
  if (!a.platform.empty()) {
    Result<oci::Platform> p = oci::ParsePlatform(a.platform);
    if (!p.ok()) return Fail(err, "pull", p.error().wrap("--platform"), kExitBadInput);
    platform = *p;
  }
  bool ok = true;
  registry::RegistryOptions options = RegistryOptionsFrom(a, a.reference, err, &ok);
  if (!ok) return kExitBadInput;
  auto start = std::chrono::steady_clock::now();
  Result<registry::PullResult> r = registry::Pull(store, a.reference, platform, options);
  if (!r.ok()) return Fail(err, "pull", r.error());
  out << "pulled " << r->reference << " " << r->manifest.digest.str() << ": " << r->blobs_fetched << " blobs fetched, "
      << r->blobs_present << " already present, " << Rate(r->bytes_fetched, Seconds(start)) << "\n";
  return kExitOk;
}

int PushCommand(image::ImageStore& store, const ImageArgs& a, std::ostream& out, std::ostream& err) {
  const std::string& remote = a.second.empty() ? a.reference : a.second;
  bool ok = true;
  registry::RegistryOptions options = RegistryOptionsFrom(a, remote, err, &ok);
  if (!ok) return kExitBadInput;
  auto start = std::chrono::steady_clock::now();
  Result<registry::PushResult> r = registry::Push(store, a.reference, a.second, options);
  if (!r.ok()) return Fail(err, "push", r.error());
  out << "pushed " << r->reference << " " << r->manifest.digest.str() << ": " << r->blobs_uploaded
      << " blobs uploaded, " << r->blobs_present << " already there, " << r->blobs_mounted << " mounted, "
      << Rate(r->bytes_uploaded, Seconds(start)) << "\n";
  return kExitOk;
}

// Unpacked layer directories that a mounted overlay (a running container's rootfs, a build step) uses: kept by gc
// even when no tag needs them any more. Read from this mount namespace's mountinfo (overlay super options).
std::vector<std::string> MountedLowers(const image::ImageStore& store) {
  std::vector<std::string> dirs;
  const std::string root = image::UnpackedRoot(store) + "/";
  std::ifstream f("/proc/self/mountinfo");
  std::string line;
  while (std::getline(f, line)) {
    size_t pos = line.find("lowerdir=");
    if (pos == std::string::npos) continue;
    pos += 9;
    size_t end = line.find_first_of(", ", pos);
    std::string lowers = line.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    size_t start = 0;
    while (start <= lowers.size()) {
      size_t colon = lowers.find(':', start);
      std::string dir = lowers.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
      if (dir.rfind(root, 0) == 0) dirs.push_back(dir);
      if (colon == std::string::npos) break;
      start = colon + 1;
    }
  }
  return dirs;
}

// Overlay mounts of RUN steps go into a private mount namespace, so a build that dies leaves none behind.
void PrivateMounts(std::ostream& err) {
  if (::geteuid() != 0) return;
  if (::unshare(CLONE_NEWNS) != 0 || ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    err << "cloudlet image build: warning: no private mount namespace (" << std::strerror(errno)
        << "); mounts of an interrupted build may stay behind\n";
  }
}

int BuildCommand(image::ImageStore& store, const ImageArgs& a, std::ostream& out, std::ostream& err) {
  image::BuildOptions options;
  options.containerfile = a.containerfile;
  options.tags = a.tags;
  options.no_cache = a.no_cache;
  if (a.compression == "zstd") options.compression = image::Compression::kZstd;
  if (a.compression == "none") options.compression = image::Compression::kNone;
  options.epoch = 0;
  if (a.epoch >= 0) {
    options.epoch = a.epoch;
  } else if (const char* epoch = std::getenv("SOURCE_DATE_EPOCH"); epoch && *epoch) {
    char* end = nullptr;
    long long v = std::strtoll(epoch, &end, 10);
    if (*end != '\0' || v < 0) {
      err << "cloudlet image build: SOURCE_DATE_EPOCH=" << epoch << ": expected seconds since 1970\n";
      return kExitBadInput;
    }
    options.epoch = v;
  }
  for (const std::string& kv : a.build_args) {
    size_t eq = kv.find('=');
    if (eq == 0) {
      err << "cloudlet image build: --build-arg " << kv << ": expected NAME=VALUE\n";
      return kExitBadInput;
    }
    if (eq == std::string::npos) {
      // Docker: `--build-arg NAME` takes the value from the environment.
      if (const char* v = std::getenv(kv.c_str())) options.build_args[kv] = v;
      continue;
    }
    options.build_args[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  options.progress = [&out](const std::string& line) { out << line << std::endl; };

  PrivateMounts(err);
  const std::string runtime_root = "/run/cloudlet/build";
  ::mkdir("/run/cloudlet", 0711);
  container::RuntimeOptions ro;
  ro.root = runtime_root;
  container::Runtime runtime(ro);
  options.run = [&runtime](const std::string& id, const std::string& bundle) -> Result<int> {
    container::CreateOptions co;
    co.bundle = bundle;
    return runtime.Run(id, co, false);
  };

  auto start = std::chrono::steady_clock::now();
  Result<image::BuildResult> r = image::Build(store, a.context, options);
  if (!r.ok()) return Fail(err, "build", r.error());
  char secs[32];
  std::snprintf(secs, sizeof secs, "%.2fs", Seconds(start));
  out << r->steps << " steps, " << r->layers_built << " layers built, " << r->layers_cached << " cached, " << secs
      << "\n";
  if (r->references.empty()) out << "built " << r->manifest.digest.str() << " (untagged: give -t NAME:TAG)\n";
  for (const std::string& ref : r->references) out << "built " << ref << " " << r->manifest.digest.str() << "\n";
  return kExitOk;
}

}  // namespace

CLI::App* AddImageCommands(CLI::App& app, ImageArgs& a) {
  const char* env = std::getenv("CLOUDLET_IMAGE_STORE");
  a.store = env && *env ? env : image::kDefaultStoreRoot;
  a.image = app.add_subcommand("image",
                               "Images: the local OCI store, import, pull and push.  Example: cloudlet image pull "
                               "127.0.0.1:5000/app:1");
  a.image->require_subcommand(1);
  a.image->fallthrough();  // --store may follow the subcommand: `cloudlet image ls --store DIR`
  a.image->footer(kImageFooter);
  a.image->add_option("--store", a.store, "The image store, an OCI image layout (env CLOUDLET_IMAGE_STORE)")
      ->capture_default_str()
      ->type_name("DIR");
  auto registry_flags = [&](CLI::App* cmd) {
    cmd->add_flag("--insecure", a.insecure,
                  "The registry may be reached over plain http or https without certificate checks (loopback "
                  "registries always may)");
    cmd->add_option("--creds", a.creds, "USER:PASSWORD (default: the auth file of `podman login`)");
  };
  a.ls = a.image->add_subcommand("ls", "List tagged images.  Example: cloudlet image ls --format json");
  a.ls->add_option("--format", a.format, "table or json")
      ->capture_default_str()
      ->check(CLI::IsMember({"table", "json"}));
  a.inspect = a.image->add_subcommand("inspect",
                                      "Print an image's manifest and config as JSON.  Example: cloudlet "
                                      "image inspect busybox");
  a.inspect->add_option("REF", a.reference, "Image reference (name:tag or name@sha256:...)")->required();
  a.rm = a.image->add_subcommand("rm",
                                 "Remove a tag and the blobs no other image uses.  Example: cloudlet image rm "
                                 "app:1");
  a.rm->add_option("REF", a.reference, "Image reference")->required();
  a.import = a.image->add_subcommand(
      "import",
      "Make an image from directories (one layer each), or a busybox base image.  Example: cloudlet image import "
      "--busybox localhost/busybox:latest");
  a.import->add_flag("--busybox", a.busybox, "Build a busybox root filesystem (Debian's busybox-static) instead");
  a.import
      ->add_option("ARGS", a.import_args,
                   "DIR [DIR...] REF: each directory one layer, the first the base; with --busybox: REF")
      ->required();
  a.import->add_option("--compression", a.compression, "Layer compression: gzip, zstd or none")
      ->capture_default_str()
      ->check(CLI::IsMember({"gzip", "zstd", "none"}));
  a.pull = a.image->add_subcommand("pull",
                                   "Download an image from a registry.  Example: cloudlet image pull "
                                   "127.0.0.1:5000/busybox:1");
  a.pull->add_option("REF", a.reference, "Remote reference (registry/repository:tag or @sha256:...)")->required();
  a.pull->add_option("--platform", a.platform,
                     "os/arch[/variant] to pick from a multi-platform image (default: "
                     "this host's)");
  registry_flags(a.pull);
  a.push = a.image->add_subcommand("push",
                                   "Upload an image to a registry.  Example: cloudlet image push app:1 "
                                   "127.0.0.1:5000/app:1");
  a.push->add_option("LOCAL", a.reference, "The image in the store")->required();
  a.push->add_option("REMOTE", a.second, "Where to push (default: LOCAL, which then names the registry)");
  registry_flags(a.push);
  a.push->add_option("--chunk-size", a.chunk_size, "Blobs larger than this go up in chunks of this size (K, M, G)")
      ->capture_default_str();
  a.push->add_option("--from", a.from,
                     "A repository on the same registry that already holds the blobs (mount them "
                     "instead of uploading)");
  a.build = a.image->add_subcommand(
      "build",
      "Build an image from a Containerfile (or Dockerfile) and a context directory.  Example: cloudlet image build "
      "-t localhost/app:1 .");
  a.build->footer(kBuildFooter);
  a.build->add_option("-f,--file", a.containerfile,
                      "The Containerfile (default: CONTEXT/Containerfile, else "
                      "CONTEXT/Dockerfile)");
  a.build->add_option("-t,--tag", a.tags, "Tag the result NAME:TAG (repeatable)");
  a.build->add_option("--build-arg", a.build_args, "NAME=VALUE for an ARG (NAME alone: from the environment)");
  a.build->add_flag("--no-cache", a.no_cache, "Run every step instead of reusing cached layers");
  a.build
      ->add_option("--epoch", a.epoch, "Seconds since 1970 for every timestamp (default: $SOURCE_DATE_EPOCH, else 0)")
      ->check(CLI::NonNegativeNumber);
  a.build->add_option("--compression", a.compression, "Layer compression: gzip, zstd or none")
      ->capture_default_str()
      ->check(CLI::IsMember({"gzip", "zstd", "none"}));
  a.build->add_option("CONTEXT", a.context, "The build context directory (COPY and ADD sources)")->required();
  a.gc = a.image->add_subcommand("gc",
                                 "Remove blobs no tagged image uses, unpacked layers and build cache entries that "
                                 "went with them.  Example: cloudlet image gc");
  a.verify = a.image->add_subcommand("verify",
                                     "Re-hash every blob and check that tagged images are complete.  "
                                     "Example: cloudlet image verify");
  return a.image;
}

int RunImageCommand(const ImageArgs& a, std::ostream& out, std::ostream& err) {
  Result<image::ImageStore> store = image::ImageStore::Open(a.store);
  if (!store.ok()) return Fail(err, "", store.error().wrap("store " + a.store));
  if (a.ls->parsed()) return List(*store, a, out, err);
  if (a.inspect->parsed()) return Inspect(*store, a, out, err);
  if (a.import->parsed()) return Import(*store, a, out, err);
  if (a.pull->parsed()) return PullCommand(*store, a, out, err);
  if (a.push->parsed()) return PushCommand(*store, a, out, err);
  if (a.build->parsed()) return BuildCommand(*store, a, out, err);
  if (a.rm->parsed()) {
    Result<image::GcStats> st = store->RemoveImage(a.reference);
    if (!st.ok()) return Fail(err, "rm", st.error());
    out << "removed " << a.reference << " (" << st->blobs_removed << " blobs, " << HumanBytes(st->bytes_removed)
        << " freed)\n";
    return kExitOk;
  }
  if (a.gc->parsed()) {
    Result<image::GcStats> st = store->CollectGarbage();
    if (!st.ok()) return Fail(err, "gc", st.error());
    out << st->blobs_removed << " blobs removed (" << HumanBytes(st->bytes_removed) << "), " << st->blobs_kept
        << " kept, " << st->ingest_removed << " abandoned uploads removed\n";
    Result<image::PruneStats> unpacked = image::PruneUnpacked(*store, MountedLowers(*store));
    if (!unpacked.ok()) return Fail(err, "gc", unpacked.error());
    Result<uint64_t> cache = image::PruneBuildCache(*store);
    if (!cache.ok()) return Fail(err, "gc", cache.error());
    out << unpacked->layers_removed << " unpacked layers removed, " << unpacked->layers_kept << " kept, " << *cache
        << " build cache entries removed\n";
    return kExitOk;
  }
  if (a.verify->parsed()) {
    Result<image::VerifyReport> r = store->Verify();
    if (!r.ok()) return Fail(err, "verify", r.error());
    for (const auto& p : r->problems) err << p.path << ": " << p.problem << "\n";
    out << r->blobs_checked << " blobs checked, " << r->problems.size() << " problems\n";
    return r->ok() ? kExitOk : kExitFailure;
  }
  err << "cloudlet image: no command given; run `cloudlet image --help`\n";
  return kExitBadInput;
}

}  // namespace cloudlet::cli
