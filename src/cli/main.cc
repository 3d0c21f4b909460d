// Entry point of the `cloudlet` binary; every command lives in src/cli/ and src/control/.
#include <cstdio>

int main() {
  std::puts("cloudlet: CLI under construction (see issue 2)");
  return 1;
}
