// Text forms and prefix arithmetic for IpAddress / IpPrefix; see ip_address.h.
#include "net/ip_address.h"

#include <arpa/inet.h>

#include <charconv>

namespace cloudlet {

std::optional<IpAddress> ParseIpAddress(std::string_view text) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  const std::string copy(text);  // inet_pton wants a terminated string
  IpAddress address;
  const bool v6 = text.find(':') != std::string_view::npos;
  address.family = v6 ? IpAddress::Family::kV6 : IpAddress::Family::kV4;
  if (inet_pton(v6 ? AF_INET6 : AF_INET, copy.c_str(), address.bytes.data()) != 1) return std::nullopt;
  return address;
}

std::string FormatIpAddress(const IpAddress& address) {
  char text[INET6_ADDRSTRLEN] = {};
  const int family = address.family == IpAddress::Family::kV4 ? AF_INET : AF_INET6;
  if (inet_ntop(family, address.bytes.data(), text, sizeof text) == nullptr) return "?";
  return text;
}

std::string FormatIpPrefix(const IpPrefix& prefix) {
  return FormatIpAddress(prefix.address) + "/" + std::to_string(prefix.length);
}

IpPrefix MaskedPrefix(IpPrefix prefix) {
  for (int bit = prefix.length; bit < prefix.address.bit_width(); ++bit) {
    prefix.address.bytes[bit / 8] &= static_cast<uint8_t>(~(0x80u >> (bit % 8)));
  }
  return prefix;
}

std::optional<IpPrefix> ParseIpPrefix(std::string_view text) {
  const size_t slash = text.find('/');
  std::optional<IpAddress> address = ParseIpAddress(text.substr(0, slash));
  if (!address) return std::nullopt;
  IpPrefix prefix{*address, static_cast<uint8_t>(address->bit_width())};
  if (slash == std::string_view::npos) return prefix;
  const std::string_view len = text.substr(slash + 1);
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(len.data(), len.data() + len.size(), value);
  if (len.empty() || ec != std::errc() || end != len.data() + len.size() ||
      value > static_cast<unsigned>(address->bit_width())) {
    return std::nullopt;
  }
  prefix.length = static_cast<uint8_t>(value);
  return prefix;
}

bool PrefixContains(const IpPrefix& prefix, const IpAddress& address) {
  if (prefix.address.family != address.family) return false;
  const int full = prefix.length / 8;
  for (int i = 0; i < full; ++i) {
    if (prefix.address.bytes[i] != address.bytes[i]) return false;
  }
  const int rest = prefix.length % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<uint8_t>(0xff00u >> rest);
  return ((prefix.address.bytes[full] ^ address.bytes[full]) & mask) == 0;
}

}  // namespace cloudlet
