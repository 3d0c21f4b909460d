// libFuzzer target for layer extraction (image/layer.h ApplyLayerFd): the bytes are a layer (plain tar, gzip or zstd,
// detected from the magic), applied into a fresh directory each run — flattened for even first bytes, as an
// overlayfs lower for odd ones. Invariant (abort() on violation): whatever the tar holds (absolute paths, "..",
// symlinks then files through them, hardlinks out, whiteouts of "..", devices), nothing outside the target changes:
// the target's parent holds only the target and a sentinel file whose content stays the same. The directory is
// emptied after every run (modes restored first so that removal cannot fail).
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "image/layer.h"

namespace cloudlet::image {
namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

constexpr char kSentinel[] = "sentinel: must not change\n";

struct Sandbox {
  std::string root, target, sentinel;
  Sandbox() {
    std::string tmpl = std::filesystem::temp_directory_path().string() + "/layer_apply_fuzz.XXXXXX";
    Check(::mkdtemp(tmpl.data()) != nullptr);
    root = tmpl;
    target = root + "/target";
    sentinel = root + "/sentinel";
    std::ofstream(sentinel) << kSentinel;
  }
};

void RemoveAll(const std::string& dir);

Sandbox& Box() {
  static Sandbox* box = [] {
    auto* b = new Sandbox();
    std::atexit([] { RemoveAll(Box().root); });
    return b;
  }();
  return *box;
}

// Owner write/search on every directory below `dir` (a layer may create 000 directories), then remove it all.
void RemoveAll(const std::string& dir) {
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(
           dir, std::filesystem::directory_options::skip_permission_denied, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_directory(ec) && !it->is_symlink(ec)) ::chmod(it->path().c_str(), 0700);
  }
  ::chmod(dir.c_str(), 0700);
  std::filesystem::remove_all(dir, ec);
}

std::string ReadAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void FuzzOne(const uint8_t* data, size_t size) {
  Sandbox& box = Box();
  RemoveAll(box.target);
  Check(::mkdir(box.target.c_str(), 0755) == 0);

  int fd = ::memfd_create("layer", MFD_CLOEXEC);
  Check(fd >= 0);
  for (size_t off = 0; off < size;) {
    ssize_t n = ::write(fd, data + off, size - off);
    Check(n > 0);
    off += static_cast<size_t>(n);
  }
  Check(::lseek(fd, 0, SEEK_SET) == 0);
  ApplyOptions options;
  options.whiteouts = size > 0 && (data[0] & 1) ? WhiteoutMode::kOverlay : WhiteoutMode::kFlatten;
  options.preserve_ownership = false;
  options.max_entries = 2000;
  options.max_total_bytes = 32 << 20;
  (void)ApplyLayerFd(fd, box.target, options);
  ::close(fd);

  size_t entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(box.root)) {
    const std::string name = e.path().filename().string();
    Check(name == "target" || name == "sentinel");
    ++entries;
  }
  Check(entries == 2);
  struct stat st {};
  Check(::lstat(box.sentinel.c_str(), &st) == 0 && S_ISREG(st.st_mode));
  Check(ReadAll(box.sentinel) == kSentinel);
  RemoveAll(box.target);
}

}  // namespace
}  // namespace cloudlet::image

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  cloudlet::image::FuzzOne(data, size);
  return 0;
}
