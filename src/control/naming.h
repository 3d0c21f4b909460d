// Names of the kernel interfaces cloudlet creates. They are derived from (project, declaration) with a stable hash so
// that a restarted daemon finds the same interfaces again, and they fit Linux's 15-character IFNAMSIZ limit.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace cloudlet {

// FNV-1a, 32 bit: stable across builds and platforms (std::hash is not).
uint32_t StableHash32(std::string_view data);

// Host end of an endpoint's veth: "clp-" + 8 hex digits of hash(project, endpoint), 12 characters.
std::string EndpointHostIfname(const std::string& project, const std::string& endpoint);

// The two ends of the veth that links two switches: "cll-" + 8 hex + 'a' or 'b', 13 characters.
std::string LinkIfname(const std::string& project, const std::string& link, char side);

// Names of everything cloudlet creates start with one of these (for tests and cleanup checks).
constexpr std::string_view kEndpointIfPrefix = "clp-";
constexpr std::string_view kLinkIfPrefix = "cll-";

}  // namespace cloudlet
