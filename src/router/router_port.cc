// RouterPort (see router_port.h): slots, the switch <-> router <-> uplink plumbing, and the control queue.
#include "router/router_port.h"

#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>

#include "net/ethernet.h"

namespace cloudlet::router {
namespace {

constexpr uint64_t kTagPending = 1;
constexpr uint64_t kTagTimer = 2;
constexpr uint64_t kTagControl = 3;
constexpr uint64_t kTagUplink = 4;

void DrainEventFd(int fd) {
  uint64_t value;
  (void)!::read(fd, &value, sizeof value);
}

}  // namespace

// ---- RouterControl ----

RouterControl::RouterControl() : event_fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}

bool RouterControl::attached() const {
  std::lock_guard<std::mutex> lock(mu_);
  return attached_;
}

Status RouterControl::call(Fn fn, Nanos timeout) {
  // `fn` usually refers to the caller's stack, so once call() has returned it must never run: a caller that gives up
  // marks its request abandoned (2) unless the data plane already started it (1), in which case it waits for the end.
  auto state = std::make_shared<std::atomic<int>>(0);
  std::packaged_task<void(RouterPort&)> task([fn = std::move(fn), state](RouterPort& port) {
    int queued = 0;
    if (state->compare_exchange_strong(queued, 1)) fn(port);
  });
  std::future<void> done = task.get_future();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!attached_) return Error("the router is not running");
    queue_.push_back(std::move(task));
  }
  uint64_t one = 1;
  (void)!::write(event_fd_.get(), &one, sizeof one);
  if (done.wait_for(std::chrono::nanoseconds(timeout)) != std::future_status::ready) {
    int queued = 0;
    if (state->compare_exchange_strong(queued, 2)) {
      return Error("the router did not answer within " + std::to_string(timeout / kMillisecond) + " ms");
    }
    done.wait();  // it is running right now
  }
  try {
    done.get();
  } catch (const std::future_error&) {
    // The port was destroyed with the request still queued (detach() dropped it unrun).
    return Error("the router stopped before running the request");
  }
  return Status::Ok();
}

void RouterControl::run_pending() {
  DrainEventFd(event_fd_.get());
  std::deque<std::packaged_task<void(RouterPort&)>> tasks;
  RouterPort* port = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    tasks.swap(queue_);
    port = port_;
  }
  for (auto& task : tasks) task(*port);
}

void RouterControl::detach() {
  std::deque<std::packaged_task<void(RouterPort&)>> tasks;
  {
    std::lock_guard<std::mutex> lock(mu_);
    attached_ = false;
    port_ = nullptr;
    tasks.swap(queue_);
  }
  // Dropping an unrun packaged_task makes its future report broken_promise: callers waiting on it wake up at once and
  // call() turns that into an error.
}

// ---- RouterPort ----

RouterPort::RouterPort(std::string name, std::unique_ptr<Port> uplink, std::shared_ptr<RouterControl> control,
                       const Clock& clock, std::function<int64_t()> unix_now)
    : name_(std::move(name)),
      uplink_(std::move(uplink)),
      control_(std::move(control)),
      clock_(clock),
      unix_now_(std::move(unix_now)) {}

Result<std::unique_ptr<RouterPort>> RouterPort::Create(std::string name, std::unique_ptr<Port> uplink,
                                                       std::shared_ptr<RouterControl> control, const Clock& clock,
                                                       std::function<int64_t()> unix_now) {
  if (!control || !control->event_fd_.valid()) return Error("router port '" + name + "': no control handle");
  std::unique_ptr<RouterPort> port(
      new RouterPort(std::move(name), std::move(uplink), std::move(control), clock, std::move(unix_now)));
  CL_RETURN_IF_ERROR(port->init());
  return port;
}

