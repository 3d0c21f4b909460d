// Deterministic interface names for the veths cloudlet creates.
#include "control/naming.h"

#include <cstdio>

namespace cloudlet {

uint32_t StableHash32(std::string_view data) {
  uint32_t h = 2166136261u;
  for (unsigned char c : data) {
    h ^= c;
    h *= 16777619u;
  }
  return h;
}

namespace {

std::string Hex8(uint32_t v) {
  char buf[9];
  std::snprintf(buf, sizeof(buf), "%08x", v);
  return buf;
}

// The NUL separator keeps ("ab","c") and ("a","bc") apart; the kind tag keeps an endpoint and a link of the same
// name apart.
uint32_t HashOf(std::string_view kind, const std::string& project, const std::string& name) {
  std::string key;
  key.reserve(kind.size() + project.size() + name.size() + 2);
  key.append(kind).push_back('\0');
  key.append(project).push_back('\0');
  key.append(name);
  return StableHash32(key);
}

}  // namespace

std::string EndpointHostIfname(const std::string& project, const std::string& endpoint) {
  return std::string(kEndpointIfPrefix) + Hex8(HashOf("endpoint", project, endpoint));
}

std::string LinkIfname(const std::string& project, const std::string& link, char side) {
  return std::string(kLinkIfPrefix) + Hex8(HashOf("link", project, link)) + side;
}

std::string VpnNetns(const std::string& project, const std::string& vpn) {
  return std::string(kVpnNetnsPrefix) + Hex8(HashOf("vpn", project, vpn));
}

std::string VpnHostIfname(const std::string& project, const std::string& vpn) {
  return std::string(kVpnHostIfPrefix) + Hex8(HashOf("vpn", project, vpn));
}

std::string VpnTunIfname(const std::string& project, const std::string& vpn) {
  return std::string(kVpnTunPrefix) + Hex8(HashOf("vpn", project, vpn));
}

std::string RouterPortKey(const std::string& project) {
  uint32_t h = 2166136261u;
  for (unsigned char c : std::string("router/") + project) h = (h ^ c) * 16777619u;
  char buf[16];
  std::snprintf(buf, sizeof buf, "rt-%08x", h);
  return buf;
}

}  // namespace cloudlet
