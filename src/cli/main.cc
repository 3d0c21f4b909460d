// Entry point of the `cloudlet` binary; every command lives in src/cli/ and src/control/. Invoked under the name
// `cloudlet-runtime` (a symlink) it is the OCI runtime with runc's command line, for `podman --runtime`.
#include <cstring>
#include <iostream>

#include "cli/cli.h"
#include "cli/runtime.h"

int main(int argc, char** argv) {
  const char* base = argc > 0 ? std::strrchr(argv[0], '/') : nullptr;
  base = base ? base + 1 : (argc > 0 ? argv[0] : "");
  if (std::strcmp(base, "cloudlet-runtime") == 0) return cloudlet::cli::RunRuntimeCli(argc, argv, std::cout, std::cerr);
  return cloudlet::cli::RunCli(argc, argv, std::cout, std::cerr);
}
