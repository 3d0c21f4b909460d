// IPv4 and IPv6 addresses and prefixes as values, with their text forms. Shared by the VPN's allowed-IPs table, the
// router and the firewall.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>

namespace cloudlet {

struct IpAddress {
  enum class Family : uint8_t { kV4, kV6 };
  Family family = Family::kV4;
  std::array<uint8_t, 16> bytes{};  // network order; IPv4 uses bytes[0..3], the rest stay zero

  static IpAddress V4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) { return {Family::kV4, {a, b, c, d}}; }
  static IpAddress V4(uint32_t host_order) {
    return V4(host_order >> 24, (host_order >> 16) & 0xff, (host_order >> 8) & 0xff, host_order & 0xff);
  }
  static IpAddress V6(const std::array<uint8_t, 16>& b) { return {Family::kV6, b}; }
  int bit_width() const { return family == Family::kV4 ? 32 : 128; }
  bool operator==(const IpAddress&) const = default;
  // Spelled out rather than a defaulted <=>, which clang-tidy's modernize-use-nullptr misreads.
  bool operator<(const IpAddress& o) const { return std::tie(family, bytes) < std::tie(o.family, o.bytes); }
};

struct IpPrefix {
  IpAddress address;
  uint8_t length = 0;
  bool operator==(const IpPrefix&) const = default;
  bool operator<(const IpPrefix& o) const { return std::tie(address, length) < std::tie(o.address, o.length); }
};

// Parses "10.0.0.0/24" or "fd00::/64" (a bare address is a host prefix: /32 or /128). Host bits are kept.
std::optional<IpPrefix> ParseIpPrefix(std::string_view text);
// True if `address` is inside `prefix` (same family, first `length` bits equal).
bool PrefixContains(const IpPrefix& prefix, const IpAddress& address);

// Text forms, as inet_pton/inet_ntop read and write them: "10.0.0.1", "fd00::1" (no zone, no brackets).
std::optional<IpAddress> ParseIpAddress(std::string_view text);
std::string FormatIpAddress(const IpAddress& address);
// "10.0.0.0/24", "fd00::/64": the address as stored (host bits are not masked here) and the length.
std::string FormatIpPrefix(const IpPrefix& prefix);
// The prefix with its host bits cleared (10.1.2.3/8 -> 10.0.0.0/8).
IpPrefix MaskedPrefix(IpPrefix prefix);

}  // namespace cloudlet
