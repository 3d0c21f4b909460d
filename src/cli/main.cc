// Entry point of the `cloudlet` binary; every command lives in src/cli/ and src/control/. Invoked under the name
// `cloudlet-runtime` (a symlink) it is the OCI runtime with runc's command line, for `podman --runtime`.
//
// Built with CLOUDLET_RUNTIME_ONLY (main.cc + cmd_runtime.cc + cloudlet_container) it is a runtime-only executable:
// the full binary links ~55 shared libraries whose loading costs ~15-20 ms per command on a small VM, which a runtime
// pays three times per container start (create, start, delete); the small one starts in ~2 ms.
#include <cstring>
#include <iostream>

#include "cli/runtime.h"
#ifndef CLOUDLET_RUNTIME_ONLY
#include "cli/cli.h"
#endif

int main(int argc, char** argv) {
#ifdef CLOUDLET_RUNTIME_ONLY
  return cloudlet::cli::RunRuntimeCli(argc, argv, std::cout, std::cerr);
#else
  const char* base = argc > 0 ? std::strrchr(argv[0], '/') : nullptr;
  base = base ? base + 1 : (argc > 0 ? argv[0] : "");
  if (std::strcmp(base, "cloudlet-runtime") == 0) return cloudlet::cli::RunRuntimeCli(argc, argv, std::cout, std::cerr);
  return cloudlet::cli::RunCli(argc, argv, std::cout, std::cerr);
#endif
}
