// libFuzzer target for the WireGuard configuration socket protocol (vpn/uapi.h): UapiSession::Feed over the input
// split into chunks the input chooses, and ParseSet on the whole input as a `set` body. A body that parses and applies
// must survive a round trip: the `get` of the result, turned back into a `set` body (statistics and errno lines
// dropped), parses, applies to an empty device, and gives the same `get`. Invariants are checked with abort().
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "vpn/uapi.h"

namespace cloudlet::vpn {
namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

bool StartsWith(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

// A `get` body as the `set` body that recreates the same device: only statistics and the errno line go.
std::string SetFormOf(std::string_view get) {
  std::string set;
  while (!get.empty()) {
    const size_t end = get.find('\n');
    Check(end != std::string_view::npos);  // every line of a get reply ends in '\n'
    const std::string_view line = get.substr(0, end + 1);
    get.remove_prefix(end + 1);
    if (line == "\n") {
      Check(get.empty());  // the blank line ends the reply
      break;
    }
    if (StartsWith(line, "last_handshake_time_") || StartsWith(line, "rx_bytes=") || StartsWith(line, "tx_bytes=") ||
        StartsWith(line, "errno=")) {
      continue;
    }
    set.append(line);
  }
  return set;
}

void FuzzParseApply(std::string_view body) {
  int error_errno = 0;
  const Result<DeviceConfigChange> change = ParseSet(body, error_errno);
  if (!change.ok()) {
    Check(error_errno == kUapiErrnoInvalid || error_errno == kUapiErrnoProtocol);
    return;
  }
  DeviceConfig config;
  const std::string empty = SerializeGet(config);
  if (!Apply(*change, config).ok()) {
    Check(SerializeGet(config) == empty);  // all or nothing
    return;
  }
  Check(config.peers.size() <= kUapiMaxPeers);
  const std::string get = SerializeGet(config);
  Check(get.size() >= 2 && get.compare(get.size() - 2, 2, "\n\n") == 0);

  const Result<DeviceConfigChange> again = ParseSet(SetFormOf(get));
  Check(again.ok());
  DeviceConfig rebuilt;
  Check(Apply(*again, rebuilt).ok());
  Check(SerializeGet(rebuilt) == get);
}

void FuzzSession(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  DeviceConfig config;
  UapiSession session(config);
  for (int i = 0; i < 4096 && in.remaining_bytes() > 0; ++i) {
    const size_t chunk = in.ConsumeIntegralInRange<size_t>(0, 300);  // sizes come from the input's end
    const std::string bytes = in.ConsumeBytesAsString(chunk);
    const bool was_closed = session.closed();
    const std::string reply = session.Feed(bytes);
    if (was_closed) Check(reply.empty());  // nothing is read after the connection is done
    if (!reply.empty()) Check(reply.size() >= 2 && reply.compare(reply.size() - 2, 2, "\n\n") == 0);
    Check(config.peers.size() <= kUapiMaxPeers);
  }
  (void)SerializeGet(config);
}

}  // namespace
}  // namespace cloudlet::vpn

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  cloudlet::vpn::FuzzParseApply(std::string_view(reinterpret_cast<const char*>(data), size));
  cloudlet::vpn::FuzzSession(data, size);
  return 0;
}
