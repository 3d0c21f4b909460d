// Dataplane: the running switches of one host. Owns the data-plane threads and the ports; the control plane asks it
// to converge on a DataplaneSpec and reads status from it. Thread-safe: every public method may be called from any
// thread; changes are handed to the data-plane threads between batches, never by locking the packet path.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "port/port.h"
#include "switch/counters.h"
#include "switch/vlan_switch.h"

namespace cloudlet {

enum class PortKind : uint8_t {
  kAfPacket,  // an existing kernel interface (veth end, host NIC) attached with AF_PACKET
  kTap,       // a TAP device the port creates and owns (VMs; the kernel side may be moved into a namespace)
  kRouter,    // cloudlet's router (router/router_port.h); ifname is its uplink interface ("" = none). Opened by the
              // control plane's PortOpener, which knows the router it stands for (`instance`).
};

struct PortSpec {
  PortConfig config;  // config.name is the logical port name, unique within the switch
  PortKind kind = PortKind::kAfPacket;
  std::string ifname;    // kernel interface to attach to (AF_PACKET) or to create (TAP)
  std::string instance;  // kRouter: which router (a change re-creates the port); "" otherwise
};

struct SwitchSpec {
  SwitchConfig config;
  std::vector<PortSpec> ports;
};

struct DataplaneSpec {
  std::vector<SwitchSpec> switches;
};

struct PortStatus {
  PortId id = 0;  // the switch's number for the port, as in MacEntryInfo::port
  PortSpec spec;
  PortCounters counters;
  PortIoCounters io;
};

struct VlanStatus {
  uint16_t vlan;
  VlanCounters counters;
};

struct SwitchStatus {
  SwitchConfig config;
  std::vector<PortStatus> ports;
  std::vector<MacEntryInfo> macs;
  std::vector<VlanStatus> vlans;
};

// Opens the port a PortSpec describes, in the calling thread's network namespace.
using PortOpener = std::function<Result<std::unique_ptr<Port>>(const PortSpec&)>;

// The default PortOpener: AfPacketPort for kAfPacket, TapPort for kTap.
Result<std::unique_ptr<Port>> OpenKernelPort(const PortSpec& spec);

class Dataplane {
 public:
  explicit Dataplane(const Clock& clock);
  // With a custom opener (tests and benchmarks use in-process MemoryPorts). The clock is read on the data-plane
  // threads, so it must be safe to read concurrently (MonotonicClock is; FakeClock is not while being advanced).
  Dataplane(const Clock& clock, PortOpener opener);
  ~Dataplane();  // stops the threads and closes every port
  Dataplane(const Dataplane&) = delete;
  Dataplane& operator=(const Dataplane&) = delete;

  // Makes the running switches match `spec`: creates and removes switches and ports, updates changed port configs
  // in place (learned MACs and counters survive for unchanged ports). All new ports are opened before anything
  // changes, so a failure (missing interface, no permission) leaves the running state as it was.
  Status apply(const DataplaneSpec& spec);

  std::vector<SwitchStatus> status();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cloudlet
