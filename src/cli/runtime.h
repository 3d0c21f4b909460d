// `cloudlet runtime ...` and the `cloudlet-runtime` name of the binary (cmd_runtime.cc): runc's command line, so
// engines that drive runc (podman --runtime) can drive cloudlet. Parsed by hand to match runc's flags exactly
// ("--root X", "--root=X", global flags before the command, single-dash short flags).
#pragma once

#include <ostream>

namespace cloudlet::cli {

// argv[0] is the program name; argv[1..] are runc's arguments ("--root", "/run/x", "create", ...).
int RunRuntimeCli(int argc, const char* const* argv, std::ostream& out, std::ostream& err);

}  // namespace cloudlet::cli