Status RouterPort::init() {
  epoll_fd_ = UniqueFd(::epoll_create1(EPOLL_CLOEXEC));
  pending_fd_ = UniqueFd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  timer_fd_ = UniqueFd(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
  if (!epoll_fd_.valid() || !pending_fd_.valid() || !timer_fd_.valid()) {
    return ErrnoError("router port '" + name_ + "': epoll/eventfd/timerfd");
  }
  itimerspec spec{};
  spec.it_interval.tv_nsec = kTickInterval;
  spec.it_value.tv_nsec = kTickInterval;
  if (::timerfd_settime(timer_fd_.get(), 0, &spec, nullptr) < 0) return ErrnoError("router port: timerfd_settime");
  auto add = [&](int fd, uint64_t tag) -> Status {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = tag;
    if (::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, fd, &ev) < 0) return ErrnoError("router port: epoll_ctl");
    return Status::Ok();
  };
  CL_RETURN_IF_ERROR(add(pending_fd_.get(), kTagPending));
  CL_RETURN_IF_ERROR(add(timer_fd_.get(), kTagTimer));
  CL_RETURN_IF_ERROR(add(control_->event_fd_.get(), kTagControl));
  if (uplink_) CL_RETURN_IF_ERROR(add(uplink_->poll_fd(), kTagUplink));

  buffers_ = std::make_unique<HugeArray<uint8_t>>(kSlots * kSlotBytes);
  slot_pkts_.resize(kSlots);
  in_work_.assign(kSlots, 0);
  uplink_pkts_.resize(kSlots);
  free_.reserve(kSlots);
  for (int i = static_cast<int>(kSlots) - 1; i >= 0; --i) free_.push_back(i);
  lent_.reserve(kSlots);
  ready_.assign(kSlots, -1);
  work_.reserve(kSlots);
  uplink_tx_.reserve(kSlots);
  batch_.reserve(kMaxBatch);
  iface_of_vlan_.assign(4096, -1);
  {
    std::lock_guard<std::mutex> lock(control_->mu_);
    control_->attached_ = true;
    control_->port_ = this;
  }
  return Status::Ok();
}

RouterPort::~RouterPort() {
  if (control_) control_->detach();
}

const std::string& RouterPort::uplink_name() const {
  static const std::string kNone;
  return uplink_ ? uplink_->name() : kNone;
}

Status RouterPort::configure(RouterPortConfig config) {
  const bool new_firewall =
      config.rules != nullptr && (!firewall_ || config.conntrack.max_connections != conntrack_.max_connections ||
                                  config.conntrack.tcp_loose != conntrack_.tcp_loose);
  std::unique_ptr<firewall::Firewall> fresh;
  if (new_firewall) fresh = std::make_unique<firewall::Firewall>(config.conntrack);
  firewall::Firewall* fw = config.rules ? (fresh ? fresh.get() : firewall_.get()) : nullptr;
  const bool firewall_changed = fw != firewall_.get();
  if (!router_ || firewall_changed) {
    CL_ASSIGN_OR_RETURN(std::unique_ptr<Router> router, Router::Create(config.router, fw, unix_now_));
    router_ = std::move(router);
  } else {
    CL_RETURN_IF_ERROR(router_->reconfigure(config.router));
  }
  if (fresh) firewall_ = std::move(fresh);
  if (!config.rules) firewall_.reset();
  if (firewall_) firewall_->replace(config.rules, clock_.now());
  conntrack_ = config.conntrack;

  vlan_of_iface_.clear();
  iface_of_vlan_.assign(4096, -1);
  uplink_iface_ = -1;
  for (size_t i = 0; i < config.router.interfaces.size(); ++i) {
    const uint16_t vlan = config.router.interfaces[i].vlan;
    vlan_of_iface_.push_back(vlan);
    if (vlan == 0) {
      uplink_iface_ = static_cast<int32_t>(i);
    } else if (vlan < iface_of_vlan_.size()) {
      iface_of_vlan_[vlan] = static_cast<int32_t>(i);
    }
  }
  return Status::Ok();
}

int RouterPort::alloc_slot() {
  if (free_.empty()) return -1;
  const int slot = free_.back();
  free_.pop_back();
  return slot;
}

void RouterPort::free_slot(int slot) { free_.push_back(slot); }

int RouterPort::slot_of(const uint8_t* p) const {
  const uint8_t* base = buffers_->data();
  if (p < base || p >= base + kSlots * kSlotBytes) return -1;
  return static_cast<int>(static_cast<size_t>(p - base) / kSlotBytes);
}

void RouterPort::signal_pending() {
  uint64_t one = 1;
  (void)!::write(pending_fd_.get(), &one, sizeof one);
}

size_t RouterPort::send(std::span<const TxItem> items) {
  const Nanos now = clock_.now();
  size_t accepted = 0;
  size_t i = 0;
  while (i < items.size()) {
    // One router call per run of frames from the same VLAN (usually the whole batch).
    const uint16_t vlan = items[i].pkt->vlan;
    const int32_t iface = router_ && vlan < iface_of_vlan_.size() ? iface_of_vlan_[vlan] : -1;
    batch_.clear();
    work_.clear();
    size_t j = i;
    for (; j < items.size() && items[j].pkt->vlan == vlan && batch_.size() < kMaxBatch; ++j) {
      const Packet& in = *items[j].pkt;
      if (iface < 0) continue;
      const int slot = alloc_slot();
      if (slot < 0) {
        counters_.no_buffer++;
        continue;
      }
      uint8_t* data = slot_data(slot) + kPacketHeadroom;
      std::memcpy(data, in.data, in.len);
      Packet& copy = slot_pkts_[slot];
      copy = in;
      copy.data = data;
      copy.headroom = kPacketHeadroom;
      work_.push_back(slot);
      in_work_[slot] = 1;
      batch_.push_back(&copy);
    }
    accepted += j - i;
    if (iface < 0) {
      (router_ ? counters_.unrouted_vlan : counters_.not_configured) += j - i;
    } else {
      counters_.rx_from_switch += batch_.size();
      route(static_cast<IfIndex>(iface), batch_.data(), batch_.size(), now);
    }
    release_work();  // copies the router dropped or sent to the uplink
    i = j;
  }
  return accepted;
}

