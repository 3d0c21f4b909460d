// MemoryPort (see memory_port.h): two SPSC rings and an eventfd.
#include "port/memory_port.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "port/tx_scatter.h"

namespace cloudlet {

Result<std::unique_ptr<MemoryPort>> MemoryPort::Create(const Options& options) {
  if (options.capacity == 0 || options.capacity > (1u << 20)) return Error("memory port: capacity out of range");
  if (options.frame_capacity < kEthHeaderBytes || options.frame_capacity > kMaxFrameSize) {
    return Error("memory port: frame capacity out of range");
  }
  UniqueFd efd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!efd.valid()) return ErrnoError("memory port: eventfd");
  return std::unique_ptr<MemoryPort>(new MemoryPort(options, std::move(efd)));
}

MemoryPort::MemoryPort(const Options& options, UniqueFd event_fd) : options_(options), event_fd_(std::move(event_fd)) {
  InitRing(in_, options_.capacity, options_.frame_capacity);
  // Sent frames may have gained a tag.
  InitRing(out_, options_.keep_sent ? options_.capacity : 1, options_.frame_capacity + kVlanTagBytes);
}

void MemoryPort::InitRing(Ring& ring, size_t capacity, size_t frame_capacity) {
  size_t n = 1;
  while (n < capacity) n <<= 1;
  ring.mask = n - 1;
  ring.slot_bytes = (kPacketHeadroom + frame_capacity + 63) & ~size_t{63};
  ring.bytes.reset(new uint8_t[n * ring.slot_bytes]);
  ring.slots.reset(new Slot[n]);
}

void MemoryPort::signal() {
  uint64_t one = 1;
  (void)!::write(event_fd_.get(), &one, sizeof(one));
}

bool MemoryPort::inject(std::span<const uint8_t> frame, const VnetHdr& vnet) {
  if (frame.empty() || frame.size() > options_.frame_capacity) return false;
  uint64_t head = in_.head.load(std::memory_order_relaxed);
  if (head - in_.tail.load(std::memory_order_acquire) > in_.mask) return false;
  std::memcpy(in_.frame(head), frame.data(), frame.size());
  in_.slot(head) = Slot{static_cast<uint32_t>(frame.size()), vnet};
  in_.head.store(head + 1, std::memory_order_release);
  signal();
  return true;
}

size_t MemoryPort::receive(Packet** out, size_t max) {
  // The previous batch has been transmitted by now (Port contract): give its slots back to the producer.
  uint64_t tail = in_.tail.load(std::memory_order_relaxed) + in_batch_;
  in_.tail.store(tail, std::memory_order_release);
  in_batch_ = 0;
  // Clear the wakeup before looking at head: an inject() after this point signals again, so none is lost.
  uint64_t counter;
  (void)!::read(event_fd_.get(), &counter, sizeof(counter));
  uint64_t avail = in_.head.load(std::memory_order_acquire) - tail;
  size_t n = static_cast<size_t>(std::min<uint64_t>(avail, std::min(max, kMaxBatch)));
  for (size_t i = 0; i < n; ++i) {
    const Slot& s = in_.slot(tail + i);
    Packet& p = packets_[i];
    p.data = in_.frame(tail + i);
    p.len = s.len;
    p.headroom = kPacketHeadroom;
    p.vnet = s.vnet;
    p.vlan = 0;
    p.pcp = 0;
    out[i] = &p;
  }
  in_batch_ = n;
  if (avail > n) signal();  // still work left: stay readable
  return n;
}

size_t MemoryPort::send(std::span<const TxItem> items) {
  size_t sent = 0;
  for (const TxItem& item : items) {
    const Packet* pkt = item.pkt;
    if (pkt == nullptr || pkt->len < kEthHeaderBytes || pkt->len > options_.frame_capacity ||
        (!options_.offload && pkt->vnet.gso_type != VnetHdr::kGsoNone)) {
      ++io_.tx_errors;
      continue;
    }
    if (!options_.keep_sent) {
      ++sent;
      continue;
    }
    uint64_t head = out_.head.load(std::memory_order_relaxed);
    if (head - out_.tail.load(std::memory_order_acquire) > out_.mask) {
      ++io_.tx_errors;
      continue;
    }
    TxScatter s;
    if (!BuildTxScatter(item, s)) {
      ++io_.tx_errors;
      continue;
    }
    uint8_t* dst = out_.frame(head);
    uint32_t len = 0;
    for (int i = 1; i < s.iovcnt; ++i) {  // iov[0] is the vnet header
      std::memcpy(dst + len, s.iov[i].iov_base, s.iov[i].iov_len);
      len += static_cast<uint32_t>(s.iov[i].iov_len);
    }
    out_.slot(head) = Slot{len, s.vnet};
    out_.head.store(head + 1, std::memory_order_release);
    ++sent;
  }
  sent_frames_.fetch_add(sent, std::memory_order_release);
  return sent;
}

bool MemoryPort::pop_sent(std::vector<uint8_t>& frame, VnetHdr* vnet) {
  uint64_t tail = out_.tail.load(std::memory_order_relaxed);
  if (out_.head.load(std::memory_order_acquire) == tail) return false;
  const Slot& s = out_.slot(tail);
  const uint8_t* src = out_.frame(tail);
  frame.assign(src, src + s.len);
  if (vnet != nullptr) *vnet = s.vnet;
  out_.tail.store(tail + 1, std::memory_order_release);
  return true;
}

}  // namespace cloudlet
