// `cloudlet container ...` (cmd_container.cc): its arguments and the two hooks cli.cc calls.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace cloudlet::cli {

struct ContainerArgs {
  std::string socket_path;
  std::string name;  // NAME or PROJECT_FILE/NAME
  std::string format = "table";
  std::vector<std::string> command;
  int timeout = 10;
  int tail = -1;
  bool follow = false;
  bool tty = false;
  CLI::App *container = nullptr, *ls = nullptr, *start = nullptr, *stop = nullptr, *logs = nullptr, *exec = nullptr;
};

// Registers `container` and its subcommands on `app`, parsing into `args`; returns the `container` command.
CLI::App* AddContainerCommands(CLI::App& app, ContainerArgs& args);
// Runs the parsed `container` subcommand (args.socket_path set by the caller).
int RunContainerCommand(const ContainerArgs& args, std::ostream& out, std::ostream& err);

}  // namespace cloudlet::cli