void RouterPort::route(IfIndex in, Packet* const* pkts, size_t n, Nanos now) {
  out_.clear();
  router_->process(in, pkts, n, now, out_);
  dispatch();
}

void RouterPort::dispatch() {
  bool queued = false;
  uplink_tx_.clear();
  for (const TxFrame& f : out_.frames()) {
    if (static_cast<int32_t>(f.iface) == uplink_iface_) {
      // Sent below, in one batch, straight from wherever the router left the frame (valid until its next call).
      if (uplink_ && uplink_tx_.size() < uplink_pkts_.size()) {
        Packet& p = uplink_pkts_[uplink_tx_.size()];
        p = Packet{};
        p.data = f.data;
        p.len = f.len;
        p.vnet = f.vnet;
        uplink_tx_.push_back(TxItem{&p, 0, 0});
      }
      continue;
    }
    if (f.iface >= vlan_of_iface_.size() || vlan_of_iface_[f.iface] == 0 || f.len > kMaxFrameSize) continue;
    int slot = slot_of(f.data);
    if (slot >= 0 && in_work_[slot]) {
      in_work_[slot] = 0;  // forwarded in place from this batch's copy: hand that slot on, no second copy
    } else {
      slot = alloc_slot();
      if (slot < 0) {
        counters_.no_buffer++;
        continue;
      }
      std::memcpy(slot_data(slot) + kPacketHeadroom, f.data, f.len);
    }
    Packet& p = slot_pkts_[slot];
    const size_t offset = static_cast<size_t>(f.data - slot_data(slot));
    const bool in_place = slot_of(f.data) == slot;
    p.data = in_place ? f.data : slot_data(slot) + kPacketHeadroom;
    p.headroom = static_cast<uint32_t>(in_place ? offset : kPacketHeadroom);
    p.len = f.len;
    p.vnet = f.vnet;
    p.vlan = vlan_of_iface_[f.iface];
    p.pcp = 0;
    if (!PushTag(p, kEtherTypeVlan, MakeTci(0, false, p.vlan))) {
      free_slot(slot);
      continue;
    }
    ready_[(ready_head_ + ready_count_++) % kSlots] = slot;
    queued = true;
  }
  if (!uplink_tx_.empty()) {
    const size_t sent = uplink_->send(uplink_tx_);
    counters_.tx_to_uplink += sent;
    io_.tx_errors += uplink_tx_.size() - sent;
  }
  if (queued) signal_pending();
}

void RouterPort::release_work() {
  for (int slot : work_) {
    if (in_work_[slot]) {
      in_work_[slot] = 0;
      free_slot(slot);
    }
  }
  work_.clear();
}

size_t RouterPort::receive(Packet** out, size_t max) {
  for (int slot : lent_) free_slot(slot);
  lent_.clear();
  const Nanos now = clock_.now();

  epoll_event events[4];
  const int n = ::epoll_wait(epoll_fd_.get(), events, 4, 0);
  bool uplink_ready = false;
  for (int e = 0; e < n; ++e) {
    switch (events[e].data.u64) {
      case kTagPending:
        DrainEventFd(pending_fd_.get());
        break;
      case kTagTimer:
        DrainEventFd(timer_fd_.get());
        if (router_) {
          out_.clear();
          router_->tick(now, out_);
          dispatch();
        }
        break;
      case kTagControl:
        control_->run_pending();
        break;
      case kTagUplink:
        uplink_ready = true;
        break;
      default:
        break;
    }
  }
  if (uplink_ready && uplink_) {
    Packet* in[kMaxBatch];
    const size_t got = uplink_->receive(in, kMaxBatch);
    counters_.rx_from_uplink += got;
    if (got > 0) {
      if (router_ && uplink_iface_ >= 0) {
        route(static_cast<IfIndex>(uplink_iface_), in, got, now);
      } else {
        counters_.not_configured += got;
      }
    }
  }

  size_t count = 0;
  while (count < max && ready_count_ > 0) {
    const int slot = ready_[ready_head_];
    ready_head_ = (ready_head_ + 1) % kSlots;
    ready_count_--;
    out[count++] = &slot_pkts_[slot];
    lent_.push_back(slot);
  }
  counters_.tx_to_switch += count;
  if (ready_count_ > 0) signal_pending();  // level-triggered: the switch comes back for the rest
  return count;
}

}  // namespace cloudlet::router
