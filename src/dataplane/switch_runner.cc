// SwitchRunner (see switch_runner.h): the data-plane loop (epoll over ports and the command eventfd, batched
// receive -> VlanSwitch::process -> send per egress port), periodic MAC aging, and the command queue.
#include "dataplane/switch_runner.h"

#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace cloudlet {
namespace {

constexpr uint64_t kCommandTag = ~uint64_t{0};
// Batches taken from one port per wakeup before the others get a turn (epoll is level-triggered: leftovers are
// reported again on the next round).
constexpr int kMaxBatchesPerWakeup = 16;
constexpr Nanos kAgeInterval = 250 * kMillisecond;
constexpr int kIdleWaitMs = 250;
// After traffic, keep polling without sleeping for this long: under load a frame is usually there again within a few
// microseconds, and sleeping in epoll then waking costs two context switches per batch (OVS/DPDK poll the same way,
// but forever). A quiet switch falls back to blocking after this much spinning, so an idle host pays nothing.
constexpr Nanos kBusyPollWindow = 100 * 1000;
// A port whose fd keeps signalling errors without delivering frames (its device was deleted under it) is taken out
// of the poll set after this many consecutive wakeups, so a dead port cannot make the thread spin.
constexpr uint32_t kMaxErrorWakeups = 1000;

uint64_t EventTag(PortId id, uint32_t generation) { return uint64_t{generation} << 16 | id; }

}  // namespace

Result<std::unique_ptr<SwitchRunner>> SwitchRunner::Start(const SwitchConfig& config, const Clock& clock) {
  UniqueFd epoll_fd(::epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_fd.valid()) return ErrnoError("switch '" + config.name + "': epoll_create1");
  UniqueFd command_fd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!command_fd.valid()) return ErrnoError("switch '" + config.name + "': eventfd");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kCommandTag;
  if (::epoll_ctl(epoll_fd.get(), EPOLL_CTL_ADD, command_fd.get(), &ev) < 0) {
    return ErrnoError("switch '" + config.name + "': epoll_ctl");
  }
  return std::unique_ptr<SwitchRunner>(new SwitchRunner(config, clock, std::move(epoll_fd), std::move(command_fd)));
}

SwitchRunner::SwitchRunner(const SwitchConfig& config, const Clock& clock, UniqueFd epoll_fd, UniqueFd command_fd)
    : clock_(clock),
      epoll_fd_(std::move(epoll_fd)),
      command_fd_(std::move(command_fd)),
      switch_(config),
      egress_(std::make_unique<EgressQueues>()),
      next_age_(clock.now() + kAgeInterval),
      thread_([this] { loop(); }) {}

SwitchRunner::~SwitchRunner() {
  stop_.store(true, std::memory_order_release);
  uint64_t one = 1;
  (void)!::write(command_fd_.get(), &one, sizeof(one));
  thread_.join();
  // Ports close with slots_.
}

void SwitchRunner::run(std::function<void()> fn) {
  std::packaged_task<void()> task(std::move(fn));
  std::future<void> done = task.get_future();
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    queue_.push_back(std::move(task));
  }
  uint64_t one = 1;
  (void)!::write(command_fd_.get(), &one, sizeof(one));
  done.wait();
}

Status SwitchRunner::apply(SwitchChange change) {
  Status result;
  run([&] { result = apply_on_thread(change); });
  return result;
}

SwitchStatus SwitchRunner::status() {
  SwitchStatus result;
  run([&] { result = status_on_thread(); });
  return result;
}

void SwitchRunner::loop() {
  epoll_event events[kMaxPortsPerSwitch + 1];
  Nanos last_traffic = 0;
  while (!stop_.load(std::memory_order_acquire)) {
    const bool spin = clock_.now() - last_traffic < kBusyPollWindow;
    int n = ::epoll_wait(epoll_fd_.get(), events, static_cast<int>(std::size(events)), spin ? 0 : kIdleWaitMs);
    if (n < 0) {
      if (errno != EINTR) spdlog::error("switch '{}': epoll_wait: {}", switch_.config().name, std::strerror(errno));
      n = 0;
    }
    // Commands first: they may remove or replace ports the other events refer to (the generation check below
    // discards such stale events).
    for (int i = 0; i < n; ++i) {
      if (events[i].data.u64 == kCommandTag) run_commands();
    }
    for (int i = 0; i < n; ++i) {
      const uint64_t tag = events[i].data.u64;
      if (tag == kCommandTag) continue;
      const PortId id = static_cast<PortId>(tag & 0xffff);
      if (id >= kMaxPortsPerSwitch || !slots_[id].port || EventTag(id, slots_[id].generation) != tag) continue;
      if (serve(id, events[i].events)) last_traffic = clock_.now();
    }
    const Nanos now = clock_.now();
    if (now >= next_age_) {
      switch_.age(now);
      next_age_ = now + kAgeInterval;
    }
  }
  // Commands posted while stopping must not leave their callers waiting.
  run_commands();
}

