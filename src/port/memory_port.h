// MemoryPort: an in-process port for tests and benchmarks, no kernel involved. Two single-producer/single-consumer
// queues: frames a test inject()s come out of receive(); frames the data plane send()s (with their tag written inline)
// can be taken with pop_sent(). poll_fd() is an eventfd that is readable while injected frames are pending, so the
// Dataplane's epoll loop drives it like a kernel port. All buffers are allocated at creation.
#pragma once

#include <atomic>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/fd.h"
#include "base/status.h"
#include "port/port.h"

namespace cloudlet {

class MemoryPort final : public Port {
 public:
  struct Options {
    std::string name = "mem";
    size_t capacity = 256;         // frames per queue (rounded up to a power of two)
    size_t frame_capacity = 2048;  // largest frame either queue holds
    bool offload = true;           // what supports_offload() reports
    bool keep_sent = true;         // false: send() only counts (a benchmark sink)
  };

  static Result<std::unique_ptr<MemoryPort>> Create(const Options& options);

  // Producer side of the inbound queue (one thread). Copies the frame; false when the queue is full or the frame is
  // empty or larger than frame_capacity.
  bool inject(std::span<const uint8_t> frame, const VnetHdr& vnet = {});

  // Consumer side of the outbound queue (one thread). Copies the oldest sent frame out; false when there is none.
  bool pop_sent(std::vector<uint8_t>& frame, VnetHdr* vnet = nullptr);
  // Frames send() accepted since creation (also counts frames already popped or not kept).
  uint64_t sent_frames() const { return sent_frames_.load(std::memory_order_acquire); }

  const std::string& name() const override { return options_.name; }
  int poll_fd() const override { return event_fd_.get(); }
  bool supports_offload() const override { return options_.offload; }
  size_t receive(Packet** out, size_t max) override;
  size_t send(std::span<const TxItem> items) override;
  const PortIoCounters& io_counters() const override { return io_; }

 private:
  struct Slot {
    uint32_t len = 0;
    VnetHdr vnet;
  };
  // A fixed ring of [headroom][frame_capacity] buffers with monotonically increasing head/tail positions.
  struct Ring {
    size_t mask = 0;
    size_t slot_bytes = 0;
    std::unique_ptr<uint8_t[]> bytes;
    std::unique_ptr<Slot[]> slots;
    alignas(64) std::atomic<uint64_t> head{0};  // written by the producer
    alignas(64) std::atomic<uint64_t> tail{0};  // written by the consumer
    uint8_t* frame(uint64_t pos) { return bytes.get() + (pos & mask) * slot_bytes + kPacketHeadroom; }
    Slot& slot(uint64_t pos) { return slots[pos & mask]; }
  };

  MemoryPort(const Options& options, UniqueFd event_fd);
  static void InitRing(Ring& ring, size_t capacity, size_t frame_capacity);
  void signal();

  Options options_;
  UniqueFd event_fd_;
  Ring in_;
  Ring out_;
  size_t in_batch_ = 0;  // frames handed out by the last receive(), released at the next one
  Packet packets_[kMaxBatch];
  PortIoCounters io_;
  std::atomic<uint64_t> sent_frames_{0};
};

}  // namespace cloudlet
