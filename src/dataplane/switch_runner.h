// SwitchRunner: one running switch: a VlanSwitch, its ports, and the data-plane thread that moves their frames.
// The thread owns the switch and the ports. Other threads never touch them directly: they post closures through a
// command queue (an eventfd wakes the thread), which runs them between batches, so the packet path takes no lock.
#pragma once

#include <array>
#include <atomic>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/fd.h"
#include "base/status.h"
#include "dataplane/dataplane.h"

namespace cloudlet {

// What one apply() changes in one switch, applied atomically between two batches.
struct SwitchChange {
  SwitchConfig config;
  std::vector<std::string> removed;  // port names
  std::vector<PortSpec> updated;     // same name, kind and interface; new PortConfig
  struct Added {
    PortSpec spec;
    std::unique_ptr<Port> port;
  };
  std::vector<Added> added;
};

class SwitchRunner {
 public:
  // Starts the thread with an empty switch.
  static Result<std::unique_ptr<SwitchRunner>> Start(const SwitchConfig& config, const Clock& clock);
  ~SwitchRunner();  // stops and joins the thread, then closes the ports
  SwitchRunner(const SwitchRunner&) = delete;
  SwitchRunner& operator=(const SwitchRunner&) = delete;

  // Applies `change` on the data-plane thread and waits for it.
  Status apply(SwitchChange change);
  // A consistent snapshot taken by the data-plane thread.
  SwitchStatus status();

 private:
  struct Slot {
    std::unique_ptr<Port> port;
    PortSpec spec;
    uint32_t generation = 0;  // tells a stale epoll event for a since-replaced port apart
    uint32_t error_wakeups = 0;
    bool polled = false;  // registered with epoll
  };

  SwitchRunner(const SwitchConfig& config, const Clock& clock, UniqueFd epoll_fd, UniqueFd command_fd);
  // Runs `fn` on the data-plane thread and waits until it has run.
  void run(std::function<void()> fn);

  void loop();
  void run_commands();
  // Returns whether any frame was received.
  bool serve(PortId in, uint32_t events);
  void stop_polling(PortId id);
  Status apply_on_thread(SwitchChange& change);
  SwitchStatus status_on_thread();

  const Clock& clock_;
  UniqueFd epoll_fd_;
  UniqueFd command_fd_;
  std::atomic<bool> stop_{false};
  std::mutex queue_mu_;
  std::deque<std::packaged_task<void()>> queue_;  // guarded by queue_mu_

  // Owned by the data-plane thread once it runs.
  VlanSwitch switch_;
  std::array<Slot, kMaxPortsPerSwitch> slots_;
  std::unique_ptr<EgressQueues> egress_;
  Packet* batch_[kMaxBatch] = {};
  Nanos next_age_ = 0;

  std::thread thread_;  // last: starts after everything above is built
};

}  // namespace cloudlet
