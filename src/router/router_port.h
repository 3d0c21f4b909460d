// RouterPort: cloudlet's router as a port of a switch. The switch sees one trunk port carrying every routed VLAN
// (router-on-a-stick, but in process: no veth, no kernel); behind it a router::Router with its firewall::Firewall, and
// optionally the uplink, an AF_PACKET port on a host interface that only the router talks to.
//
//   switch --send(tagged items)--> copy into a slot, untag --> Router::process(VLAN's interface)
//        <--receive()------------- slots re-tagged for their VLAN <-- frames routed to a VLAN
//                                                                  --> uplink->send() (frames routed to the uplink)
//   uplink --receive()-----------> Router::process(uplink interface) --> same two ways out
//
// Everything runs on the switch's data-plane thread (RouterPort is a Port like any other). The control plane reaches
// the router through a RouterControl handle: closures run between batches, so reconfiguring and replacing the rule set
// are atomic for the traffic, and status reads are consistent snapshots.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/fd.h"
#include "base/huge_array.h"
#include "base/status.h"
#include "firewall/firewall.h"
#include "port/port.h"
#include "router/router.h"

namespace cloudlet::router {

// What the control plane hands the port: the router's interfaces (vlan 0 = the uplink) and routes, and the compiled
// rule set. `max_connections` changes rebuild the firewall (tracked connections are lost then).
struct RouterPortConfig {
  RouterConfig router;
  std::shared_ptr<const firewall::CompiledRuleSet> rules;  // null: no firewall (everything routes)
  firewall::ConntrackConfig conntrack;
};

class RouterPort;

// The control plane's handle on a running RouterPort (shared: the port may be closed while the handle lives).
class RouterControl {
 public:
  using Fn = std::function<void(RouterPort&)>;
  RouterControl();
  // Runs `fn` on the data-plane thread, between batches, and waits for it (at most `timeout`).
  // Fails when the port is closed or the thread does not get to it in time.
  Status call(Fn fn, Nanos timeout = 5 * kSecond);
  bool attached() const;

 private:
  friend class RouterPort;
  void run_pending();
  void detach();

  mutable std::mutex mu_;
  bool attached_ = false;
  std::deque<std::packaged_task<void(RouterPort&)>> queue_;
  RouterPort* port_ = nullptr;
  UniqueFd event_fd_;
};

class RouterPort final : public Port {
 public:
  struct Counters {
    uint64_t rx_from_switch = 0;  // frames the switch sent us
    uint64_t rx_from_uplink = 0;
    uint64_t tx_to_switch = 0;
    uint64_t tx_to_uplink = 0;
    uint64_t no_buffer = 0;       // dropped: every slot in use
    uint64_t unrouted_vlan = 0;   // a frame on a VLAN the router has no interface on
    uint64_t not_configured = 0;  // frames before the first configure()
  };

  // `uplink` (may be null) is owned by the port from now on. `name` is the port's name in status output.
  static Result<std::unique_ptr<RouterPort>> Create(std::string name, std::unique_ptr<Port> uplink,
                                                    std::shared_ptr<RouterControl> control, const Clock& clock,
                                                    std::function<int64_t()> unix_now);
  ~RouterPort() override;

  // On the data-plane thread (through RouterControl::call), or before the port is attached to a switch.
  Status configure(RouterPortConfig config);
  Router* router() { return router_.get(); }
  firewall::Firewall* firewall() { return firewall_.get(); }
  const Counters& counters() const { return counters_; }
  const std::string& uplink_name() const;

  // Port
  const std::string& name() const override { return name_; }
  int poll_fd() const override { return epoll_fd_.get(); }
  bool supports_offload() const override { return true; }
  size_t receive(Packet** out, size_t max) override;
  size_t send(std::span<const TxItem> items) override;
  const PortIoCounters& io_counters() const override { return io_; }

 private:
  static constexpr size_t kSlots = 512;
  static constexpr size_t kSlotBytes = kPacketHeadroom + kMaxFrameSize;
  static constexpr Nanos kTickInterval = 100 * kMillisecond;

  RouterPort(std::string name, std::unique_ptr<Port> uplink, std::shared_ptr<RouterControl> control, const Clock& clock,
             std::function<int64_t()> unix_now);
  Status init();
  int alloc_slot();
  void free_slot(int slot);
  int slot_of(const uint8_t* p) const;
  uint8_t* slot_data(int slot) { return buffers_->data() + static_cast<size_t>(slot) * kSlotBytes; }
  // Routes `n` frames that arrived on router interface `in`.
  void route(IfIndex in, Packet* const* pkts, size_t n, Nanos now);
  // Sends what the router produced: to the uplink now, to VLANs through the receive queue.
  void dispatch();
  void release_work();
  void signal_pending();

  std::string name_;
  std::unique_ptr<Port> uplink_;
  std::shared_ptr<RouterControl> control_;
  const Clock& clock_;
  std::function<int64_t()> unix_now_;
  UniqueFd epoll_fd_;
  UniqueFd pending_fd_;  // eventfd: frames wait in ready_
  UniqueFd timer_fd_;    // periodic tick

  std::unique_ptr<firewall::Firewall> firewall_;
  std::unique_ptr<Router> router_;
  firewall::ConntrackConfig conntrack_;
  std::vector<uint16_t> vlan_of_iface_;  // IfIndex -> VLAN (0: uplink)
  std::vector<int32_t> iface_of_vlan_;   // VLAN -> IfIndex, -1: not routed
  int32_t uplink_iface_ = -1;

  // kSlots x kSlotBytes (34 MB): huge pages, or each frame the router parses would also be a TLB miss.
  std::unique_ptr<HugeArray<uint8_t>> buffers_;
  std::vector<int> free_;
  std::vector<Packet> slot_pkts_;  // per slot: the frame it holds
  // Slots waiting for receive(), tagged for the switch: a ring over kSlots entries (a slot is in it at most once).
  std::vector<int> ready_;
  size_t ready_head_ = 0;
  size_t ready_count_ = 0;
  std::vector<int> lent_;            // slots handed out by the last receive()
  std::vector<int> work_;            // slots holding this send()'s frames
  std::vector<uint8_t> in_work_;     // per slot: still in work_ (not handed on to ready_)
  std::vector<Packet> uplink_pkts_;  // headers of frames to the uplink (their bytes stay where the router put them)
  RouterOutput out_;
  std::vector<TxItem> uplink_tx_;
  std::vector<Packet*> batch_;
  PortIoCounters io_;
  Counters counters_;
};

}  // namespace cloudlet::router
