// libFuzzer target for wg-quick config files (vpn/wgquick.h). Whatever ParseWgQuick accepts must format
// (FormatWgQuick never refuses a parsed config), read back, and format to the same text again; its setconf change
// (endpoints resolved to a fixed address, no DNS) must apply to an empty device. Rejected input must yield an error
// whose every line names the file. Invariants are checked with abort().
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "vpn/uapi.h"
#include "vpn/wgquick.h"

namespace cloudlet::vpn {
namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

void FuzzOne(std::string_view text) {
  const Result<WgQuickConfig> config = ParseWgQuick(text, "fuzz.conf");
  if (!config.ok()) {
    const std::string& message = config.error().message();
    Check(!message.empty());
    size_t start = 0;
    while (start < message.size()) {
      const size_t end = std::min(message.find('\n', start), message.size());
      const std::string_view line = std::string_view(message).substr(start, end - start);
      Check(line.substr(0, 9) == "fuzz.conf" || line.substr(0, 8) == "... and ");
      start = end + 1;
    }
    return;
  }
  const Result<std::string> formatted = FormatWgQuick(*config);
  Check(formatted.ok());
  const Result<WgQuickConfig> again = ParseWgQuick(*formatted, "again.conf");
  Check(again.ok());
  const Result<std::string> formatted_again = FormatWgQuick(*again);
  Check(formatted_again.ok() && *formatted_again == *formatted);
  Check(again->peers.size() == config->peers.size());

  const Result<DeviceConfigChange> change =
      config->ToDeviceConfigChange([](const WgQuickEndpoint& e) -> Result<UdpEndpoint> {
        return UdpEndpoint{IpAddress::V4(192, 0, 2, 1), e.port};
      });
  Check(change.ok() && change->replace_peers && change->peers.size() == config->peers.size());
  DeviceConfig device;
  Check(Apply(*change, device).ok());
}

}  // namespace
}  // namespace cloudlet::vpn

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  cloudlet::vpn::FuzzOne(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