void SwitchRunner::run_commands() {
  uint64_t counter;
  (void)!::read(command_fd_.get(), &counter, sizeof(counter));
  std::deque<std::packaged_task<void()>> tasks;
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    tasks.swap(queue_);
  }
  for (auto& task : tasks) task();
}

bool SwitchRunner::serve(PortId in, uint32_t events) {
  Slot& slot = slots_[in];
  for (int round = 0; round < kMaxBatchesPerWakeup; ++round) {
    const size_t n = slot.port->receive(batch_, kMaxBatch);
    if (n == 0) {
      if (round == 0 && (events & (EPOLLERR | EPOLLHUP)) && ++slot.error_wakeups >= kMaxErrorWakeups) {
        spdlog::error("switch '{}': port '{}' ({}) keeps failing; no longer polled", switch_.config().name,
                      slot.spec.config.name, slot.port->name());
        stop_polling(in);
      }
      return round > 0;
    }
    slot.error_wakeups = 0;
    const Nanos now = clock_.now();
    EgressQueues& out = *egress_;
    out.clear();
    switch_.process(in, batch_, n, now, out);
    for (uint64_t pending = out.pending_ports(); pending != 0; pending &= pending - 1) {
      const PortId egress = static_cast<PortId>(__builtin_ctzll(pending));
      const std::span<const TxItem> items = out.items(egress);
      Port* port = slots_[egress].port.get();
      const size_t sent = port != nullptr ? port->send(items) : 0;
      switch_.account_tx(egress, items, sent);
    }
    if (n < kMaxBatch) return true;
  }
  return true;
}

void SwitchRunner::stop_polling(PortId id) {
  Slot& slot = slots_[id];
  if (!slot.polled) return;
  (void)::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, slot.port->poll_fd(), nullptr);
  slot.polled = false;
}

Status SwitchRunner::apply_on_thread(SwitchChange& change) {
  const SwitchConfig& cur = switch_.config();
  if (cur.max_macs != change.config.max_macs || cur.mac_aging != change.config.mac_aging) {
    switch_.set_config(change.config);
  }
  auto find = [&](const std::string& name) -> int {
    for (size_t i = 0; i < kMaxPortsPerSwitch; ++i) {
      if (slots_[i].port && slots_[i].spec.config.name == name) return static_cast<int>(i);
    }
    return -1;
  };
  Status result;
  for (const std::string& name : change.removed) {
    const int id = find(name);
    if (id < 0) continue;
    stop_polling(static_cast<PortId>(id));
    switch_.remove_port(static_cast<PortId>(id));
    slots_[id].port.reset();
    slots_[id].spec = PortSpec{};
  }
  for (const PortSpec& spec : change.updated) {
    const int id = find(spec.config.name);
    if (id < 0) continue;
    Status st = switch_.update_port(static_cast<PortId>(id), spec.config);
    if (!st.ok()) {
      if (result.ok()) result = st;
      continue;
    }
    slots_[id].spec = spec;
  }
  for (SwitchChange::Added& add : change.added) {
    Result<PortId> id = switch_.add_port(add.spec.config);
    if (!id.ok()) {
      if (result.ok()) result = id.error();
      continue;
    }
    Slot& slot = slots_[*id];
    slot.port = std::move(add.port);
    slot.spec = add.spec;
    slot.generation++;
    slot.error_wakeups = 0;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = EventTag(*id, slot.generation);
    if (::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, slot.port->poll_fd(), &ev) < 0) {
      if (result.ok()) result = ErrnoError("port '" + add.spec.config.name + "': epoll_ctl");
      switch_.remove_port(*id);
      slot.port.reset();
      slot.spec = PortSpec{};
      continue;
    }
    slot.polled = true;
  }
  return result;
}

SwitchStatus SwitchRunner::status_on_thread() {
  const Nanos now = clock_.now();
  SwitchStatus st;
  st.config = switch_.config();
  for (size_t i = 0; i < kMaxPortsPerSwitch; ++i) {
    const Slot& slot = slots_[i];
    if (!slot.port) continue;
    st.ports.push_back(PortStatus{static_cast<PortId>(i), slot.spec, switch_.port_counters(static_cast<PortId>(i)),
                                  slot.port->io_counters()});
  }
  st.macs = switch_.mac_entries(now);
  for (uint16_t vlan : switch_.active_vlans()) st.vlans.push_back(VlanStatus{vlan, switch_.vlan_counters(vlan)});
  return st;
}

}  // namespace cloudlet
