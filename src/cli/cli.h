// The `cloudlet` command line: argument parsing (CLI11) and dispatch to one function per command. Output goes to the
// given streams so tests can run commands in process. Exit codes: 0 ok, 1 runtime failure, 2 bad input or usage.
#pragma once

#include <ostream>
#include <string>

namespace cloudlet::cli {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitBadInput = 2;

int RunCli(int argc, const char* const* argv, std::ostream& out, std::ostream& err);

// Commands (cmd_*.cc).
struct DaemonArgs {
  std::string socket_path;
  std::string state_dir;
  std::string image_store;  // "" = $CLOUDLET_IMAGE_STORE, else the default store
  std::string log_level = "info";
  bool detach = false;
};
int RunDaemonCommand(const DaemonArgs& args, std::ostream& out, std::ostream& err);
int RunUpCommand(const std::string& socket_path, const std::string& file, std::ostream& out, std::ostream& err);
int RunDownCommand(const std::string& socket_path, const std::string& file, std::ostream& out, std::ostream& err);
int RunStatusCommand(const std::string& socket_path, const std::string& format, std::ostream& out, std::ostream& err);
int RunValidateCommand(const std::string& file, bool check_host, std::ostream& out, std::ostream& err);

// The project key of a file: its absolute, normalized path (not resolving symlinks: the name the user gave).
std::string ProjectPath(const std::string& file);

}  // namespace cloudlet::cli
