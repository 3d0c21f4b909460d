// libFuzzer target for the config readers: any bytes into ParseConfig must give a config or an error, never a crash,
// hang or unbounded allocation; an accepted config must survive the JSON round trip unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto config = cloudlet::ParseConfig(text, "fuzz.yaml");
  if (!config.ok()) {
    if (config.error().message().empty()) std::abort();  // every rejection says why
    return 0;
  }
  auto back = cloudlet::FromJson(cloudlet::ToJson(*config));
  if (!back.ok() || !(*back == *config)) std::abort();
  return 0;
}
