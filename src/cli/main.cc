// Entry point of the `cloudlet` binary; every command lives in src/cli/ and src/control/.
#include <iostream>

#include "cli/cli.h"

int main(int argc, char** argv) { return cloudlet::cli::RunCli(argc, argv, std::cout, std::cerr); }
