// Small ioctl helpers the kernel ports need about a network interface: validate a name, find its index, bring it up.
// They act in the network namespace of the socket they are given (or of the calling thread, for SetInterfaceUp).
#pragma once

#include <string>

#include "base/status.h"

namespace cloudlet {

// Checks a kernel interface name: 1..15 bytes, no '/', whitespace or ':' (what the kernel's dev_valid_name accepts).
Status ValidateInterfaceName(const std::string& ifname);

// Index of `ifname` as seen from `sock_fd`'s namespace. Error: "interface clp-x: No such device".
Result<int> InterfaceIndex(int sock_fd, const std::string& ifname);

// True when `ifname` is an Ethernet-type interface (ARPHRD_ETHER): what AF_PACKET ports can switch.
Result<bool> IsEthernetInterface(int sock_fd, const std::string& ifname);

// Sets IFF_UP on `ifname` (no-op if already up).
Status SetInterfaceUp(int sock_fd, const std::string& ifname);

}  // namespace cloudlet
