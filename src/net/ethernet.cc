// Ethernet helpers that are not on the packet path: MAC address text form and error names.
#include "net/ethernet.h"

#include <cstdio>

namespace cloudlet {

namespace {
int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

std::optional<MacAddr> MacAddr::Parse(std::string_view text) {
  // Exactly "xx:xx:xx:xx:xx:xx" with one separator kind (':' or '-').
  if (text.size() != 17) return std::nullopt;
  const char sep = text[2];
  if (sep != ':' && sep != '-') return std::nullopt;
  MacAddr mac;
  for (size_t i = 0; i < kEthAddrLen; ++i) {
    const size_t at = i * 3;
    if (i > 0 && text[at - 1] != sep) return std::nullopt;
    int hi = HexValue(text[at]);
    int lo = HexValue(text[at + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    mac.bytes[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return mac;
}

std::string MacAddr::to_string() const {
  char buf[18];
  std::snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x", bytes[0], bytes[1], bytes[2], bytes[3], bytes[4],
                bytes[5]);
  return buf;
}

const char* FrameErrorName(FrameError error) {
  switch (error) {
    case FrameError::kNone:
      return "none";
    case FrameError::kTruncatedHeader:
      return "truncated_header";
    case FrameError::kTruncatedTag:
      return "truncated_tag";
  }
  return "unknown";
}

}  // namespace cloudlet
