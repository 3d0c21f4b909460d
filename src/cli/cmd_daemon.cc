// `cloudlet daemon [--detach]`: logging setup, and the fork that puts the daemon in the background and returns only
// once it answers on its socket (or says why it did not).
#include <fcntl.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "base/fd.h"
#include "cli/cli.h"
#include "control/api.h"
#include "control/daemon.h"

namespace cloudlet::cli {

namespace {

constexpr auto kStartTimeout = std::chrono::seconds(15);

void SetupLogging(const std::string& level) {
  auto logger = spdlog::stderr_logger_mt("cloudlet");
  logger->set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%l] %v");
  logger->set_level(spdlog::level::from_str(level));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

int RunInForeground(const DaemonArgs& args, std::ostream& err) {
  SetupLogging(args.log_level);
  auto st = RunDaemon({args.socket_path, args.state_dir, args.image_store});
  if (!st.ok()) {
    err << "cloudlet: daemon: " << st.message() << "\n";
    return kExitFailure;
  }
  return kExitOk;
}

std::string LastLines(const std::string& path, size_t n) {
  std::ifstream in(path);
  std::deque<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    lines.push_back(line);
    if (lines.size() > n) lines.pop_front();
  }
  std::string out;
  for (const auto& l : lines) out += "  " + l + "\n";
  return out;
}

}  // namespace

int RunDaemonCommand(const DaemonArgs& args, std::ostream& out, std::ostream& err) {
  if (!args.detach) return RunInForeground(args, err);

  std::error_code ec;
  std::filesystem::create_directories(args.state_dir, ec);
  if (ec) {
    err << "cloudlet: cannot create state directory " << args.state_dir << ": " << ec.message() << "\n";
    return kExitFailure;
  }
  const std::string log_path = args.state_dir + "/daemon.log";
  UniqueFd log(::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (!log.valid()) {
    err << "cloudlet: cannot open " << log_path << ": " << std::strerror(errno) << "\n";
    return kExitFailure;
  }
  out.flush();
  err.flush();
  pid_t pid = ::fork();
  if (pid < 0) {
    err << "cloudlet: fork: " << std::strerror(errno) << "\n";
    return kExitFailure;
  }
  if (pid == 0) {
    ::setsid();
    UniqueFd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (devnull.valid()) ::dup2(devnull.get(), STDIN_FILENO);
    ::dup2(log.get(), STDOUT_FILENO);
    ::dup2(log.get(), STDERR_FILENO);
    ::_exit(RunInForeground(args, std::cerr));
  }

  // Parent: wait (bounded) until this daemon — not some other one on the same socket — answers.
  ApiClient client(args.socket_path, 2);
  auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int wstatus = 0;
    if (::waitpid(pid, &wstatus, WNOHANG) == pid) {
      err << "cloudlet: the daemon failed to start (see " << log_path << "):\n" << LastLines(log_path, 5);
      return kExitFailure;
    }
    auto reply = client.Get("/v1/health");
    if (reply.ok() && reply->code == 200 && reply->body.value("pid", 0) == pid) {
      out << "cloudlet daemon running (pid " << pid << "); API on " << args.socket_path << ", log " << log_path << "\n";
      return kExitOk;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  err << "cloudlet: the daemon (pid " << pid << ") did not answer on " << args.socket_path << " within "
      << kStartTimeout.count() << " s; it is still running — see " << log_path << "\n";
  return kExitFailure;
}

}  // namespace cloudlet::cli
