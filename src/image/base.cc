// The busybox base rootfs. busybox is asked for its applets (--list-full gives each one's usual path), so the tree
// matches whatever busybox version the host has.
#include "image/base.h"

#include <elf.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "base/fd.h"

extern char** environ;

namespace cloudlet::image {
namespace {

constexpr char kPackageHint[] = "install Debian's busybox-static package (apt-get install busybox-static)";
constexpr size_t kMaxListBytes = 1 << 20;

Status MakeDirs(const std::string& path, mode_t mode) {
  for (size_t pos = 1; pos <= path.size(); ++pos) {
    if (pos != path.size() && path[pos] != '/') continue;
    std::string prefix = path.substr(0, pos);
    if (::mkdir(prefix.c_str(), mode) != 0 && errno != EEXIST) return ErrnoError("create directory " + prefix);
  }
  return Status::Ok();
}

Status WriteFile(const std::string& path, std::string_view content, mode_t mode) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode));
  if (!fd.valid()) return ErrnoError("create " + path);
  while (!content.empty()) {
    ssize_t n = ::write(fd.get(), content.data(), content.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return ErrnoError("write " + path);
    content.remove_prefix(static_cast<size_t>(n));
  }
  if (::fchmod(fd.get(), mode) != 0) return ErrnoError("chmod " + path);
  return Status::Ok();
}

Status CopyFile(const std::string& from, const std::string& to, mode_t mode) {
  UniqueFd in(::open(from.c_str(), O_RDONLY | O_CLOEXEC));
  if (!in.valid()) return ErrnoError("open " + from);
  ::unlink(to.c_str());
  UniqueFd out(::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode));
  if (!out.valid()) return ErrnoError("create " + to);
  std::vector<char> buf(128 * 1024);
  for (;;) {
    ssize_t n = ::read(in.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("read " + from);
    if (n == 0) break;
    for (ssize_t off = 0; off < n;) {
      ssize_t w = ::write(out.get(), buf.data() + off, static_cast<size_t>(n - off));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return ErrnoError("write " + to);
      off += w;
    }
  }
  if (::fchmod(out.get(), mode) != 0) return ErrnoError("chmod " + to);
  return Status::Ok();
}

// A dynamically linked busybox names an interpreter (PT_INTERP) that the image does not have.
Status CheckStatic(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError("open " + path);
  Elf64_Ehdr eh;
  if (::pread(fd.get(), &eh, sizeof(eh), 0) != static_cast<ssize_t>(sizeof(eh)) ||
      std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
      eh.e_phentsize != sizeof(Elf64_Phdr)) {
    return Error(path + " is not a 64-bit ELF executable; " + kPackageHint);
  }
  for (unsigned i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph;
    if (::pread(fd.get(), &ph, sizeof(ph), static_cast<off_t>(eh.e_phoff + i * sizeof(ph))) !=
        static_cast<ssize_t>(sizeof(ph))) {
      return Error(path + ": truncated ELF program headers");
    }
    if (ph.p_type == PT_INTERP) return Error(path + " is dynamically linked; " + kPackageHint);
  }
  return Status::Ok();
}

// Runs `busybox --list-full` and returns its applet paths ("bin/sh", "usr/bin/env", ...).
Result<std::vector<std::string>> ListApplets(const std::string& busybox) {
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) return ErrnoError("pipe");
  UniqueFd rd(pipefd[0]), wr(pipefd[1]);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, wr.get(), STDOUT_FILENO);
  const char* argv[] = {busybox.c_str(), "--list-full", nullptr};
  pid_t pid;
  int rc = ::posix_spawn(&pid, busybox.c_str(), &fa, nullptr, const_cast<char**>(argv), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return ErrnoError("run " + busybox + " --list-full", rc);
  wr.reset();
  std::string out;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(rd.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || out.size() > kMaxListBytes) break;
    out.append(buf, static_cast<size_t>(n));
  }
  rd.reset();
  int wstatus = 0;
  while (::waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) return Error(busybox + " --list-full failed");
  std::vector<std::string> applets;
  size_t pos = 0;
  while (pos < out.size()) {
    size_t nl = out.find('\n', pos);
    if (nl == std::string::npos) nl = out.size();
    std::string line = out.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.empty() || line[0] == '/' || line.find("..") != std::string::npos) continue;
    applets.push_back(std::move(line));
  }
  if (applets.empty()) return Error(busybox + " --list-full listed no applets");
  return applets;
}

}  // namespace

Status BuildBusyboxRootfs(const std::string& dir, const BusyboxRootfsOptions& options) {
  struct stat st;
  if (::stat(options.busybox.c_str(), &st) != 0) {
    return Error(options.busybox + " not found: " + kPackageHint);
  }
  CL_RETURN_IF_ERROR(CheckStatic(options.busybox));
  CL_ASSIGN_OR_RETURN(std::vector<std::string> applets, ListApplets(options.busybox));

  for (const char* d : {"", "/bin", "/sbin", "/usr/bin", "/usr/sbin", "/etc", "/proc", "/sys", "/dev"}) {
    CL_RETURN_IF_ERROR(MakeDirs(dir + d, 0755));
  }
  for (auto [d, mode] : {std::pair{"/tmp", 01777}, std::pair{"/root", 0700}}) {
    CL_RETURN_IF_ERROR(MakeDirs(dir + d, 0755));
    if (::chmod((dir + d).c_str(), mode) != 0) return ErrnoError("chmod " + dir + d);
  }
  CL_RETURN_IF_ERROR(CopyFile(options.busybox, dir + "/bin/busybox", 0755));
  for (const std::string& applet : applets) {
    if (applet == "bin/busybox") continue;
    std::string path = dir;
    path += '/';
    path += applet;
    CL_RETURN_IF_ERROR(MakeDirs(path.substr(0, path.rfind('/')), 0755));
    ::unlink(path.c_str());
    if (::symlink("/bin/busybox", path.c_str()) != 0) return ErrnoError("create applet link " + path);
  }
  CL_RETURN_IF_ERROR(WriteFile(dir + "/etc/passwd",
                               "root:x:0:0:root:/root:/bin/sh\n"
                               "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
                               0644));
  CL_RETURN_IF_ERROR(WriteFile(dir + "/etc/group", "root:x:0:\nnobody:x:65534:\n", 0644));
  CL_RETURN_IF_ERROR(WriteFile(dir + "/etc/hostname", options.hostname + "\n", 0644));
  return Status::Ok();
}

}  // namespace cloudlet::image
