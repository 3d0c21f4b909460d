// libFuzzer target for config.json: any bytes into ParseSpec give a spec or an error that says why, never a crash,
// hang, escaped exception or unbounded allocation; an accepted spec survives SpecToJson and ParseSpec unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "oci/runtime_spec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto spec = cloudlet::oci::ParseSpec(text);
  if (!spec.ok()) {
    if (spec.error().message().empty()) std::abort();  // every rejection says why
    return 0;
  }
  auto back = cloudlet::oci::ParseSpec(cloudlet::oci::SpecToJson(*spec));
  if (!back.ok() || !(*back == *spec)) std::abort();
  return 0;
}
